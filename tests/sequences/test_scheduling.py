"""Steps land inside the sending window on the lead's clock, across DST changes, off holidays and under the
daily caps, with the real engine running the sequence handlers (time moved by the injected clock and by
making the planned step_due events due now)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

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
    parse,
    runs,
    sequence_messages,
    sequences_running,
)


def planned(db: Conn, sequence_id: str, step: int, due: datetime) -> list[dict[str, Any]] | None:
    found = enrollments(db, sequence_id)
    ok = found and all(e["current_step"] == step and e["next_due_at"] and parse(e["next_due_at"]) == due
                       for e in found)
    return found if ok else None


@pytest.mark.parametrize(("zone", "friday_evening", "monday_0900", "tuesday_0900"), [
    # Vienna: clocks go forward on Sunday 2027-03-28 (CET +1 → CEST +2).
    ("Europe/Vienna", datetime(2027, 3, 26, 17, 0, tzinfo=UTC), datetime(2027, 3, 29, 7, 0, tzinfo=UTC),
     datetime(2027, 3, 30, 7, 0, tzinfo=UTC)),
    # New York: clocks go forward on Sunday 2027-03-14 (EST -5 → EDT -4).
    ("America/New_York", datetime(2027, 3, 12, 23, 0, tzinfo=UTC), datetime(2027, 3, 15, 13, 0, tzinfo=UTC),
     datetime(2027, 3, 16, 13, 0, tzinfo=UTC)),
    # Vienna in autumn: clocks go back on Sunday 2027-10-31 (CEST +2 → CET +1).
    ("Europe/Vienna", datetime(2027, 10, 29, 16, 0, tzinfo=UTC), datetime(2027, 11, 1, 8, 0, tzinfo=UTC),
     datetime(2027, 11, 2, 8, 0, tzinfo=UTC)),
])
async def test_steps_land_at_nine_on_the_leads_clock_across_a_dst_change(
    seq_db: Conn, database: str, clock: Clock, zone: str, friday_evening: datetime, monday_0900: datetime,
    tuesday_0900: datetime,
) -> None:
    # The sequence's own zone is Berlin; the lead's zone decides.
    sequence = create_sequence(seq_db, [{}, {"delay_business_days": 1, "template": "Noch eine Frage, {{first_name}}?"}],
                               timezone="Europe/Berlin")
    [lead] = make_leads(seq_db, 1, timezone=zone)
    clock.now = friday_evening  # after the window on a Friday: the first step waits for Monday 09:00
    assert enroll(seq_db, sequence, [lead])["enrolled"] == 1
    async with sequences_running(database, clock):
        await wait_until(lambda: planned(seq_db, sequence, 1, monday_0900), in_thread=True, timeout=WAIT,
                         what="step 1 planned for Monday 09:00 local")
        assert sequence_messages(seq_db) == []  # nothing is sent outside the window
        clock.now = monday_0900
        due_now(seq_db)
        await wait_until(lambda: planned(seq_db, sequence, 2, tuesday_0900), in_thread=True, timeout=WAIT,
                         what="step 1 sent and step 2 planned one business day later at 09:00 local")
    [message] = sequence_messages(seq_db)
    assert message["body"] == "Hallo Lea, kurze Nachfrage."
    [run] = runs(seq_db)
    local = parse(run["claimed_at"]).astimezone(ZoneInfo(zone))
    assert (local.isoweekday(), local.hour, local.minute) == (1, 9, 0)


async def test_a_public_holiday_of_the_sequences_country_is_skipped(seq_db: Conn, database: str, clock: Clock) -> None:
    # Austria's National Day, Tuesday 2027-10-26: Monday's evening step goes out on Wednesday.
    sequence = create_sequence(seq_db, [{}], holiday_country="AT")
    [lead] = make_leads(seq_db, 1, timezone="Europe/Vienna")
    clock.now = datetime(2027, 10, 25, 16, 0, tzinfo=UTC)  # Monday 18:00 in Vienna
    enroll(seq_db, sequence, [lead])
    wednesday_0900 = datetime(2027, 10, 27, 7, 0, tzinfo=UTC)
    async with sequences_running(database, clock):
        await wait_until(lambda: planned(seq_db, sequence, 1, wednesday_0900), in_thread=True, timeout=WAIT,
                         what="step planned for Wednesday 09:00, after the holiday")
    assert sequence_messages(seq_db) == []


@pytest.mark.xfail(strict=False, reason="known bug since the batched step transaction (20261203150000): in about one "
                   "run in three a step due on the third day is not executed within 90 s with four listeners; "
                   "not yet diagnosed (see README, Not built yet)")
async def test_a_daily_cap_moves_the_rest_to_the_next_day_with_four_listeners(
    seq_db: Conn, database: str, clock: Clock
) -> None:
    sequence = create_sequence(seq_db, [{}], daily_cap_tenant=3, timezone="Europe/Vienna")
    leads = make_leads(seq_db, 8, timezone="Europe/Vienna")
    clock.now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # Monday 10:00 in Vienna, inside the window
    enroll(seq_db, sequence, leads)
    tuesday_0900 = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)
    wednesday_0900 = datetime(2027, 3, 3, 8, 0, tzinfo=UTC)

    def state() -> tuple[int, int] | None:
        found = enrollments(seq_db, sequence)
        done = sum(e["state"] == "completed" for e in found)
        waiting = [e for e in found if e["state"] == "active"]
        return (done, len(waiting)) if done + len(waiting) == 8 and all(
            parse(e["next_due_at"]) in (tuesday_0900, wednesday_0900) for e in waiting) else None

    async with sequences_running(database, clock, engines=4):
        assert await wait_until(state, in_thread=True, timeout=WAIT, what="Monday's cap reached") == (3, 5)
        assert len(sequence_messages(seq_db)) == 3
        clock.now = tuesday_0900
        due_now(seq_db)
        await wait_until(lambda: (s := state()) and s[0] == 6, in_thread=True, timeout=WAIT, what="Tuesday's three")
        clock.now = wednesday_0900
        due_now(seq_db)
        await wait_until(lambda: (s := state()) and s[0] == 8, in_thread=True, timeout=WAIT, what="the last two")
    days: dict[int, int] = {}
    for run in runs(seq_db):
        day = parse(run["claimed_at"]).astimezone(ZoneInfo("Europe/Vienna")).day
        days[day] = days.get(day, 0) + 1
    assert days == {1: 3, 2: 3, 3: 2}
    assert len(sequence_messages(seq_db)) == 8
    assert len({m["lead_id"] for m in sequence_messages(seq_db)}) == 8
