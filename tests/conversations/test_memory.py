"""The memory manager: a lead's context (profile, facts, summary, recalled and newest messages) stays within
its token budget and recalls an old message by its topic, in German and in English."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from salesflow.conversations.memory import LeadNotFound, build_context, estimate_tokens
from salesflow.db.claims import act_as
from salesflow.transports.postgres_data import PostgresTenantDataFactory
from tests.conftest import ACME, ANNA, BEA, NORDLICHT, member_claims
from tests.conversations.history import add_conversation, add_lead, add_messages

Conn = psycopg.Connection[Any]

GERMAN_CHATTER = [
    "Guten Morgen, wie läuft die Einführung bei Ihnen?",
    "Die Schulung für das Lagerteam ist für Donnerstag geplant.",
    "Können Sie mir die Zugangsdaten für den Testzugang schicken?",
    "Unser IT-Leiter ist diese Woche im Urlaub, wir melden uns danach.",
    "Die Schnittstelle zum Warenwirtschaftssystem funktioniert jetzt.",
    "Vielen Dank für die schnelle Hilfe gestern am Telefon!",
]
ENGLISH_CHATTER = [
    "Good morning, how is the rollout going on your side?",
    "The training for the warehouse team is planned for Thursday.",
    "Could you send me the login details for the trial account?",
    "Our IT lead is on holiday this week, we will get back to you afterwards.",
    "The interface to the inventory system works now.",
    "Thanks a lot for the quick help on the phone yesterday!",
]


@pytest.fixture
async def factory(database: str) -> AsyncIterator[PostgresTenantDataFactory]:
    f = PostgresTenantDataFactory(database, pool_size=2)
    try:
        yield f
    finally:
        await f.close()


def _chatter(lines: list[str], count: int) -> list[tuple[str, str]]:
    return [("in" if i % 2 == 0 else "out", f"{lines[i % len(lines)]} ({i})") for i in range(count)]


def _history_with_an_old_topic(db: Conn, tenant: str, locale: str, old: str, chatter: list[str],
                               newest: str) -> tuple[str, str]:
    """A lead whose conversation mentions `old` four months ago, then 300 messages of other things, and
    finally the lead's newest message `newest`. Returns (lead id, id of the old message)."""
    lead = add_lead(db, tenant, "Paula Reimann", email="paula@reimann.example", locale=locale)
    conversation = add_conversation(db, tenant, lead)
    months_ago = datetime.now(UTC) - timedelta(days=120)
    [old_id] = add_messages(db, conversation, [("in", old)], start=months_ago)
    add_messages(db, conversation, _chatter(chatter, 300), start=months_ago + timedelta(days=1),
                 step=timedelta(hours=6))
    add_messages(db, conversation, [("in", newest)], start=datetime.now(UTC) - timedelta(minutes=1))
    return lead, old_id


async def test_the_context_stays_within_its_token_budget(db: Conn, factory: PostgresTenantDataFactory) -> None:
    lead = add_lead(db, ACME, "Paula Reimann", email="paula@reimann.example", phone="+49 151 2345678",
                    company="Reimann Logistik")
    conversation = add_conversation(db, ACME, lead)
    db.execute("insert into public.lead_facts (tenant_id, lead_id, key, value, origin) values "
               "(%s, %s, 'budget', '\"20.000 EUR\"', 'member'), (%s, %s, 'team_size', '40', 'member')",
               (ACME, lead, ACME, lead))
    # Messages of every length, some far longer than any budget tried here.
    texts = [("in" if i % 3 else "out", ("Lagerplatz " * (1 + (i * 37) % 300)).strip() + f" #{i}")
             for i in range(400)]
    ids = add_messages(db, conversation, texts)
    db.execute("insert into public.conversation_summaries (tenant_id, conversation_id, summary, first_message_id, "
               "last_message_id, covered_until, message_count, key_facts) "
               "select %s, %s, 'Die Kundin plant 40 Arbeitsplätze im Lager; Angebot folgt.', %s, %s, "
               "created_at, 200, '[\"40 Arbeitsplätze\"]' from public.messages where id = %s",
               (ACME, conversation, ids[0], ids[199], ids[199]))
    db.commit()
    data = factory.for_tenant(UUID(ACME))

    sizes = []
    for budget in (0, 20, 60, 150, 400, 1000, 2500, 6000):
        context = await build_context(data, lead, token_budget=budget)
        text = context.render()
        assert estimate_tokens(text) <= budget, (budget, estimate_tokens(text))
        sizes.append(len(context.recent))
        if context.recent:
            # The newest messages, contiguous and in order: the last one is the lead's newest message.
            assert context.recent[-1].id == ids[-1]
            assert [m.at for m in context.recent] == sorted(m.at for m in context.recent)
    assert sizes[0] == 0
    assert sizes == sorted(sizes) and sizes[-1] > 10  # a larger budget holds more of the conversation
    roomy = await build_context(data, lead, token_budget=6000)
    assert "Reimann Logistik" in roomy.render() and "budget: 20.000 EUR" in roomy.render()
    assert "40 Arbeitsplätze" in roomy.render()  # the pinned summary and its facts


async def test_a_german_message_from_months_ago_is_recalled_by_its_topic(
    db: Conn, factory: PostgresTenantDataFactory
) -> None:
    lead, old = _history_with_an_old_topic(
        db, ACME, "de",
        old="Wir bräuchten ein Angebot für 25 Handscanner inklusive Wartungsvertrag.",
        chatter=GERMAN_CHATTER,
        newest="Gelten Ihre Angebote vom Frühjahr eigentlich noch?",
    )
    context = await build_context(factory.for_tenant(UUID(ACME)), lead, token_budget=600, recall_k=3)
    assert old not in {m.id for m in context.recent}  # far outside the newest messages
    assert context.recalled and context.recalled[0].id == old  # "Angebote" finds "Angebot" (German stemming)
    assert "25 Handscanner" in context.render()
    assert estimate_tokens(context.render()) <= 600


async def test_an_english_message_from_months_ago_is_recalled_by_its_topic(
    db: Conn, factory: PostgresTenantDataFactory
) -> None:
    lead, old = _history_with_an_old_topic(
        db, NORDLICHT, "en",
        old="We would need a quote for 25 handheld scanners including the maintenance contract.",
        chatter=ENGLISH_CHATTER,
        newest="Are the quotes you sent in spring still valid?",
    )
    context = await build_context(factory.for_tenant(UUID(NORDLICHT)), lead, token_budget=600, recall_k=3)
    assert old not in {m.id for m in context.recent}
    assert context.recalled and context.recalled[0].id == old  # "quotes" finds "quote"
    assert "25 handheld scanners" in context.render()


async def test_without_a_matching_topic_nothing_is_recalled_and_recall_can_be_off(
    db: Conn, factory: PostgresTenantDataFactory
) -> None:
    lead, _ = _history_with_an_old_topic(
        db, ACME, "de", old="Wir bräuchten ein Angebot für 25 Handscanner.", chatter=GERMAN_CHATTER,
        newest="Gelten Ihre Angebote noch?",
    )
    data = factory.for_tenant(UUID(ACME))
    assert (await build_context(data, lead, token_budget=600, query="Parkplatz Kantine")).recalled == ()
    assert (await build_context(data, lead, token_budget=600, recall_k=0)).recalled == ()


async def test_only_current_facts_are_pinned(db: Conn, factory: PostgresTenantDataFactory) -> None:
    lead = add_lead(db, ACME, "Paula Reimann")
    db.execute("insert into public.lead_facts (tenant_id, lead_id, key, value, origin, valid_from) values "
               "(%s, %s, 'budget', '\"5.000 EUR\"', 'member', now() - interval '1 day')", (ACME, lead))
    db.execute("insert into public.lead_facts (tenant_id, lead_id, key, value, origin) values "
               "(%s, %s, 'budget', '\"12.000 EUR\"', 'member')", (ACME, lead))
    db.commit()
    text = (await build_context(factory.for_tenant(UUID(ACME)), lead)).render()
    assert "12.000 EUR" in text and "5.000 EUR" not in text


async def test_another_tenants_lead_has_no_context(db: Conn, factory: PostgresTenantDataFactory) -> None:
    lead = add_lead(db, ACME, "Paula Reimann")
    add_messages(db, add_conversation(db, ACME, lead), [("in", "Hallo, ich hätte gern ein Angebot.")])
    with pytest.raises(LeadNotFound):
        await build_context(factory.for_tenant(UUID(NORDLICHT)), lead)
    # A member of another tenant gets nothing over the API either (security invoker: RLS applies).
    act_as(db, member_claims(BEA, NORDLICHT))
    assert db.execute("select public.lead_memory(%s, %s)", (ACME, lead)).fetchone() == (None,)
    db.rollback()
    act_as(db, member_claims(ANNA, ACME))
    own = db.execute("select public.lead_memory(%s, %s)", (ACME, lead)).fetchone()
    assert own is not None and own[0]["recent"][0]["body"] == "Hallo, ich hätte gern ein Angebot."
    db.rollback()


async def test_a_budget_below_zero_is_refused(db: Conn, factory: PostgresTenantDataFactory) -> None:
    with pytest.raises(ValueError, match="token_budget"):
        await build_context(factory.for_tenant(UUID(ACME)), "10000000-0000-4000-8000-000000000001", token_budget=-1)


def test_the_cli_prints_the_context_within_its_budget(db: Conn, database: str) -> None:
    from typer.testing import CliRunner

    from salesflow.cli.main import app

    lead, old = _history_with_an_old_topic(
        db, ACME, "de", old="Wir bräuchten ein Angebot für 25 Handscanner.", chatter=GERMAN_CHATTER,
        newest="Gelten Ihre Angebote noch?",
    )
    result = CliRunner().invoke(app, ["leads", "context", lead, "--budget", "300", "--database-url", database])
    assert result.exit_code == 0, result.stderr
    assert estimate_tokens(result.stdout.rstrip("\n")) <= 300
    assert "25 Handscanner" in result.stdout and "Gelten Ihre Angebote noch?" in result.stdout
    assert "of 300 estimated tokens" in result.stderr
    as_json = CliRunner().invoke(app, ["leads", "context", lead, "--json", "--database-url", database])
    assert as_json.exit_code == 0 and old in as_json.stdout
    missing = CliRunner().invoke(app, ["leads", "context", "90000000-0000-4000-8000-000000000009",
                                       "--database-url", database])
    assert missing.exit_code == 2 and "error: ID: there is no lead" in missing.stderr
