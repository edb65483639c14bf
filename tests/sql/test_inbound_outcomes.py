"""inbound_outcomes: the cache is used only while it matches calls and kpi_settings."""

from __future__ import annotations

import duckdb

from tests.support.warehouse_rows import (
    HOUR,
    T0,
    by_uid,
    call,
    callback,
    insert_calls,
    miss,
    rows,
    set_kpi,
)
from vats_etl import warehouse


def recovery(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    return {uid: r["recovery"] for uid, r in by_uid(con, "inbound_outcomes", "recovery").items()}


def test_cache_serves_rows_only_while_fresh(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [miss("m1"), callback("cb", started_at=T0 + 2 * HOUR)])
    live = rows(con, "select * from inbound_outcomes order by uid")
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert warehouse.refresh_outcomes_cache(con) is None  # nothing changed: nothing to do
    assert rows(con, "select * from inbound_outcomes order by uid") == live

    # prove the view reads the cache: tamper with it
    con.execute("update inbound_outcomes_cache set recovery = 'tampered'")
    assert recovery(con) == {"m1": "tampered"}

    # a new load moves calls' fingerprint: the view computes live again
    insert_calls(con, [miss("m2", client="79000000002")])
    assert recovery(con) == {"m1": "callback", "m2": None}

    # an analyst changes W: live again, with the new W
    warehouse.refresh_outcomes_cache(con)
    con.execute("update inbound_outcomes_cache set recovery = 'tampered'")
    set_kpi(con, recovery_window_s=3600)
    assert recovery(con) == {"m1": None, "m2": None}


def test_outcomes_cover_inbound_calls_with_a_start(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("m1"),
            callback("out", client="79000000009"),
            miss("no-start", started_at=None),
            miss("anonymous", client=None),
        ],
    )
    got = by_uid(con, "inbound_outcomes", "is_missed", "recovery", "lost_contact_id")
    assert got == {
        "anonymous": {"is_missed": True, "recovery": None, "lost_contact_id": "anonymous"},
        "m1": {"is_missed": True, "recovery": None, "lost_contact_id": "m1"},
    }


def test_next_contact_is_the_earliest_callback_or_answered_call(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """next_contact_at: the first conversation after a miss — our callback that got through
    or the client's next answered call, whichever came first — within W or long after it
    (it is what turns a miss from lost into recovered_late). The same in the cache."""
    insert_calls(
        con,
        [
            # the client's answered call first, our callback later: both after W
            miss("m-answered-first", client="79000000001"),
            call("in-1", client="79000000001", started_at=T0 + 30 * HOUR),
            callback("out-1", client="79000000001", started_at=T0 + 40 * HOUR),
            # our callback first, the client's answered call later
            miss("m-callback-first", client="79000000002"),
            callback("out-2", client="79000000002", started_at=T0 + 30 * HOUR),
            call("in-2", client="79000000002", started_at=T0 + 40 * HOUR),
            # within W, the client called again before we called back
            miss("m-within-w", client="79000000003"),
            call("in-3", client="79000000003", started_at=T0 + HOUR),
            callback("out-3", client="79000000003", started_at=T0 + 2 * HOUR),
            # a callback nobody answered is no conversation
            miss("m-not-reached", client="79000000004"),
            callback("busy-4", client="79000000004", started_at=T0 + HOUR, duration_s=0),
            call("in-4", client="79000000004", started_at=T0 + 50 * HOUR),
            # nobody talked to the client since
            miss("m-nobody", client="79000000005"),
        ],
    )
    expected = {
        "m-answered-first": {"next_contact_at": T0 + 30 * HOUR, "recovery": None},
        "m-callback-first": {"next_contact_at": T0 + 30 * HOUR, "recovery": None},
        "m-within-w": {"next_contact_at": T0 + HOUR, "recovery": "client_called_again"},
        "m-not-reached": {"next_contact_at": T0 + 50 * HOUR, "recovery": None},
        "m-nobody": {"next_contact_at": None, "recovery": None},
    }
    query = "select uid, next_contact_at, recovery from inbound_outcomes where is_missed"

    def found() -> dict[str, dict[str, object]]:
        return {r.pop("uid"): r for r in rows(con, query)}

    assert found() == expected
    assert warehouse.refresh_outcomes_cache(con) == "full"
    assert found() == expected
