"""Writers apply sql/ only when the warehouse is not up to date with it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from vats_etl import warehouse

MOSCOW = warehouse.Company("Europe/Moscow")


def open_as_a_new_process(path: Path) -> None:
    warehouse.schema._schema_ready.clear()  # what a fresh process starts with
    with warehouse.connect(path, company=MOSCOW):
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
    monkeypatch.setattr(warehouse.schema, "relations", lambda sql_dir=warehouse.SQL_DIR: changed)

    open_as_a_new_process(db)

    assert applied_at(db) != first


def test_a_warehouse_of_the_previous_version_is_brought_up_to_date(tmp_path: Path) -> None:
    """A warehouse from before working hours and outcomes: kpi_settings without working
    hours, an outcome cache without next_contact_at (and filled, and marked fresh). The next
    writer adds the columns, keeps the analyst's W, forgets the cache (its rows came from
    other definitions) and the next publish rebuilds it."""
    from tests.support.warehouse_rows import HOUR, T0, callback, insert_calls, miss

    db = tmp_path / "vats.duckdb"
    open_as_a_new_process(db)
    with warehouse.connect(db, company=MOSCOW) as con:
        insert_calls(con, [miss("m"), callback("cb", started_at=T0 + HOUR)])
        con.execute("update kpi_settings set recovery_window_s = 172800")
        assert warehouse.refresh_outcomes_cache(con) == "full"
        for column in ("work_days", "work_start", "work_end"):
            con.execute(f"alter table kpi_settings drop column {column}")
        con.execute("alter table inbound_outcomes_cache drop column next_contact_at")
        con.execute("update schema_state set sql_digest = 'the previous version'")

    open_as_a_new_process(db)

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "select recovery_window_s, work_days, work_start::varchar, work_end::varchar "
            "from kpi_settings"
        ).fetchall() == [(172800, [1, 2, 3, 4, 5], "09:00:00", "18:00:00")]
        assert con.execute("select count(*) from view_caches").fetchall() == [(0,)]
        assert con.execute("select count(*) from inbound_outcomes_cache").fetchall() == [(0,)]
        assert con.execute("select uid, outcome, hours from missed_calls").fetchall() == [
            ("m", "recovered", "in_hours")
        ]
    warehouse.publish_read_copy(db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from inbound_outcomes_cache").fetchall() == [(1,)]
        assert con.execute("select count(*) from view_caches").fetchall() == [(1,)]


def test_a_warehouse_from_before_the_cache_sql_moved_into_sql_files_refreshes_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version before this one refreshed the outcome cache with SQL of its own: its
    warehouses have no outcomes_cache_* macros, another digest and a cache marked fresh. The
    next writer creates the macros and forgets the cache; the next refresh rebuilds it in
    full and the one after a load refreshes it incrementally, equal to recomputing it."""
    import polars as pl

    from tests.support.warehouse_rows import DAY, HOUR, LOADED_AT, T0, callback, insert_calls, miss
    from vats_etl.parse import CALL_SCHEMA

    monkeypatch.setattr(warehouse.caches, "FULL_REFRESH_SHARE", 1.0)  # 2 changes in 4 calls
    macros = sorted(name for name in warehouse.relations() if name.startswith("outcomes_cache_"))
    assert len(macros) >= 5
    db = tmp_path / "vats.duckdb"
    open_as_a_new_process(db)
    with warehouse.connect(db, company=MOSCOW) as con:
        insert_calls(con, [miss("m"), callback("cb", started_at=T0 + HOUR)])
        assert warehouse.refresh_outcomes_cache(con) == "full"
        for macro in macros:
            con.execute(f"drop macro table {macro}")
        con.execute("update schema_state set sql_digest = 'the previous version'")

    open_as_a_new_process(db)

    with warehouse.connect(db, company=MOSCOW) as con:
        assert con.execute("select count(*) from view_caches").fetchall() == [(0,)]
        present = con.execute(
            "select function_name from duckdb_functions() where function_type = 'table_macro' "
            "and function_name like 'outcomes_cache_%' order by 1"
        ).fetchall()
        assert [name for (name,) in present] == macros
        assert warehouse.refresh_outcomes_cache(con) == "full"
        later = pl.DataFrame(
            [miss("m2", started_at=T0 + DAY), callback("cb2", started_at=T0 + DAY + HOUR)],
            schema=CALL_SCHEMA,
            orient="row",
        )
        warehouse.upsert(con, "calls", later, LOADED_AT + DAY)
        assert warehouse.refresh_outcomes_cache(con) == "incremental"
        cached = con.sql("select * from inbound_outcomes_cache order by uid").fetchall()
        recomputed = con.sql(
            "select * from inbound_outcomes_of(calls, kpi_settings) order by uid"
        ).fetchall()
        assert cached == recomputed and len(cached) == 2
