"""A member decides review tasks over /rest/v1 (served by `salesflow dev`) as the browser would: reads the
pending tasks, accepts, edits or discards them; a member of another tenant can neither read nor decide them,
nor read the facts they produced."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.conversations.inbound import ACME
from tests.devstack.conftest import RunningStack, running_stack  # noqa: F401  (the module's stack)


def _extracted(stack: RunningStack) -> tuple[str, str]:
    """A Zero-Input lead whose message proposed three unsure fields: (lead id, message id)."""
    lead, conversation, message = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    stack.sql("insert into public.leads (id, tenant_id, name, source, source_channel) "
              "values (%s, %s, '+4915100001111', 'inbound_whatsapp', 'whatsapp')", (lead, ACME))
    stack.sql("insert into public.conversations (id, tenant_id, lead_id, channel) values (%s, %s, %s, 'whatsapp')",
              (conversation, ACME, lead))
    stack.sql("insert into public.messages (id, tenant_id, conversation_id, direction, body) values "
              "(%s, %s, %s, 'in', 'Grüße von Lisa, Nordwind Logistik, lisa@nordwind.example')",
              (message, ACME, conversation))
    fields = [{"field": "company", "value": "Nordwind Logistik", "confidence": 0.6},
              {"field": "email", "value": "lisa@nordwind.example", "confidence": 0.7,
               "address": "lisa@nordwind.example"},
              {"field": "name", "value": "Lisa", "confidence": 0.6}]
    stack.sql("select public.apply_lead_extraction(%s, %s, %s::jsonb)", (ACME, message, json.dumps(fields)))
    return lead, message


def _as(stack: RunningStack, email: str) -> dict[str, str]:
    return stack.headers(stack.sign_in(email)["access_token"])


def _tasks(stack: RunningStack, headers: dict[str, str], lead: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.url}/rest/v1/lead_review_tasks", headers=headers,
                       params={"lead_id": f"eq.{lead}", "select": "id,field,proposed_value,reason,status",
                               "order": "field"})
    answer.raise_for_status()
    return list(answer.json())


def _review(stack: RunningStack, headers: dict[str, str], task: str, verdict: str,
            value: str | None = None) -> httpx.Response:
    return httpx.post(f"{stack.url}/rest/v1/rpc/review_lead_task", headers=headers,
                      json={"p_task_id": task, "p_verdict": verdict, "p_value": value})


def test_a_member_accepts_edits_and_discards_over_rest(running_stack: RunningStack) -> None:  # noqa: F811
    lead, message = _extracted(running_stack)
    ben = _as(running_stack, "ben@acme.test")
    tasks = {t["field"]: t for t in _tasks(running_stack, ben, lead)}
    assert {f: (t["reason"], t["status"]) for f, t in tasks.items()} == {
        "company": ("low_confidence", "pending"), "email": ("low_confidence", "pending"),
        "name": ("low_confidence", "pending")}

    accepted = _review(running_stack, ben, tasks["company"]["id"], "accepted")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["reviewed_by"] == running_stack.sign_in(
        "ben@acme.test")["user"]["id"]
    edited = _review(running_stack, ben, tasks["name"]["id"], "edited", "Lisa Nordmann")
    assert edited.status_code == 200, edited.text
    discarded = _review(running_stack, ben, tasks["email"]["id"], "discarded")
    assert discarded.status_code == 200, discarded.text
    again = _review(running_stack, ben, tasks["email"]["id"], "accepted")
    assert again.status_code >= 400 and "already discarded" in again.json()["message"]

    lead_row = httpx.get(f"{running_stack.url}/rest/v1/leads", headers=ben,
                         params={"id": f"eq.{lead}", "select": "name,company,email"}).json()
    assert lead_row == [{"name": "Lisa Nordmann", "company": "Nordwind Logistik", "email": None}]
    facts = httpx.get(f"{running_stack.url}/rest/v1/lead_facts", headers=ben,
                      params={"lead_id": f"eq.{lead}", "select": "key,value,origin,source_message_id",
                              "order": "key"}).json()
    assert facts == [
        {"key": "company", "value": "Nordwind Logistik", "origin": "member", "source_message_id": message},
        {"key": "name", "value": "Lisa Nordmann", "origin": "member", "source_message_id": message}]


@pytest.mark.parametrize("verdict", ["accepted", "discarded"])
def test_a_member_of_another_tenant_cannot_read_or_decide_the_tasks_or_facts(
    running_stack: RunningStack, verdict: str  # noqa: F811
) -> None:
    lead, _ = _extracted(running_stack)
    ben, bea = _as(running_stack, "ben@acme.test"), _as(running_stack, "bea@nordlicht.test")
    task = _tasks(running_stack, ben, lead)[0]
    assert _review(running_stack, ben, task["id"], "accepted").status_code == 200  # one fact exists now
    pending = next(t for t in _tasks(running_stack, ben, lead) if t["status"] == "pending")

    assert _tasks(running_stack, bea, lead) == []
    facts = httpx.get(f"{running_stack.url}/rest/v1/lead_facts", headers=bea, params={"lead_id": f"eq.{lead}"})
    assert facts.status_code == 200 and facts.json() == []
    refused = _review(running_stack, bea, pending["id"], verdict)
    assert refused.status_code >= 400 and "no review task" in refused.json()["message"]
    # Nor by writing the table directly (members of A cannot either: verdicts go through review_lead_task).
    for who in (bea, ben):
        patched = httpx.patch(f"{running_stack.url}/rest/v1/lead_review_tasks",
                              headers={**who, "Prefer": "return=representation"},
                              params={"id": f"eq.{pending['id']}"}, json={"status": "discarded"})
        assert patched.status_code in (401, 403), patched.text
    assert [t["status"] for t in _tasks(running_stack, ben, lead) if t["id"] == pending["id"]] == ["pending"]


def test_owners_set_the_tenant_s_threshold_and_members_cannot(running_stack: RunningStack) -> None:  # noqa: F811
    anna, ben = _as(running_stack, "anna@acme.test"), _as(running_stack, "ben@acme.test")
    url = f"{running_stack.url}/rest/v1/tenants"
    where = {"id": f"eq.{ACME}"}
    prefer = {"Prefer": "return=representation"}
    try:
        by_member = httpx.patch(url, headers={**ben, **prefer}, params=where,
                                json={"extraction_confidence_threshold": 0.5})
        assert by_member.status_code == 200 and by_member.json() == []  # the policy leaves it to owners/admins
        too_high = httpx.patch(url, headers={**anna, **prefer}, params=where,
                               json={"extraction_confidence_threshold": 1.5})
        assert too_high.status_code == 400, too_high.text
        by_owner = httpx.patch(url, headers={**anna, **prefer}, params=where,
                               json={"extraction_confidence_threshold": 0.9})
        assert by_owner.status_code == 200 and by_owner.json()[0]["extraction_confidence_threshold"] == 0.9
    finally:
        running_stack.sql("update public.tenants set extraction_confidence_threshold = 0.8 where id = %s", (ACME,))
