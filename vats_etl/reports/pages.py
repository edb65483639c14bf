"""The data of each page, as the renderers (dashboards, the weekly email) receive it: plain
dataclasses of figures and polars frames, every instant aware and in the company zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from vats_etl.periods import local_midnight
from vats_etl.reports.catalogue import (
    MISSED_TILES,
    OVERVIEW_TILES,
    RATING_TILES,
    KpiSettings,
    Tile,
    tiles,
)
from vats_etl.reports.period import Period


@dataclass(frozen=True)
class Meta:
    period: Period
    department: str | None
    settings: KpiSettings
    generated_at: datetime  # aware, company zone
    cutoff: datetime | None  # start of the latest loaded call, company zone
    loaded_at: datetime | None  # when the warehouse last changed, company zone
    departments: tuple[str, ...] = ()  # every department with calls in the period
    data_from: datetime | None = None  # start of the earliest loaded call, company zone
    # working hours by ISO weekday 1..7 (index 0 = Monday) of the department, or the
    # company's when the page is for every department, as local hours from midnight
    # ((9.0, 18.0); 24.0 = midnight at the end); None = a day off
    schedule: tuple[tuple[float, float] | None, ...] = ()

    @property
    def is_incomplete(self) -> bool:
        """The period reaches past the data: its last day is not fully loaded."""
        return not self.covers(self.period.first, self.period.last, start=False)

    def covers(self, first: date, last: date, *, start: bool = True) -> bool:
        """The data covers local days first..last (`start`: from their beginning too). The
        last day counts as loaded when the latest call is within an hour of its end."""
        if self.cutoff is None:
            return False
        end = local_midnight(last + timedelta(days=1), self.settings.zone)
        if self.cutoff < end - timedelta(hours=1):
            return False
        return not start or (self.data_from is not None and self.data_from.date() <= first)


@dataclass(frozen=True)
class Overview:
    meta: Meta
    kpis: dict[str, Any]
    previous: dict[str, Any]
    daily: pl.DataFrame  # local_date, offered, answered, missed, short_abandons, other
    heatmap: pl.DataFrame  # weekday 1-7, local_hour 0-23, offered, answerable, missed, rate
    weekly: pl.DataFrame  # week_start, is_complete, offered, service_level, asa_s, ...
    segments: pl.DataFrame  # in hours / after hours / unrouted / total: what became of them
    # per employee: answered, talk time, ratings (history), missed (event webhooks),
    # callbacks made and their median time
    employees: pl.DataFrame = field(default_factory=pl.DataFrame)
    has_events: bool = False  # event webhooks arrived for the period's calls

    @property
    def tiles(self) -> list[Tile]:
        return tiles(OVERVIEW_TILES, self.meta.settings, self.kpis, self.previous)


@dataclass(frozen=True)
class Missed:
    meta: Meta
    kpis: dict[str, Any]
    previous: dict[str, Any]
    action: pl.DataFrame  # whom to call: lost rows of the call-back worklist, by priority
    recovery_bins: pl.DataFrame  # bin (ordered), label, callback, client
    by_department: pl.DataFrame
    by_number: pl.DataFrame
    by_reason: pl.DataFrame
    late: pl.DataFrame  # callbacks later than late_after_s, slowest first
    segments: pl.DataFrame  # in hours / after hours / unrouted / total
    employees: pl.DataFrame  # as Overview.employees
    has_events: bool  # event webhooks arrived for the period's calls
    late_after_s: int = 3600

    @property
    def tiles(self) -> list[Tile]:
        return tiles(MISSED_TILES, self.meta.settings, self.kpis, self.previous)


@dataclass(frozen=True)
class Ratings:
    meta: Meta
    kpis: dict[str, Any]
    previous: dict[str, Any]
    distribution: pl.DataFrame  # rating 1..5, calls
    weekly: pl.DataFrame  # week_start, rated_calls, rating_mean, csat_share
    employees: pl.DataFrame  # per employee, ranked ones first by Wilson lower bound
    low: pl.DataFrame  # calls rated 1-2, newest first

    @property
    def tiles(self) -> list[Tile]:
        return tiles(RATING_TILES, self.meta.settings, self.kpis, self.previous)
