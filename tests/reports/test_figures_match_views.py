"""Every dashboard tile and every figure of the weekly email equals the row of the view it
comes from, for a week of an emulated company (three departments, calls after hours and
calls that reached no department, a hostile department name).

The figures are read as the pages and the messages show them (the tiles' text, the subject,
the plain-text tables, the heat table's cells) and as the renderer was given them (the
tiles' numbers); the expected values are read straight from the analyst layer's views:
``kpi_weekly`` (every tile is the row its ``is_headline`` flag picks: a department's own, the
company's total row — which also equals its departments' rows added up),
``kpi_by_number_weekly``, ``kpi_heatmap``, ``callback_worklist``, ``missed_calls``,
``inbound_calls`` and ``ratings``. The week before is compared at the same age: what became
of its misses, and its list, as they stood a week before the data cut-off, worked out here
from missed_calls. A page query that drifts from its view (another filter, another
population, a formula of its own) fails here.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from tests.support import small_warehouse as small
from vats_etl import dashboards, reports, weekly_email
from vats_etl.config import Settings
from vats_etl.reports import (
    EMAIL_TILES,
    LIST_TILES,
    MISSED_TILES,
    NO_DEPARTMENT,
    OVERVIEW_TILES,
    RATING_TILES,
    SEGMENTS_RU,
    WEEKDAYS_RU,
    Period,
    Reader,
    Tile,
)

# 8-13 s a test: a week of a company, every figure read back
pytestmark = pytest.mark.slow

WEEK = small.WEEK
COUNTS = (
    "offered", "answered", "missed", "short_abandons", "not_called_back", "recovered_late",
    "lost", "pending", "recovered_callback", "recovered_client", "lost_contacts",
)  # fmt: skip
RATING_KEYS = ("rated_calls", "response_rate", "rating_mean", "csat_share", "dsat_share")
# Figures of what became of the misses: the week before is judged at the same age.
OUTCOME_KEYS = (
    "recovered_callback", "recovered_client", "not_called_back", "recovered_late", "lost",
    "pending", "callback_median_s", "callback_p90_s",
)  # fmt: skip
Figures = dict[str, Any]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small.build(tmp_path_factory.mktemp("figures"))


@pytest.fixture(scope="module")
def con(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with reports.open_read(settings) as connection:
        yield connection


@pytest.fixture(scope="module")
def reader(con: duckdb.DuckDBPyConnection) -> Reader:
    return Reader(con, WEEK, now=small.NOW)


@pytest.fixture(scope="module")
def scopes(reader: Reader) -> list[str | None]:
    """The company and every department with calls in the week."""
    departments = list(reader.meta().departments)
    assert len(departments) >= 4 and NO_DEPARTMENT in departments
    assert small.XSS_DEPARTMENT in departments
    return [None, *departments]


# -- the views, asked directly ------------------------------------------------------------------


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[Figures]:
    relation = con.sql(sql, params=list(params))
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def _kpi_weekly(
    con: duckdb.DuckDBPyConnection, week: Period, where: str, params: Sequence[Any] = ()
) -> list[Figures]:
    return _dicts(
        con,
        f"select * from kpi_weekly as k where k.week_start = ? and {where}",
        [week.first, *params],
    )


def _sum(rows: Sequence[Mapping[str, Any]], key: str) -> int:
    return sum(int(r[key]) for r in rows)


def _weighted(rows: Sequence[Mapping[str, Any]], key: str, weight: str) -> float | None:
    pairs = [(r[key], r[weight]) for r in rows if r[key] is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _quantile_cont(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def view_row(con: duckdb.DuckDBPyConnection, week: Period, department: str | None) -> Figures:
    """The one row of kpi_weekly the headline tiles show (is_headline): a department's own,
    or for every department the total row; zeros for a department without headline calls
    ('Без отдела': its calls are after hours or reached no department)."""
    if department is None:
        rows = _kpi_weekly(con, week, "k.is_headline and k.is_total")
    else:
        rows = _kpi_weekly(
            con, week, "k.is_headline and not k.is_total and k.department = ?", [department]
        )
    assert len(rows) <= 1, (department, rows)
    if rows:
        return rows[0]
    counts = {*COUNTS, "answerable", "recovered", "resolved_manually", "unreached_contacts"}
    return {c: 0 if c in counts else None for c in con.sql("from kpi_weekly limit 0").columns}


def headline_total_adds_up(con: duckdb.DuckDBPyConnection, week: Period) -> None:
    """The company's headline row is its departments' headline rows added up (the calls that
    reached no department are in neither)."""
    total = view_row(con, week, None)
    parts = _kpi_weekly(con, week, "k.is_headline and not k.is_total")
    assert NO_DEPARTMENT not in {r["department"] for r in parts}
    for key in COUNTS:
        assert total[key] == _sum(parts, key), key
    answerable = total["offered"] - total["short_abandons"]
    assert _same(total["answer_rate"], total["answered"] / answerable if answerable else None)
    for row in parts:
        row["answerable"] = row["offered"] - row["short_abandons"]
    assert _same(total["service_level"], _weighted(parts, "service_level", "answerable"))
    assert _same(total["asa_s"], _weighted(parts, "asa_s", "answered"))


# -- the week before, at the same age ------------------------------------------------------------


def outcome_at(miss: Mapping[str, Any], at: datetime) -> str:
    """Where a miss stood at instant `at`, worked out here from its columns (not with the
    warehouse's macro): recovered by then, reached late by then, resolved by hand by then,
    its W still open then, or lost."""
    if miss["recovered_at"] is not None and miss["recovered_at"] <= at:
        return "recovered"
    contact, resolved = miss["next_contact_at"], miss["resolved_at"]
    if contact is not None and contact <= at and not (resolved is not None and resolved < contact):
        return "recovered_late"
    if resolved is not None and resolved <= at:
        return "resolved_manually"
    return "pending" if miss["recovery_deadline_at"] >= at else "lost"


def outcomes_at(
    con: duckdb.DuckDBPyConnection, week: Period, department: str | None, at: datetime
) -> Figures:
    """The headline misses' figures of `week` as they stood at `at`, from missed_calls."""
    sql = (
        "select mc.recovery, mc.recovered_at, mc.next_contact_at, mc.resolved_at, "
        "mc.recovery_deadline_at, mc.time_to_recovery_s from missed_calls as mc "
        "where mc.is_headline and mc.local_date between ? and ?"
    )
    params: list[Any] = [week.first, week.last]
    if department is not None:
        sql += " and mc.department = ?"
        params.append(department)
    misses = _dicts(con, sql, params)
    outcome = [outcome_at(m, at) for m in misses]
    recovered = [m for m, o in zip(misses, outcome, strict=True) if o == "recovered"]
    callbacks = [float(m["time_to_recovery_s"]) for m in recovered if m["recovery"] == "callback"]
    return {
        "recovered_callback": sum(m["recovery"] == "callback" for m in recovered),
        "recovered_client": sum(m["recovery"] == "client_called_again" for m in recovered),
        "recovered_late": outcome.count("recovered_late"),
        "lost": outcome.count("lost"),
        "pending": outcome.count("pending"),
        "not_called_back": outcome.count("recovered_late") + outcome.count("lost"),
        "callback_median_s": statistics.median(callbacks) if callbacks else None,
        "callback_p90_s": _quantile_cont(callbacks, 0.9),
    }


def list_at(
    con: duckdb.DuckDBPyConnection, week: Period, department: str | None, at: datetime
) -> Figures:
    """The lost clients of the list "кому позвонить" as it stood at `at`, worked out here
    from missed_calls: a client's misses nobody had talked to them about by then, one row
    per client and department, lost when the first of them had its W over, listed when one
    miss is in the week; counted by the segment of their misses."""
    rows: dict[tuple[str, str], list[Figures]] = {}
    for m in _dicts(con, "select * from missed_calls as mc where mc.client is not null", []):
        if m["started_at"] > at:
            continue
        if m["next_contact_at"] is not None and m["next_contact_at"] <= at:
            continue
        if m["resolved_at"] is not None and m["resolved_at"] <= at:
            continue
        rows.setdefault((m["client"], m["department"]), []).append(m)
    counts = {key: 0 for key in LIST_TILES}
    for (_, row_department), misses in rows.items():
        if department is not None and row_department != department:
            continue
        if min(m["recovery_deadline_at"] for m in misses) >= at:
            continue  # every window still open: pending, not on the list
        if not any(week.first <= m["local_date"] <= week.last for m in misses):
            continue
        segments = {m["segment"] for m in misses}
        segment = next(s for s in ("in_hours", "unrouted", "after_hours") if s in segments)
        counts[f"lost_clients_{segment}"] += 1
    return counts


def scope_rows(
    con: duckdb.DuckDBPyConnection, week: Period, department: str | None, hours: str | None
) -> list[Figures]:
    """kpi_weekly rows of every call of the scope (in `hours`, or both)."""
    where = "k.is_total" if department is None else "not k.is_total and k.department = ?"
    params: list[Any] = [] if department is None else [department]
    if hours is not None:
        where += " and k.hours = ?"
        params.append(hours)
    return _kpi_weekly(con, week, where, params)


def rating_figures(con: duckdb.DuckDBPyConnection, week: Period, department: str | None) -> Figures:
    """Of every rated call of the period (ratings), any hours; the response rate is of every
    answered inbound call (kpi_weekly, both hours)."""
    sql = (
        "select r.rating, r.is_csat, r.is_dsat from ratings as r where r.local_date between ? and ?"
    )
    params: list[Any] = [week.first, week.last]
    if department is not None:
        sql += " and r.department = ?"
        params.append(department)
    found = con.sql(sql, params=params).fetchall()
    n = len(found)
    answered = _sum(scope_rows(con, week, department, None), "answered")
    return {
        "rated_calls": n,
        "rating_mean": statistics.fmean(r[0] for r in found) if n else None,
        "csat_share": sum(1 for r in found if r[1]) / n if n else None,
        "dsat_share": sum(1 for r in found if r[2]) / n if n else None,
        "response_rate": n / answered if answered else None,
    }


def cutoff(con: duckdb.DuckDBPyConnection) -> datetime:
    return con.sql("select dc.cutoff_at from data_cutoff as dc").fetchall()[0][0]


def expected(con: duckdb.DuckDBPyConnection, week: Period, department: str | None) -> Figures:
    """The week's tiles: its headline row of kpi_weekly, its ratings, the lost clients of
    the list (callback_worklist, by segment)."""
    listed = _dicts(
        con,
        "select cw.segment, cw.missed from callback_worklist as cw where cw.status = 'lost'"
        + ("" if department is None else " and cw.department = ?"),
        [] if department is None else [department],
    )
    counts = {key: 0 for key in LIST_TILES}
    for row in listed:
        if any(week.first <= m["local_date"] <= week.last for m in row["missed"]):
            counts[f"lost_clients_{row['segment']}"] += 1
    at, row = cutoff(con), view_row(con, week, department)
    # what this test works out at an instant agrees with the views at the cut-off
    worked_out = outcomes_at(con, week, department, at)
    for key in OUTCOME_KEYS:
        assert _same(worked_out[key], row[key]), (department, key)
    assert list_at(con, week, department, at) == counts
    return {**row, **rating_figures(con, week, department), **counts}


def expected_before(
    con: duckdb.DuckDBPyConnection, week: Period, department: str | None
) -> Figures:
    """The week before `week` at the same age: its calls' figures from kpi_weekly, what
    became of its misses and its list as they stood a week before the data cut-off."""
    before = week.previous()
    at = cutoff(con) - timedelta(days=7)
    return {
        **view_row(con, before, department),
        **rating_figures(con, before, department),
        **outcomes_at(con, before, department, at),
        **list_at(con, before, department, at),
    }


# -- comparing -----------------------------------------------------------------------------------


def _same(shown: Any, wanted: Any) -> bool:
    if shown is None or wanted is None:
        return shown is None and wanted is None
    return math.isclose(float(shown), float(wanted), rel_tol=1e-9, abs_tol=1e-9)


def _shown(format: str, value: Any) -> str:
    return dashboards.fmt_value(Tile("k", "", format, "none", value, None))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ShownTile:
    value: str
    previous: str


def tiles_of(page: str) -> dict[str, ShownTile]:
    """Each tile of a page or a message as it reads: data-kpi → its value and 'было …'."""
    found = {}
    for chunk in page.split('data-kpi="')[1:]:
        key = chunk.partition('"')[0]
        texts = re.findall(r"<div[^>]*>([^<]*)</div>", chunk)  # label, value, note, ...
        previous = re.search(r"\(было ([^)]*)\)", chunk)
        assert len(texts) >= 2 and previous is not None, key
        found[key] = ShownTile(html.unescape(texts[1]).strip(), html.unescape(previous.group(1)))
    return found


def check_tiles(
    what: str,
    given: Sequence[Tile],
    shown: Mapping[str, ShownTile],
    now: Figures,
    before: Figures,
) -> None:
    """The tiles the renderer was given hold the views' numbers; the page shows them."""
    assert [t.key for t in given] == list(shown), what
    for tile in given:
        assert _same(tile.value, now[tile.key]), (what, tile.key, tile.value, now[tile.key])
        assert _same(tile.previous, before[tile.key]), (what, tile.key, "previous")
        assert shown[tile.key].value == _shown(tile.format, now[tile.key]), (what, tile.key)
        assert shown[tile.key].previous == _shown(tile.format, before[tile.key]), (what, tile.key)


# -- the dashboards ------------------------------------------------------------------------------


def test_every_dashboard_tile_is_its_view_row(
    con: duckdb.DuckDBPyConnection, reader: Reader, scopes: list[str | None]
) -> None:
    headline_total_adds_up(con, WEEK)
    headline_total_adds_up(con, WEEK.previous())
    checked = 0
    for department in scopes:
        part = reader.for_department(department)
        now, before = expected(con, WEEK, department), expected_before(con, WEEK, department)
        files = dict(dashboards.build(part))
        names = dashboards.filenames(department)
        pages = (
            (names["overview"], part.overview().tiles, OVERVIEW_TILES),
            (names["missed"], part.missed().tiles, MISSED_TILES),
            (names["ratings"], part.ratings().tiles, RATING_TILES),
        )
        for name, given, keys in pages:
            # without headline calls ('Без отдела'), no tile of zeros: only the list's and
            # the ratings'
            shown_keys = [k for k in keys if now["offered"] or k in LIST_TILES or k in RATING_TILES]
            assert [t.key for t in given] == shown_keys, name
            check_tiles(name, given, tiles_of(files[name]), now, before)
            checked += len(given)
        if department is None:  # the company's week is not an empty one
            assert now["offered"] > 0 and now["not_called_back"] > 0 and now["rated_calls"] > 0
            assert before["offered"] > 0 and sum(now[k] for k in LIST_TILES) > 0
        if department == NO_DEPARTMENT:
            assert now["offered"] == 0 and sum(now[k] for k in LIST_TILES) > 0
    assert checked > len(scopes) * len(RATING_TILES)


# -- the weekly email ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messages(reader: Reader, scopes: list[str | None]) -> list[weekly_email.Outgoing]:
    routing = weekly_email.Routing(
        {d: (f"head{i}@example.ru",) for i, d in enumerate(scopes) if d is not None}
    )
    found, _ = weekly_email.build_messages(
        reader, routing, sender="reports@example.ru", rollup_to=["boss@example.ru"]
    )
    assert [m.department for m in found] == [*scopes[1:], None]
    return found


def _parts(message: weekly_email.Outgoing) -> tuple[str, str]:
    html_part = message.message.get_body(("html",))
    text_part = message.message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    return str(html_part.get_content()), str(text_part.get_content())


def _section(text: str, title: str) -> list[str]:
    """The '- ...' lines under a heading of the plain-text part."""
    lines = text.split(title, 1)[1].split("\n\n", 1)[0].splitlines()
    return [line[2:] for line in lines if line.startswith("- ")]


def _line(label: str, *counts: int) -> str:
    return f"{label}: " + " / ".join(dashboards.fmt_count(c) for c in counts)


def _rates_line(offered: int, missed: int, rate: float | None, not_called_back: int) -> str:
    count, share = dashboards.fmt_count, dashboards.fmt_share
    return f"{count(offered)} / {count(missed)} ({share(rate)}) / {count(not_called_back)}"


def test_every_email_figure_is_its_view_row(
    con: duckdb.DuckDBPyConnection, reader: Reader, messages: list[weekly_email.Outgoing]
) -> None:
    for message in messages:
        department = message.department
        what = message.key
        now, before = expected(con, WEEK, department), expected_before(con, WEEK, department)
        html_body, text = _parts(message)

        # the subject: calls missed and not called back (headline), and the list's clients
        numbers = re.search(
            r"пропущено звонков (\d+), не перезвонили (\d+); позвонить клиентам: (\d+)$",
            message.subject,
        )
        assert numbers is not None, message.subject
        assert (int(numbers.group(1)), int(numbers.group(2)), int(numbers.group(3))) == (
            now["missed"],
            now["not_called_back"],
            sum(now[k] for k in LIST_TILES),
        ), what

        # the tiles: as shown, and the numbers compose() made them from
        overview = reader.for_department(department).overview()
        given = reports.tiles(EMAIL_TILES, overview.meta.settings, overview.kpis, overview.previous)
        check_tiles(what, given, tiles_of(html_body), now, before)

        # every call of the week by segment: headline, after hours, no department, all
        def of_segment(segment: str | None, department: str | None = department) -> list[Figures]:
            where = "k.is_total" if department is None else "not k.is_total and k.department = ?"
            params: list[Any] = [] if department is None else [department]
            if segment is not None:
                where += " and k.segment = ?"
                params.append(segment)
            return _kpi_weekly(con, WEEK, where, params)

        wanted = []
        for label, rows in (
            (SEGMENTS_RU["in_hours"], [now]),
            (SEGMENTS_RU["after_hours"], of_segment("after_hours")),
            (SEGMENTS_RU["unrouted"], of_segment("unrouted")),
            ("Все звонки", of_segment(None)),
        ):
            wanted.append(
                _line(
                    label,
                    _sum(rows, "offered"),
                    _sum(rows, "missed"),
                    _sum(rows, "recovered_callback") + _sum(rows, "recovered_client"),
                    _sum(rows, "pending"),
                    _sum(rows, "lost"),
                )
            )
        assert _section(text, "ВСЕ ЗВОНКИ ПЕРИОДА") == wanted, what

        # by department (the company's, in every message): each department's headline row
        # (PBX names in the plain part read ‹ › for < >)
        shown_departments = {
            line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in _section(text, "ПО ОТДЕЛАМ")
        }
        rows = _kpi_weekly(con, WEEK, "k.is_headline and not k.is_total")
        plain = dashboards.plain_text
        assert set(shown_departments) == {plain(r["department"]) for r in rows}, what
        for row in rows:
            rate = row["missed"] / (row["offered"] - row["short_abandons"])
            assert shown_departments[plain(row["department"])] == _rates_line(
                row["offered"], row["missed"], rate, row["not_called_back"]
            ), (what, row["department"])

        # by number dialled, headline calls of the scope: inbound_calls, counted here
        check_numbers(con, what, department, _section(text, "ПО НОМЕРАМ"))

        # the weekday x hour table: every cell's misses of answerable calls (kpi_heatmap)
        check_heat(con, what, department, html_body)


def check_numbers(
    con: duckdb.DuckDBPyConnection, what: str, department: str | None, lines: list[str]
) -> None:
    sql = (
        "select coalesce(ic.diversion, '—'), ic.is_short_abandon, ic.is_missed, ic.outcome "
        "from inbound_calls as ic where ic.is_headline and ic.local_date between ? and ?"
    )
    params: list[Any] = [WEEK.first, WEEK.last]
    if department is not None:
        sql += " and ic.department = ?"
        params.append(department)
    calls = con.sql(sql, params=params).fetchall()
    numbers: dict[str, list[int]] = {}
    for number, short, missed, outcome in calls:
        counts = numbers.setdefault(dashboards.plain_text(number), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += bool(short)
        counts[2] += bool(missed)
        counts[3] += outcome in ("recovered_late", "lost")
    if department is None:  # every department's: the headline rows of kpi_by_number_weekly
        by_view = {
            dashboards.plain_text(coalesce): [offered, short, missed, not_called_back]
            for coalesce, offered, short, missed, not_called_back in con.sql(
                "select coalesce(k.diversion, '—'), k.offered, k.short_abandons, k.missed, "
                "k.not_called_back from kpi_by_number_weekly as k "
                "where k.is_headline and k.week_start = ?",
                params=[WEEK.first],
            ).fetchall()
        }
        assert by_view == numbers, what
    if not numbers:
        assert lines == ["звонков не было"], what
        return
    shown = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines}
    assert len(shown) == min(len(numbers), weekly_email.NUMBER_ROWS), what
    for number, text in shown.items():
        offered, short, missed, not_called_back = numbers[number]
        rate = missed / (offered - short) if offered > short else None
        assert text == _rates_line(offered, missed, rate, not_called_back), (what, number)


def check_heat(
    con: duckdb.DuckDBPyConnection, what: str, department: str | None, html_body: str
) -> None:
    where = "k.is_headline and k.is_total"
    params: list[Any] = [WEEK.first]
    if department is not None:
        where = "k.is_headline and not k.is_total and k.department = ?"
        params.append(department)
    cells = {
        (int(day), int(hour)): (int(missed), int(answerable))
        for day, hour, missed, answerable in con.sql(
            "select k.weekday, k.local_hour, sum(k.missed), sum(k.offered - k.short_abandons) "
            f"from kpi_heatmap as k where k.week_start = ? and {where} group by all",
            params=params,
        ).fetchall()
    }
    titles = re.findall(
        r'title="(\S+) (\d\d):00 — пропущено (\d+) из (\d+)', html.unescape(html_body)
    )
    assert titles or not cells, what
    for day, hour, missed, answerable in titles:
        cell = (WEEKDAYS_RU.index(day) + 1, int(hour))
        assert (int(missed), int(answerable)) == cells.get(cell, (0, 0)), (what, cell)
    shown = {(WEEKDAYS_RU.index(d) + 1, int(h)) for d, h, _, _ in titles}
    assert {c for c, (_, n) in cells.items() if n} <= shown, what  # no busy hour left out
