"""`salesflow listen --transport supabase` as a real process against the local stack: the project's own
handlers run, their writes go through PostgREST, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import psycopg

from salesflow.settings import PROJECT_ROOT
from tests.devstack.conftest import RunningStack
from tests.polling import wait_until_sync


def test_listener_on_the_supabase_transport_runs_the_project_handlers(running_stack: RunningStack) -> None:
    stack = running_stack.stack
    env = {**os.environ, "SUPABASE_URL": stack.url, "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
           "SALESFLOW_LOG_FORMAT": "json"}
    env.pop("DATABASE_URL", None)
    listener = subprocess.Popen(
        [sys.executable, "-m", "salesflow.cli.main", "listen", "--transport", "supabase", "--poll-interval", "30"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        token = running_stack.sign_in("anna@acme.test")["access_token"]
        lead = httpx.post(f"{stack.url}/rest/v1/leads", json={"name": "Through the CLI listener"},
                          headers=running_stack.headers(token, Prefer="return=representation")).json()[0]

        def facts() -> list[tuple[str, str]]:
            with psycopg.connect(running_stack.database_url) as conn:
                rows = conn.execute("select type, tenant_id::text from public.analytics_events "
                                    "where lead_id = %s", (lead["id"],)).fetchall()
            return [(str(t), str(tenant)) for t, tenant in rows]

        def handled() -> list[tuple[str, str]]:
            assert listener.poll() is None, listener.stdout.read() if listener.stdout else ""
            return facts()

        wait_until_sync(handled, timeout=30, every=0.1, what="the lead's event handled")
        assert ("touchpoint.lead_source", lead["tenant_id"]) in facts()
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(30) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(10)
