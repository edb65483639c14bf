"""Writers apply sql/ only when the warehouse is not up to date with it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from vats_etl import warehouse


def open_as_a_new_process(path: Path) -> None:
    warehouse._schema_ready.clear()  # what a fresh process starts with
    with warehouse.connect(path):
        pass


def applied_at(path: Path) -> object:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select applied_at from schema_state").fetchall()


def test_an_up_to_date_warehouse_is_not_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "vats.duckdb"
    open_as_a_new_process(db)
    first = applied_at(db)

    open_as_a_new_process(db)

    assert applied_at(db) == first


def test_a_missing_relation_is_recreated(tmp_path: Path) -> None:
    db = tmp_path / "vats.duckdb"
    open_as_a_new_process(db)
    with duckdb.connect(str(db)) as con:
        con.execute("drop view kpi_daily")
        con.execute("drop macro table inbound_outcomes_of")

    open_as_a_new_process(db)

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from kpi_daily").fetchall() == [(0,)]


def test_changed_sql_is_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "vats.duckdb"
    open_as_a_new_process(db)
    first = applied_at(db)
    current = warehouse.relations()
    changed = {**current, "kpi_daily": current["kpi_daily"] + "\n-- a new version\n"}
    monkeypatch.setattr(warehouse, "relations", lambda sql_dir=warehouse.SQL_DIR: changed)

    open_as_a_new_process(db)

    assert applied_at(db) != first
