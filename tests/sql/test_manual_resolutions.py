"""manual_resolutions: a client reached outside the PBX. Its misses become resolved_manually
— never a callback, never lost — and it leaves the call-back worklist until it misses
again."""

from __future__ import annotations

from datetime import timedelta

import duckdb

from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    T0,
    by_uid,
    call,
    callback,
    insert_calls,
    miss,
    rows,
)

CLIENT = "79000000001"


def resolve(con: duckdb.DuckDBPyConnection, at_hours: float, note: str = "WhatsApp") -> None:
    con.execute(
        "insert into manual_resolutions values (?, ?, ?)",
        [CLIENT, T0 + timedelta(hours=at_hours), note],
    )


def outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {uid: r["outcome"] for uid, r in by_uid(con, "missed_calls", "outcome").items()}


def worklist(con: duckdb.DuckDBPyConnection) -> list[tuple[str, list[str]]]:
    found = rows(con, "select client, missed from callback_worklist order by priority")
    return [(r["client"], [m["uid"] for m in r["missed"]]) for r in found]


def test_a_resolved_client_leaves_the_list_until_it_misses_again(
    con: duckdb.DuckDBPyConnection,
) -> None:
    insert_calls(
        con,
        [
            miss("lost", client=CLIENT),
            miss("pending", client=CLIENT, started_at=T0 + 2 * DAY),
            call("last", client="79000000099", started_at=T0 + 2 * DAY + HOUR),
        ],
    )
    assert outcomes(con) == {"lost": "lost", "pending": "pending"}
    assert worklist(con) == [(CLIENT, ["lost", "pending"])]

    resolve(con, 2 * 24 + 0.5)  # after both misses: both resolved, lost and pending alike
    assert outcomes(con) == {"lost": "resolved_manually", "pending": "resolved_manually"}
    assert worklist(con) == []
    found = by_uid(con, "missed_calls", "recovery", "resolved_at")
    assert found["lost"] == {"recovery": None, "resolved_at": T0 + 2 * DAY + timedelta(hours=0.5)}
    # counted apart: not a callback, not lost, not "not called back"
    assert rows(
        con,
        "select sum(missed) as missed, sum(recovered_callback) as callbacks, "
        "sum(not_called_back) as not_called_back, sum(lost) as lost, sum(pending) as pending, "
        "sum(resolved_manually) as resolved from kpi_weekly where is_total",
    ) == [
        {"missed": 2, "callbacks": 0, "not_called_back": 0, "lost": 0, "pending": 0, "resolved": 2}
    ]

    # it misses again: back on the list with the new miss only
    insert_calls(
        con,
        [
            miss("again", client=CLIENT, started_at=T0 + 3 * DAY),
            call("later", client="79000000098", started_at=T0 + 5 * DAY),
        ],
    )
    assert outcomes(con)["again"] == "lost"
    assert worklist(con) == [(CLIENT, ["again"])]


def test_a_resolution_before_a_miss_or_after_a_conversation_changes_nothing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    resolve(con, -1)  # an hour before the miss: not about it
    insert_calls(
        con,
        [
            miss("m1", client=CLIENT),
            # reached over the PBX after W, then resolved by hand: the conversation came first
            callback("late", client=CLIENT, started_at=T0 + DAY + HOUR),
            call("last", client="79000000099", started_at=T0 + 3 * DAY),
        ],
    )
    resolve(con, 24 + 2)
    assert outcomes(con) == {"m1": "recovered_late"}


def test_the_outcome_as_of_an_earlier_instant_ignores_a_later_resolution(
    con: duckdb.DuckDBPyConnection,
) -> None:
    insert_calls(con, [miss("m1", client=CLIENT)])
    resolve(con, 30)
    found = con.sql(
        "select miss_outcome(mc.is_missed, mc.recovered_at, mc.next_contact_at, mc.resolved_at, "
        "mc.recovery_deadline_at, ?) from inbound_calls as mc",
        params=[T0 + 28 * HOUR],
    ).fetchall()
    assert found == [("lost",)]  # at 28 h its window was over and nobody had reached them
