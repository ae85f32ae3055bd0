"""The scheduling math on the lead's clock (pure: no database): windows, DST gaps and folds, business days,
holidays, the caps' day, snooze presets; and template placeholders and auto-reply detection."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from salesflow.sequences.autoreply import is_auto_reply
from salesflow.sequences.rendering import UnknownPlaceholder, lead_values, render
from salesflow.sequences.schedule import (
    SendingWindow,
    add_business_days,
    local_day_bounds,
    next_allowed,
    snooze_until,
)

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")
EVERY_DAY = frozenset(range(1, 8))


def test_inside_the_window_now_is_allowed_and_after_it_the_next_morning() -> None:
    window = SendingWindow()
    monday_10 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # 10:00 Vienna
    assert next_allowed(monday_10, VIENNA, window) == monday_10
    monday_18 = datetime(2027, 3, 1, 17, 0, tzinfo=UTC)
    assert next_allowed(monday_18, VIENNA, window) == datetime(2027, 3, 2, 8, 0, tzinfo=UTC)


def test_a_window_start_inside_the_spring_gap_opens_when_the_clocks_jump() -> None:
    # 02:30 does not exist in Vienna on 2027-03-28 (02:00 → 03:00): the window opens at 03:00 CEST.
    window = SendingWindow(days=EVERY_DAY, start=time(2, 30), end=time(5, 0))
    opens = next_allowed(datetime(2027, 3, 27, 12, 0, tzinfo=UTC), VIENNA, window)
    assert opens == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert opens.astimezone(VIENNA).strftime("%H:%M") == "03:00"


def test_a_window_start_inside_the_autumn_fold_is_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 2027-11-07 (at 02:00 EDT the clocks go back to 01:00 EST).
    window = SendingWindow(days=EVERY_DAY, start=time(1, 30), end=time(4, 0))
    opens = next_allowed(datetime(2027, 11, 6, 12, 0, tzinfo=UTC), NEW_YORK, window)
    assert opens == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST an hour later


def test_business_days_skip_weekends_and_holidays_and_keep_the_wall_time_across_dst() -> None:
    window = SendingWindow(holiday_country="AT")
    friday_10 = datetime(2027, 3, 26, 9, 0, tzinfo=UTC)  # 10:00 CET; Easter Monday 2027-03-29 is a holiday
    later = add_business_days(friday_10, 1, VIENNA, window)
    assert later.astimezone(VIENNA).replace(tzinfo=None) == datetime(2027, 3, 30, 10, 0)  # Tuesday 10:00 CEST


def test_a_cap_day_in_the_dst_night_is_23_hours_long() -> None:
    start, end = local_day_bounds(datetime(2027, 3, 28, 12, 0, tzinfo=UTC), VIENNA)
    assert (end - start).total_seconds() == 23 * 3600


@pytest.mark.parametrize(("preset", "local"), [
    ("in_1_hour", datetime(2027, 3, 26, 15, 30)),
    ("this_evening", datetime(2027, 3, 26, 18, 0)),
    ("tomorrow_0900", datetime(2027, 3, 27, 9, 0)),
    ("next_monday", datetime(2027, 3, 29, 9, 0)),
    ("in_14_days", datetime(2027, 4, 9, 14, 30)),  # the same wall time after the DST change
])
def test_snooze_presets_end_on_the_leads_clock(preset: str, local: datetime) -> None:
    friday = datetime(2027, 3, 26, 13, 30, tzinfo=UTC)  # 14:30 CET in Vienna
    assert snooze_until(preset, friday, VIENNA).astimezone(VIENNA).replace(tzinfo=None) == local  # type: ignore[arg-type]


def test_placeholders_are_filled_from_the_lead_with_fallbacks() -> None:
    values = lead_values({"name": "Lea Muster", "company": None})
    assert render("Hallo {{first_name}}, wie läuft es bei {{ company | Ihnen }}?", values) == \
        "Hallo Lea, wie läuft es bei Ihnen?"
    assert render("Hallo {{ first_name }}!", lead_values({"name": ""})) == "Hallo!"


def test_an_unknown_placeholder_is_named() -> None:
    with pytest.raises(UnknownPlaceholder, match=r"unknown placeholder \{\{vorname\}\}; known: first_name"):
        render("Hallo {{vorname}}", {})


@pytest.mark.parametrize(("body", "detail", "auto"), [
    ("Danke, klingt gut!", {}, False),
    ("Ich bin derzeit nicht im Büro und ab dem 8. März wieder erreichbar.", {}, True),
    ("Hello", {"subject": "Abwesenheitsnotiz: Ihre Anfrage"}, True),
    ("I am out of the office until Monday.", {}, True),
    ("Thanks", {"headers": {"Auto-Submitted": "auto-replied"}}, True),
    ("Thanks", {"headers": {"Auto-Submitted": "no"}}, False),
])
def test_auto_replies_are_told_from_replies(body: str, detail: dict[str, object], auto: bool) -> None:
    assert is_auto_reply(body, detail) is auto
