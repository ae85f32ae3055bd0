"""Opt-out by keyword: the whole message is the keyword (any case, punctuation around it), and then the lead
is opted out of that channel, lead.opted_out is published and the database refuses later sends."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from salesflow.conversations.optout import OPT_OUT_KEYWORDS, opt_out_keyword
from tests.conversations.inbound import engine, event_of, handled, new_lead, receive, scalar
from tests.polling import wait_until

KEYWORDS = ("STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "CANCEL",
            "STOPP", "ABMELDEN", "ABBESTELLEN")


def test_the_keyword_list_is_the_issue_s_list() -> None:
    assert set(KEYWORDS) == OPT_OUT_KEYWORDS


@pytest.mark.parametrize("keyword", KEYWORDS)
@pytest.mark.parametrize("spelling", ["{k}", "{l}", "{t}", "  {k}  ", "{t}!", "{k}.", "„{t}“", "{l} 🙏", "\n{k}\n"])
def test_a_keyword_alone_is_an_opt_out_in_any_case(keyword: str, spelling: str) -> None:
    body = spelling.format(k=keyword, l=keyword.lower(), t=keyword.title())
    assert opt_out_keyword(body) == keyword


@pytest.mark.parametrize("body", [
    "please stop sending me offers", "Bitte abmelden, danke für alles", "stop it", "STOP STOP", "stopped",
    "Stop, wer ist das?", "ich möchte mich abmelden", "cancel my order #12", "unsubscribe me", "", "   ",
    "s t o p", "STOPPEN", "the END", "QUIT?!? now",
])
def test_a_sentence_with_a_keyword_in_it_is_not_an_opt_out(body: str) -> None:
    assert opt_out_keyword(body) is None


async def test_a_stop_message_opts_the_lead_out_and_later_sends_are_refused_in_sql(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        stop = receive(conn, lead, "Stopp!")
        async with engine(database, "conversations.detect_opt_out"):
            await wait_until(lambda: handled(conn, stop.message_id), in_thread=True, what="message.received handled")
        consent = conn.execute(
            "select id, channel, status, method, evidence, source_message_id from public.consents where lead_id = %s",
            (lead,)).fetchall()
        assert [c[1:] for c in consent] == [
            ("whatsapp", "opted_out", "inbound_keyword", "STOPP", uuid.UUID(stop.message_id))]
        published = conn.execute("select payload from public.events where type = 'lead.opted_out'").fetchall()
        assert [p[0]["consent_id"] for p in published] == [str(consent[0][0])]
        assert published[0][0]["method"] == "inbound_keyword" and published[0][0]["channel"] == "whatsapp"
        conn.commit()
        # Any sender, even the service role, is refused by the database, naming the consent.
        conn.execute("set role service_role")
        with pytest.raises(psycopg.errors.CheckViolation, match=str(consent[0][0])):
            conn.execute("insert into public.messages (conversation_id, direction, body, sent_by) "
                         "values (%s, 'out', 'Noch ein Angebot?', 'user')", (stop.conversation_id,))
        conn.rollback()
        # Another channel is untouched: opting out of WhatsApp is not opting out of email.
        assert scalar(conn, "select count(*) from public.consents where lead_id = %s and channel = 'email'",
                      (lead,)) == 0


async def test_a_redelivered_stop_or_a_second_stop_records_and_publishes_nothing_new(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        first = receive(conn, lead, "STOP")
        async with engine(database, "conversations.detect_opt_out"):
            await wait_until(lambda: handled(conn, first.message_id), in_thread=True)
            changed_at = scalar(conn, "select changed_at from public.consents where lead_id = %s", (lead,))
            conn.execute("select public.replay_event(%s, true)", (event_of(conn, first.message_id),))
            conn.commit()
            second = receive(conn, lead, "stop")
            await wait_until(lambda: handled(conn, first.message_id) and handled(conn, second.message_id),
                             in_thread=True)
        rows = conn.execute("select source_message_id, changed_at from public.consents where lead_id = %s",
                            (lead,)).fetchall()
        # The first opt-out stays the record (how and when the lead first said it).
        assert rows == [(uuid.UUID(first.message_id), changed_at)]
        assert scalar(conn, "select count(*) from public.events where type = 'lead.opted_out'") == 1


async def test_a_sentence_asking_to_stop_records_no_consent(database: str) -> None:
    with psycopg.connect(database) as conn:
        lead = new_lead(conn)
        msg = receive(conn, lead, "please stop sending me offers")
        async with engine(database, "conversations.detect_opt_out"):
            await wait_until(lambda: handled(conn, msg.message_id), in_thread=True)
        assert scalar(conn, "select count(*) from public.consents") == 0
        assert scalar(conn, "select count(*) from public.events where type = 'lead.opted_out'") == 0


@pytest.mark.parametrize(("body", "keyword"), [
    ("STOP\n\nOn Mon, 1 Dec 2026 at 10:00, Acme Sales <anna@acme.test> wrote:\n> Unser Angebot für Sie", "STOP"),
    ("Abmelden\r\n\r\nAm 01.12.2026 um 10:00 schrieb Acme Sales <anna@acme.test>:\r\n> Angebot", "ABMELDEN"),
    ("unsubscribe\n-- \nPaul Weber\nWeber Bau GmbH", "UNSUBSCRIBE"),
    ("Stopp!\n-----Ursprüngliche Nachricht-----\nVon: Acme", "STOPP"),
    ("Danke, klingt gut\n> STOP", None),  # the keyword is in the quoted mail, not in what the lead wrote
])
def test_an_email_reply_is_judged_by_the_lead_s_own_words_above_the_quote(body: str, keyword: str | None) -> None:
    assert opt_out_keyword(body, "email") == keyword


def test_quotes_count_as_words_on_chat_channels() -> None:
    assert opt_out_keyword("STOP\n> quoted", "whatsapp") is None
