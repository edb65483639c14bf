"""The reader: queries of the analyst layer's views for one period (and optionally one
department) → the frames and dataclasses of :mod:`vats_etl.reports.pages`.

Python here asks, it never defines: every figure of inbound calls is aggregated with the
``inbound_kpis`` macro the ``kpi_*`` views use (or its counts alone, ``inbound_counts``,
where a table shows no times), every rating figure with ``rating_kpis``
(and its Wilson bound), the employee ranking with ``is_ranked_sample`` and ``rating_rank``
as ``rating_by_employee`` ranks, and what counts as a headline call is the views' own
``is_headline`` / ``segment``. A period the views have no pre-aggregated rows for (any
``--from``/``--to``, a department) is aggregated here from ``inbound_calls``, ``missed_calls``
and ``ratings`` with those macros, so it is exactly what a view over the same rows would say.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import duckdb
import polars as pl

from vats_etl import errors
from vats_etl.reports.catalogue import (
    MISS_HOURS_RU,
    REASONS_RU,
    SEGMENTS_RU,
    STATUS_RU,
    TOTAL_RU,
    KpiSettings,
    recovery_bin_labels,
    recovery_edges,
)
from vats_etl.reports.pages import Meta, Missed, Overview, Ratings
from vats_etl.reports.period import Period

T = TypeVar("T")

# Every figure of inbound calls as one struct (sql/inbound_kpis.sql): over `ic`. Made in a
# subquery and unnested outside it (see _kpis_by): unnest(inbound_kpis(...)) plans ~3x slower.
INBOUND_KPIS = """
    inbound_kpis(
        ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.is_within_service_level,
        ic.is_repeat_caller, ic.wait_s, ic.duration_s, ic.recovery, ic.time_to_recovery_s,
        ic.uid, ic.lost_contact_id, ic.rating, ic.outcome
    )
"""
# Its counts and rates of calls only, for tables that show no times: the medians and
# percentiles of inbound_kpis are what costs (sql/inbound_counts.sql).
INBOUND_COUNTS = """
    unnest(inbound_counts(
        ic.is_short_abandon, ic.is_answered, ic.is_missed, ic.recovery, ic.outcome
    ))
"""
# Every rating figure, one column each (sql/rating_kpis.sql): over `r`.
RATING_KPIS = "unnest(rating_kpis(r.rating))"

# Columns of inbound_calls every page needs (a narrow copy is cheap to make and to scan).
_INBOUND_COLUMNS = (
    "uid, local_date, weekday, local_hour, week_start, department, diversion, user_login, "
    "segment, is_headline, reason, is_short_abandon, is_answered, is_missed, "
    "is_within_service_level, is_repeat_caller, recovery, recovered_at, time_to_recovery_s, "
    "recovered_by_login, next_contact_at, resolved_at, recovery_deadline_at, "
    "lost_contact_id, outcome, wait_s, duration_s, rating"
)
# The period before is judged at the same age as the period (its outcomes as they stood the
# same time after its end): `recovery` and `outcome` of its copy as of that instant
# (sql/recovery_as_of.sql, sql/miss_outcome.sql), so that a week whose misses have had days
# to be called back is never compared with one whose misses have had hours.
_AS_OF = """
    (select x.* replace (
        recovery_as_of(x.recovery, x.recovered_at, $as_of) as recovery,
        miss_outcome(
            x.is_missed, x.recovered_at, x.next_contact_at, x.resolved_at,
            x.recovery_deadline_at, $as_of
        ) as outcome
    ) from {table} as x)
"""
# "Кому позвонить" (sql/callback_list.sql) of a period at `as_of` (its resolutions recorded
# by then too), or now: at the data cut-off with every resolution recorded so far.
_LIST_SQL = (
    "select * from callback_list(?, ?, coalesce(?, (select cutoff_at from data_cutoff)), "
    "coalesce(?, 'infinity'::timestamptz))"
)
# The counts of the list's rows by the segment of their misses: the tiles of lost clients,
# which add up to the list.
LIST_TILES = {
    "in_hours": "lost_clients_in_hours",
    "unrouted": "lost_clients_unrouted",
    "after_hours": "lost_clients_after_hours",
}

_scopes = itertools.count()


def read_kpi_settings(con: duckdb.DuckDBPyConnection) -> KpiSettings:
    texts = ("tz", "recovery_window_basis")
    names = [f for f in KpiSettings.__dataclass_fields__ if f not in texts]
    try:
        found = con.sql(
            f"select {', '.join(names)}, tz, recovery_window_basis from kpi_settings limit 1"
        ).fetchall()
    except duckdb.CatalogException:
        raise errors.VatsError(
            "the warehouse has no analyst layer (kpi_settings): load first"
        ) from None
    if not found:
        return KpiSettings()
    *values, tz, basis = found[0]
    numbers = {name: int(v) for name, v in zip(names, values, strict=True)}
    return KpiSettings(tz=tz, recovery_window_basis=basis or "calendar", **numbers)


def localize_worklist(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Rows of the call-back worklist with their times in the company zone `tz`, the misses'
    too; the Russian names of each miss's reason and hours, of the row's segment and status."""
    frame = frame.with_columns(
        pl.col(c).dt.convert_time_zone(tz)
        for c in ("deadline_at", "first_missed_at", "last_missed_at")
        if c in frame.columns
    )
    if frame.is_empty():
        return frame
    return frame.with_columns(
        pl.col("missed").list.eval(
            pl.element().struct.with_fields(
                pl.field("started_at").dt.convert_time_zone(tz),
                pl.field("recovery_deadline_at").dt.convert_time_zone(tz),
                pl.field("reason")
                .replace_strict(REASONS_RU, default=pl.field("reason"))
                .alias("reason_ru"),
                pl.field("segment")
                .replace_strict(MISS_HOURS_RU, default=pl.field("segment"))
                .alias("hours_ru"),
            )
        ),
        segment_ru=pl.col("segment").replace_strict(SEGMENTS_RU, default=pl.col("segment")),
        status_ru=pl.col("status").replace_strict(STATUS_RU, default=pl.col("status")),
    )


def _kpis_by(keys: Sequence[str], source: str) -> str:
    """`select <keys>, <every KPI> from <source> group by <keys>` (columns of `ic`)."""
    inner = ", ".join([*(f"ic.{k}" for k in keys), f"{INBOUND_KPIS} as kpis"])
    group = f" group by {', '.join(f'ic.{k}' for k in keys)}" if keys else ""
    outer = ", ".join([*(f"x.{k}" for k in keys), "unnest(x.kpis)"])
    return f"select {outer} from (select {inner} from {source}{group}) as x"


def _zero_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Counts of groups without calls are 0, not missing (shares and times stay null)."""
    return frame.with_columns(pl.col(pl.Int64).fill_null(0))


class Reader:
    """Queries for one period and (optionally) one department over an open connection.

    The first query copies the rows of the period, of the period before and of the trend
    weeks from ``inbound_calls``, ``missed_calls`` and ``ratings`` into temporary tables
    (one pass over each view, ~1 s for a year of a 200-agent company), with the employees'
    names and the list "кому позвонить" of the period and of the period before (every
    department's rows); every figure is then aggregated from those with the views' own
    macros. Readers made by :meth:`for_department` share the copies."""

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
        self._read: dict[str, Any] = {}  # what two pages both show, read once (_once)

    def for_department(self, department: str | None) -> Reader:
        """The same period for another department (or the company), sharing the copies."""
        other = Reader.__new__(Reader)
        other.__dict__.update(self.__dict__)
        other.department = department
        other._kpis = None
        other._meta = None
        other._read = {}
        other._tables = self.tables  # made once, here
        return other

    def _once(self, name: str, read: Callable[[], T]) -> T:
        """`read()` the first time, then what it gave: the overview and the missed-calls page
        show the same segments and employee table."""
        if name not in self._read:
            self._read[name] = read()
        found: T = self._read[name]
        return found

    # -- the period's rows, copied once, and queries over them --------------------------------

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
            "ic": f"select {_INBOUND_COLUMNS} from inbound_calls",
            "mc": "select * from missed_calls",
            "r": "select * from ratings",
        }
        for key, sql in sources.items():
            self.con.execute(
                f"create or replace temp table {names[key]} as {sql} where {bounds}", params
            )
        # the names of employees (every department's pages ask), and the list "кому
        # позвонить" of the period and of the period before at the same age (every
        # department's rows: a department's page filters them)
        names["en"] = f"report_names_{n}"
        self.con.execute(
            f"create or replace temp table {names['en']} as "
            "select en.user_login, en.user_name from employee_names as en"
        )
        for key, period, as_of in (
            ("list", self.period, None),
            ("list_before", self.period.previous(), self.previous_as_of()),
        ):
            names[key] = f"report_{key}_{n}"
            self.con.execute(
                f"create or replace temp table {names[key]} as {_LIST_SQL}",
                [period.first, period.last, as_of, as_of],
            )
        return names

    def _from(
        self,
        key: str,
        alias: str,
        period: Period | None = None,
        *,
        headline: bool = False,
        as_of: datetime | None = None,
    ) -> tuple[str, list[Any]]:
        """`<copy> as alias where <the period's days> [and department] [and headline]`:
        with `headline`, only the calls the headline figures count (``is_headline``); with
        `as_of`, the misses' recovery and outcome as they stood at that instant."""
        period = period or self.period
        table = self.tables[key]
        params: list[Any] = []
        if as_of is not None:
            table = _AS_OF.format(table=table).replace("$as_of", "?")
            params = [as_of] * 2
        sql = f"{table} as {alias} where {alias}.local_date between ? and ?"
        params += [period.first, period.last]
        if self.department is not None:
            sql += f" and {alias}.department = ?"
            params.append(self.department)
        if headline:
            sql += f" and {alias}.is_headline"
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

    # -- the figures and tables of the pages, a query each ------------------------------------

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

    @property
    def cutoff_at(self) -> datetime | None:
        """The data cut-off (UTC): the instant every outcome of the period is judged at."""
        found = self.con.sql("select dc.cutoff_at from data_cutoff as dc").fetchall()
        return found[0][0] if found else None

    def previous_as_of(self) -> datetime | None:
        """The instant the period before is judged at: the same time after its end as the
        data cut-off is after the period's end (the cut-off moved back by the period's
        length). None without data."""
        cutoff = self.cutoff_at
        return None if cutoff is None else cutoff - timedelta(days=self.period.days)

    def kpis(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """KPIs of the period and of the period before (same length) at the same age; read
        once."""
        if self._kpis is None:
            self._kpis = (
                self._period_kpis(self.period, None),
                self._period_kpis(self.period.previous(), self.previous_as_of()),
            )
        return dict(self._kpis[0]), dict(self._kpis[1])

    def _period_kpis(self, period: Period, as_of: datetime | None) -> dict[str, Any]:
        """The headline KPIs (with `as_of`, the misses' outcomes as they stood then); the
        rating ones are of every rated call of the period, so their response rate is of
        every answered call; the lost clients of the list by segment."""
        source, params = self._from("ic", "ic", period, headline=True, as_of=as_of)
        found = self.rows(_kpis_by((), source), params)[0]
        rated_source, rated_params = self._from("r", "r", period)
        all_source, all_params = self._from("ic", "ic", period)
        found.update(
            self.rows(
                "select rated.*, response_rate(rated.rated_calls, inbound.answered) "
                f"as response_rate from (select {RATING_KPIS} from {rated_source}) as rated "
                f"cross join (select {INBOUND_COUNTS} from {all_source}) as inbound",
                [*rated_params, *all_params],
            )[0]
        )
        counts = dict.fromkeys(LIST_TILES.values(), 0)
        source, params = self._list("list" if as_of is None else "list_before")
        for segment, rows in self.con.sql(
            f"select cl.segment, count(*) from {source} group by cl.segment", params=params
        ).fetchall():
            counts[LIST_TILES[segment]] = int(rows)
        found.update(counts)
        return found

    def _by_headline(self, *keys: str) -> pl.DataFrame:
        """The counts of the period's calls grouped by `keys` and ``is_headline``."""
        source, params = self._from("ic", "ic")
        columns = ", ".join(f"ic.{k}" for k in keys)
        return self.frame(
            f"select {columns}, ic.is_headline, {INBOUND_COUNTS} from {source} "
            f"group by {columns}, ic.is_headline",
            params,
        )

    def daily(self) -> pl.DataFrame:
        """Headline figures by day, plus `other`: calls after hours or outside departments."""
        found = self._by_headline("local_date")
        headline = found.filter(pl.col("is_headline")).select(
            "local_date", "offered", "answered", "missed", "short_abandons", "not_called_back"
        )
        other = found.filter(~pl.col("is_headline")).select("local_date", other=pl.col("offered"))
        days = pl.DataFrame(
            {"local_date": pl.date_range(self.period.first, self.period.last, eager=True)}
        )
        return _zero_counts(
            days.join(headline, on="local_date", how="left").join(
                other, on="local_date", how="left"
            )
        ).sort("local_date")

    def heatmap(self) -> pl.DataFrame:
        """Weekday x hour of the headline calls: offered, answerable, missed and missed rate;
        `other` and `other_missed`: calls after hours or outside departments in that cell,
        which the rate leaves out."""
        found = self._by_headline("weekday", "local_hour").with_columns(
            pl.col("weekday", "local_hour").cast(pl.Int64)
        )
        cell = ["weekday", "local_hour"]
        headline = found.filter(pl.col("is_headline")).select(
            *cell, "offered", "answerable", "missed", "not_called_back", "missed_rate"
        )
        other = found.filter(~pl.col("is_headline")).select(
            *cell, other=pl.col("offered"), other_missed=pl.col("missed")
        )
        grid = pl.DataFrame(
            [(d, h) for d in range(1, 8) for h in range(24)],
            schema={"weekday": pl.Int64, "local_hour": pl.Int64},
            orient="row",
        )
        return _zero_counts(
            grid.join(headline, on=cell, how="left").join(other, on=cell, how="left")
        ).sort(cell)

    def weekly(self) -> pl.DataFrame:
        """Weekly headline trend up to the period's end: at least `trend_weeks` weeks;
        `is_complete`: the data covers the whole week (charts leave the others out)."""
        source, params = self._from("ic", "ic", self.trend, headline=True)
        return self._mark_complete(
            self.frame(_kpis_by(("week_start",), source) + " order by week_start", params)
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
        return self._once("segments", self._segments)

    def _segments(self) -> pl.DataFrame:
        source, params = self._from("ic", "ic")
        found = self.frame(
            "select case when grouping(ic.segment) = 1 then 'total' else ic.segment end "
            f"as segment, {INBOUND_COUNTS} from {source} group by rollup (ic.segment)",
            params,
        )
        labels = {**SEGMENTS_RU, "total": TOTAL_RU}
        rows = pl.DataFrame({"segment": list(labels), "label": list(labels.values())})
        return _zero_counts(rows.join(found, on="segment", how="left"))

    def _list(self, key: str) -> tuple[str, list[Any]]:
        """`<the copied list> as cl [where department]`: "list" of the period, "list_before"
        of the period before at the same age."""
        sql = f"{self.tables[key]} as cl"
        if self.department is None:
            return sql, []
        return f"{sql} where cl.department = ?", [self.department]

    def action_list(self) -> pl.DataFrame:
        """Whom to call (sql/callback_list.sql): the lost rows of the call-back worklist — one
        per client and department, that department's misses only, each as it was — with a
        miss in the period, in the worklist's priority order, as of the data cut-off.

        A row is lost when the recovery window W of its oldest miss ended before the cut-off
        and nobody has talked to the client since (over the PBX, or marked with `vats-etl
        resolve`); a client reached later is never on the list, and neither is one whose
        windows are all still open. `missed`: the row's misses (a list of structs), times in
        the company zone, with the Russian `reason_ru` and `hours_ru` of each; `segment_ru`
        and `status_ru` of the row."""
        source, params = self._list("list")
        frame = self.frame(f"select cl.* from {source} order by cl.priority", params)
        return localize_worklist(frame, self.settings.tz)

    def recovery_bins(self) -> pl.DataFrame:
        """Time from the headline miss to its recovery, binned up to W, per kind."""
        edges = recovery_edges(self.settings.recovery_window_s)
        source, params = self._from("ic", "ic", headline=True)
        case = " ".join(f"when ic.time_to_recovery_s < {e} then {i}" for i, e in enumerate(edges))
        found = self.frame(
            f"select case {case} else {len(edges) - 1} end as bin, {INBOUND_COUNTS} "
            f"from {source} and ic.recovery is not null group by bin",
            params,
        ).select(
            pl.col("bin").cast(pl.Int64),
            callback=pl.col("recovered_callback"),
            client=pl.col("recovered_client"),
        )
        bins = pl.DataFrame({"bin": list(range(len(edges))), "label": recovery_bin_labels(edges)})
        return _zero_counts(bins.join(found, on="bin", how="left")).sort("bin")

    def breakdown(self, column: str) -> pl.DataFrame:
        """Headline calls by department or number dialled: offered, missed and what became
        of the misses."""
        source, params = self._from("ic", "ic", headline=True)
        key = f"coalesce(ic.{column}, '—')"
        return self.frame(
            f"select * from (select {key} as {column}, {INBOUND_COUNTS} from {source} "
            f"group by {key}) order by missed desc, {column}",
            params,
        )

    def by_reason(self) -> pl.DataFrame:
        source, params = self._from("ic", "ic", headline=True)
        frame = self.frame(
            "select reason, missed, recovered, pending, not_called_back from ("
            f"select ic.reason, {INBOUND_COUNTS} from {source} and ic.is_missed "
            "group by ic.reason) order by missed desc, reason",
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
            f"(select en.user_name from {self.tables['en']} as en "
            "where en.user_login = mc.recovered_by_login) "
            f"as recovered_by_name from {source} "
            "and mc.recovery = 'callback' and mc.time_to_recovery_s > ? "
            "order by mc.time_to_recovery_s desc, mc.started_at",
            [*params, late_after_s],
        )
        return self._localize(frame, "started_at", "recovered_at")

    def has_events(self) -> bool:
        """Did event webhooks say whose phone rang for the period's calls (employee_rings)?"""
        return self._once("has_events", self._has_events)

    def _has_events(self) -> bool:
        source, params = self._from("ic", "ic")
        found = self.con.sql(
            "select exists (select 1 from employee_rings as er "
            f"where er.callid in (select ic.uid from {source}))",
            params=params,
        ).fetchall()
        return bool(found[0][0])

    def employee_table(self) -> pl.DataFrame:
        """Per employee, for the period (and the department): the inbound calls they
        answered, their mean talk time and their ratings (inbound_kpis over the calls the
        history names them on, any hours, as kpi_by_employee_weekly counts them); the misses
        that rang their phone without an answer (missed_by_employee: event webhooks only);
        the misses they recovered by a callback made in the period and the median time to
        it (callback_kpis, as kpi_by_employee_weekly). Names from employee_names: the
        directory, else the calls' own user_name. Most misses first."""
        return self._once("employee_table", self._employee_table)

    def _employee_table(self) -> pl.DataFrame:
        source, params = self._from("ic", "ic")
        mc_source, mc_params = self._from("mc", "mc", self.scope)
        calls = _kpis_by(("user_login",), f"{source} and ic.user_login is not null")
        return self.frame(
            f"with answering as ({calls}), "
            f"calls_of_period as (select ic.uid from {source}), "
            "not_picked_up as (select mbe.user_login, count(*) as missed "
            "  from missed_by_employee as mbe "
            "  where mbe.uid in (select p.uid from calls_of_period as p) "
            "  group by mbe.user_login), "
            "callbacks as (select x.user_login, unnest(x.made) from ("
            "  select mc.recovered_by_login as user_login, "
            "  callback_kpis(mc.recovery, mc.time_to_recovery_s) as made "
            f"  from {mc_source} and mc.recovery = 'callback' "
            "  and mc.recovered_by_login is not null "
            "  and timezone(?, mc.recovered_at)::date between ? and ? "
            "  group by mc.recovered_by_login) as x), "
            "logins as (select a.user_login from answering as a union "
            "  select n.user_login from not_picked_up as n union "
            "  select c.user_login from callbacks as c) "
            "select l.user_login, coalesce(en.user_name, l.user_login) as user_name, "
            "coalesce(a.answered, 0) as answered, a.talk_mean_s, "
            "coalesce(n.missed, 0) as missed, coalesce(c.callbacks_made, 0) as callbacks_made, "
            "c.callbacks_made_median_s, coalesce(a.rated_calls, 0) as rated_calls, "
            "a.rating_mean "
            "from logins as l "
            "left join answering as a on a.user_login = l.user_login "
            "left join not_picked_up as n on n.user_login = l.user_login "
            "left join callbacks as c on c.user_login = l.user_login "
            f"left join {self.tables['en']} as en on en.user_login = l.user_login "
            "order by missed desc, callbacks_made desc, answered desc, user_name, user_login",
            [
                *params,
                *params,
                *mc_params,
                self.settings.tz,
                self.period.first,
                self.period.last,
            ],
        )

    def rating_distribution(self) -> pl.DataFrame:
        source, params = self._from("r", "r")
        found = self.frame(
            f"select r.rating::bigint as rating, count(*) as calls from {source} group by all",
            params,
        )
        return _zero_counts(
            pl.DataFrame({"rating": [1, 2, 3, 4, 5]}, schema={"rating": pl.Int64}).join(
                found, on="rating", how="left"
            )
        )

    def rating_weekly(self) -> pl.DataFrame:
        source, params = self._from("r", "r", self.trend)
        return self._mark_complete(
            self.frame(
                f"select r.week_start, {RATING_KPIS} from {source} "
                "group by r.week_start order by r.week_start",
                params,
            )
        )

    def employees(self) -> pl.DataFrame:
        """Ratings per employee in the period, as rating_by_employee ranks them over all
        history: ranked (a large enough sample) by the Wilson lower bound of the CSAT share,
        the rest after them."""
        source, params = self._from("r", "r")
        ic_source, ic_params = self._from("ic", "ic")
        return self.frame(
            "with rated as ("
            "  select r.user_login, arg_max(r.user_name, r.started_at) as user_name, "
            "  arg_max(r.department, r.started_at) as department, "
            f"  {RATING_KPIS} from {source} and r.user_login is not null group by r.user_login"
            "), inbound as ("
            f"  select ic.user_login, {INBOUND_COUNTS} "
            f"  from {ic_source} and ic.user_login is not null group by ic.user_login"
            "), scored as ("
            "  select rt.*, coalesce(i.answered, 0) as answered, "
            "  response_rate(rt.rated_calls, i.answered) as response_rate, "
            "  is_ranked_sample(rt.rated_calls) as is_ranked "
            "  from rated as rt left join inbound as i on i.user_login = rt.user_login"
            ") select sc.*, rating_rank(sc.csat_wilson_lower, sc.is_ranked) as rating_rank "
            "from scored as sc order by sc.is_ranked desc, sc.csat_wilson_lower desc nulls last, "
            "sc.rated_calls desc, sc.user_login",
            [*params, *ic_params],
        )

    def low_ratings(self) -> pl.DataFrame:
        """Calls rated 1-2 (the low_ratings view: is_dsat), newest first; `record_copy` is
        where the copy of the recording is (relative to the recordings folder), if held."""
        source, params = self._from("r", "r")
        frame = self.frame(
            "select r.uid, r.started_at, r.client, r.user_login, r.user_name, "
            "r.department, r.rating::bigint as rating, r.duration_s, r.record_url, "
            "(select rec.path from recordings as rec "
            "where rec.uid = r.uid and rec.status = 'copied') as record_copy "
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
            employees=self.employee_table(),
            has_events=self.has_events(),
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
            employees=self.employee_table(),
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
