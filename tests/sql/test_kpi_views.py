"""KPI views: the definitions of docs/metrics.md on a small day, by department, number and
employee."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    MIN,
    T0,
    call,
    callback,
    insert_calls,
    miss,
    rows,
)

SALES, SUPPORT = "Продажи", "Поддержка"


def day_of_calls() -> list[dict[str, object]]:
    """Sales: 6 answered (waits 5..30 s), 1 short abandon, a miss called back, a miss whose
    client calls again and is answered (by support). Support: that answer and a miss never
    recovered. Two numbers dialled."""
    answered = [
        call(
            f"a{i}",
            client=f"7900000000{i}",
            wait_s=5 * (i + 1),
            duration_s=60 * (i + 1),
            user_login="u1",
            started_at=T0 + i * MIN,
            rating=[5, 4, 1, None, None, None][i],
        )
        for i in range(6)
    ]
    return [
        *answered,
        miss("short", client="79000000010", status="cancel", wait_s=2),
        miss("m-cb", client="79000000011", diversion="74950000002"),
        callback("cb", client="79000000011", started_at=T0 + 30 * MIN, user_login="u2"),
        miss("m-again", client="79000000012", started_at=T0 + 2 * HOUR),
        # the client's second call is answered by support: also an offered, answered call
        call(
            "again",
            client="79000000012",
            started_at=T0 + 3 * HOUR,
            group_name=SUPPORT,
            wait_s=40,
            duration_s=100,
        ),
        miss("m-lost", client="79000000013", group_name=SUPPORT),
    ]


@pytest.fixture
def loaded(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    insert_calls(con, day_of_calls())
    return con


def test_kpi_daily(loaded: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        loaded,
        "select department, hours, is_total, offered, short_abandons, answered, missed, "
        "answer_rate, service_level, asa_s, asa_p90_s, talk_mean_s, talk_median_s, "
        "recovered_callback, recovered_client, not_called_back, recovered_late, lost, pending, "
        "callback_median_s, callback_p90_s, lost_contacts, rated_calls, rating_mean, csat_share "
        "from kpi_daily order by is_total, department",
    )
    sales = {
        "department": SALES,
        "hours": "in_hours",  # Monday 12:00-15:00 Moscow: within the default 09:00-18:00
        "is_total": False,
        "offered": 9,
        "short_abandons": 1,
        "answered": 6,
        "missed": 2,
        "answer_rate": pytest.approx(6 / 8),
        "service_level": pytest.approx(4 / 8),  # waits 5, 10, 15, 20 <= N = 20
        "asa_s": pytest.approx(17.5),
        "asa_p90_s": pytest.approx(27.5),  # linear interpolation between 25 and 30
        "talk_mean_s": pytest.approx(210.0),
        "talk_median_s": pytest.approx(210.0),
        "recovered_callback": 1,
        "recovered_client": 1,
        "not_called_back": 0,
        "recovered_late": 0,
        "lost": 0,
        "pending": 0,
        "callback_median_s": pytest.approx(1800.0),
        "callback_p90_s": pytest.approx(1800.0),
        "lost_contacts": 2,
        "rated_calls": 3,
        "rating_mean": pytest.approx(10 / 3),  # not rated is never a score
        "csat_share": pytest.approx(2 / 3),
    }
    support = {
        **sales,
        "department": SUPPORT,
        "offered": 2,
        "short_abandons": 0,
        "answered": 1,
        "missed": 1,
        "answer_rate": 0.5,
        "service_level": 0.0,
        "asa_s": 40.0,
        "asa_p90_s": 40.0,
        "talk_mean_s": 100.0,
        "talk_median_s": 100.0,
        "recovered_callback": 0,
        "recovered_client": 0,
        # the data ends 3 h after m-lost: its W is still open, so it is pending, not lost
        "not_called_back": 0,
        "pending": 1,
        "callback_median_s": None,
        "callback_p90_s": None,
        "lost_contacts": 1,
        "rated_calls": 0,
        "rating_mean": None,
        "csat_share": None,
    }
    total = {
        **sales,
        "department": None,
        "is_total": True,
        "offered": 11,
        "answered": 7,
        "missed": 3,
        "answer_rate": pytest.approx(7 / 10),
        "service_level": pytest.approx(4 / 10),
        "asa_s": pytest.approx(145 / 7),
        "asa_p90_s": pytest.approx(34.0),
        "talk_mean_s": pytest.approx(1360 / 7),
        "talk_median_s": pytest.approx(180.0),
        "not_called_back": 0,
        "pending": 1,
        "lost_contacts": 3,
    }
    assert got == [support, sales, total]


def test_kpi_weekly_matches_daily_for_one_day(loaded: duckdb.DuckDBPyConnection) -> None:
    daily = rows(loaded, "select * exclude (local_date) from kpi_daily order by all")
    weekly = rows(loaded, "select * exclude (week_start) from kpi_weekly order by all")
    assert daily == weekly
    assert rows(loaded, "select distinct week_start from kpi_weekly") == [
        {"week_start": date(2024, 3, 4)}
    ]


def test_kpi_by_number_weekly(loaded: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        loaded,
        "select diversion, offered, missed, recovered_callback from kpi_by_number_weekly "
        "order by diversion",
    )
    assert got == [
        {"diversion": "74950000001", "offered": 10, "missed": 2, "recovered_callback": 0},
        {"diversion": "74950000002", "offered": 1, "missed": 1, "recovered_callback": 1},
    ]


def test_kpi_by_employee_weekly(loaded: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        loaded,
        "select user_login, offered, answered, rated_calls, outbound_calls, outbound_connected, "
        "callbacks_made from kpi_by_employee_weekly order by user_login",
    )
    assert got == [
        {
            "user_login": "u1",
            "offered": 6,
            "answered": 6,
            "rated_calls": 3,
            "outbound_calls": 0,
            "outbound_connected": 0,
            "callbacks_made": 0,
        },
        {
            "user_login": "u2",
            "offered": 0,
            "answered": 0,
            "rated_calls": 0,
            "outbound_calls": 1,
            "outbound_connected": 1,
            "callbacks_made": 1,
        },
    ]


def test_kpi_heatmap_cells(loaded: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        loaded,
        "select department, weekday, local_hour, offered from kpi_heatmap "
        "order by is_total, department, local_hour",
    )
    # T0 is 12:00 Moscow; one client calls at 14:00 and again at 15:00
    assert got == [
        {"department": SUPPORT, "weekday": 1, "local_hour": 12, "offered": 1},
        {"department": SUPPORT, "weekday": 1, "local_hour": 15, "offered": 1},
        {"department": SALES, "weekday": 1, "local_hour": 12, "offered": 8},
        {"department": SALES, "weekday": 1, "local_hour": 14, "offered": 1},
        {"department": None, "weekday": 1, "local_hour": 12, "offered": 9},
        {"department": None, "weekday": 1, "local_hour": 14, "offered": 1},
        {"department": None, "weekday": 1, "local_hour": 15, "offered": 1},
    ]


def test_repeat_callers_within_seven_days(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("a1", client="1"),
            call("a2", client="1", started_at=T0 + 7 * DAY),  # exactly 7 days: repeat
            call("b1", client="2"),
            call("b2", client="2", started_at=T0 + 7 * DAY + MIN),  # just over: not
            call("c1", client="3"),
            callback("c-out", client="3", started_at=T0 + HOUR),  # outbound does not count
        ],
    )
    got = rows(con, "select uid, is_repeat_caller from inbound_calls order by uid")
    assert {r["uid"]: r["is_repeat_caller"] for r in got} == {
        "a1": True,
        "a2": True,
        "b1": False,
        "b2": False,
        "c1": False,
    }
    shares = rows(
        con, "select week_start, repeat_caller_share from kpi_weekly where is_total order by 1"
    )
    assert [s["repeat_caller_share"] for s in shares] == [pytest.approx(1 / 3), 0.5]


def test_the_headline_rows_are_what_the_tiles_count(loaded: duckdb.DuckDBPyConnection) -> None:
    """is_headline picks the rows the tiles show: a department's working-hours row, and for
    every department the total row of the in_hours segment — without the calls in working
    hours that reached no department (unrouted) and those after hours, whose total rows are
    their own. The total rows still add up to every call."""
    insert_calls(
        loaded,
        [
            # in working hours, no department: an IVR hang-up
            miss("ivr", client="79000000020", group_name=None, destination="ivr"),
            # after hours (Monday 20:00 in Moscow)
            miss("night", client="79000000021", started_at=T0 + 8 * HOUR),
        ],
    )
    for view in ("kpi_daily", "kpi_weekly"):
        found = rows(
            loaded,
            f"select department, hours, segment, is_total, is_headline, offered, missed "
            f"from {view} order by is_total, is_headline desc, department, segment",
        )
        assert found == [
            {"department": SUPPORT, "hours": "in_hours", "segment": "in_hours",
             "is_total": False, "is_headline": True, "offered": 2, "missed": 1},
            {"department": SALES, "hours": "in_hours", "segment": "in_hours",
             "is_total": False, "is_headline": True, "offered": 9, "missed": 2},
            {"department": "Без отдела", "hours": "in_hours", "segment": "unrouted",
             "is_total": False, "is_headline": False, "offered": 1, "missed": 1},
            {"department": SALES, "hours": "after_hours", "segment": "after_hours",
             "is_total": False, "is_headline": False, "offered": 1, "missed": 1},
            # the tiles of every department: the headline total, unrouted calls left out
            {"department": None, "hours": "in_hours", "segment": "in_hours",
             "is_total": True, "is_headline": True, "offered": 11, "missed": 3},
            {"department": None, "hours": "after_hours", "segment": "after_hours",
             "is_total": True, "is_headline": False, "offered": 1, "missed": 1},
            {"department": None, "hours": "in_hours", "segment": "unrouted",
             "is_total": True, "is_headline": False, "offered": 1, "missed": 1},
        ], view  # fmt: skip
    heat = rows(
        loaded,
        "select sum(offered) as offered from kpi_heatmap where is_total and is_headline",
    )
    numbers = rows(
        loaded, "select sum(offered) as offered from kpi_by_number_weekly where is_headline"
    )
    assert heat == numbers == [{"offered": 11}]
