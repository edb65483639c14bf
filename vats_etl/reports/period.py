"""The calendar period of a report: local days first..last, ISO weeks, the period before, the
UTC bounds of its days in the company zone, and its Russian label."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from vats_etl import errors
from vats_etl.periods import local_midnight

WEEKDAYS_RU = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")
MONTHS_RU_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Period:
    """Local calendar days ``first``..``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise errors.ConfigError(f"period ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def week(cls, text: str) -> Period:
        """``2026-W47`` (ISO week, Monday to Sunday)."""
        match = _WEEK.match(text.strip())
        if not match:
            raise errors.ConfigError(f"week must look like 2026-W47, got {text!r}")
        year, number = int(match.group(1)), int(match.group(2))
        try:
            monday = date.fromisocalendar(year, number, 1)
        except ValueError:
            raise errors.ConfigError(f"{year} has no ISO week {number}") from None
        return cls(monday, monday + timedelta(days=6))

    @classmethod
    def week_of(cls, day: date) -> Period:
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=6))

    @classmethod
    def last_complete_week(cls, today: date) -> Period:
        """The Monday-to-Sunday week before the one `today` is in."""
        return cls.week_of(today - timedelta(days=7))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def is_week(self) -> bool:
        return self.days == 7 and self.first.weekday() == 0

    @property
    def iso_week(self) -> str:
        year, number, _ = self.first.isocalendar()
        return f"{year}-W{number:02d}"

    def previous(self) -> Period:
        """The period of the same length right before this one (the week before a week)."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def utc_bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC of the local days."""
        return local_midnight(self.first, zone), local_midnight(self.last + timedelta(days=1), zone)

    def label(self) -> str:
        """Russian: ``неделя 2026-W47 (17–23 ноября 2026)`` or ``01.01.2025 – 31.12.2025``."""
        if self.is_week:
            a, b = self.first, self.last
            if a.month == b.month:
                span = f"{a.day}–{b.day} {MONTHS_RU_GENITIVE[b.month - 1]} {b.year}"
            elif a.year == b.year:
                span = (
                    f"{a.day} {MONTHS_RU_GENITIVE[a.month - 1]} – "
                    f"{b.day} {MONTHS_RU_GENITIVE[b.month - 1]} {b.year}"
                )
            else:
                span = f"{a:%d.%m.%Y} – {b:%d.%m.%Y}"
            return f"неделя {self.iso_week} ({span})"
        if self.first == self.last:
            return f"{self.first:%d.%m.%Y}"
        return f"{self.first:%d.%m.%Y} – {self.last:%d.%m.%Y}"

    def __str__(self) -> str:
        return self.iso_week if self.is_week else f"{self.first}..{self.last}"
