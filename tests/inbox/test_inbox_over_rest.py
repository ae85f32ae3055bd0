"""The inbox over /rest/v1 as the browser calls it: a member sees their tenant's conversations by priority;
a member of another tenant sees nothing of them (not even by naming the tenant), anon is refused, and the
signal function is service code's."""

from __future__ import annotations

import uuid

import httpx

from tests.conversations.inbound import ACME
from tests.devstack.conftest import RunningStack, running_stack  # noqa: F401  (the module's stack)


def _acme_conversation(stack: RunningStack, body: str) -> tuple[str, str]:
    lead, conversation = str(uuid.uuid4()), str(uuid.uuid4())
    stack.sql("insert into public.leads (id, tenant_id, name, score) values (%s, %s, 'Inbox REST Lead', 60)",
              (lead, ACME))
    stack.sql("insert into public.conversations (id, tenant_id, lead_id, channel) values (%s, %s, %s, 'whatsapp')",
              (conversation, ACME, lead))
    stack.sql("insert into public.messages (tenant_id, conversation_id, direction, body) values (%s, %s, 'in', %s)",
              (ACME, conversation, body))
    return lead, conversation


def _inbox(stack: RunningStack, token: str | None, **args: object) -> httpx.Response:
    return httpx.post(f"{stack.url}/rest/v1/rpc/inbox", headers=stack.headers(token), json=args)


def test_a_member_reads_their_inbox_and_another_tenant_sees_nothing(running_stack: RunningStack) -> None:  # noqa: F811
    lead, conversation = _acme_conversation(running_stack, "Wann können wir telefonieren?")
    ben = running_stack.sign_in("ben@acme.test")["access_token"]
    bea = running_stack.sign_in("bea@nordlicht.test")["access_token"]
    mine = _inbox(running_stack, ben)
    assert mine.status_code == 200, mine.text
    row = next(r for r in mine.json() if r["conversation_id"] == conversation)
    assert (row["lead_name"], row["inbox_status"], row["unread_count"]) == ("Inbox REST Lead", "replied", 1)
    assert row["last_message_preview"] == "Wann können wir telefonieren?"
    theirs = _inbox(running_stack, bea)
    assert theirs.status_code == 200
    assert all(r["lead_id"] != lead for r in theirs.json())
    named = _inbox(running_stack, bea, p_tenant_id=ACME)
    assert named.status_code == 200 and named.json() == []
    hours = httpx.post(f"{running_stack.url}/rest/v1/rpc/lead_best_contact_hours", headers=running_stack.headers(bea),
                       json={"p_lead_id": lead})
    assert hours.status_code == 200 and hours.json() == []


def test_anon_and_members_cannot_call_the_signal_function(running_stack: RunningStack) -> None:  # noqa: F811
    _, conversation = _acme_conversation(running_stack, "Preis?")
    assert _inbox(running_stack, None).status_code in (401, 403)
    ben = running_stack.sign_in("ben@acme.test")["access_token"]
    message = running_stack.sql("select id from public.messages where conversation_id = %s", (conversation,))[0][0]
    applied = httpx.post(f"{running_stack.url}/rest/v1/rpc/inbox_apply_signal", headers=running_stack.headers(ben),
                         json={"p_tenant_id": ACME, "p_message_id": str(message), "p_signal": "interest"})
    assert applied.status_code in (401, 403, 404)
    assert running_stack.sql("select inbox_status from public.conversations where id = %s",
                             (conversation,)) == [("replied",)]


def test_a_member_archives_a_conversation_and_it_leaves_the_inbox(running_stack: RunningStack) -> None:  # noqa: F811
    _, conversation = _acme_conversation(running_stack, "Danke, passt alles")
    ben = running_stack.sign_in("ben@acme.test")["access_token"]
    bea = running_stack.sign_in("bea@nordlicht.test")["access_token"]
    theirs = httpx.patch(f"{running_stack.url}/rest/v1/conversations", headers=running_stack.headers(bea),
                         params={"id": f"eq.{conversation}"}, json={"inbox_status": "archived"})
    assert theirs.status_code in (200, 204)
    assert any(r["conversation_id"] == conversation for r in _inbox(running_stack, ben).json()), \
        "another tenant's member changed nothing"
    archived = httpx.patch(f"{running_stack.url}/rest/v1/conversations", headers=running_stack.headers(ben),
                           params={"id": f"eq.{conversation}"}, json={"inbox_status": "archived"})
    assert archived.status_code in (200, 204), archived.text
    assert all(r["conversation_id"] != conversation for r in _inbox(running_stack, ben).json())
    refused = httpx.patch(f"{running_stack.url}/rest/v1/conversations", headers=running_stack.headers(ben),
                          params={"id": f"eq.{conversation}"}, json={"inbox_status": "waiting"})
    assert refused.status_code == 400 and "inbox_status" in refused.text
