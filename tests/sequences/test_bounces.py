"""A bounce stops the lead's sequences: a permanent failure saying the address cannot receive (an SMTP 5.1.1, a
Twilio unknown handset, WhatsApp's "undeliverable"), from the send job or a provider's status callback, stops
every open enrollment of the lead with reason `bounced`; a refusal of one message (a closed window, spam policy,
a full mailbox) does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salesflow.sequences.bounces import is_bounce
from tests.polling import wait_until
from tests.sequences.conftest import (
    WAIT,
    Clock,
    Conn,
    create_sequence,
    due_now,
    enroll,
    enrollments,
    make_leads,
    pending_due,
    sequence_messages,
    sequences_running,
)

MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
TWO_STEPS: list[dict[str, Any]] = [{}, {"delay_hours": 24, "template": "Noch Interesse, {{first_name}}?"}]


@pytest.mark.parametrize(("channel", "code", "message", "bounce"), [
    ("email", "smtp_550", "5.1.1 <lea@example.test>: Recipient address rejected: User unknown", True),
    ("email", "smtp_550", "Requested action not taken: mailbox unavailable", True),
    ("email", None, "Delivery Status Notification: Status: 5.1.10 (null MX)", True),
    ("email", "smtp_552", "5.2.2 mailbox full", False),
    ("email", "smtp_550", "5.7.1 Message rejected as spam", False),
    ("email", "smtp_421", "try again later", False),
    ("sms", "twilio_21211", "The 'To' number is not a valid phone number.", True),
    ("sms", "30005", "Unknown destination handset", True),
    ("sms", "30003", "Unreachable destination handset", False),
    ("whatsapp", "131026", "Message undeliverable", True),
    ("whatsapp", "meta_131047", "Re-engagement message (24 h window closed)", False),
    ("instagram", "meta_100_2018001", "No matching user found", True),
])
def test_which_failures_are_bounces(channel: str, code: str | None, message: str, bounce: bool) -> None:
    assert is_bounce(channel, code, message) is bounce


def fail_message(db: Conn, message_id: str, code: str, reason: str) -> None:
    """What the send job (record_send_outcome) or a status callback (apply_message_status) does to a message
    the provider refused for good."""
    db.execute("update public.messages set status = 'failed', failed_at = now(), error_code = %s, error_message = %s "
               "where id = %s", (code, reason, message_id))
    db.commit()


@pytest.mark.parametrize(("code", "reason", "stops"), [
    ("smtp_550", "5.1.1 <lea1@example.test>: Recipient address rejected: User unknown", True),
    ("smtp_550", "5.7.1 Message rejected as spam", False),
])
async def test_a_bounce_stops_every_sequence_of_the_lead_another_failure_does_not(
    seq_db: Conn, database: str, clock: Clock, code: str, reason: str, stops: bool
) -> None:
    first = create_sequence(seq_db, TWO_STEPS, name="one", timezone="Europe/Vienna")
    second = create_sequence(seq_db, TWO_STEPS, name="two", timezone="Europe/Vienna")
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    enroll(seq_db, first, [lead])
    clock.now = MONDAY
    async with sequences_running(database, clock):
        await wait_until(lambda: len(sequence_messages(seq_db, lead)) == 1, in_thread=True, timeout=WAIT,
                         what="step 1 queued")
        enroll(seq_db, second, [lead])  # its first step is due at once too
        await wait_until(lambda: len(sequence_messages(seq_db, lead)) == 2 and all(
            e["current_step"] == 2 for e in enrollments(seq_db, first) + enrollments(seq_db, second)),
            in_thread=True, timeout=WAIT, what="both sequences on step 2")
        fail_message(seq_db, sequence_messages(seq_db, lead)[0]["id"], code, reason)
        await wait_until(lambda: pending_due(seq_db) == 0 and seq_db.execute(
            "select count(*) = 0 from public.events where type = 'message.status_changed' "
            "and status <> 'processed'").fetchone()[0], in_thread=True, timeout=WAIT, what="the failure handled")
        seq_db.commit()
        clock.now = MONDAY + timedelta(days=1, hours=1)
        due_now(seq_db)
        await wait_until(lambda: pending_due(seq_db) == 0, in_thread=True, timeout=WAIT, what="step 2 handled")
    states = {(e["state"], e["stop_reason"]) for e in enrollments(seq_db, first) + enrollments(seq_db, second)}
    if stops:
        assert states == {("stopped", "bounced")}
        assert len(sequence_messages(seq_db, lead)) == 2  # nothing after the bounce
    else:
        assert states == {("completed", None)}
        assert len(sequence_messages(seq_db, lead)) == 4
