"""`salesflow dev` as a real process: prints the API URL and keys, serves them, `dev status` agrees, and
SIGTERM stops it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from salesflow.settings import PROJECT_ROOT
from tests.conftest import ACME
from tests.polling import wait_until_sync

CLI = [sys.executable, "-m", "salesflow.cli.main"]


def test_dev_serves_prints_keys_listens_and_stops_on_sigterm(database: str) -> None:
    proc = subprocess.Popen([*CLI, "dev", "--port", "0", "--listen", "--database-url", database], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed: dict[str, str] = {}
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while "service_role key" not in printed:
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                pytest.fail(f"salesflow dev did not print its keys; exit code {proc.poll()}")
            match = re.match(r"\s*([A-Za-z_ ]+): (\S+)$", line)
            if match:
                printed[match[1].strip()] = match[2]
        api = printed["API URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api)
        tenants = httpx.get(f"{api}/rest/v1/tenants", params={"select": "id"},
                            headers={"apikey": printed["anon key"],
                                     "Authorization": f"Bearer {printed['service_role key']}"})
        assert tenants.status_code == 200 and len(tenants.json()) == 2
        status = subprocess.run([*CLI, "dev", "status", "--json"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=30, check=False)
        assert status.returncode == 0, status.stdout + status.stderr
        assert api in status.stdout and printed["anon key"] in status.stdout
        # --listen: the project's handlers run in the same process, on the supabase transport
        lead = httpx.post(f"{api}/rest/v1/leads", json={"name": "Seen by the dev listener", "tenant_id": ACME},
                          headers={"apikey": printed["anon key"], "Prefer": "return=representation",
                                   "Authorization": f"Bearer {printed['service_role key']}"}).json()[0]
        def handled() -> bool:
            with psycopg.connect(database) as conn:
                found = conn.execute("select count(*) from public.analytics_events where lead_id = %s",
                                     (lead["id"],)).fetchone()
            return bool(found and found[0])

        wait_until_sync(handled, timeout=30, every=0.1, what="the --listen engine handling the lead's event")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_dev_refuses_a_bad_port() -> None:
    done = subprocess.run([*CLI, "dev", "--port", "70000"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and "--port" in done.stderr
