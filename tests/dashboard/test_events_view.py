"""The Events view in a real browser against the local stack and a real listener whose `crm_sync` handler
fails: counts, the failed list with error, attempts and deliveries, live arrival of a failure, Replay by an
owner (it turns processed, only the failed handler ran again), a member refused in the page and by the
database, another tenant seeing nothing, both languages, phone width."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ACME, NORDLICHT
from tests.dashboard.conftest import Listener, RunningStack

HANDLERS = "tests.dashboard.dashboard_test_handlers"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fail_switch() -> Iterator[Path]:
    """While this file exists the listener's crm_sync handler fails."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "crm-down"
        path.touch()
        yield path


@pytest.fixture(scope="module")
def listener(dashboard_stack: RunningStack, fail_switch: Path) -> Iterator[Listener]:
    running = Listener(dashboard_stack.database_url, HANDLERS, env={"DASHBOARD_TEST_FAIL_FILE": str(fail_switch)})
    try:
        yield running
    finally:
        running.stop()


def emit(stack: RunningStack, tenant: str = ACME, note: str = "") -> str:
    """A test.dashboard_sync event with one attempt (a failure is final at once), as service code publishes it."""
    rows = stack.sql("select private.emit_event(%s, 'test.dashboard_sync', %s::jsonb, null, 'test', null, null, "
                     "null, 1)::text", (tenant, json.dumps({"note": note})))
    return str(rows[0][0])


def status_of(stack: RunningStack, event_id: str) -> str:
    return str(stack.sql("select status from public.events where id = %s", (event_id,))[0][0])


def wait_status(stack: RunningStack, event_id: str, wanted: str, timeout: float = 30) -> None:
    from tests.polling import wait_until_sync

    wait_until_sync(lambda: status_of(stack, event_id) == wanted, timeout=timeout, every=0.05,
                    what=f"event {event_id} {wanted}")


def failed_row(page: Any, event_id: str) -> Any:
    return page.locator(f"[data-testid='events-failed-row'][data-event-id='{event_id}']")


def test_anna_sees_counts_and_the_failed_event_with_error_attempts_and_deliveries(
    dashboard_stack: RunningStack, listener: Listener, signed_in_page: Callable[..., Any], screenshot: Any
) -> None:
    event_id = emit(dashboard_stack, note="first")
    wait_status(dashboard_stack, event_id, "failed")
    page = signed_in_page("anna@acme.test", lang="en")
    row = failed_row(page, event_id)
    row.wait_for()
    failed = dashboard_stack.sql("select count(*) from public.events where tenant_id = %s and status = 'failed'",
                                 (ACME,))[0][0]
    assert page.get_by_test_id("events-count-failed-value").inner_text() == str(failed)
    assert "CRM answered 503" in row.get_by_test_id("events-row-error").inner_text()
    assert row.get_by_test_id("events-row-attempts").inner_text() == "1/1"
    deliveries = {d.get_attribute("data-handler"): d.get_attribute("data-status")
                  for d in row.get_by_test_id("events-delivery").all()}
    assert deliveries == {"crm_sync": "failed", "touchpoint": "succeeded"}
    type_row = page.locator("[data-testid='events-type-row'][data-type='test.dashboard_sync']")
    assert int(type_row.locator("[data-status='failed']").inner_text()) >= 1
    assert page.get_by_test_id("events-oldest-pending").is_visible()
    assert page.get_by_test_id("events-throughput").is_visible()
    screenshot(page, "events-en")
    # A view module not landed yet is a 404 the shell skips; nothing else may be logged as an error.
    errors = [e for e in page.console_errors if "404" not in e]
    assert not errors, errors


def test_a_failure_appears_live_and_anna_replays_it_until_it_is_processed(
    dashboard_stack: RunningStack, listener: Listener, fail_switch: Path, signed_in_page: Callable[..., Any],
    screenshot: Any
) -> None:
    page = signed_in_page("anna@acme.test", lang="en")
    page.wait_for_selector("[data-testid='view-events'][data-loaded='true']")
    fail_switch.touch()
    event_id = emit(dashboard_stack, note="live")
    row = failed_row(page, event_id)
    row.wait_for(timeout=15_000)  # no reload: the Realtime change brought it
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    fail_switch.unlink()  # the CRM is back
    row.get_by_test_id("events-replay-button").click()
    processed = page.locator(f"[data-testid='events-row'][data-event-id='{event_id}'][data-status='processed']")
    processed.wait_for(timeout=20_000)
    assert processed.get_by_test_id("events-row-status").inner_text() == "Processed"
    deliveries = dict(dashboard_stack.sql("select handler, attempts from public.event_deliveries where event_id = %s",
                                          (event_id,)))
    assert deliveries == {"crm_sync": 2, "touchpoint": 1}, "only the failed handler ran again"
    screenshot(page, "events-replayed-en")
    fail_switch.touch()


def test_replay_all_handlers_runs_every_handler_again(
    dashboard_stack: RunningStack, listener: Listener, fail_switch: Path
) -> None:
    fail_switch.touch()
    event_id = emit(dashboard_stack, note="all")
    wait_status(dashboard_stack, event_id, "failed")
    fail_switch.unlink()
    replayed_at = dashboard_stack.sql("select now()")[0][0]
    token = dashboard_stack.sign_in("anna@acme.test")["access_token"]
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_replay_event", headers=dashboard_stack.headers(token),
                   json={"p_event_id": event_id, "p_all_handlers": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": event_id, "status": "pending", "all_handlers": True}
    wait_status(dashboard_stack, event_id, "processed")
    runs = dashboard_stack.sql("select handler, status, finished_at >= %s from public.event_deliveries "
                               "where event_id = %s order by handler", (replayed_at, event_id))
    assert runs == [("crm_sync", "succeeded", True), ("touchpoint", "succeeded", True)], "every handler ran again"
    fail_switch.touch()


def test_ben_a_member_sees_replay_disabled_with_the_reason_and_the_database_refuses_him(
    dashboard_stack: RunningStack, listener: Listener, fail_switch: Path, signed_in_page: Callable[..., Any],
    screenshot: Any
) -> None:
    fail_switch.touch()
    event_id = emit(dashboard_stack, note="ben")
    wait_status(dashboard_stack, event_id, "failed")
    page = signed_in_page("ben@acme.test", lang="en")
    row = failed_row(page, event_id)
    row.wait_for()
    button = row.get_by_test_id("events-replay-button")
    assert button.is_disabled()
    assert row.get_by_test_id("events-replay-all-button").is_disabled()
    reason = page.get_by_test_id("events-replay-reason")
    assert reason.inner_text() == "Only owners and admins may replay events; your role is member."
    assert button.get_attribute("aria-describedby") == reason.get_attribute("id")
    screenshot(page, "events-member-en")

    token = dashboard_stack.sign_in("ben@acme.test")["access_token"]
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_replay_event", headers=dashboard_stack.headers(token),
                   json={"p_event_id": event_id})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "42501" and "your role: member" in r.json()["message"]
    assert status_of(dashboard_stack, event_id) == "failed"
    # The engine's own replay is a service function: not callable by a signed-in user at all.
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/replay_event", headers=dashboard_stack.headers(token),
                   json={"p_event_id": event_id})
    assert r.status_code in (401, 403, 404), r.text
    anon = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_replay_event", headers=dashboard_stack.headers(),
                      json={"p_event_id": event_id})
    assert anon.status_code in (401, 403, 404), anon.text
    assert status_of(dashboard_stack, event_id) == "failed"


def test_bea_of_nordlicht_sees_nothing_of_acme_and_cannot_replay_its_events(
    dashboard_stack: RunningStack, listener: Listener, fail_switch: Path, signed_in_page: Callable[..., Any],
    screenshot: Any
) -> None:
    fail_switch.touch()
    acme_event = emit(dashboard_stack, note="acme only")
    wait_status(dashboard_stack, acme_event, "failed")
    page = signed_in_page("bea@nordlicht.test", lang="en")
    page.wait_for_selector("[data-testid='view-events'][data-loaded='true']")
    nordlicht_failed = dashboard_stack.sql(
        "select count(*) from public.events where tenant_id = %s and status = 'failed'", (NORDLICHT,))[0][0]
    assert page.get_by_test_id("events-count-failed-value").inner_text() == str(nordlicht_failed)
    assert page.locator(f"[data-event-id='{acme_event}']").count() == 0
    page.goto(f"{dashboard_stack.url}/dashboard/#/events?id={acme_event}")
    assert page.get_by_test_id("events-detail-missing").inner_text() == "No such event in your tenant."
    screenshot(page, "events-other-tenant-en")

    token = dashboard_stack.sign_in("bea@nordlicht.test")["access_token"]
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_replay_event", headers=dashboard_stack.headers(token),
                   json={"p_event_id": acme_event})
    assert r.status_code == 404 and "no event" in r.json()["message"], r.text
    summary = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_event_summary",
                         headers=dashboard_stack.headers(token), json={}).json()
    assert summary["tenant_id"] == NORDLICHT and summary["failed"] == nordlicht_failed
    assert status_of(dashboard_stack, acme_event) == "failed"


def test_a_deep_link_opens_one_event(dashboard_stack: RunningStack, listener: Listener, fail_switch: Path,
                                     signed_in_page: Callable[..., Any]) -> None:
    fail_switch.touch()
    event_id = emit(dashboard_stack, note="deep link")
    wait_status(dashboard_stack, event_id, "failed")
    page = signed_in_page("anna@acme.test")
    page.goto(f"{dashboard_stack.url}/dashboard/#/events?id={event_id}")
    detail = page.get_by_test_id("events-detail")
    detail.locator(f"[data-event-id='{event_id}']").wait_for()
    assert '"note": "deep link"' in page.get_by_test_id("events-detail-payload").inner_text()
    page.get_by_test_id("events-detail-close").click()
    page.wait_for_function("location.hash === '#/events'")
    assert detail.is_hidden() or page.get_by_test_id("events-detail").count() == 0


def test_filters_by_status_and_type(dashboard_stack: RunningStack, listener: Listener,
                                    signed_in_page: Callable[..., Any]) -> None:
    page = signed_in_page("anna@acme.test")
    page.wait_for_selector("[data-testid='view-events'][data-loaded='true']")
    page.get_by_test_id("events-filter-status").select_option("processed")
    page.get_by_test_id("events-filter-type").select_option("test.dashboard_sync")
    page.wait_for_function("document.querySelectorAll(\"[data-testid='events-failed-row']\").length === 0")
    page.wait_for_selector("[data-testid='events-row'][data-status='processed']")
    statuses = {r.get_attribute("data-status") for r in page.locator("[data-testid='events-row']").all()}
    assert statuses == {"processed"}
    page.get_by_test_id("events-filter-status").select_option("failed")
    page.wait_for_selector("[data-testid='events-failed-row']")


def test_german_labels_and_phone_width(dashboard_stack: RunningStack, listener: Listener,
                                       signed_in_page: Callable[..., Any], screenshot: Any) -> None:
    page = signed_in_page("anna@acme.test", lang="de", width=375, height=800)
    page.wait_for_selector("[data-testid='view-events'][data-loaded='true']")
    assert page.get_by_test_id("nav-events").inner_text() == "Ereignisse"
    assert page.get_by_test_id("events-count-failed").locator(".label").inner_text() == "Fehlgeschlagen"
    assert page.locator("#events-list-title").inner_text() == "Fehlgeschlagene Ereignisse"
    assert page.get_by_test_id("events-replay-button").first.inner_text() == "Erneut ausführen"
    # At 375 px the page itself does not scroll sideways: tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "events-de-375")


def test_the_summary_refuses_bad_input_naming_the_field(dashboard_stack: RunningStack) -> None:
    token = dashboard_stack.sign_in("anna@acme.test")["access_token"]
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_event_summary", headers=dashboard_stack.headers(token),
                   json={"p_since": "2020-01-01T00:00:00Z"})
    assert r.status_code == 400 and "dashboard_event_summary.p_since" in r.json()["message"], r.text
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_replay_event", headers=dashboard_stack.headers(token),
                   json={"p_event_id": None})
    assert r.status_code == 400 and "dashboard_replay_event.p_event_id" in r.json()["message"], r.text
