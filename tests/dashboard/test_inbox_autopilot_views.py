"""The Inbox and Autopilot views in a real browser over the local stack: messages come in through
`record_inbound_message` (what the WhatsApp webhook records) and are handled by the real inbox and autopilot
handlers (offline AI, one_click mode), so needs-attention conversations and drafts waiting for approval exist.
Anna (Acme) sees Acme's, Bea (Nordlicht) none of them; approve, edit and reject change the rows (asserted in
the database); a refusal of the RPC is shown; labels in German and English; screenshots in tests/artifacts/."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

import salesflow.handlers.autopilot  # registers the handler
import salesflow.handlers.inbox  # noqa: F401  (registers the handlers)
from salesflow.events.engine import Engine, EngineSettings
from salesflow.events.registry import Registry, registry
from salesflow.transports import open_postgres
from tests.autopilot.helpers import offline_ai
from tests.conftest import ACME, ANNA, BEN, NORDLICHT
from tests.dashboard.conftest import RunningStack, sign_in
from tests.engines import FAST
from tests.polling import wait_until, wait_until_sync

Page = Any
HANDLERS = ("inbox.read_signals", "autopilot.draft_reply")


@dataclass(frozen=True)
class Inbound:
    name: str
    message_id: str
    conversation_id: str
    lead_id: str


def _handlers() -> Registry:
    only = Registry()
    for handler in registry.handlers_for("message.received"):
        if handler.name in HANDLERS:
            only.handles(handler.event_type, name=handler.name)(handler.run)
    assert {h.name for h in only.all()} == set(HANDLERS)
    return only


def _handled(url: str, message_ids: list[str]) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from public.events where type = 'message.received' "
                           "and status = 'processed' and payload->>'message_id' = any(%s)", (message_ids,)).fetchone()
    return row is not None and row[0] == len(message_ids)


def _handle(url: str, message_ids: list[str]) -> None:
    """Run the inbox and autopilot handlers on the real engine until the messages are handled. In its own thread
    with its own event loop: the sync Playwright API owns this thread's loop."""
    failure: list[BaseException] = []

    async def main() -> None:
        transport = open_postgres(url)
        engine = Engine(transport.store, transport.data, _handlers(), EngineSettings(**{**FAST, "poll_interval": 0.2}),
                        wakeup=transport.wakeup, services={"ai": offline_ai})
        task = asyncio.create_task(engine.run())
        try:
            await wait_until(lambda: _handled(url, message_ids), timeout=60, in_thread=True, what="messages handled")
        finally:
            engine.stop()
            await asyncio.wait_for(task, 30)
            await transport.close()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="dashboard-handlers")
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]


def _ingest(stack: RunningStack, tenant: str, address: str, sender: str, name: str, body: str) -> Inbound:
    """One WhatsApp delivery, recorded as the webhook records it (Zero-Input: an unknown sender becomes a lead)."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        connection = conn.execute(
            "insert into public.channel_connections (tenant_id, channel, provider, address, external_account_id) "
            "values (%s, 'whatsapp', 'whatsapp_cloud', %s, %s) on conflict do nothing returning id",
            (tenant, address, f"acct-{address.lstrip('+')}")).fetchone()
        if connection is None:
            connection = conn.execute("select id from public.channel_connections where address = %s and tenant_id = %s",
                                      (address, tenant)).fetchone()
        assert connection is not None
        wamid = f"wamid.{uuid.uuid4().hex}"
        conn.execute("select public.record_inbound_message(%s, %s, %s, %s, %s, %s)",
                     (connection[0], wamid, wamid, sender, name, body))
        row = conn.execute("select m.id::text, m.conversation_id::text, m.lead_id::text from public.messages m "
                           "where m.provider_message_id = %s", (wamid,)).fetchone()
    assert row is not None
    return Inbound(name, *row)


@dataclass(frozen=True)
class Seeded:
    acme: dict[str, Inbound]
    quiet: Inbound
    nordlicht: Inbound


@pytest.fixture(scope="module")
def seeded(dashboard_stack: RunningStack) -> Seeded:
    stack = dashboard_stack
    for tenant in (ACME, NORDLICHT):
        stack.sql("insert into public.autopilot_settings (tenant_id, mode) values (%s, 'one_click') "
                  "on conflict on constraint autopilot_settings_one_scope do update set mode = 'one_click'", (tenant,))
    acme_number = "+4930900000101"
    interested = "Klingt gut! Wann können wir reden?"
    acme = {
        "clara": _ingest(stack, ACME, acme_number, "+4917000000101", "Clara Vogt", "Klingt gut, was kostet das Paket?"),
        "jonas": _ingest(stack, ACME, acme_number, "+4917000000102", "Jonas Frank", "Wann können wir telefonieren?"),
        "emil": _ingest(stack, ACME, acme_number, "+4917000000103", "Emil Roth", "Klingt gut, let's talk next week"),
        "greta": _ingest(stack, ACME, acme_number, "+4917000000104", "Greta Lang", "Wann können wir starten?"),
        "hanna": _ingest(stack, ACME, acme_number, "+4917000000105", "Hanna Weiss", interested),
    }
    quiet = _ingest(stack, ACME, acme_number, "+4917000000106", "Ida Brandt", "Danke für die Unterlagen.")
    nordlicht = _ingest(stack, NORDLICHT, "+4420790000101", "+447700900101", "Oscar Lind",
                        "Sounds good, how much is it?")
    # The lead showed interest (the inbox handler) and a draft waits for approval (the autopilot handler).
    stack.sql("update public.events set status = 'processed', processed_at = now() where status = 'pending' "
              "and type <> 'message.received'")
    _handle(stack.database_url, [m.message_id for m in [*acme.values(), quiet, nordlicht]])
    # Scores a member gave the leads, so the priorities differ (20 % of the score counts).
    stack.sql("update public.leads set score = 90 where id = %s", (acme["clara"].lead_id,))
    stack.sql("update public.leads set score = 40 where id = %s", (acme["jonas"].lead_id,))
    for m in [*acme.values(), nordlicht]:
        status = stack.sql("select inbox_status from public.conversations where id = %s", (m.conversation_id,))
        assert status == [("needs_human_attention",)], (m.name, status)
        drafts = stack.sql("select status from public.autopilot_actions where trigger_message_id = %s", (m.message_id,))
        assert drafts == [("queued_for_approval",)], (m.name, drafts)
    return Seeded(acme, quiet, nordlicht)


def _open(page: Page, stack: RunningStack, view: str) -> Page:
    page.goto(f"{stack.url}/dashboard/#/{view}")
    page.wait_for_selector(f"[data-testid='view-{view}'][data-loaded='true']")
    return page


def _names(page: Page, testid: str) -> list[str]:
    return [n.strip() for n in page.get_by_test_id(testid).all_inner_texts()]


def _errors(page: Page) -> list[str]:
    """The page's script errors (failed requests of other views, e.g. the shell's 404 for a view not landed yet,
    are theirs to report)."""
    return [e for e in page.console_errors if not e.startswith("Failed to load resource")]


def _card(page: Page, action_id: str) -> Any:
    return page.locator(f"[data-testid='autopilot-row'][data-action-id='{action_id}']")


def _action(stack: RunningStack, message: Inbound) -> dict[str, Any]:
    with psycopg.connect(stack.database_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("select * from public.autopilot_actions where trigger_message_id = %s",
                          (message.message_id,)).fetchone()
    assert row is not None
    return dict(row)


def _sent(stack: RunningStack, action_id: str) -> list[tuple[Any, ...]]:
    return stack.sql("select body, sent_by, status from public.messages where idempotency_key = %s",
                     (f"autopilot:{action_id}",))


@pytest.fixture
def anna(signed_in_page: Callable[..., Page], seeded: Seeded) -> Iterator[Callable[..., Page]]:
    yield lambda **kw: signed_in_page("anna@acme.test", **kw)


# ---- Inbox -----------------------------------------------------------------------------------------------


def test_anna_sees_acme_s_conversations_that_need_a_person_by_priority(
        anna: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded, screenshot: Any) -> None:
    page = _open(anna(lang="en"), dashboard_stack, "inbox")
    assert page.get_by_role("heading", name="Inbox").is_visible()
    assert page.get_by_test_id("inbox-filter-needs-attention").is_checked()
    names = _names(page, "inbox-lead")
    assert set(names) == {m.name for m in seeded.acme.values()}, names
    assert seeded.quiet.name not in names  # it only said thanks: nothing for a person
    priorities = [int(p) for p in _names(page, "inbox-priority")]
    assert priorities == sorted(priorities, reverse=True) and all(0 < p <= 100 for p in priorities)
    assert names[:2] == ["Clara Vogt", "Jonas Frank"], "the best-scored leads come first"
    assert "lead score 90" in page.get_by_test_id("inbox-row").first.inner_text()
    clara = page.locator(f"[data-testid='inbox-row'][data-conversation-id='{seeded.acme['clara'].conversation_id}']")
    assert clara.get_by_test_id("inbox-status").inner_text() == "Needs attention"
    assert "showed interest" in clara.inner_text() and "a draft waits for approval" in clara.inner_text()
    assert clara.get_by_test_id("inbox-preview").inner_text() == "Klingt gut, was kostet das Paket?"
    assert clara.get_by_test_id("inbox-unread").inner_text() == "1"
    assert clara.get_by_test_id("inbox-draft-link").get_attribute("href") == "#/autopilot"
    assert page.get_by_test_id("inbox-count").inner_text() == f"{len(seeded.acme)} conversations"
    screenshot(page, "inbox-en")

    page.get_by_test_id("inbox-filter-needs-attention").uncheck()
    page.wait_for_function("n => document.querySelectorAll('[data-testid=inbox-row]').length > n",
                           arg=len(seeded.acme))
    assert seeded.quiet.name in _names(page, "inbox-lead")
    quiet = page.locator(f"[data-testid='inbox-row'][data-conversation-id='{seeded.quiet.conversation_id}']")
    assert quiet.get_by_test_id("inbox-status").inner_text() == "Replied"
    assert not _errors(page), _errors(page)


def test_the_inbox_speaks_german_and_fits_a_phone(
        anna: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded, screenshot: Any) -> None:
    page = _open(anna(lang="de", width=375, height=800), dashboard_stack, "inbox")
    assert page.get_by_role("heading", name="Posteingang").is_visible()
    assert page.get_by_label("Nur „braucht Aufmerksamkeit“").is_checked()
    clara = page.locator(f"[data-testid='inbox-row'][data-conversation-id='{seeded.acme['clara'].conversation_id}']")
    assert clara.get_by_test_id("inbox-status").inner_text() == "Braucht Aufmerksamkeit"
    assert "hat Interesse gezeigt" in clara.inner_text() and "Entwurf prüfen" in clara.inner_text()
    assert page.get_by_test_id("inbox-count").inner_text() == f"{len(seeded.acme)} Gespräche"
    # At 375 px the page itself does not scroll sideways; the table scrolls inside its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "inbox-de-phone")


def test_bea_sees_nothing_of_acme_in_the_inbox_or_the_queue(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded, screenshot: Any) -> None:
    page = _open(signed_in_page("bea@nordlicht.test", lang="en"), dashboard_stack, "inbox")
    assert _names(page, "inbox-lead") == [seeded.nordlicht.name]
    page.get_by_test_id("inbox-filter-needs-attention").uncheck()
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid='view-inbox'][data-loaded='true']")
    assert not {m.name for m in [*seeded.acme.values(), seeded.quiet]} & set(_names(page, "inbox-lead"))
    page = _open(page, dashboard_stack, "autopilot")
    assert _names(page, "autopilot-lead") == [seeded.nordlicht.name]
    assert "Sounds good, how much is it?" in page.get_by_test_id("autopilot-inbound").inner_text()
    screenshot(page, "autopilot-bea-en")


# ---- Autopilot -------------------------------------------------------------------------------------------


def test_anna_approves_a_draft_and_the_message_is_queued(
        anna: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded, screenshot: Any) -> None:
    action = _action(dashboard_stack, seeded.acme["clara"])
    page = _open(anna(lang="en"), dashboard_stack, "autopilot")
    assert page.get_by_role("heading", name="Autopilot approvals").is_visible()
    assert set(_names(page, "autopilot-lead")) >= {"Clara Vogt"}
    card = _card(page, action["id"])
    assert card.get_by_test_id("autopilot-draft").inner_text() == action["draft"]
    assert card.get_by_test_id("autopilot-inbound").inner_text() == "Klingt gut, was kostet das Paket?"
    assert "First contact" in card.inner_text()  # the guard that sent it to a person
    screenshot(page, "autopilot-en")
    card.get_by_role("button", name="Approve the draft for Clara Vogt").click()
    card.wait_for(state="detached")
    assert page.get_by_test_id("autopilot-status").inner_text() == \
        "Approved: the message to Clara Vogt is queued for sending."
    after = _action(dashboard_stack, seeded.acme["clara"])
    assert (after["status"], after["verdict"], str(after["reviewed_by"])) == ("sent", "approved", ANNA)
    assert _sent(dashboard_stack, action["id"]) == [(action["draft"], "autopilot", "queued")]
    page.reload()
    page.wait_for_selector("[data-testid='view-autopilot'][data-loaded='true']")
    assert _card(page, action["id"]).count() == 0, "a decided draft does not come back"


def test_ben_edits_a_draft_and_the_edited_text_is_sent(
        signed_in_page: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded, screenshot: Any) -> None:
    action = _action(dashboard_stack, seeded.acme["jonas"])
    page = _open(signed_in_page("ben@acme.test", lang="de"), dashboard_stack, "autopilot")  # a member
    assert page.get_by_role("heading", name="Autopilot: Freigaben").is_visible()
    card = _card(page, action["id"])
    card.get_by_role("button", name="Entwurf für Jonas Frank bearbeiten").click()
    text = card.get_by_label("Text, der gesendet wird")
    assert text.input_value() == action["draft"]
    text.fill("   ")
    assert card.get_by_test_id("autopilot-save-edit").is_disabled()  # an edit sends 1 to 4000 characters
    edited = "Hallo Herr Frank, gern am Dienstag um 10 Uhr. Passt Ihnen das?"
    text.fill(edited)
    screenshot(page, "autopilot-edit-de")
    card.get_by_role("button", name="Bearbeitet freigeben").click()
    card.wait_for(state="detached")
    assert "Bearbeitet freigegeben" in page.get_by_test_id("autopilot-status").inner_text()
    after = _action(dashboard_stack, seeded.acme["jonas"])
    assert (after["status"], after["verdict"], after["final_text"], str(after["reviewed_by"])) == \
        ("sent", "edited", edited, BEN)
    assert after["edit_distance"] > 0
    assert _sent(dashboard_stack, action["id"]) == [(edited, "autopilot", "queued")]


def test_anna_rejects_a_draft_and_nothing_is_sent(
        anna: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded) -> None:
    action = _action(dashboard_stack, seeded.acme["emil"])
    page = _open(anna(lang="de"), dashboard_stack, "autopilot")
    card = _card(page, action["id"])
    card.get_by_role("button", name="Entwurf für Emil Roth ablehnen").click()
    card.wait_for(state="detached")
    assert page.get_by_test_id("autopilot-status").inner_text() == "Abgelehnt: an Emil Roth wird nichts gesendet."
    after = _action(dashboard_stack, seeded.acme["emil"])
    assert (after["status"], after["verdict"], after["final_text"]) == ("rejected", "rejected", None)
    assert _sent(dashboard_stack, action["id"]) == []


def test_a_draft_decided_elsewhere_shows_the_refusal(
        new_page: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded, screenshot: Any) -> None:
    """Without Realtime (the page's websocket is cut before sign-in) the card stays after someone else rejected
    the draft; the RPC's refusal is shown in the card, nothing is sent, and the card can be dismissed."""
    action = _action(dashboard_stack, seeded.acme["greta"])
    page = new_page()
    page.context.route_web_socket("**/realtime/v1/websocket**", lambda ws: ws.close())
    page = _open(sign_in(page, dashboard_stack.url, "anna@acme.test", lang="en"), dashboard_stack, "autopilot")
    card = _card(page, action["id"])
    assert card.is_visible()
    dashboard_stack.sql("select public.autopilot_decide(%s, 'rejected', null, %s)", (action["id"], ACME))
    card.get_by_test_id("autopilot-approve").click()
    error = card.get_by_test_id("autopilot-error")
    error.wait_for()
    assert error.get_attribute("role") == "alert"
    assert card.get_by_test_id("autopilot-error-text").inner_text() == \
        "This draft was already decided (rejected), probably by someone else. Nothing was sent from here."
    assert "is rejected" in error.inner_text()  # the server's words, for support
    assert card.get_by_test_id("autopilot-approve").is_disabled()
    assert card.get_by_test_id("autopilot-edit").is_disabled()
    assert _sent(dashboard_stack, action["id"]) == []
    screenshot(page, "autopilot-refused-en")
    card.get_by_role("button", name="Remove from the list").click()
    card.wait_for(state="detached")


def test_a_new_draft_appears_live_while_another_is_being_edited(
        anna: Callable[..., Page], dashboard_stack: RunningStack, seeded: Seeded) -> None:
    page = _open(anna(lang="en"), dashboard_stack, "autopilot")
    hanna = _action(dashboard_stack, seeded.acme["hanna"])
    card = _card(page, hanna["id"])
    card.get_by_test_id("autopilot-edit").click()
    card.get_by_test_id("autopilot-edit-text").fill("Noch nicht fertig")
    late = _ingest(dashboard_stack, ACME, "+4930900000101", "+4917000000107", "Karl Berg", "Wann können wir sprechen?")
    _handle(dashboard_stack.database_url, [late.message_id])
    fresh = _action(dashboard_stack, late)
    _card(page, fresh["id"]).wait_for()
    assert card.get_by_test_id("autopilot-edit-text").input_value() == "Noch nicht fertig"
    wait_until_sync(lambda: "Karl Berg" in _names(page, "autopilot-lead"), what="the new draft listed")
