"""reports: periods, Wilson bound, tiles, and every query of a page against hand-made calls
with known answers; then the same figures as the analyst layer's own KPI views."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.support import small_warehouse as small
from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    MIN,
    T0,
    call,
    callback,
    fresh,
    insert_calls,
    miss,
    set_kpi,
)
from vats_etl import dashboards, errors, reports, warehouse
from vats_etl.config import Settings
from vats_etl.reports import Period, Reader, Tile

WEEK = Period.week("2024-W10")  # Monday 4 March 2024 (T0 = 12:00 Moscow) .. Sunday 10 March


# -- periods, Wilson, tiles --------------------------------------------------------------------


def test_week_parsing_and_labels() -> None:
    week = Period.week("2026-W47")
    assert (week.first, week.last) == (date(2026, 11, 16), date(2026, 11, 22))
    assert week.is_week and week.iso_week == "2026-W47" and str(week) == "2026-W47"
    assert week.label() == "неделя 2026-W47 (16–22 ноября 2026)"
    assert Period.week("2026w1") == Period(date(2025, 12, 29), date(2026, 1, 4))
    assert Period.week("2026-W01").label() == "неделя 2026-W01 (29.12.2025 – 04.01.2026)"
    assert week.previous() == Period.week("2026-W46")
    assert Period(date(2025, 1, 1), date(2025, 1, 10)).previous() == Period(
        date(2024, 12, 22), date(2024, 12, 31)
    )
    assert Period(date(2025, 1, 1), date(2025, 1, 10)).label() == "01.01.2025 – 10.01.2025"
    assert Period.last_complete_week(date(2026, 11, 23)) == week  # a Monday
    assert Period.last_complete_week(date(2026, 11, 29)) == week  # the Sunday after
    for bad in ("2026-47", "W47", "2026-W54", "2021-W53"):
        with pytest.raises(errors.ConfigError):
            Period.week(bad)
    with pytest.raises(errors.ConfigError):
        Period(date(2025, 1, 2), date(2025, 1, 1))


def test_utc_bounds_follow_the_zone() -> None:
    start, end = WEEK.utc_bounds(reports.KpiSettings().zone)
    assert start == datetime(2024, 3, 3, 21, 0, tzinfo=UTC)
    assert end == datetime(2024, 3, 10, 21, 0, tzinfo=UTC)


def wilson_lower(con: duckdb.DuckDBPyConnection, successes: int, n: int) -> float | None:
    """The warehouse's Wilson lower bound (sql/wilson_lower.sql)."""
    found = con.sql("select wilson_lower(?, ?)", params=[successes, n]).fetchall()
    return None if found[0][0] is None else float(found[0][0])


def test_wilson_lower_bound() -> None:
    con = fresh()
    assert wilson_lower(con, 0, 0) is None
    assert wilson_lower(con, 10, 10) == pytest.approx(0.7225, abs=1e-4)
    assert wilson_lower(con, 5, 10) == pytest.approx(0.2366, abs=1e-4)
    assert wilson_lower(con, 0, 5) == pytest.approx(0.0, abs=1e-12)
    # more evidence for the same share ranks higher
    assert wilson_lower(con, 90, 100) > wilson_lower(con, 9, 10)  # type: ignore[operator]


def test_tile_change_and_verdict() -> None:
    def tile(format: str, better: str, value: float | None, previous: float | None) -> Tile:
        return Tile("k", "label", format, better, value, previous)  # type: ignore[arg-type]

    assert tile("count", "down", 110, 100).change == pytest.approx(0.1)
    assert tile("count", "down", 110, 100).verdict == "bad"
    assert tile("share", "up", 0.8, 0.75).change == pytest.approx(0.05)  # points, not %
    assert tile("share", "up", 0.8, 0.75).verdict == "good"
    assert tile("count", "up", 5, 0).change is None  # no relative change from zero
    assert tile("count", "up", 5, None).verdict == "none"
    assert tile("count", "none", 5, 3).verdict == "none"
    assert tile("seconds", "down", 10, 10).verdict == "same"
    # a change too small to show is "no change", neutral (not red, not green)
    assert tile("share", "up", 0.9305, 0.9300).verdict == "same"  # +0,05 p.p. shows as 0,0
    assert tile("share", "up", 0.9310, 0.9300).verdict == "good"  # +0,1 p.p.
    assert tile("count", "down", 1004, 1000).verdict == "same"  # +0,4 % shows as 0 %
    assert tile("count", "down", 1006, 1000).verdict == "bad"
    # both values read the same where the tile shows them ("11 с", "было 11 с"): no change,
    # grey, although the change itself would round to +1 %
    same = tile("seconds", "down", 11.2, 11.1)
    assert (same.verdict, dashboards.fmt_change(same)) == ("same", "= без изменений")
    assert tile("seconds", "down", 11.6, 11.4).verdict == "bad"  # 12 с against 11 с
    assert tile("seconds", "down", 245.4, 244.6).verdict == "same"  # 4 мин 05 с both
    assert tile("count", "down", 0, 0).verdict == "same"


# -- every query against calls with known answers ----------------------------------------------


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = fresh()
    insert_calls(
        connection,
        [
            call("a1", user_login="ivanov", user_name="Иванов", rating=5),
            call(
                "a2",
                started_at=T0 + HOUR,
                wait_s=30,
                user_login="ivanov",
                user_name="Иванов",
                rating=2,
            ),
            call(
                "a3",
                started_at=T0 + DAY,
                wait_s=5,
                group_name="Поддержка",
                user_login="petrov",
                user_name="Петров",
                rating=4,
                client="79005550000",
            ),
            miss("m1", client="79001110001", started_at=T0 + 2 * HOUR),
            callback("c1", client="79001110001", started_at=T0 + 2 * HOUR + 30 * MIN),
            miss("m2", client="79001110002", started_at=T0 + 3 * HOUR, diversion="74950000002"),
            miss("m3", client="79001110002", started_at=T0 + 4 * HOUR, diversion="74950000002"),
            miss("m4", client="79001110003", started_at=T0 + 5 * HOUR, status="cancel"),
            call("a4", client="79001110003", started_at=T0 + 6 * HOUR),
            miss("s1", client="79001110004", started_at=T0 + 7 * HOUR, wait_s=2),
            call("p1", client="79001119999", started_at=T0 - 7 * DAY),
            miss("p2", client="79001118888", started_at=T0 - 7 * DAY + HOUR),
        ],
    )
    # around the clock: every call here is a headline call (segments: their own tests)
    set_kpi(connection, work_days=[1, 2, 3, 4, 5, 6, 7], work_start="00:00", work_end="24:00")
    try:
        yield connection
    finally:
        connection.close()


def test_kpis_of_the_week_and_the_week_before(con: duckdb.DuckDBPyConnection) -> None:
    now, before = Reader(con, WEEK).kpis()
    assert now["offered"] == 9
    assert (now["short_abandons"], now["answered"], now["missed"]) == (1, 4, 4)
    assert now["answer_rate"] == pytest.approx(4 / 8)
    assert now["service_level"] == pytest.approx(3 / 8)  # a2 waited 30 s > N = 20
    assert now["asa_s"] == pytest.approx((10 + 30 + 5 + 10) / 4)
    assert (now["recovered_callback"], now["recovered_client"], now["not_called_back"]) == (1, 1, 0)
    # m2 and m3 (Monday 15:00, 16:00): the data ends Tuesday 12:00, inside their W
    assert (now["pending"], now["lost"], now["recovered_late"]) == (2, 0, 0)
    assert now["callback_median_s"] == 1800
    assert now["lost_contacts"] == 3  # m2 and m3 are one lost contact
    assert now["rated_calls"] == 3 and now["rating_mean"] == pytest.approx(11 / 3)
    assert now["csat_share"] == pytest.approx(2 / 3) and now["dsat_share"] == pytest.approx(1 / 3)
    assert now["response_rate"] == pytest.approx(3 / 4)
    # the week before at the same age: as it stood Tuesday 27 February 12:00, a week before
    # the cut-off, when p2 (Monday 13:00) was still inside its W — pending, as m2 and m3 are
    # now — although nobody ever called back (lost today)
    assert (before["offered"], before["missed"], before["not_called_back"]) == (2, 1, 0)
    assert (before["lost"], before["pending"]) == (0, 1)
    assert before["rated_calls"] == 0 and before["response_rate"] == 0
    tiles = {t.key: t for t in Reader(con, WEEK).overview().tiles}
    assert tiles["missed"].value == 4 and tiles["missed"].previous == 1
    assert tiles["missed"].verdict == "bad"


def test_the_week_before_is_judged_at_the_same_age() -> None:
    """A Sunday-evening miss judged on Monday morning is still pending; the week before is
    judged as it stood on its own Monday morning (pending too, although its miss was called
    back later that day), never as it stands now: like is compared with like."""
    con = fresh()
    msk = timedelta(hours=3)
    insert_calls(
        con,
        [
            miss(
                "prev", client="79000000001", started_at=datetime(2024, 3, 3, 20, tzinfo=UTC) - msk
            ),
            callback(
                "prev-cb",
                client="79000000001",
                started_at=datetime(2024, 3, 4, 10, tzinfo=UTC) - msk,
            ),
            miss(
                "now", client="79000000002", started_at=datetime(2024, 3, 10, 20, tzinfo=UTC) - msk
            ),
            call(
                "monday",
                client="79000000099",
                started_at=datetime(2024, 3, 11, 8, tzinfo=UTC) - msk,
            ),
        ],
    )
    set_kpi(con, work_days=[1, 2, 3, 4, 5, 6, 7], work_start="00:00", work_end="24:00")
    reader = Reader(con, WEEK)
    assert reader.previous_as_of() == datetime(2024, 3, 4, 5, tzinfo=UTC)  # Monday 08:00
    now, before = reader.kpis()
    judged = ("missed", "pending", "recovered_callback", "lost", "not_called_back")
    assert {k: now[k] for k in judged} == {k: before[k] for k in judged} == {
        "missed": 1, "pending": 1, "recovered_callback": 0, "lost": 0, "not_called_back": 0,
    }  # fmt: skip
    # the views, as of today, know that the week before's miss was called back
    assert con.sql("select outcome from missed_calls where uid = 'prev'").fetchall() == [
        ("recovered",)
    ]
    tiles = {t.key: t for t in reader.missed().tiles}
    assert tiles["pending"].verdict == "none" and tiles["recovered_callback"].verdict == "same"
    page = dashboards.render_missed(reader.missed())
    assert "взятой в том же возрасте" in page  # the footnote says how it compares


def test_department_filter(con: duckdb.DuckDBPyConnection) -> None:
    support = Reader(con, WEEK, "Поддержка")
    now, _ = support.kpis()
    assert (now["offered"], now["answered"], now["missed"], now["rated_calls"]) == (1, 1, 0, 1)
    assert support.action_list().is_empty()
    assert support.meta().departments == ("Поддержка", "Продажи")  # all departments, for links
    sales = Reader(con, WEEK).for_department("Продажи")
    assert sales.kpis()[0]["offered"] == 8


def test_daily_heatmap_and_weekly_trend(con: duckdb.DuckDBPyConnection) -> None:
    reader = Reader(con, WEEK)
    daily = reader.daily()
    assert daily.height == 7 and daily["local_date"][0] == date(2024, 3, 4)
    assert daily.row(0, named=True)["offered"] == 8 and daily.row(1, named=True)["offered"] == 1
    assert daily["offered"][2:].sum() == 0  # days without calls are zeros, not gaps
    heat = reader.heatmap()
    assert heat.height == 7 * 24
    cell = heat.filter((heat["weekday"] == 1) & (heat["local_hour"] == 15)).row(0, named=True)
    assert (cell["offered"], cell["missed"], cell["missed_rate"]) == (1, 1, 1.0)  # m2, 15:00
    assert heat.filter(heat["local_hour"] == 3)["missed_rate"].null_count() == 7
    weekly = reader.weekly()
    assert weekly["week_start"].to_list()[-2:] == [date(2024, 2, 26), date(2024, 3, 4)]
    assert weekly["offered"].to_list()[-2:] == [2, 9]
    # the data begins on Monday 26 February and ends on Tuesday 5 March: that week is partial
    assert weekly["is_complete"].to_list()[-2:] == [True, False]


def test_missed_page(con: duckdb.DuckDBPyConnection) -> None:
    page = Reader(con, WEEK).missed(late_after_s=1200)
    # m2 + m3 are one client whose windows are still open at the cut-off (Tuesday 12:00):
    # pending, not lost, so nobody is on the list yet; m1 and m4 were recovered
    assert page.action.is_empty()
    bins = {r["label"]: (r["callback"], r["client"]) for r in page.recovery_bins.to_dicts()}
    assert bins["30 мин – 1 ч"] == (1, 0) and bins["1–2 ч"] == (0, 1)
    labels = list(bins)
    assert (labels[0], labels[-1]) == ("до 5 мин", "8–24 ч")
    assert sum(c + k for c, k in bins.values()) == 2
    reasons = {
        r["reason"]: (r["missed"], r["recovered"], r["pending"], r["not_called_back"])
        for r in page.by_reason.to_dicts()
    }
    assert reasons == {"no_answer": (3, 1, 2, 0), "cancel": (1, 1, 0, 0)}
    departments = {r["department"]: r for r in page.by_department.to_dicts()}
    assert departments["Продажи"]["missed"] == 4 and departments["Поддержка"]["missed"] == 0
    assert departments["Продажи"]["missed_rate"] == pytest.approx(4 / 7)
    numbers = {
        r["diversion"]: (r["pending"], r["not_called_back"]) for r in page.by_number.to_dicts()
    }
    assert numbers["74950000002"] == (2, 0)
    assert page.late["uid"].to_list() == ["m1"]  # 30 min > 20 min
    assert Reader(con, WEEK).late_callbacks(3600).is_empty()


def test_the_list_is_lost_clients_each_miss_with_its_own_window(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # the data now reaches Sunday 12:10: m2/m3's window is over (lost); 79001117777 missed
    # on Friday (lost) and again on Sunday (its window open: a callback still counts for it);
    # 79001115555 only on Sunday (pending: not on the list)
    insert_calls(
        con,
        [
            miss("fri", client="79001117777", started_at=T0 + 4 * DAY),
            miss("sun", client="79001117777", started_at=T0 + 6 * DAY),
            miss("fresh", client="79001115555", started_at=T0 + 6 * DAY),
            call("last", client="79001116666", started_at=T0 + 6 * DAY + 10 * MIN),
        ],
    )
    action = Reader(con, WEEK).action_list()
    windows = [[m["is_window_over"] for m in misses] for misses in action["missed"]]
    assert action.select("client", "status", "misses").rows() == [
        ("79001110002", "lost", 2),
        ("79001117777", "lost", 2),  # the Sunday miss is listed with the Friday one
    ]
    assert windows == [[True, True], [True, False]]  # Sunday's window is still open
    row = action.row(0, named=True)
    zone = reports.KpiSettings().zone
    assert row["first_missed_at"] == datetime(2024, 3, 4, 15, 0, tzinfo=zone)
    assert row["deadline_at"] == datetime(2024, 3, 5, 15, 0, tzinfo=zone)  # the first's W
    first = row["missed"][0]
    assert first["started_at"] == datetime(2024, 3, 4, 15, 0, tzinfo=zone)  # local, too
    assert first["diversion"] == "74950000002" and first["reason_ru"] == "не ответили"


def test_ratings_page(con: duckdb.DuckDBPyConnection) -> None:
    page = Reader(con, WEEK).ratings()
    assert page.distribution["calls"].to_list() == [0, 1, 0, 1, 1]
    employees = {r["user_login"]: r for r in page.employees.to_dicts()}
    ivanov = employees["ivanov"]
    assert ivanov["rated_calls"] == 2 and ivanov["csat_share"] == 0.5
    assert ivanov["csat_wilson_lower"] == pytest.approx(wilson_lower(con, 1, 2))
    assert ivanov["answered"] == 2 and ivanov["response_rate"] == 1.0
    assert not ivanov["is_ranked"] and ivanov["rating_rank"] is None  # sample below 10
    assert page.low["uid"].to_list() == ["a2"]
    assert page.low["record_url"].to_list() == ["https://rec.example/a2.mp3"]
    set_kpi(con, min_rating_sample=1)
    ranked = Reader(con, WEEK).employees()
    assert ranked["user_login"].to_list() == ["petrov", "ivanov"]  # 1/1 beats 1/2
    assert ranked["rating_rank"].to_list() == [1, 2]


def test_an_empty_period_has_zeros_not_errors(con: duckdb.DuckDBPyConnection) -> None:
    reader = Reader(con, Period.week("2030-W01"))
    now, before = reader.kpis()
    assert now["offered"] == 0 and now["answer_rate"] is None and before["offered"] == 0
    assert reader.daily()["offered"].sum() == 0
    assert reader.action_list().is_empty() and reader.employees().is_empty()
    assert reader.employee_table().is_empty()
    assert reader.meta().is_incomplete  # the period is after the data


def test_meta_cutoff_and_times_in_the_company_zone(con: duckdb.DuckDBPyConnection) -> None:
    now = datetime(2024, 3, 11, 5, 0, tzinfo=UTC)
    meta = Reader(con, WEEK, now=now).meta()
    assert meta.generated_at.isoformat() == "2024-03-11T08:00:00+03:00"
    assert meta.cutoff is not None
    assert meta.cutoff.isoformat() == "2024-03-05T12:00:00+03:00"  # a3, the latest call
    assert meta.is_incomplete  # Tuesday noon is not the end of Sunday
    set_kpi(con, tz="Asia/Yekaterinburg")
    assert Reader(con, WEEK).meta().cutoff.isoformat() == "2024-03-05T14:00:00+05:00"  # type: ignore[union-attr]


def test_no_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    settings = small.settings_for(tmp_path / "none.duckdb")
    with pytest.raises(errors.VatsError, match="no warehouse"), reports.open_read(settings):
        pass


def older_warehouse(tmp_path: Path) -> Settings:
    """A warehouse and its read copy as an older vats-etl left them: another digest of
    sql/, and a kpi_weekly without most of today's columns."""
    settings = small.settings_for(tmp_path / "vats.duckdb")
    with warehouse.connect(settings.db_path, company=warehouse.Company("Europe/Moscow")) as con:
        insert_calls(
            con,
            [
                miss("m1", client="79000000001", started_at=T0),
                miss("m2", client="79000000002", started_at=T0 + HOUR),
                call("a1", client="79000000003", started_at=T0 + 2 * DAY),  # the cut-off
            ],
        )
    warehouse.publish_read_copy(settings.db_path)
    for path in (settings.db_path, warehouse.read_copy_path(settings.db_path)):
        with duckdb.connect(str(path)) as old:  # as an older version left them
            old.execute("update schema_state set sql_digest = 'older'")
            old.execute("create or replace view kpi_weekly as select 1 as offered")
        assert not warehouse.schema_is_current(path)
    return settings


@pytest.mark.slow
def test_a_read_copy_of_an_older_version_is_upgraded_before_reading(tmp_path: Path) -> None:
    """An older vats-etl's read copy lacks what this one reads: a report must not show
    zeros for it (a missing KPI reads as 0), so the warehouse is upgraded and republished."""
    settings = older_warehouse(tmp_path)
    reports.prepare_read_copy(settings)
    with reports.open_read(settings) as con:
        kpis, _ = Reader(con, WEEK).kpis()
        columns = con.sql("select * from kpi_weekly").columns
    assert (kpis["lost"], kpis["unreached_contacts"]) == (2, 2)
    assert "unreached_contacts" in columns
    for path in (settings.db_path, warehouse.read_copy_path(settings.db_path)):
        assert warehouse.schema_is_current(path)
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        assert con.sql("select tz from kpi_settings").fetchall() == [("Europe/Moscow",)]


@pytest.mark.slow
def test_opening_for_reading_never_writes(tmp_path: Path) -> None:
    """open_read refuses what an older version left (it would read as zeros) and leaves
    both files as they were: upgrading is prepare_read_copy's job, and only its."""
    settings = older_warehouse(tmp_path)
    files = (settings.db_path, warehouse.read_copy_path(settings.db_path))
    before = [f.read_bytes() for f in files]
    with pytest.raises(errors.WarehouseError, match="older vats-etl"), reports.open_read(settings):
        pass
    assert [f.read_bytes() for f in files] == before
    assert not any(warehouse.schema_is_current(f) for f in files)
    # a current one is read as it is: preparing it writes nothing either
    reports.prepare_read_copy(settings)
    before = [f.read_bytes() for f in files]
    assert reports.prepare_read_copy(settings) == files[1]
    with reports.open_read(settings) as con:
        assert con.sql("select count(*) from calls").fetchall() == [(3,)]
    assert [f.read_bytes() for f in files] == before


def test_the_report_command_upgrades_an_older_warehouse_first(tmp_path: Path) -> None:
    settings = older_warehouse(tmp_path)
    code, out, err = small.cli(
        "--db", str(settings.db_path), "report", "--week", str(WEEK), "--out", str(tmp_path / "d")
    )
    assert code == 0, err
    assert "overview.html" in out
    for path in (settings.db_path, warehouse.read_copy_path(settings.db_path)):
        assert warehouse.schema_is_current(path)


# -- the same figures as the analyst layer's KPI views (emulated company) ---------------------


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small.build(tmp_path_factory.mktemp("reports")).db_path


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)  # type: ignore[arg-type]


@pytest.mark.slow
def test_figures_equal_kpi_weekly_and_kpi_daily(emulated: Path) -> None:
    """A department's headline figures are its in-hours row of kpi_weekly; the company's
    headline adds up the departments' in-hours rows; the segments table adds up to every
    call of the week (both hours, every department, "Без отдела" included)."""
    columns = [
        "offered", "short_abandons", "answered", "missed", "answer_rate", "service_level",
        "asa_s", "asa_p90_s", "talk_mean_s", "recovered_callback", "recovered_client",
        "not_called_back", "recovered_late", "lost", "pending", "callback_median_s",
        "callback_p90_s", "repeat_caller_share",
    ]  # fmt: skip
    counts = [
        "offered", "short_abandons", "answered", "missed", "recovered_callback",
        "recovered_client", "not_called_back", "recovered_late", "lost", "pending",
    ]  # fmt: skip
    week = Period.week("2024-W22")
    with duckdb.connect(str(warehouse.read_copy_path(emulated)), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        reader = Reader(con, week)
        in_hours = {
            r[0]: r[1:]
            for r in con.execute(
                f"select department, {', '.join(columns)} from kpi_weekly "
                "where week_start = ? and hours = 'in_hours' and not is_total",
                [week.first],
            ).fetchall()
        }
        departments = [d for d in in_hours if d != reports.NO_DEPARTMENT]
        assert len(departments) >= 2 and reports.NO_DEPARTMENT in in_hours
        for department in departments:
            mine = reader.for_department(department).kpis()[0]
            for column, expected in zip(columns, in_hours[department], strict=True):
                assert _close(mine[column], expected), (department, column, mine[column], expected)
        company = reader.kpis()[0]
        for column in counts:
            i = columns.index(column)
            assert company[column] == sum(in_hours[d][i] for d in departments), column

        whole = con.execute(
            f"select hours, {', '.join(counts)} from kpi_weekly where week_start = ? and is_total",
            [week.first],
        ).fetchall()
        segments = {r["segment"]: r for r in reader.segments().to_dicts()}
        for i, column in enumerate(counts, 1):
            assert segments["total"][column] == sum(r[i] for r in whole), column
            after = next(r[i] for r in whole if r[0] == "after_hours")
            assert segments["after_hours"][column] == after, column
            assert (
                segments["unrouted"][column]
                == in_hours[reports.NO_DEPARTMENT][columns.index(column)]
            ), column
            assert segments["in_hours"][column] == company[column], column
        assert segments["after_hours"]["offered"] > 0 and segments["unrouted"]["offered"] > 0

        daily = reader.daily()
        view_daily = con.execute(
            "select local_date, sum(offered) filter (where is_total), "
            "coalesce(sum(offered) filter (where not is_total and hours = 'in_hours' "
            f"and department <> '{reports.NO_DEPARTMENT}'), 0), "
            "coalesce(sum(missed) filter (where not is_total and hours = 'in_hours' "
            f"and department <> '{reports.NO_DEPARTMENT}'), 0) "
            "from kpi_daily where local_date between ? and ? group by all order by local_date",
            [week.first, week.last],
        ).fetchall()
        assert [
            (r["local_date"], r["offered"] + r["other"], r["offered"], r["missed"])
            for r in daily.to_dicts()
        ] == view_daily


def test_employee_table_agrees_with_rating_by_employee(emulated: Path) -> None:
    """Over all the data, the per-period table equals the view over all history."""
    whole = Period(small.FIRST - timedelta(days=7), small.LAST)
    with duckdb.connect(str(warehouse.read_copy_path(emulated)), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        mine = {r["user_login"]: r for r in Reader(con, whole).employees().to_dicts()}
        view = con.execute(
            "select user_login, rated_calls, csat_wilson_lower, is_ranked, rating_rank "
            "from rating_by_employee"
        ).fetchall()
    assert len(view) == len(mine) > 5
    for login, rated, lower, ranked, rank in view:
        assert mine[login]["rated_calls"] == rated
        assert _close(mine[login]["csat_wilson_lower"], lower)
        assert (mine[login]["is_ranked"], mine[login]["rating_rank"]) == (ranked, rank)
