"""Hypothesis round trip through the whole middle of the pipeline:
generated rows → JSON / CSV bytes → parse → validate → upsert → select equals the input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.stages.support import external_csv_case, external_json_case
from vats_etl import warehouse
from vats_etl.errors import UnknownShape
from vats_etl.parse import CALL_SCHEMA, parse_history
from vats_etl.schemas import validate

NOW = datetime(2100, 1, 1, tzinfo=UTC)
COLUMNS = list(CALL_SCHEMA)


def fresh_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    con.execute((warehouse.SQL_DIR / "calls.sql").read_text())
    return con


def load_and_select(body: bytes, fmt: str) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    parsed = parse_history("external", fmt, body)  # type: ignore[arg-type]
    checked = validate("external", parsed, NOW)
    con = fresh_db()
    warehouse.upsert(con, "calls", checked.good, NOW)
    stored = con.sql(f"select {', '.join(COLUMNS)} from calls order by uid").pl()
    stored = stored.with_columns(pl.col("started_at").dt.convert_time_zone("UTC"))
    expected = (
        checked.good.unique(subset="uid", keep="last", maintain_order=True)
        .sort("uid")
        .select(COLUMNS)
    )
    return stored, expected, checked.good.height + checked.rejected.height


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(external_json_case(), min_size=1, max_size=8))
def test_json_rows_survive_parse_validate_and_load(cases: list[tuple[dict[str, Any], Any]]):
    body = orjson.dumps([obj for _, obj in cases])
    try:
        stored, expected, accounted = load_and_select(body, "json")
    except UnknownShape:
        # A required field absent from a whole payload is a schema-level failure by design.
        required = ("uid", "direction", "status", "started_at")
        assert len(cases) >= 2
        assert any(all(row[c] is None for row, _ in cases) for c in required)
        return
    assert accounted == len(cases)  # every row is either loaded or rejected
    assert_frame_equal(stored, expected, check_dtypes=False)
    # and what was loaded is exactly the valid generated rows (last per uid wins)
    valid = [
        row
        for row, _ in cases
        if row["uid"] is not None
        and row["direction"] is not None
        and row["status"] is not None
        and row["started_at"] is not None
        and (row["wait_s"] is None or row["wait_s"] >= 0)
        and (row["duration_s"] is None or row["duration_s"] >= 0)
        and (row["rating"] is None or 1 <= row["rating"] <= 5)
    ]
    last = {row["uid"]: row for row in valid}
    assert sorted(stored["uid"].to_list()) == sorted(last)
    for row in stored.iter_rows(named=True):
        assert row == {c: last[row["uid"]][c] for c in COLUMNS}


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(external_csv_case())
def test_csv_rows_survive_parse_validate_and_load(case: tuple[str, list[dict[str, Any]], bytes]):
    _shape, rows, body = case
    stored, expected, accounted = load_and_select(body, "csv")
    assert accounted == len(rows)
    assert_frame_equal(stored, expected, check_dtypes=False)
    valid = [
        r
        for r in rows
        if (r["wait_s"] is None or r["wait_s"] >= 0)
        and (r["duration_s"] is None or r["duration_s"] >= 0)
    ]
    last = {row["uid"]: row for row in valid}
    for row in stored.iter_rows(named=True):
        assert row == {c: last[row["uid"]][c] for c in COLUMNS}
