"""supabase-js (npm @supabase/supabase-js, run with node) against the local stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from salesflow.settings import PROJECT_ROOT
from tests.conftest import ACME
from tests.devstack.conftest import RunningStack

SCRIPT = Path(__file__).with_name("js") / "tenant_isolation.mjs"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None or not (PROJECT_ROOT / "node_modules" / "@supabase" / "supabase-js").is_dir(),
                    reason="node and `npm ci` (./scripts/setup) are needed for the supabase-js test")
def test_supabase_js_reads_its_tenant_and_gets_only_its_tenants_inserts(running_stack: RunningStack) -> None:
    env = {**os.environ, "SUPABASE_URL": running_stack.url, "SUPABASE_ANON_KEY": running_stack.stack.anon_key}
    # Node 20 ships WebSocket behind a flag (on by default from Node 22).
    flags = ["--experimental-websocket"] if subprocess.run(
        [str(NODE), "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"], check=False).returncode else []
    done = subprocess.run([str(NODE), *flags, str(SCRIPT)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == "SUBSCRIBED"
    assert seen["tenants"] == [ACME] and seen["count"] == 7
    assert seen["received"] == [{"name": "Only for Acme", "tenant_id": ACME, "eventType": "INSERT"}]
    assert seen["denied"] == {"code": "42501", "status": 403}
