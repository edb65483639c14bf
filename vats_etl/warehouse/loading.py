"""Loading rows: idempotent merges by key (ranked by source for calls), the bookkeeping of
each loaded chunk (load_runs, load_notes), quarantined rows, and table checksums for re-run
and replay checks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime

import duckdb
import polars as pl

# Sources ranked for merging calls: a higher-ranked row's values win, gaps are filled.
SOURCE_RANK = {"api_json": 3, "webhook": 2, "api_csv": 1}


# -- upserts ---------------------------------------------------------------------------------


def _rank_sql(alias: str) -> str:
    cases = " ".join(f"when '{name}' then {rank}" for name, rank in SOURCE_RANK.items())
    return f"(case {alias}.source {cases} else 0 end)"


def upsert_sql(table: str, columns: Sequence[str], *, key: str = "uid", ranked: bool) -> str:
    """A MERGE that applies the rules of docs/architecture.md.

    Non-null values of the winning row win and its gaps are filled from the other; with
    `ranked`, the winner is the higher-ranked source (ties: the incoming row). A row is
    updated only when some value actually changes (then `loaded_at` moves), so re-running a
    load changes nothing. The key has no index: an ART index on millions of varchar uids
    halved bulk-load speed and grew with the table; uniqueness holds because every write
    goes through this MERGE with a batch already deduplicated by key (see :func:`upsert`).
    """
    values = [c for c in columns if c not in {key, "loaded_at", "source"}]
    new_wins = f"{_rank_sql('incoming')} >= {_rank_sql('current')}" if ranked else "true"

    def merged(col: str) -> str:
        return (
            f"case when {new_wins} then coalesce(incoming.{col}, current.{col}) "
            f"else coalesce(current.{col}, incoming.{col}) end"
        )

    assignments = [f"{col} = {merged(col)}" for col in values]
    changes = [f"({merged(col)}) is distinct from current.{col}" for col in values]
    if ranked:
        winner = f"case when {new_wins} then incoming.source else current.source end"
        assignments.append(f"source = {winner}")
        changes.append(f"({winner}) is distinct from current.source")
    assignments.append("loaded_at = incoming.loaded_at")
    return (
        f"merge into {table} as current using incoming on current.{key} = incoming.{key} "
        f"when matched and ({' or '.join(changes)}) then update set {', '.join(assignments)} "
        "when not matched then insert by name"
    )


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    loaded_at: datetime,
    *,
    key: str = "uid",
) -> int:
    """Merge `frame` into `table` by `key`; the last row of a key within the batch wins."""
    if frame.is_empty():
        return 0
    batch = frame.unique(subset=key, keep="last", maintain_order=True).with_columns(
        loaded_at=pl.lit(loaded_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    )
    con.register("incoming", batch)
    try:
        known = con.execute(
            f"select count(*) from incoming semi join {table} as current "
            f"on current.{key} = incoming.{key}"
        ).fetchall()[0][0]
        if known:
            con.execute(upsert_sql(table, batch.columns, key=key, ranked="source" in batch.columns))
        else:
            # A window loaded for the first time shares no key with the table: inserting is
            # what the MERGE would do, at a third of its cost (the check costs a tenth).
            con.execute(f"insert into {table} by name select * from incoming")
    finally:
        con.unregister("incoming")
    return batch.height


# -- bookkeeping -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRun:
    """One row of `load_runs` (field order = column order)."""

    chunk_id: str
    run_id: str
    kind: str
    format: str
    window_start: datetime
    window_end: datetime
    day: date | None
    status: str
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    pages: int
    requests: int
    error: str | None
    fetched_at: datetime | None
    started_at: datetime
    finished_at: datetime
    fetch_s: float | None
    parse_s: float | None
    validate_s: float | None
    load_s: float | None


LOAD_RUN_COLUMNS = [f.name for f in fields(LoadRun)]
_UTC = pl.Datetime("us", "UTC")
_LOAD_RUN_TYPES: dict[str, pl.DataType] = {
    **{c: pl.String() for c in ("chunk_id", "run_id", "kind", "format", "status", "error")},
    **{c: _UTC for c in ("window_start", "window_end", "fetched_at", "started_at", "finished_at")},
    **{c: pl.Int64() for c in ("rows_received", "rows_loaded", "rows_quarantined")},
    **{c: pl.Int64() for c in ("pages", "requests")},
    **{c: pl.Float64() for c in ("fetch_s", "parse_s", "validate_s", "load_s")},
    "day": pl.Date(),
}
LOAD_RUN_SCHEMA = {c: _LOAD_RUN_TYPES[c] for c in LOAD_RUN_COLUMNS}


def record_load_runs(con: duckdb.DuckDBPyConnection, runs: Sequence[LoadRun]) -> None:
    if not runs:
        return
    # One insert from a frame: executemany pays a round trip per row.
    frame = pl.DataFrame([astuple(run) for run in runs], schema=LOAD_RUN_SCHEMA, orient="row")
    con.register("incoming_runs", frame)
    try:
        con.execute("insert or replace into load_runs by name select * from incoming_runs")
    finally:
        con.unregister("incoming_runs")


def record_load_notes(
    con: duckdb.DuckDBPyConnection, notes: Sequence[tuple[str, str, int]]
) -> None:
    """(chunk_id, note, rows): what parsing normalised in each chunk (sql/load_notes.sql)."""
    if not notes:
        return
    frame = pl.DataFrame(
        notes, schema={"chunk_id": pl.String, "note": pl.String, "rows": pl.Int64}, orient="row"
    )
    con.register("incoming_notes", frame)
    try:
        con.execute("insert or replace into load_notes by name select * from incoming_notes")
    finally:
        con.unregister("incoming_notes")


def record_format_fallbacks(
    con: duckdb.DuckDBPyConnection,
    fallbacks: Sequence[tuple[str, str, str, str]],
    seen_at: datetime,
) -> None:
    """(kind, format, fallback, error): a history format the account does not offer, and
    the one loaded instead from now on (sql/history_format_fallbacks.sql)."""
    for kind, fmt, fallback, error in fallbacks:
        con.execute(
            "insert into history_format_fallbacks by name "
            "select ? as kind, ? as format, ? as fallback, ? as error, "
            "? as first_seen_at, ? as last_seen_at "
            "on conflict (kind, format) do update set fallback = excluded.fallback, "
            "error = excluded.error, last_seen_at = excluded.last_seen_at",
            [kind, fmt, fallback, error, seen_at, seen_at],
        )


def format_fallbacks(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """(kind, format) the account does not offer → the format loaded instead: what the
    planner asks for instead, as earlier runs found out."""
    rows = con.execute("select kind, format, fallback from history_format_fallbacks").fetchall()
    return {(kind, fmt): fallback for kind, fmt, fallback in rows}


def row_hash(kind: str, raw: str) -> str:
    return hashlib.md5(f"{kind}\x00{raw}".encode()).hexdigest()


def quarantine(
    con: duckdb.DuckDBPyConnection,
    rejected: pl.DataFrame,
    *,
    kind: str,
    fmt: str,
    chunk_id: str,
    seen_at: datetime,
) -> int:
    """Store rejected rows (columns raw, reasons, optional uid); one row per distinct raw row."""
    if rejected.is_empty():
        return 0
    rows = rejected.select(
        pl.col("raw")
        .map_elements(lambda raw: row_hash(kind, raw), return_dtype=pl.String)
        .alias("row_hash"),
        pl.lit(kind).alias("kind"),
        pl.lit(fmt).alias("format"),
        (pl.col("uid") if "uid" in rejected.columns else pl.lit(None, pl.String)).alias("uid"),
        pl.col("raw"),
        pl.col("reasons"),
        pl.lit(chunk_id).alias("chunk_id"),
        pl.lit(seen_at).dt.convert_time_zone("UTC").alias("first_seen_at"),
        pl.lit(seen_at).dt.convert_time_zone("UTC").alias("last_seen_at"),
    ).unique(subset="row_hash", keep="last", maintain_order=True)
    con.register("incoming", rows)
    try:
        con.execute(
            "insert into quarantine by name select * from incoming on conflict (row_hash) do "
            "update set reasons = excluded.reasons, chunk_id = excluded.chunk_id, "
            "last_seen_at = excluded.last_seen_at"
        )
    finally:
        con.unregister("incoming")
    return rows.height


def table_checksum(
    con: duckdb.DuckDBPyConnection, table: str, *, exclude: Sequence[str] = ("loaded_at",)
) -> tuple[int, str]:
    """(row count, order-independent hash of every row) — for re-run and replay checks."""
    cols = [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [table],
        ).fetchall()
        if row[0] not in exclude
    ]
    expr = (
        "md5(concat_ws('|', "
        + ", ".join(f"coalesce(cast({c} as varchar), '∅')" for c in cols)
        + "))"
    )
    count, total = con.execute(
        f"select count(*), coalesce(sum(hash({expr})::hugeint), 0) from {table}"
    ).fetchall()[0]
    return int(count), f"{int(total):x}"
