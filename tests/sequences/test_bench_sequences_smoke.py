"""The sequences benchmark (`./scripts/bench sequences`) runs end to end at a tiny size and prints its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sequences_benchmark_runs_and_prints_its_json_summary() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sequences.py"), "--leads", "30", "--steps", "10", "--lag-steps", "2",
         "--lag-gap", "0.1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["enroll"]["enrolled"] == 30
    assert result["due"]["checks"]["exactly_once"] is True
    assert result["due"]["lag"]["samples"] == 2
    assert {r["what"][:3] for r in result["summary"]} == {"(1)", "(2)", "(3)"}


def test_the_sequences_benchmark_refuses_more_due_steps_than_leads() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sequences.py"), "--leads", "5", "--steps", "6"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--steps" in proc.stderr
