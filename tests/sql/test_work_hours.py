"""inbound_calls.hours: the PBX's verdict first, then holidays, then the department's own
working hours or the company's (kpi_settings), at the edges of the day; nothing disappears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from tests.support.warehouse_rows import call, insert_calls, insert_versions, miss, rows, set_kpi

SECOND = timedelta(seconds=1)


def msk(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """Local time in Moscow (UTC+3) on March `day`, 2024 (the 4th is a Monday)."""
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=3)


def hours(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {r["uid"]: r["hours"] for r in rows(con, "select uid, hours from inbound_calls")}


def test_the_default_day_is_monday_to_friday_nine_to_six(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("before", started_at=msk(4, 8, 59, 59)),
            call("opens", started_at=msk(4, 9)),
            call("last-second", started_at=msk(4, 17, 59, 59)),
            call("closes", started_at=msk(4, 18)),
            call("friday", started_at=msk(8, 12)),
            call("saturday", started_at=msk(9, 12)),
            call("sunday", started_at=msk(10, 12)),
        ],
    )
    assert hours(con) == {
        "before": "after_hours",
        "opens": "in_hours",
        "last-second": "in_hours",
        "closes": "after_hours",
        "friday": "in_hours",
        "saturday": "after_hours",
        "sunday": "after_hours",
    }


def test_the_pbx_verdict_comes_first(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("offtime", destination="offtime", started_at=msk(4, 12)),
            call("duty", destination="onduty", started_at=msk(4, 12, 5)),
            miss("ivr", destination="ivr", started_at=msk(4, 12, 10), group_name=None),
        ],
    )
    assert hours(con) == {"offtime": "after_hours", "duty": "after_hours", "ivr": "in_hours"}


def test_the_schedule_follows_kpi_settings_and_its_zone(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [call("sat", started_at=msk(9, 10)), call("late", started_at=msk(4, 19))])
    assert hours(con) == {"sat": "after_hours", "late": "after_hours"}
    set_kpi(con, work_days=[1, 2, 3, 4, 5, 6], work_end="20:00")
    assert hours(con) == {"sat": "in_hours", "late": "in_hours"}
    set_kpi(con, tz="Asia/Yekaterinburg")  # 19:00 in Moscow is 21:00 there
    assert hours(con)["late"] == "after_hours"


def test_holidays_for_everyone_and_for_one_department(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("sales", started_at=msk(5, 12), group_name="Продажи"),
            call("support", started_at=msk(5, 12, 1), group_name="Поддержка"),
            call("next-day", started_at=msk(6, 12), group_name="Продажи"),
        ],
    )
    con.execute("insert into holidays values ('2024-03-05', 'Продажи', 'учёба')")
    assert hours(con) == {"sales": "after_hours", "support": "in_hours", "next-day": "in_hours"}
    con.execute("insert into holidays values ('2024-03-05', null, 'праздник')")
    con.execute("insert into holidays values ('2024-03-05', null, 'дубль')")  # no double rows
    assert hours(con) == {"sales": "after_hours", "support": "after_hours", "next-day": "in_hours"}


def test_a_department_with_its_own_hours_follows_only_them(
    con: duckdb.DuckDBPyConnection,
) -> None:
    insert_calls(
        con,
        [
            call("sup-sat", started_at=msk(9, 11), group_name="Поддержка"),
            call("sup-sat-late", started_at=msk(9, 16), group_name="Поддержка"),
            call("sup-mon", started_at=msk(4, 12), group_name="Поддержка"),
            call("sales-sat", started_at=msk(9, 11), group_name="Продажи"),
        ],
    )
    con.execute("insert into department_hours values ('Поддержка', 6, '10:00', '16:00')")
    assert hours(con) == {
        "sup-sat": "in_hours",
        "sup-sat-late": "after_hours",  # 16:00 is the end, excluded
        "sup-mon": "after_hours",  # no Monday row: its day off
        "sales-sat": "after_hours",  # everyone else: Monday to Friday
    }
    con.execute("insert into department_hours values ('Поддержка', 1, '00:00', '24:00')")
    assert hours(con)["sup-mon"] == "in_hours"
    with pytest.raises(duckdb.ConstraintException):
        con.execute("insert into department_hours values ('Продажи', 2, '18:00', '09:00')")


def test_a_department_s_own_day_starts_and_ends_on_the_second(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Its start is included and its end excluded, as for the company's day: Saturday
    10:00–16:00 local, and the company's 09:00 does not open it earlier."""
    con.execute("insert into department_hours values ('Поддержка', 6, '10:00', '16:00')")
    insert_calls(
        con,
        [
            call("before", started_at=msk(9, 9, 59, 59), group_name="Поддержка"),
            call("opens", started_at=msk(9, 10), group_name="Поддержка"),
            call("last-second", started_at=msk(9, 15, 59, 59), group_name="Поддержка"),
            call("closes", started_at=msk(9, 16), group_name="Поддержка"),
        ],
    )
    assert hours(con) == {
        "before": "after_hours",
        "opens": "in_hours",
        "last-second": "in_hours",
        "closes": "after_hours",
    }


def test_a_department_holiday_reaches_a_call_through_the_employee(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A call without a group_name counts for the department of the employee who took it,
    as of the call (calls_enriched.department): that department's day off is theirs too.
    u1 works in sales until Wednesday, then in support; sales is off Tuesday and Thursday."""
    since = msk(1, 0)
    insert_versions(
        con,
        "groups_history",
        [
            {"group_id": "sales", "group_name": "Продажи", "valid_from": since},
            {"group_id": "support", "group_name": "Поддержка", "valid_from": since},
        ],
    )
    insert_versions(
        con,
        "group_members_history",
        [
            {"group_id": "sales", "user_login": "u1", "valid_from": since, "valid_to": msk(6, 0)},
            {"group_id": "support", "user_login": "u1", "valid_from": msk(6, 0)},
        ],
    )
    con.execute("insert into holidays values ('2024-03-05', 'Продажи', 'учёба')")
    con.execute("insert into holidays values ('2024-03-07', 'Продажи', 'учёба')")
    insert_calls(
        con,
        [
            call("tue-u1", started_at=msk(5, 12), group_name=None, user_login="u1"),
            call("thu-u1", started_at=msk(7, 12), group_name=None, user_login="u1"),
            call("tue-nobody", started_at=msk(5, 12, 5), group_name=None, client="79000000002"),
        ],
    )
    assert hours(con) == {
        "tue-u1": "after_hours",  # in sales on Tuesday: sales' day off
        "thu-u1": "in_hours",  # in support by Thursday: sales' day off is not theirs
        "tue-nobody": "in_hours",  # no department at all: only company holidays apply
    }


def test_nothing_disappears(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("in", started_at=msk(4, 12)),
            miss("night", started_at=msk(4, 23), client="79000000002"),
            miss("off", started_at=msk(5, 12), destination="offtime", client="79000000003"),
            call("weekend", started_at=msk(9, 12), client="79000000004", group_name=None),
        ],
    )
    weekly = rows(
        con,
        "select hours, offered, missed from kpi_weekly where is_total order by hours",
    )
    assert weekly == [
        {"hours": "after_hours", "offered": 3, "missed": 2},
        {"hours": "in_hours", "offered": 1, "missed": 0},
    ]
    everything = rows(con, "select count(*) as n from inbound_calls")[0]["n"]
    assert sum(r["offered"] for r in weekly) == everything == 4
    heat = rows(con, "select sum(offered) as n from kpi_heatmap where is_total")[0]["n"]
    daily = rows(con, "select sum(offered) as n from kpi_daily where not is_total")[0]["n"]
    number = rows(con, "select sum(offered) as n from kpi_by_number_weekly")[0]["n"]
    assert heat == daily == number == 4
