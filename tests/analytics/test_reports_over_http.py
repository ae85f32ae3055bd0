"""The analytics RPCs over /rest/v1 of a running `salesflow dev` stack, as a browser calls them: a member of
tenant B gets nothing of tenant A from any of them, asking for A by id is refused, and anon gets an error."""

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
REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("analytics_funnel", {}),
    ("analytics_attribution", {"p_model": "linear", "p_dimension": "channel"}),
    ("analytics_attribution", {"p_model": "time_decay", "p_dimension": "actor"}),
    ("analytics_touch_credits", {"p_model": "u_shaped"}),
    ("analytics_touch_paths", {"p_dimension": "channel"}),
]


def facts(tenant: str, lead: str, message: str, value: int) -> str:
    touch = [{"lead_id": lead, "message_id": message, "channel": "whatsapp", "direction": "in", "actor": "lead",
              "occurred_at": "now", "handler": "test"}]
    stages = [{"lead_id": lead, "stage": "lead_created", "handler": "test"},
              {"lead_id": lead, "stage": "deal_closed_won", "entered_at": "now", "handler": "test"}]
    outcome = [{"lead_id": lead, "outcome": "won", "value": value, "currency": "EUR", "closed_at": "now",
                "handler": "test"}]
    return (f"select public.analytics_record('{tenant}', '{json.dumps(touch)}', '{json.dumps(stages)}', '[]', "
            f"'{json.dumps(outcome)}')")


@pytest.fixture(scope="module")
def tokens(running_stack: RunningStack) -> dict[str, str]:
    running_stack.sql(facts(ACME, JULIA, "e0000000-0000-4000-8000-00000000a001", 7777))
    running_stack.sql(facts(NORDLICHT, OLIVIA, "e0000000-0000-4000-8000-00000000b001", 300))
    return {"anon": running_stack.stack.anon_key, "bea": running_stack.sign_in("bea@nordlicht.test")["access_token"]}


def numbers(value: Any) -> Any:
    """Every number anywhere in a JSON value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def rpc(stack: RunningStack, token: str, function: str, args: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.url}/rest/v1/rpc/{function}", json=args, headers=stack.headers(token))


@pytest.mark.parametrize(("function", "args"), REPORTS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(REPORTS)])
def test_a_member_of_b_gets_nothing_of_a(running_stack: RunningStack, tokens: dict[str, str], function: str,
                                         args: dict[str, Any]) -> None:
    response = rpc(running_stack, tokens["bea"], function, args)
    assert response.status_code == 200, response.text
    body = response.text
    assert JULIA not in body and "e0000000-0000-4000-8000-00000000a001" not in body
    # A's deal value as a number (not as digits inside some float such as 0.2017927777).
    assert 7777 not in list(numbers(response.json())), body
    if function == "analytics_touch_credits":
        assert {row["lead_id"] for row in response.json()} == {OLIVIA}
    if function == "analytics_funnel":
        assert response.json()["leads"] == 1
    if function == "analytics_attribution":
        assert response.json()["revenue"] == {"EUR": 300}


@pytest.mark.parametrize(("function", "args"), REPORTS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(REPORTS)])
def test_asking_for_a_by_id_is_refused(running_stack: RunningStack, tokens: dict[str, str], function: str,
                                       args: dict[str, Any]) -> None:
    response = rpc(running_stack, tokens["bea"], function, {**args, "p_tenant_id": ACME})
    assert response.status_code == 403, response.text
    assert "p_tenant_id" in response.json()["message"]


@pytest.mark.parametrize(("function", "args"), REPORTS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(REPORTS)])
def test_anon_gets_an_error(running_stack: RunningStack, tokens: dict[str, str], function: str,
                            args: dict[str, Any]) -> None:
    response = rpc(running_stack, tokens["anon"], function, args)
    assert response.status_code in (401, 403), response.text
    assert set(response.json()) >= {"code", "message"}


def test_a_member_reads_only_their_tenants_analytics_tables(running_stack: RunningStack,
                                                             tokens: dict[str, str]) -> None:
    for table in ("analytics_touchpoints", "analytics_lead_journeys", "analytics_daily_rollups",
                  "analytics_deal_outcomes"):
        response = httpx.get(f"{running_stack.url}/rest/v1/{table}", params={"select": "tenant_id"},
                             headers=running_stack.headers(tokens["bea"]))
        assert response.status_code == 200, response.text
        assert {row["tenant_id"] for row in response.json()} == {NORDLICHT}, table
