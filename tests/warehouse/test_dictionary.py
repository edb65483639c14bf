"""docs/data-dictionary.md is generated from the database's comments and kept current."""

from __future__ import annotations

from pathlib import Path

import duckdb

from vats_etl import dictionary, warehouse

ROOT = Path(__file__).resolve().parents[2]
KPI_VIEWS = (
    "kpi_daily",
    "kpi_weekly",
    "kpi_by_employee_weekly",
    "kpi_by_number_weekly",
    "kpi_heatmap",
    "rating_by_employee",
    "low_ratings",
    "missed_calls",
    "calls_enriched",
    "ratings",
)


def test_committed_dictionary_is_current() -> None:
    committed = (ROOT / dictionary.DOC_PATH).read_text("utf-8")
    assert committed == dictionary.generate(), (
        "docs/data-dictionary.md is stale: run `python -m vats_etl.dictionary` and commit it"
    )


def fresh_relations() -> dict[str, dictionary.Relation]:
    con = duckdb.connect()
    warehouse.ensure_schema(con)
    try:
        return {r.name: r for r in dictionary.relations(con)}
    finally:
        con.close()


def test_every_table_and_view_is_commented() -> None:
    rels = fresh_relations()
    assert {"calls", "users_history", "kpi_settings", "missed_calls", "kpi_weekly"} <= set(rels)
    assert [name for name, r in rels.items() if not r.comment] == []


def test_every_column_of_the_analyst_views_is_described() -> None:
    rels = fresh_relations()
    missing = [f"{v}.{c.name}" for v in KPI_VIEWS for c in rels[v].columns if not c.comment]
    assert missing == []


def test_every_column_of_every_view_has_its_own_comment() -> None:
    """What an analyst's tool shows (duckdb_columns().comment, as DBeaver or the duckdb CLI
    read it): every view column says what it is itself, not only through the dictionary's
    inheritance from the relation it reads."""
    con = duckdb.connect()
    warehouse.ensure_schema(con)
    try:
        found = con.execute(
            "select v.view_name, c.column_name, c.comment from duckdb_views() as v "
            "join duckdb_columns() as c on c.table_name = v.view_name "
            "and c.schema_name = v.schema_name "
            "where v.schema_name = 'main' and not v.internal and not v.temporary"
        ).fetchall()
    finally:
        con.close()
    assert len(found) > 400
    assert [f"{view}.{column}" for view, column, comment in found if not comment] == []


def test_view_columns_inherit_comments_and_own_comments_win(tmp_path: Path) -> None:
    (tmp_path / "base.sql").write_text(
        "create table base (a integer, b integer);\n"
        "comment on table base is 'the base';\n"
        "comment on column base.a is 'from base';\n"
        "comment on column base.b is 'b of base';\n"
    )
    (tmp_path / "derived.sql").write_text(
        "create or replace view derived as select x.a, x.b, 1 as c from base as x;\n"
        "comment on view derived is 'on top';\n"
        "comment on column derived.b is 'own b';\n"
    )
    con = duckdb.connect()
    warehouse.ensure_schema(con, tmp_path)
    rels = {r.name: r for r in dictionary.relations(con)}
    assert [(c.name, c.comment) for c in rels["derived"].columns] == [
        ("a", "from base"),
        ("b", "own b"),
        ("c", None),
    ]
    text = dictionary.render(list(rels.values()))
    assert "## derived\n\n*view*. on top" in text
    assert "| `a` | INTEGER | from base |" in text


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    target = tmp_path / "dd.md"
    assert dictionary.main(["--check", "-o", str(target)]) == 1
    assert dictionary.main(["-o", str(target)]) == 0
    assert dictionary.main(["--check", "-o", str(target)]) == 0
    target.write_text(target.read_text() + "edited by hand\n")
    assert dictionary.main(["--check", "-o", str(target)]) == 1
