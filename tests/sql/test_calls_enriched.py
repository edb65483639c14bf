"""calls_enriched: point-in-time employee and department, local buckets in kpi_settings.tz."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pytest

from tests.support.warehouse_rows import (
    DAY,
    T0,
    by_uid,
    call,
    callback,
    insert_calls,
    insert_versions,
    rows,
    set_kpi,
)

FIRST_SNAPSHOT = T0 - 7 * DAY
MOVED_AT = T0 + 2 * DAY  # Wednesday


def directory(con: duckdb.DuckDBPyConnection) -> None:
    """u1 works in sales, moves to support on Wednesday and is promoted on Tuesday."""
    insert_versions(
        con,
        "users_history",
        [
            {
                "user_login": "u1",
                "user_name": "Иванова Анна",
                "position": "Менеджер",
                "valid_from": FIRST_SNAPSHOT,
                "valid_to": T0 + DAY,
            },
            {
                "user_login": "u1",
                "user_name": "Иванова Анна",
                "position": "Старший менеджер",
                "valid_from": T0 + DAY,
            },
            {
                "user_login": "gone",
                "position": "Стажёр",
                "valid_from": FIRST_SNAPSHOT,
                "valid_to": T0 + DAY,
            },
        ],
    )
    insert_versions(
        con,
        "groups_history",
        [
            {"group_id": "sales", "group_name": "Продажи", "valid_from": FIRST_SNAPSHOT},
            {"group_id": "support", "group_name": "Поддержка", "valid_from": FIRST_SNAPSHOT},
        ],
    )
    insert_versions(
        con,
        "group_members_history",
        [
            {
                "group_id": "sales",
                "user_login": "u1",
                "valid_from": FIRST_SNAPSHOT,
                "valid_to": MOVED_AT,
            },
            {"group_id": "support", "user_login": "u1", "valid_from": MOVED_AT},
            {
                "group_id": "sales",
                "user_login": "gone",
                "valid_from": FIRST_SNAPSHOT,
                "valid_to": T0 + DAY,
            },
        ],
    )


def test_employee_moved_mid_week(con: duckdb.DuckDBPyConnection) -> None:
    directory(con)
    insert_calls(
        con,
        [
            callback("mon-out", user_login="u1", started_at=T0),
            callback("thu-out", user_login="u1", started_at=T0 + 3 * DAY),
            call("thu-in", user_login="u1", group_name="Продажи", started_at=T0 + 3 * DAY),
        ],
    )
    got = by_uid(con, "calls_enriched", "user_department", "department", "week_start")
    assert got == {
        "mon-out": {
            "user_department": "Продажи",
            "department": "Продажи",
            "week_start": date(2024, 3, 4),
        },
        "thu-in": {
            "user_department": "Поддержка",
            "department": "Продажи",  # call's group wins
            "week_start": date(2024, 3, 4),
        },
        "thu-out": {
            "user_department": "Поддержка",
            "department": "Поддержка",
            "week_start": date(2024, 3, 4),
        },
    }
    weekly = rows(con, "select user_department, outbound_calls from kpi_by_employee_weekly")
    assert weekly == [{"user_department": "Поддержка", "outbound_calls": 2}]


def test_attributes_valid_at_call_time(con: duckdb.DuckDBPyConnection) -> None:
    directory(con)
    insert_calls(
        con,
        [
            callback("before-snapshots", user_login="u1", started_at=T0 - 30 * DAY),
            callback("monday", user_login="u1", started_at=T0),
            callback("wednesday", user_login="u1", started_at=T0 + 2 * DAY),
            callback("gone-mon", user_login="gone", started_at=T0),
            callback("gone-wed", user_login="gone", started_at=T0 + 2 * DAY),
            callback("nobody", user_login=None, started_at=T0),
        ],
    )
    got = by_uid(con, "calls_enriched", "user_position", "user_name", "department")
    assert got == {
        # history older than the first snapshot gets the first version known
        "before-snapshots": {
            "user_position": "Менеджер",
            "user_name": "Иванова Анна",
            "department": "Продажи",
        },
        "monday": {
            "user_position": "Менеджер",
            "user_name": "Иванова Анна",
            "department": "Продажи",
        },
        "wednesday": {
            "user_position": "Старший менеджер",
            "user_name": "Иванова Анна",
            "department": "Поддержка",
        },
        "gone-mon": {"user_position": "Стажёр", "user_name": None, "department": "Продажи"},
        # deleted on Tuesday: no version, no department
        "gone-wed": {"user_position": None, "user_name": None, "department": "Без отдела"},
        "nobody": {"user_position": None, "user_name": None, "department": "Без отдела"},
    }


def test_a_call_without_history_gets_current_attributes(con: duckdb.DuckDBPyConnection) -> None:
    directory(con)
    insert_calls(
        con,
        [
            call(
                "webhook",
                direction=None,
                status=None,
                started_at=None,
                user_login="u1",
                group_name=None,
                rating=5,
                source="webhook",
            )
        ],
    )
    got = by_uid(con, "calls_enriched", "user_position", "department", "local_date")
    assert got == {
        "webhook": {
            "user_position": "Старший менеджер",
            "department": "Поддержка",
            "local_date": None,
        }
    }


@pytest.mark.parametrize(
    ("tz", "started_at", "local_date", "hour", "weekday", "week_start"),
    [
        # Monday 22:30 UTC: already Tuesday 01:30 in Moscow, still Monday 23:30 in Berlin
        (
            "Europe/Moscow",
            datetime(2024, 3, 4, 22, 30, tzinfo=UTC),
            date(2024, 3, 5),
            1,
            2,
            date(2024, 3, 4),
        ),
        (
            "Europe/Berlin",
            datetime(2024, 3, 4, 22, 30, tzinfo=UTC),
            date(2024, 3, 4),
            23,
            1,
            date(2024, 3, 4),
        ),
        # Sunday 22:30 UTC: next week in Moscow, the same week in Berlin
        (
            "Europe/Moscow",
            datetime(2024, 3, 10, 22, 30, tzinfo=UTC),
            date(2024, 3, 11),
            1,
            1,
            date(2024, 3, 11),
        ),
        (
            "Europe/Berlin",
            datetime(2024, 3, 10, 22, 30, tzinfo=UTC),
            date(2024, 3, 10),
            23,
            7,
            date(2024, 3, 4),
        ),
        # summer time in Berlin (UTC+2); Moscow stays UTC+3
        (
            "Europe/Berlin",
            datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
            date(2024, 7, 1),
            12,
            1,
            date(2024, 7, 1),
        ),
        (
            "Europe/Moscow",
            datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
            date(2024, 7, 1),
            13,
            1,
            date(2024, 7, 1),
        ),
    ],
)
def test_local_buckets(
    con: duckdb.DuckDBPyConnection,
    tz: str,
    started_at: datetime,
    local_date: date,
    hour: int,
    weekday: int,
    week_start: date,
) -> None:
    set_kpi(con, tz=tz)
    insert_calls(con, [call("c1", started_at=started_at)])
    got = by_uid(con, "calls_enriched", "local_date", "local_hour", "weekday", "week_start")
    assert got["c1"] == {
        "local_date": local_date,
        "local_hour": hour,
        "weekday": weekday,
        "week_start": week_start,
    }
    heat = rows(con, "select weekday, local_hour, offered from kpi_heatmap where is_total")
    assert heat == [{"weekday": weekday, "local_hour": hour, "offered": 1}]
    daily = rows(con, "select local_date, offered from kpi_daily where is_total")
    assert daily == [{"local_date": local_date, "offered": 1}]
