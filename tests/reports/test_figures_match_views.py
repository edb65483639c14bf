"""Every dashboard tile and every figure of the weekly email equals the row of the view it
comes from, for a week of an emulated company (three departments, calls after hours and
calls that reached no department, a hostile department name).

The figures are read as the pages and the messages show them (the tiles' text, the subject,
the plain-text tables, the heat table's cells) and as the renderer was given them (the
tiles' numbers); the expected values are read straight from the analyst layer's views:
``kpi_weekly`` (a department's headline figures are its in-hours row; the company's add up
the departments' rows), ``kpi_heatmap``, ``missed_calls``, ``inbound_calls`` and ``ratings``.
A page query that drifts from its view (another filter, another population, a formula of
its own) fails here.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from tests.support import small_warehouse as small
from vats_etl import dashboards, reports, weekly_email
from vats_etl.config import Settings
from vats_etl.reports import (
    EMAIL_TILES,
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


def headline(con: duckdb.DuckDBPyConnection, week: Period, department: str | None) -> Figures:
    """The headline figures (working hours, calls that reached a department) of a department
    — its in-hours row of kpi_weekly — or of the company: its departments' rows added up,
    shares weighted by what they are shares of, callback times from missed_calls."""
    if department == NO_DEPARTMENT:  # its calls reached no department: never headline
        rows: list[Figures] = []
    elif department is not None:
        rows = _kpi_weekly(
            con, week, "k.hours = 'in_hours' and not k.is_total and k.department = ?", [department]
        )
        assert len(rows) <= 1
        if rows:
            return rows[0]
    else:
        rows = _kpi_weekly(
            con, week, "k.hours = 'in_hours' and not k.is_total and k.department <> ?",
            [NO_DEPARTMENT],
        )  # fmt: skip
    found: Figures = {key: _sum(rows, key) for key in COUNTS}
    answerable = found["offered"] - found["short_abandons"]
    found["answer_rate"] = found["answered"] / answerable if answerable else None
    for row in rows:
        row["answerable"] = row["offered"] - row["short_abandons"]
    found["service_level"] = _weighted(rows, "service_level", "answerable")
    found["asa_s"] = _weighted(rows, "asa_s", "answered")
    sql = (
        "select mc.time_to_recovery_s from missed_calls as mc where mc.is_headline "
        "and mc.recovery = 'callback' and mc.local_date between ? and ?"
    )
    params: list[Any] = [week.first, week.last]
    if department is not None:
        sql += " and mc.department = ?"
        params.append(department)
    callbacks = [float(r[0]) for r in con.sql(sql, params=params).fetchall()]
    found["callback_median_s"] = statistics.median(callbacks) if callbacks else None
    found["callback_p90_s"] = _quantile_cont(callbacks, 0.9)
    return found


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


def expected(con: duckdb.DuckDBPyConnection, week: Period, department: str | None) -> Figures:
    return {**headline(con, week, department), **rating_figures(con, week, department)}


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
    checked = 0
    for department in scopes:
        part = reader.for_department(department)
        now, before = expected(con, WEEK, department), expected(con, WEEK.previous(), department)
        files = dict(dashboards.build(part))
        names = dashboards.filenames(department)
        pages = (
            (names["overview"], part.overview().tiles, OVERVIEW_TILES),
            (names["missed"], part.missed().tiles, MISSED_TILES),
            (names["ratings"], part.ratings().tiles, RATING_TILES),
        )
        for name, given, keys in pages:
            assert [t.key for t in given] == list(keys)
            check_tiles(name, given, tiles_of(files[name]), now, before)
            checked += len(given)
        if department is None:  # the company's week is not an empty one
            assert now["offered"] > 0 and now["not_called_back"] > 0 and now["rated_calls"] > 0
            assert before["offered"] > 0
    assert checked == len(scopes) * (len(OVERVIEW_TILES) + len(MISSED_TILES) + len(RATING_TILES))


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
        now, before = expected(con, WEEK, department), expected(con, WEEK.previous(), department)
        html_body, text = _parts(message)

        # the subject: missed and not called back, headline
        numbers = re.search(r"пропущено (\d+), не перезвонили (\d+)$", message.subject)
        assert numbers is not None, message.subject
        assert (int(numbers.group(1)), int(numbers.group(2))) == (
            now["missed"],
            now["not_called_back"],
        ), what

        # the tiles: as shown, and the numbers compose() made them from
        overview = reader.for_department(department).overview()
        given = reports.tiles(EMAIL_TILES, overview.meta.settings, overview.kpis, overview.previous)
        check_tiles(what, given, tiles_of(html_body), now, before)

        # every call of the week by segment: headline, after hours, no department, all
        after = scope_rows(con, WEEK, department, "after_hours")
        if department is None:
            unrouted = _kpi_weekly(
                con, WEEK, "k.hours = 'in_hours' and not k.is_total and k.department = ?",
                [NO_DEPARTMENT],
            )  # fmt: skip
        elif department == NO_DEPARTMENT:
            unrouted = scope_rows(con, WEEK, department, "in_hours")
        else:
            unrouted = []
        everything = scope_rows(con, WEEK, department, None)
        wanted = []
        for label, rows in (
            (SEGMENTS_RU["in_hours"], [now]),
            (SEGMENTS_RU["after_hours"], after),
            (SEGMENTS_RU["unrouted"], unrouted),
            ("Все звонки", everything),
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

        # by department (the company's, in every message): each department's in-hours row
        shown_departments = {
            line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in _section(text, "ПО ОТДЕЛАМ")
        }
        rows = _kpi_weekly(
            con, WEEK, "k.hours = 'in_hours' and not k.is_total and k.department <> ?",
            [NO_DEPARTMENT],
        )  # fmt: skip
        assert set(shown_departments) == {r["department"] for r in rows}, what
        for row in rows:
            rate = row["missed"] / (row["offered"] - row["short_abandons"])
            assert shown_departments[row["department"]] == _rates_line(
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
        counts = numbers.setdefault(number, [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += bool(short)
        counts[2] += bool(missed)
        counts[3] += outcome in ("recovered_late", "lost")
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
    where = "k.hours = 'in_hours' and not k.is_total and k.department <> ?"
    params: list[Any] = [WEEK.first, NO_DEPARTMENT]
    if department is not None:
        where += " and k.department = ?"
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
