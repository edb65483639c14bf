"""What the disk under the warehouse does is a storage error (one line), whatever type DuckDB
gives it; and what a failed write leaves behind opens again.

The commands on a real full filesystem: tests/integration/test_full_disk.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.support.disks import fill, tiny_disk
from vats_etl import errors, warehouse


def test_a_commit_the_disk_refused_is_a_storage_error_a_conflict_is_not() -> None:
    full = duckdb.TransactionException(
        'TransactionContext Error: Failed to commit: Could not write file "/d/v.duckdb.wal": '
        "No space left on device"
    )
    conflict = duckdb.TransactionException(
        "TransactionContext Error: Conflict on update: another transaction updated the row"
    )
    assert warehouse.is_storage_error(full)
    assert not warehouse.is_storage_error(conflict)
    assert warehouse.is_storage_error(duckdb.IOException("IO Error: anything"))
    assert not warehouse.is_storage_error(duckdb.BinderException("Binder Error: no column x"))


@pytest.mark.slow  # a process of its own, killed
def test_a_schema_left_in_the_wal_opens_offline(tmp_path: Path) -> None:
    """A warehouse whose schema was committed but never checkpointed (the process killed, or
    its checkpoint refused by a full disk): replaying that WAL makes DuckDB look for its
    built-in functions online; the warehouse opens all the same."""
    db = tmp_path / "vats.duckdb"
    script = (
        "import os, duckdb\n"
        "from vats_etl import warehouse\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "con.execute(\"set checkpoint_threshold = '1TB'\")\n"
        "warehouse.ensure_schema(con)\n"
        "os._exit(0)\n"  # as kill -9: no checkpoint, the WAL stays
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert db.with_name("vats.duckdb.wal").stat().st_size > 0
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        assert con.execute("select count(*) from kpi_settings").fetchall() == [(1,)]
    with duckdb.connect(str(db)) as con:  # replayed and checkpointed: plain opens work too
        assert con.execute("select tz from kpi_settings").fetchall() == [("Europe/Moscow",)]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    yield from tiny_disk(tmp_path / "disk", "5m")


@pytest.mark.slow  # mounts a filesystem
def test_a_warehouse_on_a_full_disk_is_one_error_and_leaves_no_empty_file(disk: Path) -> None:
    """DuckDB cannot even write a new file's header: the empty file it made would be "not a
    valid DuckDB database file" to every later open, so it is removed."""
    filler = fill(disk)
    db = disk / "vats.duckdb"
    company = warehouse.Company("Europe/Moscow")
    with (
        pytest.raises(errors.WarehouseError, match="No space left on device"),
        warehouse.connect(db, company=company),
    ):
        pass
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    filler.unlink()
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        assert con.execute("select tz from kpi_settings").fetchall() == [("Europe/Moscow",)]


@pytest.mark.slow  # mounts a filesystem
def test_a_commit_on_a_full_disk_is_a_warehouse_error_and_the_rows_come_later(disk) -> None:
    db = disk / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")):
        pass
    filler = fill(disk)
    rows = (
        "select 'u' || i as uid, repeat('x', 500) || i as record_url, 'api_json' as source, "
        "now() as loaded_at from range(20000) as r(i)"
    )
    with pytest.raises(errors.WarehouseError) as caught, warehouse.connect(db, company=None) as con:
        con.execute(f"insert into calls by name {rows}")
    assert str(caught.value).startswith(f"{db}: ")
    assert "No space left on device" in str(caught.value)
    filler.unlink()
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        assert con.execute("select count(*) from calls").fetchall() == [(0,)]  # all or nothing
