"""Drafts and settings over /rest/v1 (served by `salesflow dev`) as the browser sees them: a member of A reads
A's drafts and approves one with one RPC call; a member of B can neither read A's drafts nor approve them;
members read the settings, only owners and admins change them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conversations.inbound import ACME
from tests.devstack.conftest import RunningStack, running_stack  # noqa: F401  (the module's stack)

LEAD = "10000000-0000-4000-8000-000000000005"  # an Acme lead of the seed


def _draft(stack: RunningStack, text: str) -> str:
    """A one_click draft of Acme waiting for approval (as the autopilot handler records one)."""
    conversation = stack.sql("insert into public.conversations (tenant_id, lead_id, channel) "
                             "values (%s, %s, 'whatsapp') on conflict (tenant_id, lead_id, channel) "
                             "do update set status = excluded.status "
                             "returning id", (ACME, LEAD))[0][0]
    message = stack.sql("insert into public.messages (tenant_id, conversation_id, direction, body) "
                        "values (%s, %s, 'in', %s) returning id", (ACME, conversation, f"Frage {uuid.uuid4()}"))[0][0]
    return str(stack.sql(
        "insert into public.autopilot_actions (tenant_id, lead_id, conversation_id, trigger_message_id, channel, mode, "
        "scenario, prompt_version, draft, confidence, status, expires_at) values (%s, %s, %s, %s, 'whatsapp', "
        "'one_click', 'reply_suggestion', 1, %s, 0.9, 'queued_for_approval', now() + interval '1 day') returning id",
        (ACME, LEAD, conversation, message, text))[0][0])


def _as(stack: RunningStack, email: str) -> dict[str, str]:
    return stack.headers(stack.sign_in(email)["access_token"])


def _decide(stack: RunningStack, headers: dict[str, str], action: str, verdict: str) -> httpx.Response:
    return httpx.post(f"{stack.url}/rest/v1/rpc/autopilot_decide", headers=headers,
                      json={"p_action_id": action, "p_verdict": verdict})


def _sent(stack: RunningStack, action: str) -> list[tuple[Any, ...]]:
    return stack.sql("select m.body, m.sent_by from public.messages m where m.idempotency_key = %s",
                     (f"autopilot:{action}",))


def test_a_member_of_b_neither_reads_nor_approves_a_s_drafts(running_stack: RunningStack) -> None:  # noqa: F811
    action = _draft(running_stack, "Gern, Dienstag 10 Uhr?")
    bea = _as(running_stack, "bea@nordlicht.test")
    seen = httpx.get(f"{running_stack.url}/rest/v1/autopilot_actions", headers=bea, params={"select": "id,draft"})
    assert seen.status_code == 200 and seen.json() == []
    queue = httpx.get(f"{running_stack.url}/rest/v1/autopilot_queue", headers=bea, params={"select": "id"})
    assert queue.status_code == 200 and queue.json() == []
    refused = _decide(running_stack, bea, action, "approved")
    assert refused.status_code == 404, refused.text
    assert "no autopilot draft" in refused.json()["message"]
    assert _sent(running_stack, action) == []
    anon = _decide(running_stack, running_stack.headers(), action, "approved")
    assert anon.status_code in (401, 403)
    assert _sent(running_stack, action) == []


def test_a_member_of_a_approves_a_draft_with_one_call(running_stack: RunningStack) -> None:  # noqa: F811
    action = _draft(running_stack, "Gern, Donnerstag 14 Uhr?")
    ben = _as(running_stack, "ben@acme.test")
    listed = httpx.get(f"{running_stack.url}/rest/v1/autopilot_actions", headers=ben,
                       params={"select": "id,draft,status", "status": "eq.queued_for_approval", "id": f"eq.{action}"})
    assert listed.json() == [{"id": action, "draft": "Gern, Donnerstag 14 Uhr?", "status": "queued_for_approval"}]
    queue = httpx.get(f"{running_stack.url}/rest/v1/autopilot_queue", headers=ben,
                      params={"select": "id,confidence", "id": f"eq.{action}"})
    assert queue.json() == [{"id": action, "confidence": 0.9}]
    approved = _decide(running_stack, ben, action, "approved")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["reviewed_by"]) == ("sent", "a0000000-0000-4000-8000-000000000002")
    assert _sent(running_stack, action) == [("Gern, Donnerstag 14 Uhr?", "autopilot")]
    again = _decide(running_stack, ben, action, "rejected")
    assert again.status_code >= 400 and _sent(running_stack, action) == [("Gern, Donnerstag 14 Uhr?", "autopilot")]


def test_only_owners_and_admins_change_the_settings(running_stack: RunningStack) -> None:  # noqa: F811
    running_stack.sql("insert into public.autopilot_settings (tenant_id, mode) values (%s, 'assist') "
                      "on conflict on constraint autopilot_settings_one_scope do update set mode = 'assist'", (ACME,))
    url = f"{running_stack.url}/rest/v1/autopilot_settings"
    ben = _as(running_stack, "ben@acme.test")
    assert [r["mode"] for r in httpx.get(url, headers=ben, params={"select": "mode"}).json()] == ["assist"]
    httpx.patch(url, headers=ben, params={"tenant_id": f"eq.{ACME}"}, json={"mode": "auto"})
    mode = running_stack.sql("select mode from public.autopilot_settings where tenant_id = %s", (ACME,))
    assert mode == [("assist",)]
    anna = _as(running_stack, "anna@acme.test")
    changed = httpx.patch(url, headers={**anna, "Prefer": "return=representation"}, params={"tenant_id": f"eq.{ACME}"},
                          json={"mode": "auto"})
    assert changed.status_code == 200 and [r["mode"] for r in changed.json()] == ["auto"]
    bea = _as(running_stack, "bea@nordlicht.test")
    assert httpx.get(url, headers=bea, params={"select": "mode"}).json() == []
