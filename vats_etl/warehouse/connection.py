"""Opening the warehouse: waiting for DuckDB's one writer process, bringing the schema up to
date, keeping the company's settings, transactions, and what a broken file raises.

Concurrency (DuckDB allows one writer *process*): writers open the file only for as long as
a batch takes and retry while another process holds it, failing with
:class:`~vats_etl.errors.DatabaseBusy` after ``timeout_s``. Analysts open the **read copy**
(``<db>.read.duckdb``, vats_etl.warehouse.read_copy) instead, which never blocks a writer.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal, overload

import duckdb

from vats_etl import errors
from vats_etl.warehouse import schema, stamp
from vats_etl.warehouse.kpi_settings import Company, sync_kpi_settings

_LOCK_MESSAGE = re.compile(r"lock", re.IGNORECASE)
_HOLDER = re.compile(r"\(PID (\d+)\)")

# What the file or the disk under it did (corrupt, truncated, unwritable, full), as opposed
# to what a query did wrong: these end a command with one line, not a traceback.
STORAGE_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.SerializationException,
    duckdb.PermissionException,
)
# ... and errors of other types that report what the disk did: a commit whose WAL could not
# be written is a TransactionException ("Failed to commit: Could not write file ...: No
# space left on device"), where a conflict between transactions is one too.
_STORAGE_TEXT = re.compile(
    r"could not (?:write|read|open|create|truncate|sync|fsync)|no space left|disk quota"
    r"|input/output error|read-only file system|file too large",
    re.IGNORECASE,
)


def is_storage_error(exc: BaseException) -> bool:
    """Whether a DuckDB error is about the file or the disk under it (see STORAGE_ERRORS)."""
    if isinstance(exc, STORAGE_ERRORS):
        return True
    return isinstance(exc, duckdb.Error) and _STORAGE_TEXT.search(str(exc)) is not None


class _Unset:
    def __repr__(self) -> str:
        return "<not given>"


_NOT_GIVEN: Final = _Unset()


def read_copy_path(path: Path) -> Path:
    """Where the read copy of the warehouse at `path` is published: ``<db>.read.duckdb``."""
    return path.with_name(f"{path.stem}.read{path.suffix}")


@overload
def connect(
    path: Path, *, read_only: Literal[True], timeout_s: float = ...
) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...


@overload
def connect(
    path: Path,
    *,
    company: Company | None,
    read_only: Literal[False] = ...,
    timeout_s: float = ...,
) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]: ...


@contextlib.contextmanager
def connect(
    path: Path,
    *,
    company: Company | _Unset | None = _NOT_GIVEN,
    read_only: bool = False,
    timeout_s: float = 60.0,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting up to `timeout_s` while another process holds it.

    A writer says what it keeps: with a `company`, it first makes sure the file is not the
    warehouse of another account (vats_etl.warehouse.stamp; before writing anything), then
    brings the file up to this version's SQL, writes the company's zone and KPI file values
    into `kpi_settings` and stamps an account's warehouse with its name; with
    ``company=None`` it opens the file as it is (a writer that knows all that is done). A
    reader (``read_only=True``) keeps nothing and takes no company.

    What the file or the disk does wrong (not a DuckDB file, the disk full, ...) is raised
    as :class:`~vats_etl.errors.WarehouseError` naming the file."""
    if read_only and company is not _NOT_GIVEN:
        raise TypeError("a read-only connection keeps no company settings")
    if not read_only and isinstance(company, _Unset):
        raise TypeError("a writer must say which company settings it keeps (company=...)")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.WarehouseError(
                f"cannot create {path}: {path.parent}: {exc.strerror or exc}"
            ) from None
    elif not path.exists():
        raise errors.VatsError(f"no warehouse at {path}: run a backfill first")
    con = _open(path, read_only=read_only, timeout_s=timeout_s)
    try:
        con.execute("set timezone = 'UTC'")
        if isinstance(company, Company):
            owner = stamp.owner(con)
            stamp.refuse_another(path, owner, company.account)
            schema.ensure_schema_once(con, path)
            sync_kpi_settings(con, company.tz, company.kpi)
            if owner is None and company.account is not None:
                stamp.stamp(con, company.account)
        yield con
    except duckdb.Error as exc:
        if not is_storage_error(exc):
            raise
        raise errors.WarehouseError(f"{path}: {_one_line(exc)}") from None
    finally:
        # closing an invalidated database fails too, and so does its checkpoint on a full
        # disk: what was committed is in the WAL, which the next open replays
        with contextlib.suppress(duckdb.Error):
            con.close()


# Replaying a WAL that holds DDL (a schema applied, then the process killed or its checkpoint
# failed on a full disk) binds expressions before DuckDB has loaded its built-in functions:
# it then tries to *download* them ("Failed to download extension core_functions") and,
# offline, the file does not open. Told not to install, it loads the built-in ones.
_WAL_REPLAY = re.compile(r"replaying WAL", re.IGNORECASE)
_REPLAY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": True,
}


def _open(path: Path, *, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retried with backoff while another process holds the file."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        new = not path.exists()
        try:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as exc:
                if not _WAL_REPLAY.search(str(exc)):
                    raise
                return duckdb.connect(str(path), read_only=read_only, config=_REPLAY_CONFIG)
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                if new:
                    _forget_unborn(path)
                raise errors.WarehouseError(f"cannot open {path}: {_one_line(exc)}") from None
            if time.monotonic() + delay > deadline:
                holder = _HOLDER.search(str(exc))
                who = f"process {holder.group(1)}" if holder else "another process"
                raise errors.DatabaseBusy(
                    f"{path} is held by {who} for more than {timeout_s:.0f}s; close that "
                    f"session (analysts: open {read_copy_path(path).name} instead) or raise "
                    f"VATS_DB_LOCK_TIMEOUT"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _forget_unborn(path: Path) -> None:
    """A new file DuckDB could not even write its header to (the disk full) is left empty,
    and an empty file is "not a valid DuckDB database file" to every later open: remove
    it, so the next run starts afresh."""
    for leftover in (path, path.with_name(f"{path.name}.wal")):
        with contextlib.suppress(OSError):
            if leftover.stat().st_size == 0:
                leftover.unlink()


def _is_lock_error(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.IOException) and bool(_LOCK_MESSAGE.search(str(exc)))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def schema_is_current(path: Path, *, timeout_s: float = 60.0) -> bool:
    """Whether the file (a warehouse or its read copy) was last brought to this version's SQL."""
    with connect(path, read_only=True, timeout_s=timeout_s) as con:
        return schema.is_current(con)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back when it raises (best
    effort: a commit that failed, e.g. on a full disk, leaves nothing to roll back, and the
    failure itself is what the caller must see)."""
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
