"""employee_names: employees named from the directory, else from their calls' own user_name
(people who left before the first snapshot) — what the reports show instead of a login —
and data_quality's list of logins the directory does not know."""

from __future__ import annotations

from datetime import date

import duckdb

from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    MIN,
    T0,
    call,
    callback,
    insert_calls,
    insert_versions,
    miss,
)
from tests.support.warehouse_rows import rows as query
from vats_etl.reports import Period, Reader


def load(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("a1", client="79000000001", user_login="ivanov", user_name=None),
            # Makarov left before the directory was first read: only his calls name him
            call("a2", client="79000000002", user_login="makarov", user_name="Макаров Юрий"),
            call(
                "a3",
                client="79000000003",
                user_login="makarov",
                user_name=None,
                started_at=T0 + DAY,
            ),
            miss("m1", client="79000000004", started_at=T0 + HOUR),
            callback(
                "cb",
                client="79000000004",
                user_login="makarov",
                user_name="Макаров Юрий",
                started_at=T0 + 3 * HOUR,
            ),
            call(
                "a4",
                client="79000000005",
                user_login="ghost",
                user_name=None,
                started_at=T0 + 2 * MIN,
            ),
        ],
    )
    insert_versions(
        con,
        "users_history",
        [{"user_login": "ivanov", "user_name": "Иванов Иван", "valid_from": T0 - 30 * DAY}],
    )


def test_names_from_the_directory_else_from_the_calls(con: duckdb.DuckDBPyConnection) -> None:
    load(con)
    assert query(
        con,
        "select user_login, user_name, name_source, is_in_directory, is_current, calls "
        "from employee_names order by user_login",
    ) == [
        {"user_login": "ghost", "user_name": "ghost", "name_source": "login",
         "is_in_directory": False, "is_current": False, "calls": 1},
        {"user_login": "ivanov", "user_name": "Иванов Иван", "name_source": "directory",
         "is_in_directory": True, "is_current": True, "calls": 1},
        {"user_login": "makarov", "user_name": "Макаров Юрий", "name_source": "calls",
         "is_in_directory": False, "is_current": False, "calls": 3},
    ]  # fmt: skip


def test_the_reports_name_people_who_left(con: duckdb.DuckDBPyConnection) -> None:
    load(con)
    reader = Reader(con, Period.week("2024-W10"))
    late = reader.late_callbacks(3600)
    assert late.select("recovered_by_login", "recovered_by_name").rows() == [
        ("makarov", "Макаров Юрий")
    ]  # not the login
    table = {r["user_login"]: r["user_name"] for r in reader.employee_table().to_dicts()}
    assert table == {"ivanov": "Иванов Иван", "makarov": "Макаров Юрий", "ghost": "ghost"}


def test_data_quality_lists_logins_unknown_to_the_directory(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con)
    assert query(
        con,
        "select local_date, kind, source, detail, rows, example from data_quality "
        "where issue = 'unknown_login' order by detail",
    ) == [
        {"local_date": date(2024, 3, 4), "kind": "external", "source": "api_json",
         "detail": "ghost", "rows": 1, "example": "a4"},
        {"local_date": date(2024, 3, 5), "kind": "external", "source": "api_json",
         "detail": "makarov", "rows": 3, "example": "Макаров Юрий"},
    ]  # fmt: skip


def test_without_any_snapshot_no_login_is_called_unknown(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [call("a1", user_login="ivanov")])
    assert query(con, "select * from data_quality where issue = 'unknown_login'") == []
