"""What managers see, as data: SQL over the analyst layer (sql/, docs/architecture.md) → plain
dataclasses of numbers and polars frames. No HTML and no files here; ``dashboards`` and
``weekly_email`` render these.

Every query reads the views of the analyst layer (``inbound_calls``, ``missed_calls``,
``kpi_daily``, ``kpi_weekly``, ``ratings``, ``low_ratings``, ``kpi_settings``), so the KPI
definitions live in one place (DESIGN.md, "Call-center KPIs"). Periods are local days in the
company time zone (``kpi_settings.tz``, which writers keep equal to VATS_TZ); every instant
handed out is aware and in that zone.

A period the views have no pre-aggregated rows for (any ``--from``/``--to``, a department)
is aggregated here from ``inbound_calls`` with the macro every ``kpi_*`` view uses; the
per-employee rating table is recomputed for the period from ``ratings`` (the
``rating_by_employee`` view covers all history), with the same Wilson lower bound.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from vats_etl import errors, warehouse
from vats_etl.config import Settings
from vats_etl.periods import local_midnight

WEEKDAYS_RU = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")
MONTHS_RU_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
REASONS_RU = {
    "no_answer": "не ответили",
    "cancel": "клиент положил трубку",
    "busy": "занято",
    "offtime": "нерабочее время",
    "voicemail": "голосовая почта",
    "ivr": "брошен в меню (IVR)",
}
RECOVERY_RU = {
    "callback": "перезвонили",
    "client_called_again": "клиент дозвонился сам",
    None: "не перезвонили",
}
NO_DEPARTMENT = "Без отдела"
# Every inbound call is in one segment: the headline figures are in_hours (working hours, a
# department took the call); after_hours and unrouted (working hours, no department: IVR
# hang-ups, voicemail) have their own table, so offered = the three added up.
SEGMENTS_RU = {
    "in_hours": "В рабочее время, в отделах",
    "after_hours": "Вне рабочего времени",
    "unrouted": "В рабочее время, не дошли до отдела",
}
HEADLINE = "in_hours"
Z95 = 1.959963984540054  # two-sided 95 % normal quantile, as in sql/rating_by_employee.sql

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


# -- periods ----------------------------------------------------------------------------------


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


# -- KPI definitions and tiles ----------------------------------------------------------------

Kind = Literal["count", "share", "seconds", "score"]
Better = Literal["up", "down", "none"]


@dataclass(frozen=True)
class KpiDef:
    key: str
    label: str
    kind: Kind
    better: Better
    note: str = ""  # what is counted, with the denominator of a share


# What a change must reach to show in the tile's text (fmt_change): 0.1 p.p., 0.01, 1 %.
_SHOWN = {"share": 1000, "score": 100, "count": 100, "seconds": 100}


@dataclass(frozen=True)
class Tile:
    """One KPI with its value in the period and in the period before."""

    key: str
    label: str
    kind: Kind
    better: Better
    value: float | None
    previous: float | None
    note: str = ""

    @property
    def change(self) -> float | None:
        """Shares and scores: the difference (percentage points / points); counts and times:
        the relative change (0.1 = +10 %). None when either side is missing or zero."""
        if self.value is None or self.previous is None:
            return None
        if self.kind in ("share", "score"):
            return self.value - self.previous
        if self.previous == 0:
            return None
        return self.value / self.previous - 1

    @property
    def is_unchanged(self) -> bool:
        """The change rounds to nothing in the precision the tile shows it."""
        change = self.change
        return change is not None and round(abs(change) * _SHOWN[self.kind]) == 0

    @property
    def verdict(self) -> Literal["good", "bad", "same", "none"]:
        change = self.change
        if change is None or self.better == "none":
            return "none"
        if self.is_unchanged:
            return "same"
        return "good" if (change > 0) == (self.better == "up") else "bad"


@dataclass(frozen=True)
class KpiSettings:
    tz: str = "Europe/Moscow"
    short_abandon_s: int = 5
    service_level_s: int = 20
    recovery_window_s: int = 86_400
    min_rating_sample: int = 10
    repeat_window_s: int = 604_800

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def window_text(self) -> str:
        """W in words: ``24 ч``, ``2 сут``, ``90 мин``."""
        w = self.recovery_window_s
        if w % 86_400 == 0 and w >= 172_800:
            return f"{w // 86_400}\u00a0сут"
        if w % 3600 == 0:
            return f"{w // 3600}\u00a0ч"
        return f"{w // 60}\u00a0мин"


def kpi_defs(ks: KpiSettings) -> dict[str, KpiDef]:
    t, n, w = ks.short_abandon_s, ks.service_level_s, ks.window_text
    not_short = "поступило − короткие сбросы"
    defs = [
        KpiDef(
            "offered",
            "Поступило звонков",
            "count",
            "none",
            "= отвечено + пропущено + короткие сбросы",
        ),
        KpiDef("answered", "Отвечено", "count", "up"),
        KpiDef("answer_rate", "Доля отвеченных", "share", "up", f"отвечено / ({not_short})"),
        KpiDef("missed", "Пропущено", "count", "down", f"без ответа, клиент ждал ≥ {t} с"),
        KpiDef(
            "short_abandons",
            f"Короткие сбросы (< {t} с)",
            "count",
            "none",
            f"положили трубку раньше {t} с; не пропущенные",
        ),
        KpiDef(
            "not_called_back",
            f"Не перезвонили за {w}",
            "count",
            "down",
            "окно закончилось без разговора: поговорили позже + потеряны",
        ),
        KpiDef(
            "lost",
            "Потеряны",
            "count",
            "down",
            f"окно {w} закончилось, с клиентом так и не поговорили",
        ),
        KpiDef(
            "pending",
            "Ждут перезвона",
            "count",
            "none",
            f"окно {w} ещё открыто, разговора пока не было",
        ),
        KpiDef(
            "recovered_late",
            "Поговорили позже окна",
            "count",
            "none",
            f"первый разговор — позже {w}",
        ),
        KpiDef(
            "lost_contacts",
            "Клиентов с пропусками",
            "count",
            "down",
            "пропуски одного клиента до разговора — один",
        ),
        KpiDef(
            "unreached_contacts",
            "Потерянных обращений",
            "count",
            "down",
            f"обращения, где окно {w} закончилось, а разговора так и не было",
        ),
        KpiDef(
            "recovered_callback", "Перезвонили", "count", "up", f"исходящий состоялся в течение {w}"
        ),
        KpiDef(
            "recovered_client",
            "Клиент дозвонился сам",
            "count",
            "none",
            f"его входящий отвечен в течение {w}",
        ),
        KpiDef(
            "service_level",
            f"Уровень сервиса ({n} с)",
            "share",
            "up",
            f"отвечено за ≤ {n} с / ({not_short})",
        ),
        KpiDef("asa_s", "Среднее ожидание ответа", "seconds", "down", "по отвеченным"),
        KpiDef("asa_p90_s", "Ожидание ответа, p90", "seconds", "down", "по отвеченным"),
        KpiDef("talk_mean_s", "Средний разговор", "seconds", "none"),
        KpiDef(
            "callback_median_s",
            "Время до перезвона, медиана",
            "seconds",
            "down",
            f"перезвоны в течение {w}",
        ),
        KpiDef(
            "callback_p90_s",
            "Время до перезвона, p90",
            "seconds",
            "down",
            f"перезвоны в течение {w}",
        ),
        KpiDef("repeat_caller_share", "Повторные звонки (7 дней)", "share", "none"),
        KpiDef("rated_calls", "Оценённых звонков", "count", "up"),
        KpiDef("response_rate", "Доля оценённых", "share", "up", "оценённые / отвеченные"),
        KpiDef("rating_mean", "Средняя оценка", "score", "up", "1–5, без оценки не считается"),
        KpiDef("csat_share", "Довольны (4–5)", "share", "up", "оценки 4–5 / все оценки"),
        KpiDef("dsat_share", "Недовольны (1–2)", "share", "down", "оценки 1–2 / все оценки"),
    ]
    return {d.key: d for d in defs}


OVERVIEW_TILES = (
    "offered",
    "answered",
    "missed",
    "short_abandons",
    "answer_rate",
    "service_level",
    "asa_s",
    "not_called_back",
    "lost",
    "callback_median_s",
    "rating_mean",
)
MISSED_TILES = (
    "missed",
    "recovered_callback",
    "recovered_client",
    "not_called_back",
    "recovered_late",
    "lost",
    "pending",
    "lost_contacts",
    "callback_median_s",
    "callback_p90_s",
)
RATING_TILES = ("rated_calls", "response_rate", "rating_mean", "csat_share", "dsat_share")
EMAIL_TILES = (
    "offered",
    "answer_rate",
    "missed",
    "short_abandons",
    "not_called_back",
    "lost",
    "pending",
    "recovered_callback",
    "callback_median_s",
    "service_level",
    "asa_s",
)


def tiles(
    keys: Sequence[str], ks: KpiSettings, now: Mapping[str, Any], before: Mapping[str, Any]
) -> list[Tile]:
    defs = kpi_defs(ks)
    return [
        Tile(
            k,
            defs[k].label,
            defs[k].kind,
            defs[k].better,
            _num(now.get(k)),
            _num(before.get(k)),
            defs[k].note,
        )
        for k in keys
    ]


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def wilson_lower(successes: int, n: int, z: float = Z95) -> float | None:
    """Lower bound of the Wilson score interval of successes / n (None without a sample)."""
    if n <= 0:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


# -- the data of each page --------------------------------------------------------------------


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

    @property
    def tiles(self) -> list[Tile]:
        return tiles(OVERVIEW_TILES, self.meta.settings, self.kpis, self.previous)


@dataclass(frozen=True)
class Missed:
    meta: Meta
    kpis: dict[str, Any]
    previous: dict[str, Any]
    action: pl.DataFrame  # lost contacts: whom to call, oldest first
    recovery_bins: pl.DataFrame  # bin (ordered), label, callback, client
    by_department: pl.DataFrame
    by_number: pl.DataFrame
    by_reason: pl.DataFrame
    late: pl.DataFrame  # callbacks later than late_after_s, slowest first
    segments: pl.DataFrame  # in hours / after hours / unrouted / total
    employees: pl.DataFrame  # rang, answered, missed (event webhooks), callbacks (history)
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


_scopes = itertools.count()

# Columns of inbound_calls every page needs (a narrow copy is cheap to make and to scan).
_INBOUND_COLUMNS = (
    "uid, client, local_date, started_at, weekday, local_hour, week_start, department, "
    "diversion, user_login, hours, is_short_abandon, is_answered, is_missed, "
    "is_within_service_level, is_repeat_caller, recovery, time_to_recovery_s, "
    "lost_contact_id, outcome, wait_s, duration_s, rating"
)
_SEGMENT = (
    "case when hours = 'after_hours' then 'after_hours' "
    f"when department = '{NO_DEPARTMENT}' then 'unrouted' else '{HEADLINE}' end as segment"
)


class Reader:
    """Queries for one period and (optionally) one department over an open connection.

    The first query copies the rows of the period, of the period before and of the trend
    weeks from ``inbound_calls``, ``missed_calls`` and ``ratings`` into temporary tables
    (one pass over each view, ~1 s for a year of a 200-agent company); every figure is then
    aggregated from those with ``inbound_kpis`` (sql/inbound_kpis.sql), as the views are.
    Readers made by :meth:`for_department` share the copies."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        period: Period,
        department: str | None = None,
        *,
        now: datetime | None = None,
        trend_weeks: int = 12,
    ) -> None:
        self.con = con
        self.period = period
        self.department = department
        self.now = now or datetime.now(UTC)
        self.trend_weeks = trend_weeks
        con.execute("set enable_progress_bar = false")
        self.settings = read_kpi_settings(con)
        self.zone = self.settings.zone
        last_monday = period.last - timedelta(days=period.last.weekday())
        self.trend = Period(
            min(
                period.first - timedelta(days=period.first.weekday()),
                last_monday - timedelta(weeks=trend_weeks - 1),
            ),
            last_monday + timedelta(days=6),
        )
        self.scope = Period(min(self.trend.first, period.previous().first), self.trend.last)
        self._tables: dict[str, str] | None = None
        self._kpis: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._meta: Meta | None = None

    def for_department(self, department: str | None) -> Reader:
        """The same period for another department (or the company), sharing the copies."""
        other = Reader.__new__(Reader)
        other.__dict__.update(self.__dict__)
        other.department = department
        other._kpis = None
        other._meta = None
        other._tables = self.tables  # made once, here
        return other

    # -- helpers ------------------------------------------------------------------------------

    @property
    def tables(self) -> dict[str, str]:
        if self._tables is None:
            self._tables = self._copy_scope()
        return self._tables

    def _copy_scope(self) -> dict[str, str]:
        n = next(_scopes)
        start, end = self.scope.utc_bounds(self.zone)
        bounds = "local_date between ? and ? and started_at >= ? and started_at < ?"
        params = [self.scope.first, self.scope.last, start, end]
        names = {"ic": f"report_inbound_{n}", "mc": f"report_missed_{n}", "r": f"report_rated_{n}"}
        sources = {
            "ic": f"select {_INBOUND_COLUMNS}, {_SEGMENT} from inbound_calls",
            "mc": f"select *, {_SEGMENT} from missed_calls",
            "r": "select * from ratings",
        }
        for key, sql in sources.items():
            self.con.execute(
                f"create or replace temp table {names[key]} as {sql} where {bounds}", params
            )
        return names

    def _from(
        self, key: str, alias: str, period: Period | None = None, *, headline: bool = False
    ) -> tuple[str, list[Any]]:
        """`<copy> as alias where <the period's days> [and department] [and headline]`:
        with `headline`, only calls in working hours that reached a department."""
        period = period or self.period
        sql = f"{self.tables[key]} as {alias} where {alias}.local_date between ? and ?"
        params: list[Any] = [period.first, period.last]
        if self.department is not None:
            sql += f" and {alias}.department = ?"
            params.append(self.department)
        if headline:
            sql += f" and {alias}.segment = '{HEADLINE}'"
        return sql, params

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        frame: pl.DataFrame = self.con.sql(sql, params=list(params)).pl()
        return frame

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.frame(sql, params).to_dicts()

    def local(self, instant: datetime | None) -> datetime | None:
        return None if instant is None else instant.astimezone(self.zone)

    def _localize(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        return frame.with_columns(
            pl.col(c).dt.convert_time_zone(self.settings.tz) for c in columns if c in frame.columns
        )

    # -- pieces -------------------------------------------------------------------------------

    def meta(self) -> Meta:
        if self._meta is None:
            self._meta = self._read_meta()
        return self._meta

    def _read_meta(self) -> Meta:
        first, cutoff, loaded = self.con.sql(
            "select min(c.started_at), max(c.started_at), max(c.loaded_at) from calls as c"
        ).fetchall()[0]
        departments = tuple(
            r[0]
            for r in self.con.sql(
                f"select distinct ic.department from {self.tables['ic']} as ic "
                "where ic.local_date between ? and ? and ic.department is not null "
                "order by ic.department",
                params=[self.period.first, self.period.last],
            ).fetchall()
        )
        return Meta(
            period=self.period,
            department=self.department,
            settings=self.settings,
            generated_at=self.now.astimezone(self.zone),
            cutoff=self.local(cutoff),
            loaded_at=self.local(loaded),
            departments=departments,
            data_from=self.local(first),
            schedule=self._schedule(),
        )

    def _schedule(self) -> tuple[tuple[float, float] | None, ...]:
        """The weekly working hours of the page's department (department_hours), or the
        company's (kpi_settings) — what the heatmaps outline."""
        hours = "epoch(work_start) / 3600, epoch(work_end) / 3600"  # 24:00 is 24.0
        days: dict[int, tuple[float, float]] = {}
        if self.department is not None:
            for weekday, start, end in self.con.sql(
                f"select weekday, {hours} from department_hours where department = ?",
                params=[self.department],
            ).fetchall():
                days[int(weekday)] = (float(start), float(end))
        if not days:
            work_days, start, end = self.con.sql(
                f"select work_days, {hours} from kpi_settings limit 1"
            ).fetchall()[0]
            if start is not None and end is not None:
                days = {int(d): (float(start), float(end)) for d in work_days or ()}
        return tuple(days.get(d) for d in range(1, 8))

    def kpis(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """KPIs of the period and of the period before (same length); read once."""
        if self._kpis is None:
            self._kpis = (self._period_kpis(self.period), self._period_kpis(self.period.previous()))
        return dict(self._kpis[0]), dict(self._kpis[1])

    def _period_kpis(self, period: Period) -> dict[str, Any]:
        """The headline KPIs (working hours, calls that reached a department); ratings are
        of every rated call, so their share is of every answered call."""
        source, params = self._from("ic", "ic", period, headline=True)
        found = self.rows(f"select {KPI_AGGREGATES} from {source}", params)[0]
        rated_source, rated_params = self._from("r", "r", period)
        found.update(self.rows(f"select {RATING_AGGREGATES} from {rated_source}", rated_params)[0])
        all_source, all_params = self._from("ic", "ic", period)
        answered = self.rows(
            f"select count(*) filter (where ic.is_answered) as n from {all_source}", all_params
        )[0]["n"]
        rated = found["rated_calls"] or 0
        found["response_rate"] = rated / answered if answered else None
        return found

    def daily(self) -> pl.DataFrame:
        """Headline figures by day, plus `other`: calls after hours or outside departments."""
        source, params = self._from("ic", "ic")
        found = self.frame(
            f"select ic.local_date, {_HEADLINE_COUNTS}, "
            f"count(*) filter (where ic.segment <> '{HEADLINE}') as other "
            f"from {source} group by ic.local_date",
            params,
        )
        days = pl.DataFrame(
            {"local_date": pl.date_range(self.period.first, self.period.last, eager=True)}
        )
        counts = ("offered", "answered", "missed", "short_abandons", "not_called_back", "other")
        return (
            days.join(found, on="local_date", how="left")
            .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts)
            .sort("local_date")
        )

    def heatmap(self) -> pl.DataFrame:
        """Weekday x hour of the headline calls: offered, missed and missed rate (missed /
        (offered - short)); `other` and `other_missed`: calls after hours or outside
        departments in that cell, which the rate leaves out."""
        source, params = self._from("ic", "ic")
        headline = f"ic.segment = '{HEADLINE}'"
        found = self.frame(
            f"select ic.weekday, ic.local_hour, count(*) filter (where {headline}) as offered, "
            f"count(*) filter (where {headline} and not ic.is_short_abandon) as answerable, "
            f"count(*) filter (where {headline} and ic.is_missed) as missed, "
            f"count(*) filter (where {headline} and ic.outcome in ('recovered_late', 'lost')) "
            "as not_called_back, "
            f"count(*) filter (where not {headline}) as other, "
            f"count(*) filter (where not {headline} and ic.is_missed) as other_missed "
            f"from {source} group by all",
            params,
        )
        grid = pl.DataFrame(
            [(d, h) for d in range(1, 8) for h in range(24)],
            schema={"weekday": pl.Int64, "local_hour": pl.Int64},
            orient="row",
        )
        counts = ("offered", "answerable", "missed", "not_called_back", "other", "other_missed")
        return (
            grid.join(
                found.with_columns(pl.col("weekday", "local_hour").cast(pl.Int64)),
                on=["weekday", "local_hour"],
                how="left",
            )
            .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts)
            .with_columns(
                missed_rate=pl.when(pl.col("answerable") > 0).then(
                    pl.col("missed") / pl.col("answerable")
                )
            )
            .sort("weekday", "local_hour")
        )

    def weekly(self) -> pl.DataFrame:
        """Weekly headline trend up to the period's end: at least `trend_weeks` weeks;
        `is_complete`: the data covers the whole week (charts leave the others out)."""
        source, params = self._from("ic", "ic", self.trend, headline=True)
        return self._mark_complete(
            self.frame(
                f"select ic.week_start, {KPI_AGGREGATES} from {source} "
                "group by ic.week_start order by ic.week_start",
                params,
            )
        )

    def _mark_complete(self, weekly: pl.DataFrame) -> pl.DataFrame:
        meta = self.meta()
        complete = [
            meta.covers(monday, monday + timedelta(days=6)) for monday in weekly["week_start"]
        ]
        return weekly.with_columns(is_complete=pl.Series(complete, dtype=pl.Boolean))

    def segments(self) -> pl.DataFrame:
        """Every call of the period by segment (working hours in departments, after hours,
        in working hours without a department) and in total, and what became of the misses:
        the rows add up to every offered call."""
        source, params = self._from("ic", "ic")
        found = self.frame(
            f"select ic.segment, {_COUNTS} from {source} group by ic.segment",
            params,
        )
        rows = pl.DataFrame({"segment": list(SEGMENTS_RU)}).join(found, on="segment", how="left")
        counted = [c for c in found.columns if c != "segment"]
        rows = rows.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counted)
        total = rows.select(pl.lit("total").alias("segment"), *(pl.col(c).sum() for c in counted))
        return pl.concat([rows, total]).with_columns(
            label=pl.col("segment").replace_strict(
                {**SEGMENTS_RU, "total": "Все звонки"}, default=pl.col("segment")
            ),
            missed_rate=pl.when(pl.col("offered") > pl.col("short_abandons")).then(
                pl.col("missed") / (pl.col("offered") - pl.col("short_abandons"))
            ),
        )

    def action_list(self) -> pl.DataFrame:
        """Whom to call: the lost contacts with a miss in the period, as of the data cut-off.

        A lost contact is a client's misses until someone talks to them; it is lost when
        the recovery window W of one of them ended before the cut-off and nobody has talked
        to the client since (missed_calls.outcome = lost): a client reached later, in either
        direction, is never on the list, and neither is one whose windows are still open.
        One row per contact, oldest first, with every miss of it (from the period before
        and the trend weeks too); calls after hours or without a department are listed as
        well, marked by `segment`. `is_window_open`: W of its latest miss has not ended,
        so a callback now still counts for that miss."""
        source, params = self._from("mc", "m")
        table = self.tables["mc"]
        frame = self.frame(
            "select mc.lost_contact_id, any_value(mc.client) as client, "
            "min(mc.started_at) as first_missed_at, max(mc.started_at) as last_missed_at, "
            "count(*) as misses, arg_max(mc.diversion, mc.started_at) as diversion, "
            "arg_max(mc.department, mc.started_at) as department, "
            "arg_max(mc.reason, mc.started_at) as reason, "
            "arg_min(mc.segment, mc.started_at) as segment, "
            "max(mc.callback_attempts) as callback_attempts, "
            "max(mc.recovery_deadline_at) as deadline_at, "
            "max(mc.recovery_deadline_at) >= (select dc.cutoff_at from data_cutoff as dc) "
            f"as is_window_open from {table} as mc "
            f"where mc.lost_contact_id in (select m.lost_contact_id from {source}) "
            "group by mc.lost_contact_id having bool_or(mc.outcome = 'lost') "
            "order by first_missed_at, mc.lost_contact_id",
            params,
        )
        return self._localize(
            frame, "first_missed_at", "last_missed_at", "deadline_at"
        ).with_columns(
            reason_ru=pl.col("reason").replace_strict(REASONS_RU, default=pl.col("reason")),
            segment_ru=pl.col("segment").replace_strict(SEGMENTS_RU, default=pl.col("segment")),
        )

    def recovery_bins(self) -> pl.DataFrame:
        """Time from the headline miss to its recovery, binned up to W, per kind."""
        edges = [e for e in RECOVERY_EDGES_S if e < self.settings.recovery_window_s]
        edges.append(self.settings.recovery_window_s)
        labels = [_span_label(a, b) for a, b in zip([0, *edges[:-1]], edges, strict=True)]
        source, params = self._from("mc", "mc", headline=True)
        case = " ".join(f"when mc.time_to_recovery_s < {e} then {i}" for i, e in enumerate(edges))
        found = self.frame(
            f"select case {case} else {len(edges) - 1} end as bin, "
            "count(*) filter (where mc.recovery = 'callback') as callback, "
            "count(*) filter (where mc.recovery = 'client_called_again') as client "
            f"from {source} and mc.recovery is not null group by all",
            params,
        )
        bins = pl.DataFrame({"bin": list(range(len(edges))), "label": labels})
        return (
            bins.join(found.with_columns(pl.col("bin").cast(pl.Int64)), on="bin", how="left")
            .with_columns(pl.col("callback", "client").fill_null(0).cast(pl.Int64))
            .sort("bin")
        )

    def breakdown(self, column: str) -> pl.DataFrame:
        """Headline calls by department or number dialled: offered, missed and what became
        of the misses."""
        source, params = self._from("ic", "ic", headline=True)
        return self.frame(
            f"select coalesce(ic.{column}, '—') as {column}, {_COUNTS} "
            f"from {source} group by all order by missed desc, {column}",
            params,
        ).with_columns(
            missed_rate=pl.when(pl.col("offered") > pl.col("short_abandons")).then(
                pl.col("missed") / (pl.col("offered") - pl.col("short_abandons"))
            )
        )

    def by_reason(self) -> pl.DataFrame:
        source, params = self._from("mc", "mc", headline=True)
        frame = self.frame(
            "select mc.reason, count(*) as missed, "
            "count(*) filter (where mc.recovery is not null) as recovered, "
            "count(*) filter (where mc.outcome = 'pending') as pending, "
            "count(*) filter (where mc.outcome in ('recovered_late', 'lost')) as not_called_back "
            f"from {source} group by all order by missed desc, reason",
            params,
        )
        return frame.with_columns(
            reason_ru=pl.col("reason").replace_strict(REASONS_RU, default=pl.col("reason"))
        )

    def late_callbacks(self, late_after_s: int) -> pl.DataFrame:
        source, params = self._from("mc", "mc", headline=True)
        frame = self.frame(
            "select mc.uid, mc.client, mc.started_at, mc.recovered_at, mc.time_to_recovery_s, "
            "mc.department, mc.diversion, mc.recovered_by_login, mc.callback_attempts, "
            "(select u.user_name from users as u where u.user_login = mc.recovered_by_login) "
            f"as recovered_by_name from {source} "
            "and mc.recovery = 'callback' and mc.time_to_recovery_s > ? "
            "order by mc.time_to_recovery_s desc, mc.started_at",
            [*params, late_after_s],
        )
        return self._localize(frame, "started_at", "recovered_at")

    def has_events(self) -> bool:
        """Did event webhooks (INCOMING with an employee) arrive for the period's calls?"""
        source, params = self._from("ic", "ic")
        found = self.con.sql(
            "select exists (select 1 from webhook_events as we "
            f"where upper(we.type) = 'INCOMING' and we.user_login is not null "
            f"and we.callid in (select ic.uid from {source}))",
            params=params,
        ).fetchall()
        return bool(found[0][0])

    def employee_activity(self) -> pl.DataFrame:
        """Per employee, for the period's calls (of the department): calls that rang their
        phone, that they answered and misses that rang them without an answer — from the
        event webhooks (missed_by_employee) — and misses they recovered by calling back,
        from the call history alone. Most misses first."""
        source, params = self._from("ic", "ic")
        mc_source, mc_params = self._from("mc", "mc")
        frame = self.frame(
            "with calls_of_period as (select ic.uid, ic.is_missed from " + source + "), "
            "rang as (select distinct we.callid, we.user_login from webhook_events as we "
            "  where upper(we.type) = 'INCOMING' and we.user_login is not null "
            "  and we.callid in (select p.uid from calls_of_period as p)), "
            "accepted as (select distinct we.callid, we.user_login from webhook_events as we "
            "  where upper(we.type) = 'ACCEPTED' and we.user_login is not null "
            "  and we.callid in (select p.uid from calls_of_period as p)), "
            "ringing as (select r.user_login, count(*) as rang, count(a.callid) as answered, "
            "  count(*) filter (where p.is_missed and a.callid is null) as missed "
            "  from rang as r inner join calls_of_period as p on p.uid = r.callid "
            "  left join accepted as a on a.callid = r.callid and a.user_login = r.user_login "
            "  group by r.user_login), "
            "callbacks as (select mc.recovered_by_login as user_login, "
            "  count(*) as callbacks_made from " + mc_source + " "
            "  and mc.recovery = 'callback' and mc.recovered_by_login is not null "
            "  group by all) "
            "select coalesce(rg.user_login, cb.user_login) as user_login, "
            "coalesce(u.user_name, coalesce(rg.user_login, cb.user_login)) as user_name, "
            "coalesce(rg.rang, 0) as rang, coalesce(rg.answered, 0) as answered, "
            "coalesce(rg.missed, 0) as missed, coalesce(cb.callbacks_made, 0) as callbacks_made "
            "from ringing as rg full join callbacks as cb on cb.user_login = rg.user_login "
            "left join users as u on u.user_login = coalesce(rg.user_login, cb.user_login) "
            "order by missed desc, callbacks_made desc, user_login",
            [*params, *mc_params],
        )
        return frame

    def rating_distribution(self) -> pl.DataFrame:
        source, params = self._from("r", "r")
        found = self.frame(
            f"select r.rating::bigint as rating, count(*) as calls from {source} group by all",
            params,
        )
        return (
            pl.DataFrame({"rating": [1, 2, 3, 4, 5]}, schema={"rating": pl.Int64})
            .join(found, on="rating", how="left")
            .with_columns(pl.col("calls").fill_null(0).cast(pl.Int64))
        )

    def rating_weekly(self) -> pl.DataFrame:
        source, params = self._from("r", "r", self.trend)
        return self._mark_complete(
            self.frame(
                f"select r.week_start, {RATING_AGGREGATES} from {source} "
                "group by r.week_start order by r.week_start",
                params,
            )
        )

    def employees(self) -> pl.DataFrame:
        """Ratings per employee in the period: ranked (>= min sample) by the Wilson lower
        bound of the CSAT share, the rest after them."""
        source, params = self._from("r", "r")
        ic_source, ic_params = self._from("ic", "ic")
        frame = self.frame(
            "with rated as ("
            "  select r.user_login, arg_max(r.user_name, r.started_at) as user_name, "
            "  arg_max(r.department, r.started_at) as department, "
            f"  {RATING_AGGREGATES}, count(*) filter (where r.is_csat) as csat_calls "
            f"  from {source} and r.user_login is not null group by r.user_login"
            "), answered as ("
            "  select ic.user_login, count(*) as answered "
            f"  from {ic_source} and ic.is_answered and ic.user_login is not null "
            "  group by ic.user_login"
            ") select rt.*, coalesce(a.answered, 0) as answered "
            "from rated as rt left join answered as a on a.user_login = rt.user_login",
            [*params, *ic_params],
        )
        minimum = self.settings.min_rating_sample
        lower = [
            wilson_lower(int(c), int(n))
            for c, n in zip(frame["csat_calls"], frame["rated_calls"], strict=True)
        ]
        ranked = frame.with_columns(
            csat_wilson_lower=pl.Series(lower, dtype=pl.Float64),
            is_ranked=pl.col("rated_calls") >= minimum,
            response_rate=pl.when(pl.col("answered") > 0).then(
                pl.col("rated_calls") / pl.col("answered")
            ),
        ).sort(
            ["is_ranked", "csat_wilson_lower", "rated_calls", "user_login"],
            descending=[True, True, True, False],
            nulls_last=True,
        )
        return ranked.with_columns(
            rating_rank=pl.when(pl.col("is_ranked"))
            .then(pl.col("csat_wilson_lower").rank("min", descending=True).over("is_ranked"))
            .cast(pl.Int64)
        )

    def low_ratings(self) -> pl.DataFrame:
        """Calls rated 1-2 (the low_ratings view: is_dsat), newest first."""
        source, params = self._from("r", "r")
        frame = self.frame(
            "select r.uid, r.started_at, r.client, r.user_login, r.user_name, "
            "r.department, r.rating::bigint as rating, r.duration_s, r.record_url "
            f"from {source} and r.is_dsat order by r.started_at desc, r.uid",
            params,
        )
        return self._localize(frame, "started_at")

    # -- pages --------------------------------------------------------------------------------

    def overview(self) -> Overview:
        now, before = self.kpis()
        return Overview(
            self.meta(),
            now,
            before,
            self.daily(),
            self.heatmap(),
            self.weekly(),
            self.segments(),
        )

    def missed(self, late_after_s: int = 3600) -> Missed:
        now, before = self.kpis()
        return Missed(
            self.meta(),
            now,
            before,
            action=self.action_list(),
            recovery_bins=self.recovery_bins(),
            by_department=self.breakdown("department"),
            by_number=self.breakdown("diversion"),
            by_reason=self.by_reason(),
            late=self.late_callbacks(late_after_s),
            segments=self.segments(),
            employees=self.employee_activity(),
            has_events=self.has_events(),
            late_after_s=late_after_s,
        )

    def ratings(self) -> Ratings:
        now, before = self.kpis()
        return Ratings(
            self.meta(),
            now,
            before,
            distribution=self.rating_distribution(),
            weekly=self.rating_weekly(),
            employees=self.employees(),
            low=self.low_ratings(),
        )


# The KPIs come from the one definition every kpi_* view uses (sql/inbound_kpis.sql).
KPI_AGGREGATES = """
    unnest(inbound_kpis(
        ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.is_within_service_level,
        ic.is_repeat_caller, ic.wait_s, ic.duration_s, ic.recovery, ic.time_to_recovery_s,
        ic.uid, ic.lost_contact_id, ic.rating, ic.outcome
    ))
"""
# The counts of the breakdown tables (the same filters as inbound_kpis).
_COUNTS = """
    count(*) as offered,
    count(*) filter (where ic.is_answered) as answered,
    count(*) filter (where ic.is_short_abandon) as short_abandons,
    count(*) filter (where ic.is_missed) as missed,
    count(*) filter (where ic.recovery = 'callback') as recovered_callback,
    count(*) filter (where ic.recovery = 'client_called_again') as recovered_client,
    count(*) filter (where ic.outcome in ('recovered_late', 'lost')) as not_called_back,
    count(*) filter (where ic.outcome = 'recovered_late') as recovered_late,
    count(*) filter (where ic.outcome = 'lost') as lost,
    count(*) filter (where ic.outcome = 'pending') as pending
"""
_HEADLINE_COUNTS = ", ".join(
    f"count(*) filter (where ic.segment = '{HEADLINE}' and {condition}) as {name}"
    for name, condition in (
        ("offered", "true"),
        ("answered", "ic.is_answered"),
        ("missed", "ic.is_missed"),
        ("short_abandons", "ic.is_short_abandon"),
        ("not_called_back", "ic.outcome in ('recovered_late', 'lost')"),
    )
)
RATING_AGGREGATES = """
    count(*) as rated_calls,
    avg(r.rating) as rating_mean,
    count(*) filter (where r.is_csat) / count(*) as csat_share,
    count(*) filter (where r.is_dsat) / count(*) as dsat_share
"""
RECOVERY_EDGES_S = (300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 172_800, 604_800)


def _amount(seconds: int) -> tuple[int, str]:
    if seconds < 3600:
        return seconds // 60, "мин"
    if seconds < 172_800:
        return seconds // 3600, "ч"
    return seconds // 86_400, "сут"


def _span_label(a: int, b: int) -> str:
    """``до 5 мин``, ``5–15 мин``, ``30 мин – 1 ч``, ``8–24 ч``."""
    (hi, hi_unit) = _amount(b)
    if a == 0:
        return f"до {hi} {hi_unit}"
    (lo, lo_unit) = _amount(a)
    if lo_unit == hi_unit:
        return f"{lo}–{hi} {hi_unit}"
    return f"{lo} {lo_unit} – {hi} {hi_unit}"


def read_kpi_settings(con: duckdb.DuckDBPyConnection) -> KpiSettings:
    names = [f for f in KpiSettings.__dataclass_fields__ if f != "tz"]
    try:
        found = con.sql(f"select tz, {', '.join(names)} from kpi_settings limit 1").fetchall()
    except duckdb.CatalogException:
        raise errors.VatsError(
            "the warehouse has no analyst layer (kpi_settings): load first"
        ) from None
    if not found:
        return KpiSettings()
    tz, *values = found[0]
    return KpiSettings(tz, *(int(v) for v in values))


# -- the connection ---------------------------------------------------------------------------


def source_path(settings: Settings) -> Path:
    """The read copy when a flow has published one, else the warehouse itself."""
    read_copy = warehouse.read_copy_path(settings.db_path)
    return read_copy if read_copy.exists() else settings.db_path


@contextlib.contextmanager
def open_read(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for the few seconds a report takes.

    Reads the published read copy (never blocks a writer); without one, the warehouse
    itself, read-only, waiting like any writer does while another process holds it."""
    path = source_path(settings)
    if not path.exists():
        raise errors.VatsError(f"no warehouse at {settings.db_path}: run a backfill first")
    timeout_s = settings.db_lock_timeout_s
    if settings.db_path.exists() and not warehouse.schema_is_current(path, timeout_s=timeout_s):
        # written by an older vats-etl, its views lack what this one reads (a report would
        # show zeros, not an error): upgrade the warehouse and read a fresh copy of it
        path = warehouse.publish_read_copy(
            settings.db_path, timeout_s=timeout_s, upgrade=warehouse.Company.from_settings(settings)
        )
    with warehouse.connect(path, read_only=True, timeout_s=timeout_s) as con:
        yield con
