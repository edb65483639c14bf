"""The schema: every table, view and macro of `vats_etl.sql`, one file per relation, applied
idempotently (`create ... if not exists` / `create or replace`) when a warehouse is not up to
date with them. `schema_state` records the digest of the SQL it was last brought to.

The SQL ships inside the package (the checkout's `sql/` folder, installed as
`vats_etl.sql`) and is read through importlib.resources, so a wheel installed anywhere
finds it.
"""

from __future__ import annotations

import contextlib
import hashlib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from vats_etl import errors

SQL_DIR: Traversable = files("vats_etl.sql")

# Rows derived from other tables and kept only to be read fast (the outcome cache): a new
# version of the SQL may define them differently, so an upgrade forgets them.
DERIVED_CACHE_TABLES = ("inbound_outcomes_cache", "inbound_outcomes_inputs")


def relations(sql_dir: Traversable = SQL_DIR) -> dict[str, str]:
    """Relation name -> its SQL, one file per relation."""
    found = {
        entry.name.removesuffix(".sql"): entry
        for entry in sql_dir.iterdir()
        if entry.name.endswith(".sql") and entry.is_file()
    }
    return {name: found[name].read_text("utf-8") for name in sorted(found)}


def ensure_schema(con: duckdb.DuckDBPyConnection, sql_dir: Traversable = SQL_DIR) -> None:
    """Create every table and view. Views may depend on each other: apply in rounds until
    everything exists, so no manifest of dependencies has to be kept by hand. A view may
    also need a column that a later file adds to an older warehouse's table (a binder
    error): it is retried in the next round too."""
    pending = relations(sql_dir)
    while pending:
        failed: dict[str, str] = {}
        last_error: dict[str, str] = {}
        for name, sql in pending.items():
            try:
                con.execute(sql)
            except (duckdb.CatalogException, duckdb.BinderException) as exc:
                failed[name] = sql
                last_error[name] = str(exc).splitlines()[0]
        if len(failed) == len(pending):
            detail = "; ".join(f"{n}: {e}" for n, e in last_error.items())
            raise errors.VatsError(f"cannot create relations from {sql_dir}: {detail}")
        pending = failed


# (file, digest) pairs this process found up to date: checked once per process and file.
_schema_ready: set[tuple[str, str]] = set()


def _sql_digest(wanted: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(wanted.items())).encode()).hexdigest()


def sql_digest() -> str:
    """Digest of the SQL: changes with any table, view or macro."""
    return _sql_digest(relations())


def ensure_schema_once(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Apply the SQL when this file is not up to date with it, checked once per process and
    file.

    Applying costs ~0.25 s, a check ~0.02 s: every CLI command and flow connects as a writer,
    and a daily run is a few seconds in all."""
    wanted = relations()
    digest = _sql_digest(wanted)
    key = (str(path.resolve()), digest)
    if key in _schema_ready:
        return
    if not _is_current(con, wanted, digest):
        drop_derived_caches(con)
        ensure_schema(con)
        con.execute(
            "insert or replace into schema_state (id, sql_digest, applied_at) values (1, ?, now())",
            [digest],
        )
    _schema_ready.add(key)


def forget_checked(path: Path) -> None:
    """Check `path` again at its next connection, whatever this process saw of it before."""
    _schema_ready.discard((str(path.resolve()), sql_digest()))


def is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the open warehouse was last brought to this version's SQL."""
    wanted = relations()
    return _is_current(con, wanted, _sql_digest(wanted))


def drop_derived_caches(con: duckdb.DuckDBPyConnection) -> None:
    """Forget what another version of the SQL cached: its columns or its definitions may
    differ (`create table if not exists` keeps an old table as it was). The tables are made
    again empty, the views compute live until the next refresh rebuilds the cache in full."""
    for table in DERIVED_CACHE_TABLES:
        con.execute(f"drop table if exists {table}")
    with contextlib.suppress(duckdb.CatalogException):
        con.execute("delete from view_caches")


def _is_current(con: duckdb.DuckDBPyConnection, wanted: dict[str, str], digest: str) -> bool:
    """The digest recorded by the last writer matches, and every relation still exists."""
    try:
        recorded = con.execute("select sql_digest from schema_state where id = 1").fetchall()
    except duckdb.CatalogException:
        return False
    if recorded != [(digest,)]:
        return False
    present = {
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() union all "
            "select view_name from duckdb_views() where not internal union all "
            "select function_name from duckdb_functions() "
            "where function_type in ('macro', 'table_macro') and not internal"
        ).fetchall()
    }
    return wanted.keys() <= present
