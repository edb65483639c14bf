"""What a run's summary says, as rows and lines, for whoever shows it: the command's table on
the terminal (vats_etl.cli) and the flow run's Markdown artifact in Prefect's UI (flows/) say
the same things from here, each in its own markup.

Two summaries: a history load's (:class:`~vats_etl.pipeline.RunSummary`, per history kind) and
a directory snapshot's (:class:`~vats_etl.snapshots.SnapshotSummary`, per history table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vats_etl.pipeline import RunSummary
    from vats_etl.snapshots import SnapshotSummary


@dataclass(frozen=True)
class Column:
    """A figure of each row: the attribute it is read from, its heading on the terminal
    (narrow) and in a document, and whether it counts rows (shown with thousands separators
    on the terminal)."""

    attribute: str
    short: str
    long: str
    counts_rows: bool = True


@dataclass(frozen=True)
class Table:
    """The rows of a summary: the first column names the row, the others are figures."""

    first: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, tuple[int, ...]], ...]


# A history load: per kind, the chunks and the rows of them.
LOAD_COLUMNS = (
    Column("chunks", "chunks", "chunks", counts_rows=False),
    Column("failed", "failed", "failed", counts_rows=False),
    Column("rows_received", "received", "rows received"),
    Column("rows_loaded", "loaded", "rows loaded"),
    Column("rows_quarantined", "quarantined", "rows quarantined"),
)
# A directory snapshot: per history table, what the snapshot saw and what it changed.
SNAPSHOT_COLUMNS = (
    Column("seen", "seen", "rows seen"),
    Column("opened", "new versions", "new versions"),
    Column("closed", "closed", "closed"),
    Column("unchanged", "unchanged", "unchanged"),
)


def load_table(summary: RunSummary) -> Table:
    """Each history kind of the run (alphabetically) with its chunks and rows."""
    rows = tuple(
        (kind, tuple(int(getattr(totals, c.attribute)) for c in LOAD_COLUMNS))
        for kind, totals in sorted(summary.totals.items())
    )
    return Table("kind", LOAD_COLUMNS, rows)


def snapshot_heading(summary: SnapshotSummary, tz: str) -> str:
    """When the snapshot was taken, in the company zone like every other time shown:
    ``2024-06-10 15:00:00 Europe/Moscow``."""
    from zoneinfo import ZoneInfo

    return f"{summary.taken_at.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M:%S} {tz}"


def snapshot_table(summary: SnapshotSummary) -> Table:
    """Each history table of the snapshot, in the order it was stored."""
    rows = tuple(
        (name, tuple(int(getattr(change, c.attribute)) for c in SNAPSHOT_COLUMNS))
        for name, change in summary.tables.items()
    )
    return Table("table", SNAPSHOT_COLUMNS, rows)


def skipped_note(summary: RunSummary) -> str | None:
    """Chunks a run left alone because an earlier run loaded them for good."""
    return f"{summary.skipped} settled chunks skipped" if summary.skipped else None


def quarantine_note(summary: RunSummary) -> str | None:
    """Where the rows the run rejected are, when it rejected any."""
    if not summary.rows_quarantined:
        return None
    return (
        f"{summary.rows_quarantined:,} rows quarantined: select * from quarantine "
        "order by last_seen_at desc"
    )


def markdown_table(table: Table) -> list[str]:
    """The table in Markdown, figures right-aligned and as they are."""
    headings = " | ".join(c.long for c in table.columns)
    lines = [
        f"| {table.first} | {headings} |",
        "|---|" + "---:|" * len(table.columns),
    ]
    lines += [f"| {name} | {' | '.join(str(n) for n in figures)} |" for name, figures in table.rows]
    return lines
