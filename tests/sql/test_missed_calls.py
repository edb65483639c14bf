"""missed_calls: recovery by callback / by the client calling again, W, lost contacts."""

from __future__ import annotations

import duckdb

from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    MIN,
    T0,
    by_uid,
    call,
    callback,
    insert_calls,
    miss,
    rows,
    set_kpi,
)

W = DAY  # kpi_settings.recovery_window_s default
COLUMNS = ("recovery", "recovered_at", "time_to_recovery_s", "callback_attempts", "lost_contact_id")


def missed(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, object]]:
    return by_uid(con, "missed_calls", *COLUMNS)


def test_callback_one_minute_inside_w_recovers(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [miss("m1"), callback("cb", started_at=T0 + W - MIN)])
    assert missed(con) == {
        "m1": {
            "recovery": "callback",
            "recovered_at": T0 + W - MIN,
            "time_to_recovery_s": 86_340,
            "callback_attempts": 1,
            "lost_contact_id": "m1",
        }
    }


def test_callback_one_minute_after_w_does_not(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [miss("m1"), callback("cb", started_at=T0 + W + MIN)])
    assert missed(con)["m1"] == {
        "recovery": None,
        "recovered_at": None,
        "time_to_recovery_s": None,
        "callback_attempts": 0,
        "lost_contact_id": "m1",
    }


def test_failed_callbacks_are_attempts_not_recoveries(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("m1"),
            callback("busy", started_at=T0 + 10 * MIN, status="busy", duration_s=0),
            callback("silent", started_at=T0 + 20 * MIN, status="success", duration_s=0),
            callback("late", started_at=T0 + W + HOUR),
        ],
    )
    got = missed(con)["m1"]
    assert (got["recovery"], got["callback_attempts"]) == (None, 2)


def test_client_calls_again_and_is_not_answered(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [miss("m1"), miss("m2", started_at=T0 + 30 * MIN)])
    got = missed(con)
    assert [g["recovery"] for g in got.values()] == [None, None]
    # the second miss is not a new lost contact: the client has not talked to us in between
    assert {g["lost_contact_id"] for g in got.values()} == {"m1"}


def test_client_calls_again_and_is_answered(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("m1"),
            callback("try", started_at=T0 + HOUR, status="notavailable", duration_s=0),
            call("again", started_at=T0 + 2 * HOUR),
            callback("cb", started_at=T0 + 3 * HOUR),
        ],
    )
    assert missed(con)["m1"] == {
        "recovery": "client_called_again",
        "recovered_at": T0 + 2 * HOUR,
        "time_to_recovery_s": 7_200,
        "callback_attempts": 1,  # the failed try before the client got through
        "lost_contact_id": "m1",
    }


def test_two_misses_then_one_callback(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [miss("m1"), miss("m2", started_at=T0 + 10 * MIN), callback("cb", started_at=T0 + HOUR)],
    )
    assert missed(con) == {
        "m1": {
            "recovery": "callback",
            "recovered_at": T0 + HOUR,
            "time_to_recovery_s": 3_600,
            "callback_attempts": 1,
            "lost_contact_id": "m1",
        },
        "m2": {
            "recovery": "callback",
            "recovered_at": T0 + HOUR,
            "time_to_recovery_s": 3_000,
            "callback_attempts": 1,
            "lost_contact_id": "m1",
        },
    }
    weekly = rows(con, "select missed, lost_contacts, recovered_callback from kpi_weekly")
    assert weekly == [{"missed": 2, "lost_contacts": 1, "recovered_callback": 2}] * 2  # dept+total


def test_a_conversation_starts_a_new_lost_contact(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [miss("m1"), callback("cb", started_at=T0 + HOUR), miss("m2", started_at=T0 + 5 * HOUR)],
    )
    got = missed(con)
    assert (got["m1"]["lost_contact_id"], got["m2"]["lost_contact_id"]) == ("m1", "m2")
    assert got["m2"]["recovery"] is None


def test_short_abandon_is_not_a_miss(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("short", status="cancel", wait_s=4),
            miss("boundary", status="cancel", wait_s=5, client="79005550000"),
        ],
    )
    assert list(missed(con)) == ["boundary"]  # wait < T_short (5 s) is short; 5 s is not
    flags = by_uid(con, "inbound_calls", "is_short_abandon", "is_missed")
    assert flags["short"] == {"is_short_abandon": True, "is_missed": False}


def test_earliest_recovery_wins_and_callbacks_win_ties(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("a1", client="1"),
            callback("a-cb", client="1", started_at=T0 + 3 * HOUR),
            call("a-in", client="1", started_at=T0 + 2 * HOUR),
            miss("b1", client="2"),
            callback("b-cb", client="2", started_at=T0 + HOUR),
            call("b-in", client="2", started_at=T0 + HOUR),
        ],
    )
    got = missed(con)
    assert (got["a1"]["recovery"], got["b1"]["recovery"]) == ("client_called_again", "callback")


def test_only_the_same_client_recovers(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("m1", client="79001112233"),
            callback("other", client="79009998877", started_at=T0 + MIN),
            call("other-in", client="79009998877", started_at=T0 + 2 * MIN),
        ],
    )
    assert missed(con)["m1"]["recovery"] is None


def test_w_is_read_from_kpi_settings(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [miss("m1"), callback("cb", started_at=T0 + 2 * HOUR)])
    assert missed(con)["m1"]["recovery"] == "callback"
    set_kpi(con, recovery_window_s=3600)
    assert missed(con)["m1"]["recovery"] is None
    set_kpi(con, short_abandon_s=60)  # the 30 s wait is now a short abandon
    assert missed(con) == {}


def test_reasons(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("offtime", destination="offtime", client="1"),
            miss("vm", destination="vm", client="2"),
            miss("ivr", destination="ivr", client="3"),
            miss("busy", status="busy", destination="group", client="4"),
            miss("cancel", status="cancel", destination="group", client="5"),
            miss("noans", status="notavailable", destination="user", client="6"),
        ],
    )
    reasons = {uid: r["reason"] for uid, r in by_uid(con, "missed_calls", "reason").items()}
    assert reasons == {
        "busy": "busy",
        "cancel": "cancel",
        "ivr": "ivr",
        "noans": "no_answer",
        "offtime": "offtime",
        "vm": "voicemail",
    }


def test_answered_and_outbound_calls_are_not_missed(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [call("answered"), callback("out-failed", status="busy", duration_s=0), miss("m1")],
    )
    assert list(missed(con)) == ["m1"]


def test_a_lost_contact_counts_once_where_it_began(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(con, [miss("mon"), miss("tue", started_at=T0 + DAY), miss("x", client="2")])
    daily = rows(
        con, "select local_date, missed, lost_contacts from kpi_daily where is_total order by 1"
    )
    assert [(r["missed"], r["lost_contacts"]) for r in daily] == [(2, 2), (1, 0)]
    weekly = rows(con, "select missed, lost_contacts from kpi_weekly where is_total")
    assert weekly == [{"missed": 3, "lost_contacts": 2}]
