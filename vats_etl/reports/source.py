"""Where reports read, in two steps a caller takes in order:

1. :func:`prepare_read_copy` — the one step that may write: when the warehouse (or its
   published read copy) was last written by an older vats-etl, its views lack what this
   version reads and a report would show zeros rather than fail, so the warehouse is
   upgraded and its read copy published anew. Report commands and flows call it first.
2. :func:`open_read` — a read-only connection to the read copy (never blocks a writer) or,
   without one, to the warehouse itself. It never writes: a source an older vats-etl left
   is refused with a clear error instead of being read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from vats_etl import errors, warehouse
from vats_etl.config import Settings


def source_path(settings: Settings) -> Path:
    """The read copy when a flow has published one, else the warehouse itself."""
    read_copy = warehouse.read_copy_path(settings.db_path)
    return read_copy if read_copy.exists() else settings.db_path


def _existing_source(settings: Settings) -> Path:
    path = source_path(settings)
    if not path.exists():
        raise errors.VatsError(f"no warehouse at {settings.db_path}: run a backfill first")
    return path


def _is_outdated(settings: Settings, path: Path) -> bool:
    """Written by an older vats-etl, and there is a warehouse to upgrade (a lone read copy,
    as an analyst host may have, is read as it is)."""
    return settings.db_path.exists() and not warehouse.schema_is_current(
        path, timeout_s=settings.db_lock_timeout_s
    )


def prepare_read_copy(settings: Settings) -> Path:
    """Make what reports read current with this version of the views; returns that file.

    Writes only when the source was left by an older vats-etl: then the warehouse is
    upgraded (its zone kept as `settings.tz`) and a fresh read copy published."""
    path = _existing_source(settings)
    if _is_outdated(settings, path):
        path = warehouse.publish_read_copy(
            settings.db_path,
            timeout_s=settings.db_lock_timeout_s,
            upgrade=warehouse.Company.from_settings(settings),
        )
    return path


@contextlib.contextmanager
def open_read(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for the few seconds a report takes: the published read copy,
    else the warehouse itself, read-only, waiting like any writer does while another
    process holds it. Call :func:`prepare_read_copy` first."""
    path = _existing_source(settings)
    if _is_outdated(settings, path):
        raise errors.WarehouseError(
            f"{path} was written by an older vats-etl: its views lack what this version "
            "reads; a report command upgrades it (reports.prepare_read_copy)"
        )
    with warehouse.connect(path, read_only=True, timeout_s=settings.db_lock_timeout_s) as con:
        yield con
