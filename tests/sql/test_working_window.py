"""kpi_settings.recovery_window_basis = 'working': W counts only the working hours of the
miss's department and skips holidays — at the end of a day, over a weekend, over a holiday,
for a department with hours of its own — and every view and the outcome cache follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from tests.support.warehouse_rows import (
    HOUR,
    by_uid,
    call,
    callback,
    insert_calls,
    miss,
    rows,
    set_kpi,
)
from vats_etl import warehouse

SECOND = timedelta(seconds=1)


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    """A local time in Moscow in March 2024 (Friday 8th, Saturday 9th, Monday 11th), as UTC."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC) - 3 * HOUR


def working(con: duckdb.DuckDBPyConnection, hours: int) -> None:
    set_kpi(con, recovery_window_s=hours * 3600, recovery_window_basis="working")


def deadlines(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    found = by_uid(con, "missed_calls", "recovery_deadline_at")
    return {uid: r["recovery_deadline_at"] for uid, r in found.items()}


def test_friday_evening_with_four_working_hours_is_due_on_monday_at_half_past_twelve(
    con: duckdb.DuckDBPyConnection,
) -> None:
    working(con, 4)
    insert_calls(
        con,
        [
            miss("fri", client="79000000001", started_at=msk(8, 17, 30)),
            # out of hours: the clock starts when work does
            miss("fri-night", client="79000000002", started_at=msk(8, 23)),
            miss("sat", client="79000000003", started_at=msk(9, 11)),
            miss("mon-early", client="79000000004", started_at=msk(11, 3)),
            miss("mon", client="79000000005", started_at=msk(11, 10)),
        ],
    )
    assert deadlines(con) == {
        "fri": msk(11, 12, 30),  # 30 min on Friday, 3 h 30 min on Monday
        "fri-night": msk(11, 13),
        "sat": msk(11, 13),
        "mon-early": msk(11, 13),
        "mon": msk(11, 14),
    }
    set_kpi(con, recovery_window_basis="calendar")  # the default: clock time
    assert deadlines(con)["fri"] == msk(8, 21, 30)


def test_the_end_of_a_working_day_and_the_end_of_w_included(
    con: duckdb.DuckDBPyConnection,
) -> None:
    working(con, 3)
    insert_calls(
        con,
        [
            # Monday 16:00 + 3 working hours: 2 h on Monday, 1 h on Tuesday -> Tuesday 10:00
            miss("in-time", client="79000000001", started_at=msk(11, 16)),
            callback("cb-at-w", client="79000000001", started_at=msk(12, 10)),
            miss("late", client="79000000002", started_at=msk(11, 16)),
            callback("cb-after-w", client="79000000002", started_at=msk(12, 10) + SECOND),
            # Monday 15:00 + 3 h ends on the day's last second of work (18:00), not at 09:00
            miss("to-six", client="79000000003", started_at=msk(11, 15)),
            call("last", client="79000000099", started_at=msk(13, 12)),
        ],
    )
    found = by_uid(con, "missed_calls", "recovery_deadline_at", "recovery", "outcome")
    assert found["in-time"] == {
        "recovery_deadline_at": msk(12, 10),
        "recovery": "callback",
        "outcome": "recovered",
    }
    assert found["late"]["recovery"] is None and found["late"]["outcome"] == "recovered_late"
    assert found["to-six"]["recovery_deadline_at"] == msk(11, 18)


def test_holidays_are_skipped_the_department_s_own_only_for_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    working(con, 4)
    con.execute(
        "insert into holidays values (date '2024-03-11', null, 'весь отдел отдыхает'), "
        "(date '2024-03-12', 'Продажи', 'выездной день продаж')"
    )
    insert_calls(
        con,
        [
            miss("sales", client="79000000001", started_at=msk(8, 17, 30)),
            miss(
                "support", client="79000000002", started_at=msk(8, 17, 30), group_name="Поддержка"
            ),
        ],
    )
    assert deadlines(con) == {
        "sales": msk(13, 12, 30),  # Monday is everyone's holiday, Tuesday Sales' own
        "support": msk(12, 12, 30),  # Monday only
    }


def test_a_department_with_hours_of_its_own(con: duckdb.DuckDBPyConnection) -> None:
    working(con, 4)
    # Support works Monday to Saturday, 10:00-16:00
    con.execute(
        "insert into department_hours select 'Поддержка', d, time '10:00', time '16:00' "
        "from range(1, 7) as t(d)"
    )
    insert_calls(
        con,
        [
            miss("support", client="79000000001", started_at=msk(8, 15), group_name="Поддержка"),
            miss("sales", client="79000000002", started_at=msk(8, 15)),
        ],
    )
    assert deadlines(con) == {
        "support": msk(9, 13),  # 1 h on Friday, 3 h on Saturday
        "sales": msk(11, 10),  # 3 h on Friday, 1 h on Monday
    }


def test_without_any_working_time_w_counts_calendar_time(
    con: duckdb.DuckDBPyConnection,
) -> None:
    working(con, 4)
    set_kpi(con, work_days=[])
    insert_calls(con, [miss("m", started_at=msk(8, 17, 30))])
    assert deadlines(con) == {"m": msk(8, 21, 30)}


def test_pending_and_lost_follow_the_working_window(con: duckdb.DuckDBPyConnection) -> None:
    """Friday 17:30, W = 4 working hours: still pending on Monday morning, lost after 12:30 —
    the Monday 08:00 email does not flag Friday's misses by construction."""
    working(con, 4)
    insert_calls(
        con,
        [
            miss("fri", started_at=msk(8, 17, 30)),
            call("monday-morning", client="79000000099", started_at=msk(11, 8)),
        ],
    )
    assert by_uid(con, "missed_calls", "outcome") == {"fri": {"outcome": "pending"}}
    assert rows(con, "select status from callback_worklist") == [{"status": "pending"}]
    insert_calls(con, [call("monday-noon", client="79000000098", started_at=msk(11, 12, 31))])
    assert by_uid(con, "missed_calls", "outcome") == {"fri": {"outcome": "lost"}}


@pytest.mark.parametrize("change", ["holiday", "hours", "basis"])
def test_the_cache_is_used_only_for_the_schedule_it_was_computed_with(change: str) -> None:
    """The outcome cache remembers the basis and, in working time, what the ends of W were
    computed from: a holiday or a schedule added later makes the view compute live (never a
    stale window) until the next refresh recomputes it in full."""
    from tests.support.warehouse_rows import fresh

    con = fresh()
    working(con, 4)
    insert_calls(
        con,
        [
            miss("fri", started_at=msk(8, 17, 30)),
            callback("cb", started_at=msk(11, 12), duration_s=30),
            call("last", client="79000000099", started_at=msk(13, 12)),
        ],
    )
    assert warehouse.refresh_outcomes_cache(con) == "full"
    cached = con.sql("select * from inbound_outcomes order by uid").fetchall()
    if change == "holiday":
        con.execute("insert into holidays values (date '2024-03-11', null, 'праздник')")
    elif change == "hours":
        con.execute(  # Sales closes at 17:00: the Friday miss is out of its hours
            "insert into department_hours select 'Продажи', d, time '09:00', time '17:00' "
            "from range(1, 6) as t(d)"
        )
    else:
        set_kpi(con, recovery_window_basis="calendar")
    live = con.sql("select * from inbound_outcomes order by uid").fetchall()
    assert live != cached  # the window moved: the cache must not be served
    assert (
        by_uid(con, "missed_calls", "recovery_deadline_at")["fri"]["recovery_deadline_at"]
        == {"holiday": msk(12, 12, 30), "hours": msk(11, 13), "basis": msk(8, 21, 30)}[change]
    )
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert con.sql("select * from inbound_outcomes order by uid").fetchall() == live
    assert warehouse.refresh_outcomes_cache(con) is None  # current now
