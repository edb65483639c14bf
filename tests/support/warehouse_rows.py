"""dbt-style SQL unit tests: a fresh in-memory warehouse, a few input rows, expected rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from vats_etl import warehouse
from vats_etl.parse import CALL_SCHEMA
from vats_etl.snapshots import ENTITIES

# Monday 2024-03-04 09:00 UTC = 12:00 in Moscow, 10:00 in Berlin.
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
LOADED_AT = datetime(2024, 4, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def fresh() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    warehouse.ensure_schema(con)
    return con


def call(uid: str, **values: Any) -> dict[str, Any]:
    """One external call; defaults: an inbound call answered at T0 after 10 s, 60 s talk."""
    row: dict[str, Any] = {
        "uid": uid,
        "direction": "in",
        "status": "success",
        "client": "79001112233",
        "diversion": "74950000001",
        "destination": "user",
        "user_login": None,
        "user_name": None,
        "group_name": "Продажи",
        "started_at": T0,
        "wait_s": 10,
        "duration_s": 60,
        "record_url": f"https://rec.example/{uid}.mp3",
        "rating": None,
        "pbx_missed_status": None,
        "source": "api_json",
    }
    unknown = set(values) - set(row)
    assert not unknown, f"unknown call columns {unknown}"
    row.update(values)
    if row["direction"] == "out" and "destination" not in values:
        row["destination"] = None
    if row["direction"] == "out" and "group_name" not in values:
        row["group_name"] = None
    if row["direction"] == "out" and "diversion" not in values:
        row["diversion"] = None
    return row


def miss(uid: str, **values: Any) -> dict[str, Any]:
    """An inbound call not answered after 30 s (a real miss, not a short abandon)."""
    return call(uid, **{"status": "missed", "wait_s": 30, "duration_s": 0, **values})


def callback(uid: str, **values: Any) -> dict[str, Any]:
    """An outgoing call that got through (success, duration > 0)."""
    return call(uid, **{"direction": "out", "status": "success", "wait_s": 5, **values})


def insert_calls(con: duckdb.DuckDBPyConnection, rows: Iterable[Mapping[str, Any]]) -> None:
    frame = pl.DataFrame(list(rows), schema=CALL_SCHEMA, orient="row").with_columns(
        loaded_at=pl.lit(LOADED_AT).dt.cast_time_unit("us")
    )
    _insert(con, "calls", frame)


def insert_versions(
    con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Mapping[str, Any]]
) -> None:
    """SCD2 rows: key + some attributes + valid_from [+ valid_to]; the rest defaulted."""
    entity = ENTITIES[table]
    full = []
    for row in rows:
        full.append(
            {
                **dict.fromkeys(entity.attributes),
                "attr_hash": "h",
                "valid_to": None,
                **row,
                "is_current": row.get("valid_to") is None,
            }
        )
    _insert(con, table, pl.DataFrame(full, schema=entity.schema, orient="row"))


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("incoming", frame)
    try:
        con.execute(f"insert into {table} by name select * from incoming")
    finally:
        con.unregister("incoming")


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    rel = con.execute(sql, params or [])
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def by_uid(con: duckdb.DuckDBPyConnection, view: str, *columns: str) -> dict[str, dict[str, Any]]:
    found = rows(con, f"select uid, {', '.join(columns)} from {view} order by uid")
    return {r.pop("uid"): r for r in found}


def set_kpi(con: duckdb.DuckDBPyConnection, **values: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in values)
    con.execute(f"update kpi_settings set {assignments}", list(values.values()))
