"""The data dictionary (docs/data-dictionary.md), generated from the database itself.

Every table, view and column description comes from the ``COMMENT ON`` statements in
``sql/``, read back through ``duckdb_tables()``, ``duckdb_views()`` and ``duckdb_columns()``
of a fresh in-memory warehouse — so the document cannot say anything the database does not.

    python -m vats_etl.dictionary            # rewrite docs/data-dictionary.md
    python -m vats_etl.dictionary --check    # exit 1 if the committed file is stale

A tool for the checkout: run it from the repository's root (or give -o).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from vats_etl import warehouse

DOC_PATH = Path("docs") / "data-dictionary.md"  # from the root of a checkout
HEADER = """\
# Data dictionary

Generated from the warehouse's own `COMMENT ON` texts (`sql/*.sql`) by
`python -m vats_etl.dictionary`; do not edit by hand (a test fails when this file is stale).
Times are `TIMESTAMPTZ` in UTC unless the column says local; local days, hours and weeks
use `kpi_settings.tz` (VATS_TZ). KPI parameters live in the one row of `kpi_settings`; what
each KPI means, with its parameter and the view or macro that computes it: [metrics.md](metrics.md).
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str | None


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str  # table | view
    comment: str | None
    columns: tuple[Column, ...]


def relations(con: duckdb.DuckDBPyConnection) -> list[Relation]:
    """Every table and view of the main schema with its comment and columns, by name.

    A view column without a comment of its own takes the comment of the same column in the
    first relation the view reads from (``from``/``join`` order), so ``calls_enriched.status``
    says what ``calls.status`` says.
    """
    found = con.execute(
        "select table_name, 'table', comment, '' from duckdb_tables() "
        "where schema_name = 'main' and not internal and not temporary "
        "union all "
        "select view_name, 'view', comment, sql from duckdb_views() "
        "where schema_name = 'main' and not internal and not temporary "
        "order by 1"
    ).fetchall()
    columns: dict[str, list[tuple[str, str, str | None]]] = {}
    for table, name, dtype, comment in con.execute(
        "select table_name, column_name, data_type, comment from duckdb_columns() "
        "where schema_name = 'main' and not internal order by table_name, column_index"
    ).fetchall():
        columns.setdefault(table, []).append((name, dtype, comment))
    sources = {name: _sources(sql, columns) for name, _, _, sql in found}
    resolved: dict[tuple[str, str], str | None] = {}

    def comment_of(relation: str, column: str) -> str | None:
        key = (relation, column)
        if key not in resolved:
            resolved[key] = None  # views are acyclic; this only guards the recursion
            own = next((c for n, _, c in columns.get(relation, []) if n == column), None)
            inherited = (
                comment_of(source, column)
                for source in sources.get(relation, [])
                if any(n == column for n, _, _ in columns.get(source, []))
            )
            resolved[key] = own or next((c for c in inherited if c), None)
        return resolved[key]

    return [
        Relation(
            name,
            kind,
            comment,
            tuple(Column(c, t, comment_of(name, c)) for c, t, _ in columns.get(name, [])),
        )
        for name, kind, comment, _ in found
    ]


def _sources(sql: str, known: Mapping[str, object]) -> list[str]:
    """Relations a view's SQL reads from, in order of first appearance (DuckDB stores a
    view's joins nested in parentheses: ``FROM (((calls_enriched AS ce CROSS JOIN ...``)."""
    words = re.findall(r"\b(?:from|join)[\s(]+([a-z_][a-z0-9_]*)", sql.lower())
    return list(dict.fromkeys(w for w in words if w in known))


def _cell(text: str | None) -> str:
    if not text:
        return ""
    return " ".join(text.split()).replace("|", "\\|")


def render(rels: list[Relation]) -> str:
    lines = [HEADER]
    for kind, title in (("table", "Tables"), ("view", "Views")):
        names = [r.name for r in rels if r.kind == kind]
        lines.append(f"**{title}:** " + ", ".join(f"[`{n}`](#{n})" for n in names) + "\n")
    for rel in rels:
        lines += [
            f"## {rel.name}",
            "",
            f"*{rel.kind}*. {_cell(rel.comment) or '(no description)'}",
            "",
            "| column | type | description |",
            "|---|---|---|",
        ]
        lines += [f"| `{c.name}` | {c.type} | {_cell(c.comment)} |" for c in rel.columns]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def generate(sql_dir: Traversable = warehouse.SQL_DIR) -> str:
    """The dictionary of a fresh warehouse built from `sql_dir`."""
    con = duckdb.connect()
    try:
        warehouse.ensure_schema(con, sql_dir)
        return render(relations(con))
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/data-dictionary.md.")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("-o", "--output", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    text = generate()
    current = args.output.read_text("utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is stale: run python -m vats_etl.dictionary", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text, "utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
