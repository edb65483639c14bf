"""An unknown status in the KPI views, and the data_quality view: what the API sent that we did
not expect, per day and source."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from tests.support.warehouse_rows import (
    DAY,
    MIN,
    T0,
    by_uid,
    call,
    callback,
    insert_calls,
    miss,
    rows,
)
from vats_etl import warehouse
from vats_etl.spellings import EXTERNAL_STATUSES

LOCAL_DAY = date(2024, 3, 4)  # T0 is 12:00 in Moscow


def test_an_unknown_status_is_not_an_answer(con: duckdb.DuckDBPyConnection) -> None:
    """Loaded as delivered, a status we do not know counts as not answered: a miss unless it
    is a short abandon; an outgoing call with it recovers nothing."""
    insert_calls(
        con,
        [
            miss("odd-miss", client="79000000001", status="transferred_away"),
            miss("odd-short", client="79000000002", status="transferred_away", wait_s=2),
            miss("m", client="79000000003"),
            callback("odd-cb", client="79000000003", status="transferred_away", duration_s=40),
            call("ok", client="79000000004"),
        ],
    )
    assert by_uid(con, "missed_calls", "reason", "recovery") == {
        "m": {"reason": "no_answer", "recovery": None},  # the odd "callback" did not recover it
        "odd-miss": {"reason": "no_answer", "recovery": None},
    }
    assert rows(
        con,
        "select offered, short_abandons, answered, missed from kpi_daily "
        "where is_total and local_date = ?",
        [LOCAL_DAY],
    ) == [{"offered": 4, "short_abandons": 1, "answered": 1, "missed": 2}]


def test_unknown_statuses_per_day_and_source(con: duckdb.DuckDBPyConnection) -> None:
    insert_calls(
        con,
        [
            miss("a", status="transferred_away"),
            miss("b", status="transferred_away", source="webhook"),
            miss("c", status="transferred_away", started_at=T0 + DAY),
            miss("d", status="voicemail"),
            *[call(f"known-{s}", status=s) for s in EXTERNAL_STATUSES],
        ],
    )
    con.execute(
        "insert into internal_calls (uid, status, started_at, loaded_at) values "
        "('i1', 'redirected', ?, ?), ('i2', 'noanswer', ?, ?)",
        [T0, T0, T0, T0],
    )
    assert rows(
        con,
        "select local_date, kind, source, detail, rows, example from data_quality "
        "where issue = 'unknown_status' order by all",
    ) == [
        _issue(LOCAL_DAY, "external", "api_json", "transferred_away", 1, "a"),
        _issue(LOCAL_DAY, "external", "api_json", "voicemail", 1, "d"),
        _issue(LOCAL_DAY, "external", "webhook", "transferred_away", 1, "b"),
        _issue(LOCAL_DAY, "internal", "api", "redirected", 1, "i1"),
        _issue(LOCAL_DAY + timedelta(days=1), "external", "api_json", "transferred_away", 1, "c"),
    ]


def _issue(
    day: date, kind: str, source: str, detail: str, count: int, example: str
) -> dict[str, object]:
    return {
        "local_date": day,
        "kind": kind,
        "source": source,
        "detail": detail,
        "rows": count,
        "example": example,
    }


def load_run(chunk_id: str, run_id: str, finished: datetime, **values: object) -> warehouse.LoadRun:
    fields: dict[str, object] = {
        "chunk_id": chunk_id,
        "run_id": run_id,
        "kind": "external",
        "format": "json",
        "window_start": T0,
        "window_end": T0 + DAY,
        "day": LOCAL_DAY,
        "status": "ok",
        "rows_received": 10,
        "rows_loaded": 10,
        "rows_quarantined": 0,
        "pages": 1,
        "requests": 1,
        "error": None,
        "fetched_at": finished,
        "started_at": finished - MIN,
        "finished_at": finished,
        "fetch_s": None,
        "parse_s": None,
        "validate_s": None,
        "load_s": None,
        **values,
    }
    return warehouse.LoadRun(**fields)  # type: ignore[arg-type]


def test_normalised_values_count_the_run_that_read_the_day_last(
    con: duckdb.DuckDBPyConnection,
) -> None:
    first, later = datetime(2024, 3, 5, 6, tzinfo=UTC), datetime(2024, 3, 5, 7, tzinfo=UTC)
    warehouse.record_load_runs(
        con,
        [
            load_run("c1", "run-1", first),
            load_run("c2", "run-2", later),  # the daily read the same day again
            load_run("c3", "run-2", later, kind="internal"),
            load_run("c4", "run-3", later + DAY, status="failed"),  # failed: no notes to trust
        ],
    )
    warehouse.record_load_notes(
        con,
        [
            ("c1", "direction_from_type", 10),
            ("c2", "direction_from_type", 12),
            ("c2", "status_alias", 3),
            ("c3", "login_domain_stripped", 7),
            ("c4", "status_alias", 99),
        ],
    )
    assert rows(
        con,
        "select kind, source, detail, rows from data_quality where issue = 'normalised' "
        "order by all",
    ) == [
        {"kind": "external", "source": "api_json", "detail": "direction_from_type", "rows": 12},
        {"kind": "external", "source": "api_json", "detail": "status_alias", "rows": 3},
        {"kind": "internal", "source": "api_json", "detail": "login_domain_stripped", "rows": 7},
    ]


def test_skipped_endpoints_and_quarantined_reasons(con: duckdb.DuckDBPyConnection) -> None:
    taken = datetime(2024, 3, 4, 3, tzinfo=UTC)
    warehouse.record_load_runs(
        con,
        [
            load_run("s1", "snap", taken, kind="sims", status="skipped", error="GET sims: 404"),
            load_run("s2", "snap", taken, kind="blacklist", status="skipped", error="405"),
            load_run("q", "run", taken, status="partial"),
        ],
    )
    rejected = [
        ("1", '{"uid":"1"}', ["started_at: cannot parse '2024-13-45T25:61:00Z'"]),
        ("2", '{"uid":"2"}', ["started_at: cannot parse 'soon'", "duration_s: -5 is negative"]),
        (None, '{"status":"x"}', ["uid: missing"]),
        ("3", '{"uid":"3"}', ["duration_s: -1 is negative"]),  # loaded since: not listed
    ]
    frame = pl.DataFrame(rejected, schema=["uid", "raw", "reasons"], orient="row")
    warehouse.quarantine(con, frame, kind="external", fmt="json", chunk_id="q", seen_at=taken)
    insert_calls(con, [call("3")])

    assert rows(
        con,
        "select kind, issue, detail, rows, example from data_quality "
        "where issue in ('skipped_endpoint', 'quarantined') order by all",
    ) == [
        {
            "kind": "directory",
            "issue": "skipped_endpoint",
            "detail": "blacklist",
            "rows": 1,
            "example": "405",
        },
        {
            "kind": "directory",
            "issue": "skipped_endpoint",
            "detail": "sims",
            "rows": 1,
            "example": "GET sims: 404",
        },
        {
            "kind": "external",
            "issue": "quarantined",
            "detail": "duration_s: … is negative",
            "rows": 1,
            "example": "duration_s: -5 is negative",
        },
        {
            "kind": "external",
            "issue": "quarantined",
            "detail": "started_at: cannot parse …",
            "rows": 2,
            "example": "started_at: cannot parse '2024-13-45T25:61:00Z'",
        },
        {
            "kind": "external",
            "issue": "quarantined",
            "detail": "uid: missing",
            "rows": 1,
            "example": "uid: missing",
        },
    ]
