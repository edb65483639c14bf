"""missed_by_employee: who did not pick up, from the PBX's event webhooks (INCOMING for the
call id and the employee, no ACCEPTED of theirs); and the per-employee table of the missed
page, which must agree with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from tests.support.warehouse_rows import (
    HOUR,
    LOADED_AT,
    MIN,
    T0,
    by_uid,
    call,
    callback,
    insert_calls,
    miss,
)
from vats_etl.reports import Period, Reader

WEEK = Period.week("2024-W10")


def events(con: duckdb.DuckDBPyConnection, *rows: tuple[str, str, str | None]) -> None:
    """(callid, type, user_login) rows of webhook_events; other columns as a receiver fills them."""
    for n, (callid, kind, login) in enumerate(rows):
        con.execute(
            "insert into webhook_events (event_hash, callid, type, direction, client, user_login, "
            "received_at, loaded_at) values (?, ?, ?, 'in', '79001112233', ?, ?, ?)",
            [f"h{n}", callid, kind, login, T0 + n * timedelta(seconds=1), LOADED_AT],
        )


def calls(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("rang-two", client="79000000001"),  # both phones rang, nobody answered
            call("answered", client="79000000002", user_login="u2", started_at=T0 + MIN),
            miss("accepted-then-lost", client="79000000003", started_at=T0 + 2 * MIN),
            miss("no-events", client="79000000004", started_at=T0 + 3 * MIN),
            callback("cb", client="79000000001", user_login="u1", started_at=T0 + HOUR),
        ],
    )
    con.execute(
        "insert into users_history (user_login, user_name, attr_hash, valid_from, is_current) "
        "values ('u1', 'Иванов', 'h', ?, true), ('u2', 'Петрова', 'h', ?, true)",
        [T0 - timedelta(days=30), T0 - timedelta(days=30)],
    )


def test_employees_whose_phone_rang_on_a_miss(con: duckdb.DuckDBPyConnection) -> None:
    calls(con)
    events(
        con,
        ("rang-two", "INCOMING", "u1"),
        ("rang-two", "incoming", "u2"),  # the type's case varies in the wild
        ("rang-two", "INCOMING", "u1"),  # a re-delivery counts once
        ("rang-two", "CANCELLED", "u1"),
        ("answered", "INCOMING", "u1"),
        ("answered", "INCOMING", "u2"),
        ("answered", "ACCEPTED", "u2"),
        ("accepted-then-lost", "INCOMING", "u1"),
        ("accepted-then-lost", "ACCEPTED", "u1"),  # their own answer: not theirs to miss
        ("accepted-then-lost", "INCOMING", "u2"),
        ("rang-two", "INCOMING", None),  # an event about nobody in particular
    )
    found = con.sql(
        "select uid, user_login, user_name, outcome from missed_by_employee order by all"
    ).fetchall()
    assert found == [
        ("accepted-then-lost", "u2", "Петрова", "pending"),
        ("rang-two", "u1", "Иванов", "recovered"),
        ("rang-two", "u2", "Петрова", "recovered"),
    ]

    reader = Reader(con, WEEK)
    assert reader.has_events()
    rows = reader.employee_table().to_dicts()
    table = {r["user_login"]: r for r in rows}
    counts = {
        k: (v["answered"], v["missed"], v["callbacks_made"], v["callbacks_made_median_s"])
        for k, v in table.items()
    }
    assert counts == {
        # answered: the history's (nobody answered as u1); missed: the events'; called the
        # client of "rang-two" back an hour later
        "u1": (0, 1, 1, 3600),
        "u2": (1, 2, 0, None),
    }
    assert [r["user_login"] for r in rows] == ["u2", "u1"]  # most misses first
    assert table["u1"]["user_name"] == "Иванов"
    per_view: dict[str, int] = {}
    for _, login, _, _ in found:
        per_view[login] = per_view.get(login, 0) + 1
    assert per_view == {k: v["missed"] for k, v in table.items()}  # one definition


def test_without_event_webhooks_nobody_is_blamed(con: duckdb.DuckDBPyConnection) -> None:
    calls(con)
    assert con.sql("select count(*) from missed_by_employee").fetchall() == [(0,)]
    reader = Reader(con, WEEK)
    assert not reader.has_events()
    # callbacks per employee still come from the call history alone
    rows: list[dict[str, Any]] = reader.employee_table().to_dicts()
    assert [(r["user_login"], r["answered"], r["missed"], r["callbacks_made"]) for r in rows] == [
        ("u1", 0, 0, 1),
        ("u2", 1, 0, 0),
    ]
    assert by_uid(con, "missed_calls", "recovered_by_login")["rang-two"] == {
        "recovered_by_login": "u1"
    }
