"""The Analytics and Alerts views in a real browser over the local stack.

Data comes the way the product makes it: messages and won deals in the tables, the facts re-derived by
`analytics_rebuild` (service code), AI calls recorded by `ai_track_usage` against a budget reserved and settled
by `ai_reserve_budget` / `ai_settle_budget`, alerts raised and resolved by `evaluate_alerts` from failed events.
Anna (Acme) sees Acme's funnel, attribution per model, AI spending against the budget and alerts; Bea
(Nordlicht) none of Acme's numbers or alerts. German and English labels; screenshots in tests/artifacts/."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from salesflow.analytics import attribution
from tests.conftest import ACME, NORDLICHT
from tests.dashboard.conftest import RunningStack
from tests.polling import wait_until_sync

Page = Any
TOBIAS = "10000000-0000-4000-8000-000000000002"  # an Acme lead of the seed (contacted, came from the web)
FELIX = "10000000-0000-4000-8000-000000000006"  # an Acme lead of the seed (negotiation, came from LinkedIn)


def _errors(page: Page) -> list[str]:
    """The page's script errors (failed requests of other views are theirs to report)."""
    return [e for e in page.console_errors if not e.startswith("Failed to load resource")]


def _open(page: Page, stack: RunningStack, view: str) -> Page:
    page.goto(f"{stack.url}/dashboard/#/{view}")
    page.wait_for_selector(f"[data-testid='view-{view}'][data-loaded='true']")
    return page


def _won_after_touches(stack: RunningStack, lead: str, channel: str, value: int) -> None:
    """We wrote to the lead, it answered, the deal was won."""
    conversation = stack.sql(
        "insert into public.conversations (tenant_id, lead_id, channel) values (%s, %s, %s) "
        "on conflict (tenant_id, lead_id, channel) do update set status = excluded.status returning id",
        (ACME, lead, channel))[0][0]
    stack.sql("insert into public.messages (tenant_id, conversation_id, direction, status, body, sent_by, sent_at) "
              "values (%s, %s, 'out', 'sent', 'Guten Tag, passt ein kurzes Gespräch?', 'user', "
              "now() - interval '3 hours')", (ACME, conversation))
    stack.sql("insert into public.messages (tenant_id, conversation_id, direction, body, received_at) "
              "values (%s, %s, 'in', 'Ja, gern.', now() - interval '2 hours')", (ACME, conversation))
    stack.sql("update public.leads set status = 'won', deal_value = %s, currency = 'EUR' where id = %s", (value, lead))


def _track(stack: RunningStack, tenant: str, model: str, input_tokens: int, output_tokens: int,
           reservation: str | None = None, outcome: str = "success") -> None:
    row = {"id": str(uuid.uuid4()), "tenant_id": tenant, "call_id": str(uuid.uuid4()), "scenario": "reply_suggestion",
           "provider": "openai", "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens,
           "outcome": outcome, "reservation_id": reservation}
    stack.sql("select public.ai_track_usage(%s::jsonb)", (json.dumps([row]),))


@dataclass(frozen=True)
class Failure:
    event_id: str


def _fail_an_event(stack: RunningStack, tenant: str, error: str) -> Failure:
    """An event whose handler failed for good (the engine's dead letter)."""
    event = stack.sql("insert into public.events (tenant_id, type, payload, source) values "
                      "(%s, 'lead.updated', '{}'::jsonb, 'test') returning id", (tenant,))[0][0]
    stack.sql("update public.events set status = 'failed', attempts = max_attempts, last_error = %s, "
              "failed_at = now() where id = %s", (error, event))
    return Failure(str(event))


def _evaluate(stack: RunningStack) -> dict[str, Any]:
    return dict(stack.sql("select public.evaluate_alerts('dashboard-test', 0)")[0][0])


@pytest.fixture(scope="module")
def analytics_data(dashboard_stack: RunningStack) -> None:
    stack = dashboard_stack
    _won_after_touches(stack, TOBIAS, "whatsapp", 5000)
    _won_after_touches(stack, FELIX, "email", 8000)
    for tenant in (ACME, NORDLICHT):
        stack.sql("select public.analytics_rebuild(%s)", (tenant,))
    # Acme's AI budget: 1 USD this month; one call reserved, recorded and settled for 0.855 USD (86 %).
    stack.sql("insert into public.ai_budgets (tenant_id, monthly_limit_usd) values (%s, 1)", (ACME,))
    reserved = stack.sql("select public.ai_reserve_budget(%s, 'reply_suggestion', 'openai', '[\"gpt-4o-mini\"]', "
                         "5700000, 0)", (ACME,))[0][0]
    assert reserved["allowed"], reserved
    _track(stack, ACME, "gpt-4o-mini", 5_700_000, 0, reservation=reserved["reservation_id"])
    stack.sql("select public.ai_settle_budget(%s)", (reserved["reservation_id"],))
    _track(stack, ACME, "gpt-4o-mini", 100, 0, outcome="timeout")
    _track(stack, NORDLICHT, "gpt-4o", 20_000, 2_000)


@pytest.fixture(scope="module")
def alerts_data(dashboard_stack: RunningStack) -> dict[str, Failure]:
    stack = dashboard_stack
    stack.sql("update public.events set status = 'processed', processed_at = now() where status = 'pending'")
    first = _fail_an_event(stack, ACME, "smtp: 550 mailbox unavailable")
    assert _evaluate(stack)["evaluated"]
    stack.sql("update public.events set status = 'processed', processed_at = now() where id = %s", (first.event_id,))
    _evaluate(stack)  # the first alert resolves
    second = _fail_an_event(stack, ACME, "whatsapp: 131047 re-engagement message")
    nordlicht = _fail_an_event(stack, NORDLICHT, "timeout")
    _evaluate(stack)
    return {"resolved": first, "firing": second, "nordlicht": nordlicht}


# ---- Analytics ---------------------------------------------------------------------------------------------


def test_anna_sees_the_funnel_attribution_by_model_and_ai_cost_against_the_budget(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, analytics_data: None,
        screenshot: Any) -> None:
    page = _open(signed_in_page("anna@acme.test", lang="en"), dashboard_stack, "analytics")
    assert page.get_by_role("heading", name="Analytics and AI").is_visible()
    cohort = page.get_by_test_id("analytics-cohort").inner_text()
    assert cohort.startswith("7 leads in the cohort"), cohort  # the seed's seven Acme leads
    chart = page.get_by_test_id("analytics-funnel-chart")
    label = chart.get_attribute("aria-label") or ""
    assert chart.get_attribute("role") == "img"
    assert "Lead created 7" in label and "Won 2" in label, label
    funnel = page.get_by_test_id("analytics-funnel-table")
    won = funnel.locator("tr", has_text="Won")
    assert won.locator("td").first.inner_text() == "2"
    assert page.get_by_test_id("analytics-conversions").inner_text() == "2 deals won"
    charts = page.get_by_test_id("analytics-attribution-chart")
    assert charts.count() == 7, "one chart per model, side by side"
    first_touch = page.locator("[data-testid='analytics-attribution-chart'][data-model='first_touch']")
    assert "WhatsApp 1.00" in (first_touch.get_attribute("aria-label") or "")
    assert "Email 1.00" in (first_touch.get_attribute("aria-label") or "")
    table = page.get_by_test_id("analytics-attribution-table")
    headers = table.locator("thead th").all_inner_texts()
    assert headers[1:] == ["First touch", "Last touch", "Linear", "Time decay", "U-shaped", "W-shaped", "Full path"]
    assert table.locator("tbody tr").count() == 2
    assert page.get_by_test_id("analytics-ai-calls").inner_text() == "2"
    assert page.get_by_test_id("analytics-ai-failed").inner_text() == "1"
    assert page.get_by_test_id("analytics-ai-cost").inner_text() == "$0.855"
    budget = page.get_by_test_id("analytics-budget-text").inner_text()
    assert "$0.855 of $1.00 spent (86%)" in budget and "80 % reached" in budget, budget
    meter = page.get_by_test_id("analytics-budget-meter")
    assert meter.get_attribute("data-level") == "warn" and "86%" in (meter.get_attribute("aria-label") or "")
    models = page.get_by_test_id("analytics-ai-models").inner_text()
    assert "openai / gpt-4o-mini" in models and "gpt-4o\t" not in models
    note = page.get_by_test_id("analytics-markov-note").inner_text()
    assert note.startswith("The Markov model needs more data: 2 won deals, at least 30 are needed"), note
    assert not _errors(page), _errors(page)
    screenshot(page, "analytics-en")

    page.get_by_test_id("analytics-dimension").select_option("actor")
    page.wait_for_selector("[data-testid='view-analytics'][data-loaded='true']")
    actors = page.get_by_test_id("analytics-attribution-table").locator("tbody th").all_inner_texts()
    assert set(actors) == {"Human", "Lead"}, actors


def test_analytics_in_german_at_phone_width(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, analytics_data: None,
        screenshot: Any) -> None:
    page = _open(signed_in_page("anna@acme.test", lang="de", width=375, height=800), dashboard_stack, "analytics")
    assert page.get_by_role("heading", name="Analysen und KI").is_visible()
    assert page.get_by_test_id("analytics-cohort").inner_text().startswith("7 Leads in der Kohorte")
    assert "Gewonnen 2" in (page.get_by_test_id("analytics-funnel-chart").get_attribute("aria-label") or "")
    assert page.get_by_test_id("analytics-conversions").inner_text() == "2 gewonnene Deals"
    budget = page.get_by_test_id("analytics-budget-text").inner_text().replace("\xa0", " ")
    assert "0,855 $ von 1,00 $ ausgegeben" in budget and "86 %" in budget and "80 % erreicht" in budget, budget
    assert page.get_by_label("Dimension").is_visible() and page.get_by_label("Monat").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "analytics-de-phone")


def test_bea_sees_none_of_acme_s_numbers(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, analytics_data: None,
        screenshot: Any) -> None:
    page = _open(signed_in_page("bea@nordlicht.test", lang="en"), dashboard_stack, "analytics")
    assert page.get_by_test_id("analytics-cohort").inner_text().startswith("5 leads in the cohort")
    keys = page.get_by_test_id("analytics-attribution-table").locator("tbody th").all_inner_texts()
    assert keys == ["SMS"], keys  # Ava Rossi, won without a touch: how she came in
    assert page.get_by_test_id("analytics-ai-calls").inner_text() == "1"
    assert page.get_by_test_id("analytics-no-budget").is_visible()
    assert "gpt-4o-mini" not in page.get_by_test_id("analytics-ai").inner_text()
    screenshot(page, "analytics-bea-en")


# ---- Alerts ------------------------------------------------------------------------------------------------


def _row(page: Page, event_id: str) -> Any:
    return page.locator("[data-testid='alerts-row']", has=page.locator(f"a[href='#/events?id={event_id}']"))


def test_anna_sees_firing_and_resolved_alerts_with_links_to_the_failing_events(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, alerts_data: dict[str, Failure],
        screenshot: Any) -> None:
    page = _open(signed_in_page("anna@acme.test", lang="en"), dashboard_stack, "alerts")
    assert page.get_by_role("heading", name="Alerts").is_visible()
    firing = _row(page, alerts_data["firing"].event_id)
    resolved = _row(page, alerts_data["resolved"].event_id)
    assert firing.get_attribute("data-status") == "firing"
    assert firing.get_by_test_id("alerts-status").inner_text() == "Firing"
    assert firing.get_by_test_id("alerts-severity").inner_text() == "Critical"
    assert firing.get_by_test_id("alerts-metric").inner_text() == "Failed events"
    assert "1 event(s) failed" in firing.get_by_test_id("alerts-summary").inner_text()
    assert resolved.get_attribute("data-status") == "resolved"
    assert resolved.get_by_test_id("alerts-status").inner_text() == "Resolved"
    statuses = page.get_by_test_id("alerts-row").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses == sorted(statuses, key=lambda s: s != "firing"), "firing alerts come first"
    assert "firing" in page.get_by_test_id("alerts-count").inner_text()
    screenshot(page, "alerts-en")

    page.get_by_test_id("alerts-filter-status").select_option("resolved")
    assert set(page.get_by_test_id("alerts-row").evaluate_all("rows => rows.map(r => r.dataset.status)")) == \
        {"resolved"}
    page.get_by_test_id("alerts-filter-status").select_option("")
    firing.get_by_test_id("alerts-event-link").click()
    page.wait_for_selector("[data-testid='view-events']")
    assert page.evaluate("location.hash") == f"#/events?id={alerts_data['firing'].event_id}"
    assert not _errors(page), _errors(page)


def test_an_alert_resolves_and_a_new_one_fires_live(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, alerts_data: dict[str, Failure]) -> None:
    page = _open(signed_in_page("anna@acme.test", lang="en"), dashboard_stack, "alerts")
    before = page.get_by_test_id("alerts-row").count()
    dashboard_stack.sql("update public.events set status = 'processed', processed_at = now() where id = %s",
                        (alerts_data["firing"].event_id,))
    _evaluate(dashboard_stack)
    row = _row(page, alerts_data["firing"].event_id)
    wait_until_sync(lambda: row.get_attribute("data-status") == "resolved", what="the alert shown resolved")
    assert "Resolved:" in page.get_by_test_id("alerts-live").inner_text()
    again = _fail_an_event(dashboard_stack, ACME, "twilio: 30003 unreachable")
    _evaluate(dashboard_stack)
    _row(page, again.event_id).wait_for()
    assert _row(page, again.event_id).get_attribute("data-status") == "firing"
    assert page.get_by_test_id("alerts-row").count() == before + 1
    assert "New alert:" in page.get_by_test_id("alerts-live").inner_text()


def test_bea_sees_only_nordlicht_s_alerts_in_german(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, alerts_data: dict[str, Failure],
        screenshot: Any) -> None:
    page = _open(signed_in_page("bea@nordlicht.test", lang="de", width=375, height=800), dashboard_stack, "alerts")
    assert page.get_by_role("heading", name="Alarme").is_visible()
    links = page.get_by_test_id("alerts-event-link").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert links == [f"#/events?id={alerts_data['nordlicht'].event_id}"], links
    row = _row(page, alerts_data["nordlicht"].event_id)
    assert row.get_by_test_id("alerts-status").inner_text() == "Ausgelöst"
    assert row.get_by_test_id("alerts-metric").inner_text() == "Fehlgeschlagene Ereignisse"
    assert row.get_by_test_id("alerts-event-link").inner_text() == "Fehlgeschlagenes Ereignis öffnen"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "alerts-de-phone")


def test_the_view_s_markov_credits_equal_the_cli_s(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, analytics_data: None) -> None:
    """The browser computes Markov from analytics_touch_paths with the same removal effect as
    salesflow.analytics.attribution (which the CLI runs): same credits for the same paths."""
    rng = random.Random(7)
    keys = ["whatsapp", "email", "sms", "instagram"]
    paths = [{"path": [rng.choice(keys) for _ in range(rng.randint(1, 4))], "conversions": rng.randint(0, 9),
              "non_conversions": rng.randint(0, 9), "revenue": {}} for _ in range(25)]
    expected = attribution.markov(attribution.paths_from_json(paths))
    assert expected.status == "ok"
    page = _open(signed_in_page("anna@acme.test", lang="en"), dashboard_stack, "analytics")
    got = page.evaluate("async (paths) => (await import('./views/analytics.js')).markov(paths)", paths)
    assert got["status"] == "ok"
    assert [c["key"] for c in got["credits"]] == [c.key for c in expected.credits]
    for mine, theirs in zip(got["credits"], expected.credits, strict=True):
        assert mine["conversions"] == pytest.approx(theirs.conversions, abs=1e-9)
    assert sum(c["conversions"] for c in got["credits"]) == pytest.approx(expected.conversions)
    too_few = page.evaluate("async (paths) => (await import('./views/analytics.js')).markov(paths)", paths[:2])
    assert too_few["status"] == "insufficient_data"
    assert {x["field"] for x in too_few["shortfalls"]} >= {"conversions", "non_conversions"}
