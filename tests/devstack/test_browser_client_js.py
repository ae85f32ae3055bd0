"""What the browser relies on beyond PostgREST, tried with supabase-js (node) as a frontend uses it:
Realtime Broadcast and Presence, a postgres_changes binding on a table that does not exist, refresh-token
rotation across two tabs, getUser with a tampered token, and functions.invoke."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from salesflow.settings import PROJECT_ROOT
from tests.conftest import ACME
from tests.devstack.conftest import RunningStack

JS = Path(__file__).with_name("js")
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (PROJECT_ROOT / "node_modules" / "@supabase" / "supabase-js").is_dir(),
    reason="node and `npm ci` (./scripts/setup) are needed for the supabase-js tests")


def run_node(script: str, stack: RunningStack) -> dict[str, Any]:
    """Run tests/devstack/js/<script> against the stack; its last stdout line is the JSON it saw."""
    env = {**os.environ, "SUPABASE_URL": stack.url, "SUPABASE_ANON_KEY": stack.stack.anon_key}
    # Node 20 ships WebSocket behind a flag (on by default from Node 22).
    flags = ["--experimental-websocket"] if subprocess.run(
        [str(NODE), "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"], check=False).returncode else []
    done = subprocess.run([str(NODE), *flags, str(JS / script)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_broadcast_reaches_the_other_tab_acks_and_echoes_only_with_self(running_stack: RunningStack) -> None:
    seen = run_node("realtime_broadcast_presence.mjs", running_stack)["broadcast"]
    assert seen["annaAck"] == "ok"  # ack: true waits for the server's reply; without one it would time out
    assert seen["beaSent"] == "ok"
    assert seen["annaHeard"] == [{"from": "bea", "n": 2}]  # self: false, so not her own
    assert seen["beaHeard"] == [{"from": "anna", "n": 1}, {"from": "bea", "n": 2}]  # self: true


def test_presence_tracks_syncs_and_leaves_on_untrack_and_disconnect(running_stack: RunningStack) -> None:
    seen = run_node("realtime_broadcast_presence.mjs", running_stack)["presence"]
    assert seen["annaTracked"] == "ok" and seen["beaTracked"] == "ok" and seen["beaUntracked"] == "ok"
    both = {"anna": ["online"], "bea": ["away"]}
    assert seen["bothSee"] == {"anna": both, "bea": both}
    events = [e for e in seen["annaEvents"] if "sync" not in e]
    assert events == [
        {"join": "anna", "status": ["online"]},
        {"join": "bea", "status": ["away"]},
        {"leave": "bea", "status": ["away"]},  # untrack
        {"join": "bea", "status": ["back"]},
        {"leave": "bea", "status": ["back"]},  # her socket went away
    ]
    assert {"sync": ["anna", "bea"]} in seen["annaEvents"]
    assert seen["finalState"] == ["anna"]


def test_a_binding_on_a_missing_table_answers_realtimes_system_error(running_stack: RunningStack) -> None:
    seen = run_node("realtime_unknown_table.mjs", running_stack)
    # Realtime answers the join, then says on the system channel that the binding could not be subscribed
    assert seen["missing"]["status"] == "SUBSCRIBED"
    [error] = seen["missing"]["system"]
    assert error["extension"] == "postgres_changes" and error["status"] == "error"
    assert error["channel"] == "missing-table"
    assert error["message"].startswith("Unable to subscribe to changes with given parameters. Please check Realtime "
                                       "is enabled for the given connect parameters: [event: *, schema: public, "
                                       "table: no_such_table")
    assert seen["leads"]["status"] == "SUBSCRIBED"
    assert seen["leads"]["system"] == [{"channel": "leads-table", "extension": "postgres_changes",
                                        "message": "Subscribed to PostgreSQL", "status": "ok"}]


def test_second_tab_refreshing_with_the_rotated_out_token_gets_the_current_session(
        running_stack: RunningStack) -> None:
    seen = run_node("auth_and_functions.mjs", running_stack)
    assert seen["rotated"] is True
    assert seen["secondTab"] == {"sameRefreshToken": True, "sameSession": True, "email": "ben@acme.test"}


def test_get_user_with_a_tampered_token_is_auths_403_bad_jwt(running_stack: RunningStack) -> None:
    tampered = run_node("auth_and_functions.mjs", running_stack)["tampered"]
    assert tampered["user"] is None
    assert tampered["status"] == 403 and tampered["code"] == "bad_jwt"
    assert tampered["message"].startswith("invalid JWT: unable to parse or verify signature")


def test_functions_invoke_hands_the_caller_an_object(running_stack: RunningStack) -> None:
    invoke = run_node("auth_and_functions.mjs", running_stack)["invoke"]
    assert invoke == {"type": "object", "tenant_id": ACME, "name": "From supabase-js", "error": None}
