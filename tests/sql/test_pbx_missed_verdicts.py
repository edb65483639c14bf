"""pbx_missed_verdicts: the PBX's missedStatus next to our verdict, as of when the PBX gave
it; and the data_quality rows that count where the two differ."""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from tests.support.warehouse_rows import (
    DAY,
    HOUR,
    MIN,
    T0,
    call,
    callback,
    insert_calls,
    miss,
    rows,
    set_kpi,
)
from vats_etl import warehouse

LOCAL_DAY = date(2024, 3, 4)  # T0 is 12:00 in Moscow
FETCHED = T0 + 6 * HOUR  # when the PBX last answered for LOCAL_DAY


def fetched(con: duckdb.DuckDBPyConnection, day: date, at: datetime, fmt: str = "json") -> None:
    """A load_runs row: `day`'s external history fetched at `at` (the PBX's verdict time)."""
    warehouse.record_load_runs(
        con,
        [
            warehouse.LoadRun(
                chunk_id=f"{day}-{fmt}-{at:%H%M}",
                run_id="run",
                kind="external",
                format=fmt,
                window_start=T0,
                window_end=T0 + DAY,
                day=day,
                status="ok",
                rows_received=1,
                rows_loaded=1,
                rows_quarantined=0,
                pages=1,
                requests=1,
                error=None,
                fetched_at=at,
                started_at=at - MIN,
                finished_at=at,
                fetch_s=None,
                parse_s=None,
                validate_s=None,
                load_s=None,
            )
        ],
    )


def verdicts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[object, ...]]:
    found = rows(
        con,
        "select uid, subject, pbx_verdict, our_verdict, agrees from pbx_missed_verdicts",
    )
    return {
        r["uid"]: (r["subject"], r["pbx_verdict"], r["our_verdict"], r["agrees"]) for r in found
    }


def before(hours: float) -> datetime:
    return T0 - hours * HOUR


def test_misses_and_call_backs_judged_both_ways(con: duckdb.DuckDBPyConnection) -> None:
    fetched(con, LOCAL_DAY, FETCHED)
    insert_calls(
        con,
        [
            # the first call held: call-backs are judged from W after it (T0 - 24 h on)
            call("first", client="79000000000", started_at=T0 - 2 * DAY),
            # A: a miss called back an hour later, before the verdict (FETCHED): closed
            miss("a-miss", client="79000000001", pbx_missed_status=1),
            callback("a-cb", client="79000000001", started_at=T0 + HOUR, pbx_missed_status=2),
            # B: the PBX still says open although the client was answered 10 minutes later
            miss("b-miss", client="79000000002", pbx_missed_status=3),
            call("b-again", client="79000000002", started_at=T0 + 10 * MIN),
            # C: the PBX marks a call-back to a client who never missed a call
            callback("c-out", client="79000000003", pbx_missed_status=2),
            # D: called 25 h after the miss (W = 24 h): no call-back for either of us
            miss("d-miss", client="79000000004", started_at=before(25), pbx_missed_status=3),
            callback("d-out", client="79000000004", status="busy", duration_s=0),
            # E: a conversation in between closed the miss: the next call is no call-back
            miss("e-miss", client="79000000005", started_at=before(3), pbx_missed_status=1),
            call("e-answered", client="79000000005", started_at=before(2)),
            callback("e-out", client="79000000005", pbx_missed_status=2),
            # a short abandon is no miss of ours, whatever the PBX says of it
            miss("short", client="79000000006", wait_s=2, pbx_missed_status=3),
            # 4 reads as open too
            miss("f-miss", client="79000000007", started_at=T0 + 2 * HOUR, pbx_missed_status=4),
        ],
    )
    assert verdicts(con) == {
        "a-miss": ("miss", "closed", "closed", True),
        "a-cb": ("outgoing", "call_back", "call_back", True),
        "b-miss": ("miss", "open", "closed", False),
        "c-out": ("outgoing", "call_back", "not_call_back", False),
        "d-miss": ("miss", "open", "open", True),
        "d-out": ("outgoing", "not_call_back", "not_call_back", True),
        "e-miss": ("miss", "closed", "closed", True),
        "e-out": ("outgoing", "call_back", "not_call_back", False),
        "f-miss": ("miss", "open", "open", True),
    }
    assert rows(
        con,
        "select local_date, source, detail, rows, example from data_quality "
        "where issue = 'pbx_disagrees' order by detail",
    ) == [
        {
            "local_date": LOCAL_DAY,
            "source": "api_json",
            "detail": "miss: pbx open, ours closed",
            "rows": 1,
            "example": "b-miss",
        },
        {
            "local_date": LOCAL_DAY,
            "source": "api_json",
            "detail": "outgoing: pbx call_back, ours not_call_back",
            "rows": 2,
            "example": "c-out",
        },
    ]
    # a wider W makes D's late call a call-back of ours: the view follows kpi_settings
    set_kpi(con, recovery_window_s=2 * 86400)
    assert verdicts(con)["d-out"] == ("outgoing", "not_call_back", "call_back", False)


def test_a_verdict_is_judged_as_of_when_the_pbx_gave_it(con: duckdb.DuckDBPyConnection) -> None:
    """The PBX said "open" when the day was last read; the client was called back after
    that: our outcome is recovered now, and still there is no disagreement."""
    insert_calls(
        con,
        [
            miss("m", client="79000000001", pbx_missed_status=3),
            callback("cb", client="79000000001", started_at=T0 + DAY),
        ],
    )
    fetched(con, LOCAL_DAY, T0 + HOUR)  # the verdict: an hour after the miss
    assert rows(
        con, "select outcome, pbx_verdict, our_verdict, agrees from pbx_missed_verdicts"
    ) == [{"outcome": "recovered", "pbx_verdict": "open", "our_verdict": "open", "agrees": True}]
    fetched(con, LOCAL_DAY, T0 + 2 * DAY)  # read again after the call-back: still "open"
    assert rows(con, "select our_verdict, agrees from pbx_missed_verdicts") == [
        {"our_verdict": "closed", "agrees": False}
    ]
    # a CSV read of the day carries no verdict: it does not move the verdict's time
    fetched(con, LOCAL_DAY, T0 + 3 * DAY, fmt="csv")
    assert rows(con, "select our_verdict from pbx_missed_verdicts") == [{"our_verdict": "closed"}]


def test_days_the_pbx_said_nothing_about_are_not_judged(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            call("first", client="79000000000", started_at=T0 - 2 * DAY),
            miss("m", client="79000000001"),  # the spec's letter, CSV: no missedStatus
            callback("out", client="79000000001", started_at=T0 + HOUR),
            # another day, on which the PBX did speak: its outgoing calls are judged
            callback("later", client="79000000002", started_at=T0 + DAY, pbx_missed_status=2),
            # a call-back within W of the first call we hold: its miss may be before our data
            callback(
                "early", client="79000000003", started_at=T0 - DAY - HOUR, pbx_missed_status=2
            ),
        ],
    )
    assert verdicts(con) == {"later": ("outgoing", "call_back", "not_call_back", False)}
