"""When a sequence may send: the next allowed moment on the lead's clock.

Everything is computed in the lead's time zone with `zoneinfo`, so "09:00 on a weekday" means 09:00 where the
lead is, on both sides of a DST change. Public holidays come from the `holidays` package (a maintained
calendar per country and subdivision; a hand-kept list would be wrong by next year). A local time that does not
exist (the spring-forward gap) becomes the first minute after the gap; one that exists twice (the autumn fold)
is its first occurrence.
"""

from __future__ import annotations

import functools
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

import holidays

#: How far ahead a window is searched: a window that allows nothing within a year is a configuration error.
SEARCH_DAYS: Final = 400

SnoozePreset = Literal["in_1_hour", "this_evening", "tomorrow_0900", "next_monday", "in_14_days"]
SNOOZE_PRESETS: Final[tuple[SnoozePreset, ...]] = (
    "in_1_hour", "this_evening", "tomorrow_0900", "next_monday", "in_14_days",
)
EVENING: Final = time(18, 0)
MORNING: Final = time(9, 0)


class NoAllowedMoment(ValueError):
    """The window allows no moment within SEARCH_DAYS days (e.g. only holidays)."""


@functools.lru_cache(maxsize=64)
def holiday_calendar(country: str, subdivision: str | None = None) -> Container[date]:
    """The public holidays of `country` (ISO 3166-1 alpha-2) and optional `subdivision`; years load on use.

    Raises ValueError naming the country or subdivision when the package does not know it."""
    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        raise ValueError(f"holiday_country: {country!r} is not a country the holidays package knows") from None
    except (KeyError, ValueError) as exc:
        raise ValueError(f"holiday_subdivision: {subdivision!r} is not a subdivision of {country} ({exc})") from None


@dataclass(frozen=True)
class SendingWindow:
    """Weekdays (ISO: 1 = Monday … 7 = Sunday) and hours [start, end) when sending is allowed, off holidays."""

    days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    start: time = time(9, 0)
    end: time = time(17, 0)
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    _calendar: Container[date] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(1, 8)):
            raise ValueError(f"send_days: weekdays 1 (Monday) to 7 (Sunday), at least one (got {sorted(self.days)})")
        if self.start >= self.end:
            raise ValueError(f"send_from: {self.start} must be before send_until {self.end}")
        if self.holiday_country:
            object.__setattr__(self, "_calendar", holiday_calendar(self.holiday_country, self.holiday_subdivision))

    def is_holiday(self, day: date) -> bool:
        return self._calendar is not None and day in self._calendar

    def is_sending_day(self, day: date) -> bool:
        """A weekday of the window that is not a public holiday."""
        return day.isoweekday() in self.days and not self.is_holiday(day)


def local_instant(day: date, wall: time, zone: ZoneInfo, *, last: bool = False) -> datetime:
    """The UTC instant when the clocks in `zone` show `wall` on `day`.

    In the spring-forward gap: the first minute that exists after it. In the autumn fold: the first occurrence,
    or the second with `last` (the end of a window is the later one, so the window is never cut short)."""
    naive = datetime.combine(day, wall)
    for _ in range(24 * 60):
        aware = naive.replace(tzinfo=zone, fold=1 if last else 0)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
            return aware.astimezone(UTC)
        naive += timedelta(minutes=1)  # inside a gap: move to the first minute that exists
    raise AssertionError(f"no valid local time after {day} {wall} in {zone}")  # pragma: no cover


def next_allowed(moment: datetime, zone: ZoneInfo, window: SendingWindow) -> datetime:
    """The earliest instant at or after `moment` that lies inside `window` on the clocks of `zone` (UTC)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    moment = moment.astimezone(UTC)
    day = moment.astimezone(zone).date()
    for _ in range(SEARCH_DAYS):
        if window.is_sending_day(day):
            start = local_instant(day, window.start, zone)
            end = local_instant(day, window.end, zone, last=True)
            if moment < end:
                return max(moment, start)
        day += timedelta(days=1)
    raise NoAllowedMoment(f"send_days: the window allows no moment within {SEARCH_DAYS} days after {moment}")


def add_business_days(moment: datetime, days: int, zone: ZoneInfo, window: SendingWindow) -> datetime:
    """`moment` moved on by `days` sending days of `window` (weekdays that are not holidays) on the clocks of
    `zone`, keeping the local wall time (so a DST change in between shifts nothing on the lead's clock)."""
    local = moment.astimezone(zone)
    day = local.date()
    left = days
    for _ in range(SEARCH_DAYS * 2):
        if left <= 0:
            break
        day += timedelta(days=1)
        if window.is_sending_day(day):
            left -= 1
    else:
        raise NoAllowedMoment(f"send_days: {days} business days do not fit in {SEARCH_DAYS * 2} days")
    return local_instant(day, local.time().replace(tzinfo=None), zone)


def earliest_after(since: datetime, delay_hours: float, delay_business_days: int, zone: ZoneInfo,
                   window: SendingWindow) -> datetime:
    """The earliest moment a step may run: `since` plus its delay (hours are elapsed time; business days count
    sending days on the lead's clock)."""
    if delay_business_days:
        return add_business_days(since, delay_business_days, zone, window)
    return since.astimezone(UTC) + timedelta(hours=float(delay_hours))


def local_day_bounds(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day of `moment` in `zone`, as UTC instants (23 or 25 h across DST)."""
    day = moment.astimezone(zone).date()
    return local_instant(day, time(0), zone), local_instant(day + timedelta(days=1), time(0), zone)


def snooze_until(preset: SnoozePreset, now: datetime, zone: ZoneInfo) -> datetime:
    """When a snooze preset ends, on the lead's clock (UTC): in 1 hour; this evening (18:00, or in an hour when
    it is later already); tomorrow 09:00; next Monday 09:00; in 14 days (the same local wall time)."""
    local = now.astimezone(zone)
    today = local.date()
    if preset == "in_1_hour":
        return now.astimezone(UTC) + timedelta(hours=1)
    if preset == "this_evening":
        evening = local_instant(today, EVENING, zone)
        return max(evening, now.astimezone(UTC) + timedelta(hours=1))
    if preset == "tomorrow_0900":
        return local_instant(today + timedelta(days=1), MORNING, zone)
    if preset == "next_monday":
        return local_instant(today + timedelta(days=8 - today.isoweekday()), MORNING, zone)
    if preset == "in_14_days":
        return local_instant(today + timedelta(days=14), local.time().replace(tzinfo=None), zone)
    raise ValueError(f"preset: {preset!r} is not a snooze preset; allowed: {', '.join(SNOOZE_PRESETS)}")
