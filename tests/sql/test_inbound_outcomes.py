"""inbound_outcomes: the cache is used only while it matches calls and kpi_settings."""

from __future__ import annotations

import duckdb

from tests.sql.helpers import HOUR, T0, by_uid, callback, insert_calls, miss, rows, set_kpi
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
