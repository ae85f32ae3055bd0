"""The dashboard shell in a real browser: sign-in through /auth/v1, the tenant and role from the token, the
language switch remembered, the views' navigation in contract order, hash routing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.dashboard.conftest import PASSWORD, RunningStack, sign_in

CONTRACT_ORDER = ["events", "live", "inbox", "autopilot", "analytics", "alerts", "team"]


def test_the_config_and_the_app_are_served_at_dashboard(dashboard_stack: RunningStack) -> None:
    import httpx

    config = httpx.get(f"{dashboard_stack.url}/dashboard/config.js")
    assert config.status_code == 200 and config.headers["content-type"].startswith("text/javascript")
    assert dashboard_stack.stack.anon_key in config.text and dashboard_stack.url in config.text
    assert dashboard_stack.stack.service_role_key not in config.text
    index = httpx.get(f"{dashboard_stack.url}/dashboard/")
    assert index.status_code == 200 and 'data-testid="shell-signin-form"' in index.text
    assert httpx.get(f"{dashboard_stack.url}/dashboard", follow_redirects=False).status_code in (302, 307)


def test_anna_signs_in_and_sees_her_tenant_and_role(signed_in_page: Callable[..., Any], screenshot: Any) -> None:
    page = signed_in_page("anna@acme.test", lang="en")
    assert page.get_by_test_id("shell-tenant").inner_text() == "Acme Sales"
    assert page.get_by_test_id("shell-role").inner_text() == "Owner"
    assert page.get_by_test_id("shell-signin-form").is_hidden()
    nav = [a.get_attribute("data-testid").removeprefix("nav-") for a in page.locator("[data-testid^='nav-']").all()]
    assert nav and nav == [v for v in CONTRACT_ORDER if v in nav], nav
    assert nav[0] == "events"
    assert page.evaluate("location.hash") == "#/events"
    screenshot(page, "shell-en")


def test_a_wrong_password_is_refused_with_a_message(dashboard_stack: RunningStack,
                                                    new_page: Callable[..., Any]) -> None:
    page = new_page()
    page.goto(f"{dashboard_stack.url}/dashboard/")
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_test_id("shell-lang").select_option("en")
    page.get_by_test_id("shell-email").fill("anna@acme.test")
    page.get_by_test_id("shell-password").fill("not-the-password")
    page.get_by_test_id("shell-signin-button").click()
    error = page.get_by_test_id("shell-signin-error")
    error.wait_for()
    assert error.inner_text() == "Wrong email or password."
    assert page.get_by_test_id("shell-tenant").is_hidden()


def test_the_language_is_german_or_english_and_remembered(dashboard_stack: RunningStack,
                                                          new_page: Callable[..., Any]) -> None:
    page = sign_in(new_page(), dashboard_stack.url, "ben@acme.test", PASSWORD, lang="de")
    assert page.get_by_test_id("shell-role").inner_text() == "Mitglied"
    assert page.get_by_test_id("shell-signout").inner_text() == "Abmelden"
    assert page.evaluate("document.documentElement.lang") == "de"
    page.get_by_test_id("shell-lang").select_option("en")
    assert page.get_by_test_id("shell-signout").inner_text() == "Sign out"
    page.reload()
    page.wait_for_selector("body[data-signed-in='true']")  # the session is kept, and so is the language
    assert page.get_by_test_id("shell-role").inner_text() == "Member"
    assert page.evaluate("document.documentElement.lang") == "en"
    page.get_by_test_id("shell-signout").click()
    page.get_by_test_id("shell-signin-form").wait_for()
    assert page.get_by_test_id("shell-signin-button").inner_text() == "Sign in"


def test_bea_sees_her_own_tenant(signed_in_page: Callable[..., Any]) -> None:
    page = signed_in_page("bea@nordlicht.test")
    assert page.get_by_test_id("shell-tenant").inner_text() == "Nordlicht Vertrieb"
    assert page.get_by_test_id("shell-role").inner_text() == "Owner"


def test_hash_routing_mounts_the_named_view(dashboard_stack: RunningStack, signed_in_page: Callable[..., Any]) -> None:
    page = signed_in_page("anna@acme.test")
    page.goto(f"{dashboard_stack.url}/dashboard/#/live")
    page.get_by_test_id("view-live").wait_for()
    assert page.get_by_test_id("nav-live").get_attribute("aria-current") == "page"
    page.get_by_test_id("nav-events").click()
    page.get_by_test_id("view-events").wait_for()
    assert page.locator("[data-testid='view-live']").count() == 0
