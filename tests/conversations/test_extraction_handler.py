"""What a lead writes becomes what SalesFlow knows: lead_extraction on each inbound message (the offline
provider here), sure fields applied to empty lead fields as facts, unsure or conflicting ones queued for a
member, another lead's address never merged silently, and one AI call per message whatever is redelivered."""

from __future__ import annotations

from typing import Any

import psycopg

from salesflow.db.claims import act_as
from tests.conftest import ANNA, member_claims
from tests.conversations.inbound import ACME, engine, event_of, handled, new_lead, receive, scalar
from tests.polling import wait_until


def _facts(conn: psycopg.Connection[Any], lead: str) -> list[tuple[Any, ...]]:
    rows = conn.execute("select key, value #>> '{}', origin, source_message_id::text, valid_to is null "
                        "from public.lead_facts where lead_id = %s order by key, valid_from", (lead,)).fetchall()
    conn.commit()
    return rows


def _tasks(conn: psycopg.Connection[Any], lead: str) -> list[tuple[Any, ...]]:
    rows = conn.execute("select field, proposed_value, reason, status, matched_lead_id::text "
                        "from public.lead_review_tasks where lead_id = %s order by field", (lead,)).fetchall()
    conn.commit()
    return rows


async def test_sure_fields_fill_a_zero_input_lead_and_are_recorded_as_facts(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)  # named after its number, as Zero-Input names it
        msg = receive(conn, lead, "Hallo, ich bin Paul Weber. Meine Mail: paul.weber@weber-bau.de, "
                                  "erreichbar unter 0170 1112223")
        async with engine(database, "conversations.extract_facts"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True, what="message handled")
        row = conn.execute("select name, email, phone from public.leads where id = %s", (lead,)).fetchone()
        # The phone is read in the sender's country (+49) and stored in normal form.
        assert row == ("Paul Weber", "paul.weber@weber-bau.de", "+491701112223")
        assert _facts(conn, lead) == [
            ("email", "paul.weber@weber-bau.de", "extraction", msg.message_id, True),
            ("name", "Paul Weber", "extraction", msg.message_id, True),
            ("phone", "+491701112223", "extraction", msg.message_id, True),
        ]
        # Stitching: the lead is now reachable on the addresses it gave (its next email finds it).
        identities = conn.execute("select channel::text, address from public.channel_identities where lead_id = %s "
                                  "order by channel, address", (lead,)).fetchall()
        assert ("email", "paul.weber@weber-bau.de") in identities and ("sms", "+491701112223") in identities
        assert _tasks(conn, lead) == []


async def test_unsure_fields_wait_for_review_and_change_nothing(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        msg = receive(conn, lead, "Guten Tag, ich arbeite bei Nordwind Logistik und hätte Fragen zum Angebot.")
        async with engine(database, "conversations.extract_facts"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert _tasks(conn, lead) == [("company", "Nordwind Logistik", "low_confidence", "pending", None)]
        assert scalar(conn, "select company from public.leads where id = %s", (lead,)) is None
        assert _facts(conn, lead) == []


async def test_the_tenant_threshold_decides_what_is_applied(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("update public.tenants set extraction_confidence_threshold = 0.99 where id = %s", (ACME,))
        conn.commit()
        lead = new_lead(conn)
        msg = receive(conn, lead, "Schreiben Sie mir an carla@beispiel.de")
        async with engine(database, "conversations.extract_facts"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert _tasks(conn, lead) == [("email", "carla@beispiel.de", "low_confidence", "pending", None)]
        assert scalar(conn, "select email from public.leads where id = %s", (lead,)) is None


async def test_a_member_s_value_is_never_overwritten_silently(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn, name="Paula Weber", company="Weber Bau")
        msg = receive(conn, lead, "Wir sind jetzt die Weber Holding GmbH, Grüße Paula")
        async with engine(database, "conversations.extract_facts"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert scalar(conn, "select company from public.leads where id = %s", (lead,)) == "Weber Bau"
        tasks = conn.execute("select field, proposed_value, current_value, reason from public.lead_review_tasks "
                             "where lead_id = %s", (lead,)).fetchall()
        assert tasks == [("company", "Weber Holding GmbH", "Weber Bau", "conflicts_with_lead")]


async def test_another_lead_s_address_written_to_a_lead_someone_works_on_waits_for_review(database: str) -> None:
    with psycopg.connect(database) as conn:
        # Julia Becker (seed) has julia.becker@example.de; a lead Anna already works on writes it.
        lead = new_lead(conn, address="+4915199990000", owner_id=ANNA)
        msg = receive(conn, lead, "Hi, hier ist meine Mail: Julia.Becker@example.de")
        async with engine(database, "conversations.extract_facts"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert _tasks(conn, lead) == [("email", "Julia.Becker@example.de", "matches_other_lead", "pending",
                                       "10000000-0000-4000-8000-000000000001")]
        assert scalar(conn, "select email from public.leads where id = %s", (lead,)) is None
        assert scalar(conn, "select count(*) from public.channel_identities "
                            "where address = 'julia.becker@example.de'") == 0


async def test_a_redelivered_event_pays_once_and_writes_nothing_new(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        msg = receive(conn, lead, "Ich bin Tom Berger von Berger Bau GmbH, tom@berger-bau.de. "
                                  "Was kostet ein Angebot für 20 Nutzer?")
        event = event_of(conn, msg.message_id)
        async with engine(database, "conversations.extract_facts", "conversations.rescore_lead"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
            facts, tasks = _facts(conn, lead), _tasks(conn, lead)
            score = scalar(conn, "select score from public.leads where id = %s", (lead,))
            # Every handler again, as an operator's replay or a lost acknowledgement would make it.
            conn.execute("select public.replay_event(%s, true)", (event,))
            conn.commit()
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert facts and _facts(conn, lead) == facts
        assert _tasks(conn, lead) == tasks
        assert scalar(conn, "select count(*) from public.event_deliveries where event_id = %s", (event,)) == 2
        usage = conn.execute("select scenario, count(*) from public.ai_usage where event_id = %s group by 1 order by 1",
                             (event,)).fetchall()
        assert usage == [("lead_extraction", 1), ("lead_scoring", 1)]
        assert score > 0 and scalar(conn, "select score from public.leads where id = %s", (lead,)) == score


async def test_an_opt_out_keyword_is_neither_extracted_nor_scored(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        msg = receive(conn, lead, "STOP")
        async with engine(database):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert scalar(conn, "select count(*) from public.ai_usage where lead_id = %s", (lead,)) == 0
        assert scalar(conn, "select status from public.consents where lead_id = %s", (lead,)) == "opted_out"


async def test_a_new_message_rescores_the_lead_with_its_conversation(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        msg = receive(conn, lead, "Wir möchten ein Angebot und einen Termin für eine Demo nächste Woche.")
        async with engine(database, "conversations.rescore_lead"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        score, reasons = conn.execute("select score, score_reasons from public.leads where id = %s",
                                      (lead,)).fetchone()  # type: ignore[misc]
        assert score >= 40 and any("Kaufsignale" in r for r in reasons)


async def test_a_zero_input_lead_giving_a_known_lead_s_email_is_stitched_to_it_reversibly(database: str) -> None:
    julia = "10000000-0000-4000-8000-000000000001"  # seed: julia.becker@example.de, no WhatsApp yet
    with psycopg.connect(database) as conn:
        stranger = new_lead(conn, address="+4915199990001")
        msg = receive(conn, stranger, "Hi, hier ist Julia Becker, meine Mail: julia.becker@example.de")
        async with engine(database, "conversations.extract_facts"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        # The number, its conversation and the message are Julia's now; the name she wrote is hers already.
        owner = "select lead_id::text from public.channel_identities where address = '+4915199990001'"
        assert scalar(conn, owner) == julia
        assert scalar(conn, "select lead_id::text from public.conversations where id = %s",
                      (msg.conversation_id,)) == julia
        assert scalar(conn, "select lead_id::text from public.messages where id = %s", (msg.message_id,)) == julia
        link = conn.execute("select id, lead_id::text, previous_lead_id::text, matched_on, linked_by "
                            "from public.identity_links").fetchall()
        assert [row[1:] for row in link] == [(julia, stranger, "extraction", "extraction")]
        assert _tasks(conn, stranger) == [] and _tasks(conn, julia) == []
        # A wrong match is undone by a member: identity and conversation go back to the lead that wrote.
        act_as(conn, member_claims(ANNA, ACME))
        conn.execute("select public.undo_identity_link(%s)", (link[0][0],))
        conn.commit()
        assert scalar(conn, owner) == stranger
        assert scalar(conn, "select lead_id::text from public.messages where id = %s", (msg.message_id,)) == stranger
