"""callback_worklist: one row per client and department, each miss as it was, an owner, a
deadline and the documented priority — checked cell by cell for clients missed by two
departments, in and out of working hours; and the lists built on it (callback_list,
callback_due, the reports' "кому позвонить")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

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
from vats_etl.reports import Period, Reader

# T0 is Monday 4 March 2024, 12:00 in Moscow; working hours Monday to Friday 09:00-18:00.
A, B, C, D = "79000000001", "79000000002", "79000000003", "79000000004"
CUTOFF = T0 + 3 * DAY  # Thursday 12:00: the latest loaded call
WEEK = Period.week("2024-W10")


def load(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            # A: Sales misses it twice in working hours (the first rang Ivanov, the PBX says;
            # a busy callback in between is an attempt for both), then Support after hours
            miss("a-sales-1", client=A, group_name="Продажи", user_login="ivanov"),
            miss(
                "a-sales-2",
                client=A,
                group_name="Продажи",
                status="cancel",
                started_at=T0 + 30 * MIN,
            ),
            callback("a-busy", client=A, started_at=T0 + HOUR, status="busy", duration_s=0),
            miss("a-support", client=A, group_name="Поддержка", started_at=T0 + 7 * HOUR),
            # B: hangs up in the menu on Tuesday (no department), then Sales' voicemail on
            # Wednesday evening — its window is still open at the cut-off
            miss(
                "b-ivr",
                client=B,
                group_name=None,
                destination="ivr",
                started_at=T0 + DAY - 2 * HOUR,
            ),
            miss(
                "b-sales",
                client=B,
                group_name="Продажи",
                destination="vm",
                started_at=T0 + 2 * DAY + 8 * HOUR,
            ),
            # C: missed and called back in time: not on the list
            miss("c-sales", client=C, group_name="Продажи", started_at=T0 + 2 * HOUR),
            callback("c-cb", client=C, started_at=T0 + 3 * HOUR, user_login="ivanov"),
            # D: Support misses it on Thursday morning: pending
            miss("d-support", client=D, group_name="Поддержка", started_at=CUTOFF - HOUR),
            call("last", client="79000000099", started_at=CUTOFF),
        ],
    )
    insert_versions(
        con,
        "users_history",
        [
            {"user_login": "ivanov", "user_name": "Иванов Иван", "valid_from": T0 - 30 * DAY},
            {"user_login": "petrov", "user_name": "Петров Пётр", "valid_from": T0 - 30 * DAY},
        ],
    )
    # the event webhooks: Petrov's phone rang for B's Sales miss and he did not answer
    con.execute(
        "insert into webhook_events (event_hash, callid, type, direction, client, user_login, "
        "received_at, loaded_at) values ('e1', 'b-sales', 'INCOMING', 'in', ?, 'petrov', ?, ?)",
        [B, T0 + 2 * DAY + 8 * HOUR, T0 + 3 * DAY],
    )


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2024 local time in Moscow, as UTC."""
    return datetime(2024, 3, day, hour - 3, minute, tzinfo=UTC)


def one(uid: str, started_at: datetime, **cells: Any) -> dict[str, Any]:
    """A miss of a row as the worklist lists it: every field."""
    return {
        "uid": uid,
        "started_at": started_at,
        "local_date": (started_at + timedelta(hours=3)).date(),
        "diversion": "74950000001",
        "callback_attempts": 0,
        "recovery_deadline_at": started_at + DAY,
        "employee_login": None,
        "employee_name": None,
        "employee_source": None,
        **cells,
    }


def worklist(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    relation = con.sql("select * from callback_worklist order by priority")
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def test_every_cell_of_clients_missed_by_two_departments_in_and_out_of_hours(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con)
    a_sales = [
        one("a-sales-1", msk(4, 12), hours="in_hours", segment="in_hours", reason="no_answer",
            callback_attempts=1, is_window_over=True, employee_login="ivanov",
            employee_name="Иванов Иван", employee_source="pbx"),
        one("a-sales-2", msk(4, 12, 30), hours="in_hours", segment="in_hours", reason="cancel",
            callback_attempts=1, is_window_over=True),
    ]  # fmt: skip
    a_support = [
        one("a-support", msk(4, 19), hours="after_hours", segment="after_hours",
            reason="no_answer", is_window_over=True),
    ]  # fmt: skip
    b_ivr = [
        one("b-ivr", msk(5, 10), hours="in_hours", segment="unrouted", reason="ivr",
            is_window_over=True),
    ]  # fmt: skip
    b_sales = [
        one("b-sales", msk(6, 20), hours="after_hours", segment="after_hours", reason="voicemail",
            is_window_over=False, employee_login="petrov", employee_name="Петров Пётр",
            employee_source="events"),
    ]  # fmt: skip
    d_support = [
        one("d-support", msk(7, 11), hours="in_hours", segment="in_hours", reason="no_answer",
            is_window_over=False),
    ]  # fmt: skip

    def row(
        priority: int, client: str, department: str, status: str, missed: list[dict[str, Any]],
        hours: str, segment: str, owner: tuple[str | None, str | None], contact: str,
    ) -> dict[str, Any]:  # fmt: skip
        return {
            "priority": priority,
            "client": client,
            "department": department,
            "status": status,
            "deadline_at": missed[0]["recovery_deadline_at"],
            "misses": len(missed),
            "first_missed_at": missed[0]["started_at"],
            "last_missed_at": missed[-1]["started_at"],
            "first_local_date": missed[0]["local_date"],
            "last_local_date": missed[-1]["local_date"],
            "hours": hours,
            "segment": segment,
            "is_headline": segment == "in_hours",
            "owner_login": owner[0],
            "owner_name": owner[1],
            "lost_contact_id": contact,
            "missed": missed,
        }

    assert worklist(con) == [
        # working hours first; of those, the repeated misses; then the earliest deadline
        row(1, A, "Продажи", "lost", a_sales, "in_hours", "in_hours",
            ("ivanov", "Иванов Иван"), "a-sales-1"),
        row(2, B, "Без отдела", "lost", b_ivr, "in_hours", "unrouted", (None, None), "b-ivr"),
        row(3, D, "Поддержка", "pending", d_support, "in_hours", "in_hours", (None, None),
            "d-support"),
        # after hours: the rows of the same clients in other departments, with their own
        # misses, labels and owner only
        row(4, A, "Поддержка", "lost", a_support, "after_hours", "after_hours", (None, None),
            "a-sales-1"),
        row(5, B, "Продажи", "pending", b_sales, "after_hours", "after_hours",
            ("petrov", "Петров Пётр"), "b-ivr"),
    ]  # fmt: skip


def test_the_reports_list_the_lost_rows_with_a_miss_in_the_period(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con)
    reader = Reader(con, WEEK)
    company = reader.action_list()
    assert company.select("client", "department").rows() == [
        (A, "Продажи"),
        (B, "Без отдела"),
        (A, "Поддержка"),
    ]  # lost only, in priority order; C was called back, B's Sales and D are pending
    support = reader.for_department("Поддержка").action_list()
    assert support.select("client", "misses").rows() == [(A, 1)]  # Support's miss only
    assert [m["uid"] for m in support["missed"][0]] == ["a-support"]
    assert [m["hours_ru"] for m in support["missed"][0]] == ["вне рабочего времени"]
    # the period: rows with a miss in it (Tuesday: only B's menu hang-up)
    tuesday = Reader(con, Period(date(2024, 3, 5), date(2024, 3, 5))).action_list()
    assert tuesday.select("client", "department").rows() == [(B, "Без отдела")]
    # the tiles of lost clients add up to the list, by the segment of their misses
    now, _ = reader.kpis()
    assert (
        now["lost_clients_in_hours"],
        now["lost_clients_unrouted"],
        now["lost_clients_after_hours"],
    ) == (1, 1, 1)


def test_the_digest_has_lost_rows_of_the_last_days_and_windows_ending_today(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con)

    def due(day: date, since: date) -> list[tuple[str, str, str]]:
        return con.sql(
            "select client, department, status from callback_due(?, ?)", params=[day, since]
        ).fetchall()

    thursday = date(2024, 3, 7)
    assert due(thursday, thursday - timedelta(days=3)) == [
        (A, "Продажи", "lost"),
        (B, "Без отдела", "lost"),
        (A, "Поддержка", "lost"),
        (B, "Продажи", "pending"),  # its window ends Thursday 20:00
    ]  # D's window ends on Friday: not yet due
    assert due(date(2024, 3, 8), date(2024, 3, 5)) == [
        (B, "Без отдела", "lost"),
        (D, "Поддержка", "pending"),
        (B, "Продажи", "pending"),
    ]  # A's misses are older than `since`


def test_a_client_reached_leaves_the_list_and_comes_back_when_missed_again(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con)
    insert_calls(con, [call("a-answered", client=A, started_at=CUTOFF + HOUR)])
    assert {r["client"] for r in worklist(con)} == {B, D}  # both of A's rows are gone
    insert_calls(
        con,
        [
            miss("a-again", client=A, group_name="Продажи", started_at=CUTOFF + 2 * HOUR),
            call("later", client="79000000098", started_at=CUTOFF + 3 * HOUR),
        ],
    )
    rows = {(r["client"], r["department"]): r for r in worklist(con)}
    assert [m["uid"] for m in rows[(A, "Продажи")]["missed"]] == ["a-again"]
    assert rows[(A, "Продажи")]["lost_contact_id"] == "a-again"  # a new contact
