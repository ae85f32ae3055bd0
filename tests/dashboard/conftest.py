"""Fixtures of the dashboard's browser tests: the local stack serving /dashboard/ over a fresh migrated and
seeded database, Debian's chromium driven by Playwright, and pages signed in as a seeded user.

    def test_x(dashboard_stack, signed_in_page, screenshot):
        page = signed_in_page("anna@acme.test", PASSWORD, lang="de")
        page.goto(f"{dashboard_stack.url}/dashboard/#/alerts")   # or click page.get_by_test_id("nav-alerts")
        screenshot(page, "alerts-de")                            # tests/artifacts/alerts-de.png

Seeded users (supabase/seed.sql, password PASSWORD): anna@acme.test (Acme owner), ben@acme.test (Acme member),
bea@nordlicht.test (Nordlicht owner), max@consult.test (Nordlicht admin, Acme member), nomad@nowhere.test
(no tenant).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from salesflow.devstack import DevStack
from salesflow.settings import PROJECT_ROOT
from tests.conftest import _create_migrated_database, _drop_database
from tests.devstack.conftest import PASSWORD, RunningStack

__all__ = ["ARTIFACTS", "CHROMIUM", "PASSWORD", "Listener", "RunningStack", "ensure_vendor", "sign_in"]

CHROMIUM = os.environ.get("SALESFLOW_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
VENDOR_SOURCE = PROJECT_ROOT / "node_modules" / "@supabase" / "supabase-js" / "dist" / "umd" / "supabase.js"
VENDOR = PROJECT_ROOT / "dashboard" / "vendor" / "supabase.js"


def ensure_vendor() -> None:
    """The dashboard loads supabase-js from dashboard/vendor/ (scripts/setup copies it; so does this)."""
    if VENDOR.exists() and VENDOR.stat().st_size == VENDOR_SOURCE.stat().st_size:
        return
    VENDOR.parent.mkdir(parents=True, exist_ok=True)
    tmp = VENDOR.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(VENDOR_SOURCE, tmp)
    os.replace(tmp, VENDOR)


@pytest.fixture(scope="module")
def dashboard_stack() -> Iterator[RunningStack]:
    """One fresh migrated+seeded database and `salesflow dev`'s stack on a free port (it serves /dashboard/),
    shared by a module's tests. `.url`, `.sign_in(email)`, `.headers(token)`, `.sql(query, params)`."""
    ensure_vendor()
    url = _create_migrated_database()
    try:
        stack = DevStack(url, port=0).start_in_thread()
        try:
            yield RunningStack(stack, url)
        finally:
            stack.stop_in_thread()
    finally:
        _drop_database(url)


class Listener:
    """`salesflow listen` as a real subprocess on the postgres transport against `database_url`, with the
    given handler modules (e.g. tests.dashboard.dashboard_test_handlers). Its log: `.log_path`."""

    def __init__(self, database_url: str, *handlers: str, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ("--poll-interval", "1", "--retry-base", "0.05")) -> None:
        self.log_path = ARTIFACTS / f"listener-{os.getpid()}-{id(self)}.log"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "salesflow.cli.main", "listen", "--database-url", database_url, *args]
        for h in handlers:
            cmd += ["--handlers", h]
        full_env = {**os.environ, "SALESFLOW_LOG_FORMAT": "json", **(env or {})}
        full_env.pop("DATABASE_URL", None)
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian chromium under Playwright (its own browser download is not reachable here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/setup installs Debian's chromium (as root)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Make fresh pages (each in its own context: its own storage, so its own session); closed after the test.
    Console errors are collected on `page.console_errors`."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.console_errors = errors
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD, lang: str = "en") -> Any:
    """Open /dashboard/, pick the language, sign in through the form and wait until the shell shows the user."""
    page.goto(f"{base_url}/dashboard/")
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_test_id("shell-lang").select_option(lang)
    page.get_by_test_id("shell-email").fill(email)
    page.get_by_test_id("shell-password").fill(password)
    page.get_by_test_id("shell-signin-button").click()
    page.wait_for_selector("body[data-signed-in='true']")
    return page


@pytest.fixture
def signed_in_page(dashboard_stack: RunningStack, new_page: Callable[..., Any]) -> Callable[..., Any]:
    """`signed_in_page(email, password=PASSWORD, lang='en', width=1280)`: a page signed in at /dashboard/
    (the first view, Events, is mounted; navigate with `page.goto(f"{dashboard_stack.url}/dashboard/#/<id>")`
    or the nav links `nav-<id>`)."""

    def make(email: str, password: str = PASSWORD, lang: str = "en", width: int = 1280, height: int = 900) -> Any:
        return sign_in(new_page(width, height), dashboard_stack.url, email, password, lang)

    return make


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """`screenshot(page, name)` saves tests/artifacts/<name>.png (full page) and returns the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
