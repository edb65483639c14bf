"""The spec's period rules (section 4.5) and the windows we fetch, as pure functions.

Windows are half-open UTC intervals ``[start, end)``. Days, weeks and months are calendar
periods in the company time zone (weeks start on Monday), so a "day" in a zone with DST can
last 23 or 25 hours. The API speaks UTC instants as ``YYYYmmddTHHMMSSZ``.

Rules of section 4.5, as implemented both by the emulator and by :func:`resolve`:

* ``period`` given: that calendar period, whatever ``start``/``end`` say;
* else ``start``/``end``; a missing ``end`` is today (the end of today's local day);
* a missing ``start`` is "equal to end": the local day that contains ``end``, up to ``end``;
* nothing given: today.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

API_FORMAT = "%Y%m%dT%H%M%SZ"
PERIODS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month")


class PeriodError(ValueError):
    """A period name or timestamp the spec does not allow (the API answers 400)."""


@dataclass(frozen=True, order=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise PeriodError("window bounds must be timezone-aware")
        if self.end < self.start:
            raise PeriodError(f"window ends before it starts: {self}")

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def params(self) -> dict[str, str]:
        return {"start": format_api(self.start), "end": format_api(self.end)}

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def __str__(self) -> str:
        return f"{format_api(self.start)}..{format_api(self.end)}"


def format_api(instant: datetime) -> str:
    """Render an aware instant as the API's UTC ``YYYYmmddTHHMMSSZ``."""
    if instant.tzinfo is None:
        raise PeriodError("instant must be timezone-aware")
    return instant.astimezone(UTC).strftime(API_FORMAT)


def parse_api(text: str) -> datetime:
    """Parse ``YYYYmmddTHHMMSSZ`` (the only form the API accepts in requests)."""
    try:
        return datetime.strptime(text, API_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise PeriodError(f"expected YYYYmmddTHHMMSSZ, got {text!r}") from None


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant the local calendar day begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def day_window(day: date, zone: ZoneInfo) -> Window:
    return Window(local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone))


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (first + timedelta(days=32)).replace(day=1)


def period_window(period: str, now: datetime, zone: ZoneInfo) -> Window:
    """A named calendar period around ``now`` in ``zone``."""
    today = local_date(now, zone)
    first: date
    after: date
    if period == "today":
        first, after = today, today + timedelta(days=1)
    elif period == "yesterday":
        first, after = today - timedelta(days=1), today
    elif period == "this_week":
        first = week_start(today)
        after = first + timedelta(days=7)
    elif period == "last_week":
        after = week_start(today)
        first = after - timedelta(days=7)
    elif period == "this_month":
        first, after = month_start(today), next_month(today)
    elif period == "last_month":
        after = month_start(today)
        first = month_start(after - timedelta(days=1))
    else:
        raise PeriodError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    return Window(local_midnight(first, zone), local_midnight(after, zone))


def resolve(
    *,
    period: str | None,
    start: str | None,
    end: str | None,
    now: datetime,
    zone: ZoneInfo,
) -> Window:
    """Section 4.5: what window a history request with these parameters covers."""
    if period:
        return period_window(period, now, zone)
    if not start and not end:
        return period_window("today", now, zone)
    end_at = parse_api(end) if end else period_window("today", now, zone).end
    if start:
        start_at = parse_api(start)
    else:
        # "start equals end": the local day that holds `end` (an end exactly at midnight
        # belongs to the day it closes).
        day = local_date(end_at - timedelta(microseconds=1), zone)
        start_at = local_midnight(day, zone)
    if end_at < start_at:
        raise PeriodError(f"end {format_api(end_at)} is before start {format_api(start_at)}")
    return Window(start_at, end_at)


def days(first: date, last: date, zone: ZoneInfo) -> list[Window]:
    """One window per local calendar day, ``first`` and ``last`` included."""
    if last < first:
        raise PeriodError(f"--to {last} is before --from {first}")
    return [day_window(first + timedelta(days=i), zone) for i in range((last - first).days + 1)]


def split(window: Window, parts: int = 2) -> list[Window]:
    """Cut a window into ``parts`` pieces on whole seconds (the API's resolution)."""
    total = int(window.seconds)
    if total < parts:
        raise PeriodError(f"window {window} is too short to split into {parts}")
    bounds = [window.start + timedelta(seconds=total * i // parts) for i in range(parts)]
    bounds.append(window.end)
    return [Window(a, b) for a, b in itertools.pairwise(bounds)]


def pieces(window: Window, size: timedelta) -> Iterator[Window]:
    """Consecutive windows of at most ``size`` covering ``window``."""
    cursor = window.start
    while cursor < window.end:
        nxt = min(cursor + size, window.end)
        yield Window(cursor, nxt)
        cursor = nxt
