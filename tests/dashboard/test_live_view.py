"""The Live view in a real browser: Realtime postgres_changes on public.events bring a failure in, a replay
turns it pending and then processed, without reloading; another tenant's changes never arrive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ACME, NORDLICHT
from tests.dashboard.conftest import Listener, RunningStack
from tests.dashboard.test_events_view import HANDLERS, emit, wait_status

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fail_switch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live") / "crm-down"
    path.touch()
    return path


@pytest.fixture(scope="module")
def listener(dashboard_stack: RunningStack, fail_switch: Path) -> Iterator[Listener]:
    running = Listener(dashboard_stack.database_url, HANDLERS, env={"DASHBOARD_TEST_FAIL_FILE": str(fail_switch)})
    try:
        yield running
    finally:
        running.stop()


def open_live(page: Any, stack: RunningStack) -> Any:
    page.goto(f"{stack.url}/dashboard/#/live")
    page.wait_for_selector("[data-testid='view-live'][data-live='true']")
    return page


def live_row(page: Any, event_id: str, status: str) -> Any:
    return page.locator(f"[data-testid='live-row'][data-event-id='{event_id}'][data-status='{status}']")


def test_a_failure_appears_and_a_replay_turns_it_processed_without_reloading(
    dashboard_stack: RunningStack, listener: Listener, fail_switch: Path, signed_in_page: Callable[..., Any],
    screenshot: Any
) -> None:
    anna = open_live(signed_in_page("anna@acme.test", lang="en"), dashboard_stack)
    bea = open_live(signed_in_page("bea@nordlicht.test", lang="en"), dashboard_stack)
    assert anna.get_by_test_id("live-status").inner_text() == "Connected: changes appear as they happen."
    fail_switch.touch()
    event_id = emit(dashboard_stack, ACME, note="live view")
    failed = live_row(anna, event_id, "failed")
    failed.wait_for(timeout=15_000)
    assert "CRM answered 503" in failed.inner_text()
    assert int(anna.get_by_test_id("live-count-failed").inner_text()) >= 1
    screenshot(anna, "live-failed-en")

    fail_switch.unlink()
    token = dashboard_stack.sign_in("anna@acme.test")["access_token"]
    r = httpx.post(f"{dashboard_stack.url}/rest/v1/rpc/dashboard_replay_event", headers=dashboard_stack.headers(token),
                   json={"p_event_id": event_id})
    assert r.status_code == 200, r.text
    live_row(anna, event_id, "processed").wait_for(timeout=15_000)
    assert anna.locator(f"[data-testid='live-row'][data-event-id='{event_id}']").count() == 1, "updated in place"
    assert anna.evaluate("performance.getEntriesByType('navigation').length") == 1
    screenshot(anna, "live-processed-en")

    # Bea's own tenant's change arrives at her page; Acme's never did.
    nordlicht_event = emit(dashboard_stack, NORDLICHT, note="bea")
    wait_status(dashboard_stack, nordlicht_event, "processed")
    bea.locator(f"[data-testid='live-row'][data-event-id='{nordlicht_event}']").wait_for(timeout=15_000)
    assert bea.locator(f"[data-event-id='{event_id}']").count() == 0
    fail_switch.touch()


def test_only_failures_filter_and_german_labels(
    dashboard_stack: RunningStack, listener: Listener, fail_switch: Path, signed_in_page: Callable[..., Any],
    screenshot: Any
) -> None:
    page = open_live(signed_in_page("ben@acme.test", lang="de", width=375, height=800), dashboard_stack)
    assert page.get_by_test_id("live-status").inner_text() == "Verbunden: Änderungen erscheinen sofort."
    assert page.get_by_test_id("nav-live").get_attribute("aria-current") == "page"
    fail_switch.touch()
    failing = emit(dashboard_stack, ACME, note="filter")
    live_row(page, failing, "failed").wait_for(timeout=15_000)
    page.get_by_label("Nur Fehler zeigen").check()
    visible = {r.get_attribute("data-status") for r in page.locator("[data-testid='live-row']:visible").all()}
    assert visible == {"failed"}
    assert page.get_by_test_id("live-row-status").first.inner_text() == "Fehlgeschlagen"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "live-de-375")
    page.get_by_test_id("live-open-link").first.click()
    page.wait_for_selector(f"[data-testid='events-detail'] [data-event-id='{failing}']")
