"""The sequence handlers on the supabase transport (PostgREST RPC and Realtime, the deployment's path): a step
is planned into the window, sent, and the lead's reply stops the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesflow.devstack import DevStack
from salesflow.transports.supabase import open_supabase
from tests.polling import wait_until
from tests.sequences.conftest import (
    WAIT,
    Clock,
    Conn,
    create_sequence,
    due_now,
    enroll,
    enrollments,
    inbound,
    make_leads,
    parse,
    sequence_messages,
    sequences_running,
)

SUNDAY = datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
MONDAY_0900_VIENNA = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


async def test_a_step_is_planned_sent_and_stopped_by_a_reply_over_postgrest(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    sequence = create_sequence(seq_db, [{}, {"delay_hours": 48}])
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    clock.now = SUNDAY
    enroll(seq_db, sequence, [lead])
    async with DevStack(database) as stack, sequences_running(
            database, clock, transport=lambda: open_supabase(stack.url, stack.service_role_key)):
        await wait_until(lambda: (e := enrollments(seq_db, sequence)) and e[0]["next_due_at"] and
                         parse(e[0]["next_due_at"]) == MONDAY_0900_VIENNA, in_thread=True, timeout=WAIT,
                         what="planned for Monday 09:00 in Vienna")
        clock.now = MONDAY_0900_VIENNA
        due_now(seq_db)
        await wait_until(lambda: enrollments(seq_db, sequence)[0]["current_step"] == 2, in_thread=True,
                         timeout=WAIT, what="step 1 sent")
        inbound(seq_db, lead, "Danke, melde mich.", MONDAY_0900_VIENNA + timedelta(hours=1))
        await wait_until(lambda: enrollments(seq_db, sequence)[0]["state"] == "stopped", in_thread=True,
                         timeout=WAIT, what="stopped by the reply")
    assert len(sequence_messages(seq_db)) == 1
