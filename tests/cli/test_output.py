"""A run's summary says the same on the terminal (the command's table) and in Prefect's UI
(the flow run's Markdown artifact): both are drawn from vats_etl.summary."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from vats_etl.cli import output
from vats_etl.pipeline import KindTotals, RunSummary
from vats_etl.snapshots import SnapshotSummary, TableChange

STARTED = datetime(2024, 6, 10, 12, tzinfo=UTC)


def a_run() -> RunSummary:
    return RunSummary(
        "0123456789abcdef",
        STARTED,
        datetime(2024, 6, 10, 12, 0, 5, tzinfo=UTC),
        skipped=8,
        totals={
            "internal": KindTotals(2, 0, 1500, 1500, 0),
            "external": KindTotals(1200, 1, 2_345_678, 2_345_000, 678),
        },
        failures=[("external json 2024-06-04", "GET history: gave up")],
        warnings=["sims skipped: GET sims: 404 Not Found"],
    )


def terminal_rows(shown: str) -> dict[str, list[str]]:
    """The rich table's rows (its heading first) by their first cell: the cells."""
    rows = [line for line in shown.splitlines() if line[:2] in ("│ ", "┃ ")]
    cells = [[c.strip() for c in re.split("[│┃]", line)[1:-1]] for line in rows]
    return {row[0]: row for row in cells}


def markdown_rows(markdown: str) -> dict[str, list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in rows]
    return {row[0]: row for row in cells}


def test_a_load_summary_on_the_terminal_and_in_the_artifact(capsys):
    from vats_etl.flows.history import summary_markdown

    summary = a_run()
    output.run_summary(summary, 10.0, 0.0)
    shown = capsys.readouterr().err
    markdown = summary_markdown("Backfill", summary)
    rows, table = terminal_rows(shown), markdown_rows(markdown)
    assert rows["kind"] == ["kind", "chunks", "failed", "received", "loaded", "quarantined"]
    assert table["kind"] == [
        "kind", "chunks", "failed", "rows received", "rows loaded", "rows quarantined"
    ]  # fmt: skip
    assert list(rows) == list(table) == ["kind", "external", "internal"]  # by kind, sorted
    # the same figures; the terminal groups thousands, the document leaves them as they are
    assert rows["external"][1:] == ["1200", "1", "2,345,678", "2,345,000", "678"]
    assert table["external"][1:] == ["1200", "1", "2345678", "2345000", "678"]
    assert rows["internal"][1:] == ["2", "0", "1,500", "1,500", "0"]
    assert table["internal"][1:] == ["2", "0", "1500", "1500", "0"]
    assert "run 01234567: failed" in shown and "Run `0123456789abcdef`: **failed**" in markdown
    assert "8 settled chunks skipped" in shown and "8 settled chunks skipped" in markdown
    assert "failed external json 2024-06-04: GET history: gave up" in shown
    assert "- `external json 2024-06-04`: GET history: gave up" in markdown
    assert "warning: sims skipped: GET sims: 404 Not Found" in shown
    assert "- sims skipped: GET sims: 404 Not Found" in markdown
    assert "678 rows quarantined: select * from quarantine" in shown
    assert "2,346,500 rows in 10.0 s (234,650 rows/s)" in shown


def test_a_snapshot_summary_on_the_terminal_and_in_the_artifact(capsys):
    from vats_etl.flows.snapshot import summary_markdown

    summary = SnapshotSummary(
        STARTED,
        requests=7,
        tables={
            "users_history": TableChange(1234, 2, 1, 1231),
            "sims_history": TableChange(0, 0, 0, 0),
        },
        skipped={"sims": "GET sims: 404 Not Found"},
    )
    output.snapshot_summary(summary, "Europe/Moscow")
    shown = capsys.readouterr().err
    markdown = summary_markdown(summary, "Europe/Moscow")
    rows, table = terminal_rows(shown), markdown_rows(markdown)
    assert rows["table"] == ["table", "seen", "new versions", "closed", "unchanged"]
    assert table["table"] == ["table", "rows seen", "new versions", "closed", "unchanged"]
    assert list(rows) == list(table) == ["table", "users_history", "sims_history"]
    assert rows["users_history"][1:] == ["1,234", "2", "1", "1,231"]
    assert table["users_history"][1:] == ["1234", "2", "1", "1231"]
    # in the company zone (VATS_TZ), like every other time shown: 12:00 UTC is 15:00 there
    assert "snapshot 2024-06-10 15:00:00 Europe/Moscow" in shown
    assert "# Directory snapshot 2024-06-10 15:00:00 Europe/Moscow" in markdown
    assert "UTC" not in shown and "UTC" not in markdown
    assert "7 requests; changes recorded" in shown and "7 requests; changes recorded" in markdown
