"""public.analytics_metrics over /rest/v1/rpc of a running `salesflow dev` stack, as a browser calls it: a member
of tenant B gets nothing of tenant A, asking for A by id is refused, bad input is a 400 naming the parameter,
anon gets an error; an owner edits the stage probabilities over /rest/v1, a member cannot."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ACME, NORDLICHT
from tests.devstack.conftest import RunningStack
from tests.devstack.conftest import running_stack as running_stack  # the module's stack

JULIA = "10000000-0000-4000-8000-000000000001"  # an Acme lead
OLIVIA = "20000000-0000-4000-8000-000000000001"  # a Nordlicht lead


def facts(tenant: str, lead: str, message: str, value: int) -> str:
    touch = [{"lead_id": lead, "message_id": message, "channel": "whatsapp", "direction": "out", "actor": "human",
              "occurred_at": "now", "handler": "test"}]
    stages = [{"lead_id": lead, "stage": "deal_closed_won", "entered_at": "now", "handler": "test"}]
    outcome = [{"lead_id": lead, "outcome": "won", "value": value, "currency": "EUR", "closed_at": "now",
                "handler": "test"}]
    return (f"select public.analytics_record('{tenant}', '{json.dumps(touch)}', '{json.dumps(stages)}', '[]', "
            f"'{json.dumps(outcome)}')")


@pytest.fixture(scope="module")
def tokens(running_stack: RunningStack) -> dict[str, str]:
    running_stack.sql(facts(ACME, JULIA, "e0000000-0000-4000-8000-0000000072a1", 7777))
    running_stack.sql(facts(NORDLICHT, OLIVIA, "e0000000-0000-4000-8000-0000000072b1", 300))
    return {"anon": running_stack.stack.anon_key,
            "bea": running_stack.sign_in("bea@nordlicht.test")["access_token"],
            "anna": running_stack.sign_in("anna@acme.test")["access_token"],
            "ben": running_stack.sign_in("ben@acme.test")["access_token"]}


def rpc(stack: RunningStack, token: str, args: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.url}/rest/v1/rpc/analytics_metrics", json=args, headers=stack.headers(token))


def test_a_member_of_b_gets_nothing_of_a(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    response = rpc(running_stack, tokens["bea"], {})
    assert response.status_code == 200, response.text
    assert "7777" not in response.text and JULIA not in response.text
    body = response.json()
    assert body["win_rate"]["value"] == {"EUR": {"won": 300, "lost": 0, "rate": 1.0}}
    assert body["reply_rate"]["sends"] == 1


def test_asking_for_a_by_id_is_refused(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    response = rpc(running_stack, tokens["bea"], {"p_tenant_id": ACME})
    assert response.status_code == 403, response.text
    assert "p_tenant_id" in response.json()["message"]


def test_bad_input_is_a_400_naming_the_parameter(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    response = rpc(running_stack, tokens["bea"], {"p_tz": "Mars/Olympus"})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("analytics_metrics.p_tz:")


def test_anon_gets_an_error(running_stack: RunningStack, tokens: dict[str, str]) -> None:
    response = rpc(running_stack, tokens["anon"], {})
    assert response.status_code in (401, 403), response.text
    assert set(response.json()) >= {"code", "message"}


def test_an_owner_edits_the_probabilities_a_member_cannot(running_stack: RunningStack,
                                                          tokens: dict[str, str]) -> None:
    url = f"{running_stack.url}/rest/v1/analytics_stage_probabilities"
    params = {"status": "eq.proposal"}
    member = httpx.patch(url, params=params, json={"probability": 0.9},
                         headers=running_stack.headers(tokens["ben"], Prefer="return=representation"))
    assert member.status_code == 200 and member.json() == [], member.text
    owner = httpx.patch(url, params=params, json={"probability": 0.6},
                        headers=running_stack.headers(tokens["anna"], Prefer="return=representation"))
    assert owner.status_code == 200, owner.text
    assert [(r["tenant_id"], r["probability"]) for r in owner.json()] == [(ACME, 0.6)]
    by_status = {s["status"]: s for s in rpc(running_stack, tokens["anna"], {}).json()["pipeline"]["by_status"]}
    assert by_status["proposal"]["probability"] == 0.6
