"""Sequences over /rest/v1 as the browser uses them (the user's JWT, RLS): a member of A creates a sequence,
enrolls leads in one RPC call, previews and pauses; a member of B can neither read A's sequences, enrollments
or runs nor enroll into, pause, stop or preview A's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.devstack.conftest import RunningStack, running_stack  # noqa: F401  (the module's stack)

ACME_LEADS = ["10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002"]


def _as(stack: RunningStack, email: str) -> dict[str, str]:
    token = stack.sign_in(email)["access_token"]
    return stack.headers(token, **{"Content-Type": "application/json", "Prefer": "return=representation"})


def _rpc(stack: RunningStack, headers: dict[str, str], name: str, args: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.url}/rest/v1/rpc/{name}", json=args, headers=headers)


def test_a_member_of_b_can_neither_read_nor_change_as_sequences(running_stack: RunningStack) -> None:  # noqa: F811
    stack = running_stack
    anna = _as(stack, "anna@acme.test")
    bea = _as(stack, "bea@nordlicht.test")
    created = httpx.post(f"{stack.url}/rest/v1/sequences", json={"name": "Acme REST", "timezone": "Europe/Vienna"},
                         headers=anna)
    assert created.status_code == 201, created.text
    sequence = created.json()[0]
    assert sequence["tenant_id"] == "11111111-1111-4111-8111-111111111111"  # from the token, not the body
    step = httpx.post(f"{stack.url}/rest/v1/sequence_steps", headers=anna, json={
        "sequence_id": sequence["id"], "position": 1, "channel": "email", "template": "Hallo {{first_name}}"})
    assert step.status_code == 201, step.text
    enrolled = _rpc(stack, anna, "enroll_leads", {"p_sequence_id": sequence["id"], "p_lead_ids": ACME_LEADS})
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["enrolled"] == 2
    preview = _rpc(stack, anna, "preview_sequence_sends", {"p_sequence_id": sequence["id"]})
    assert {row["lead_id"] for row in preview.json()} == set(ACME_LEADS)
    assert {row["time_zone"] for row in preview.json()} <= {"Europe/Vienna", "Europe/Berlin"}

    # Bea (Nordlicht) reads nothing of it.
    for table in ("sequences", "sequence_steps", "sequence_enrollments", "sequence_step_runs"):
        seen = httpx.get(f"{stack.url}/rest/v1/{table}", params={"select": "id"}, headers=bea)
        assert seen.status_code == 200 and seen.json() == [], (table, seen.text)
    assert _rpc(stack, bea, "preview_sequence_sends", {"p_sequence_id": sequence["id"]}).json() == []
    # ... and changes nothing of it.
    refused = _rpc(stack, bea, "enroll_leads", {"p_sequence_id": sequence["id"], "p_lead_ids": ACME_LEADS})
    assert refused.status_code == 400 and "no sequence" in refused.json()["message"], refused.text
    stopped = _rpc(stack, bea, "set_enrollment_state", {"p_action": "stop", "p_lead_id": ACME_LEADS[0]})
    assert stopped.status_code == 200 and stopped.json() == 0
    named = _rpc(stack, bea, "set_enrollment_state", {"p_action": "stop", "p_lead_id": ACME_LEADS[0],
                                                      "p_tenant_id": "11111111-1111-4111-8111-111111111111"})
    assert named.status_code == 403, named.text
    renamed = httpx.patch(f"{stack.url}/rest/v1/sequences", params={"id": f"eq.{sequence['id']}"},
                          json={"status": "archived"}, headers=bea)
    assert renamed.status_code == 200 and renamed.json() == []
    step_run = _rpc(stack, bea, "sequence_step_context", {"p_tenant_id": sequence["tenant_id"],
                                                          "p_enrollment_id": sequence["id"]})
    assert step_run.status_code in (401, 403), step_run.text
    # Anna's enrollments are as she left them; she pauses one through the RPC.
    states = httpx.get(f"{stack.url}/rest/v1/sequence_enrollments", params={"select": "state"}, headers=anna)
    assert [r["state"] for r in states.json()] == ["active", "active"]
    paused = _rpc(stack, anna, "set_enrollment_state", {"p_action": "pause", "p_lead_id": ACME_LEADS[0]})
    assert paused.json() == 1
