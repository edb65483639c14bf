"""What commands show: progress, summaries and tables go to stderr (a command's results, such
as the files it wrote or a query's rows, to stdout), through rich; a pipe or a log file gets
120 columns, not 80."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from vats_etl import summary as summary_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from vats_etl.accounts import Account, CheckResult
    from vats_etl.config import Settings
    from vats_etl.flows.deploy import DeployResult
    from vats_etl.pipeline import RunSummary
    from vats_etl.snapshots import SnapshotSummary


def console(*, stderr: bool = True) -> Console:
    from rich.console import Console

    chosen = Console(stderr=stderr)
    if not chosen.is_terminal:
        chosen = Console(stderr=stderr, width=120)
    return chosen


def _summary_table(title: str, table: summary_lines.Table) -> Table:
    from rich.table import Table

    shown = Table(title=title, title_justify="left")
    shown.add_column(table.first, justify="left")
    for column in table.columns:
        shown.add_column(column.short, justify="right")
    for name, figures in table.rows:
        cells = (
            f"{n:,}" if column.counts_rows else str(n)
            for column, n in zip(table.columns, figures, strict=True)
        )
        shown.add_row(name, *cells)
    return shown


def run_summary(summary: RunSummary, seconds: float, waited_s: float) -> None:
    """A load's totals, and the time the user waited for them (`seconds`, of which
    `waited_s` for Prefect's temporary server)."""
    out = console()
    title = f"run {summary.run_id[:8]}: {summary.status}"
    out.print(_summary_table(title, summary_lines.load_table(summary)))
    skipped = summary_lines.skipped_note(summary)
    out.print(
        f"{summary.rows_loaded:,} rows in {seconds:.1f} s "
        f"({summary.rows_loaded / max(seconds, 1e-9):,.0f} rows/s)"
        + (f", {waited_s:.1f} s of it waiting for Prefect's server" if waited_s >= 0.1 else "")
        + (f"; {skipped}" if skipped else "")
    )
    for chunk, error in summary.failures:
        out.print(f"[red]failed[/red] {chunk}: {error}", markup=True, highlight=False)
    warnings(out, summary.warnings)
    quarantined = summary_lines.quarantine_note(summary)
    if quarantined:
        out.print(quarantined)


def snapshot_summary(summary: SnapshotSummary, tz: str) -> None:
    """The snapshot's table, its time in the company zone `tz` (VATS_TZ)."""
    out = console()
    title = f"snapshot {summary_lines.snapshot_heading(summary, tz)}"
    out.print(_summary_table(title, summary_lines.snapshot_table(summary)))
    warnings(out, summary.warnings)
    out.print(
        f"{summary.requests} requests; "
        + ("changes recorded" if summary.changed else "no change since the last snapshot")
    )


def warnings(out: Console, lines: Iterable[str]) -> None:
    for warning in lines:
        out.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


def rows_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> Table:
    """A query's result; NULL shows as nothing."""
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def accounts_table(
    title: str,
    accounts: Sequence[Account],
    results: Sequence[CheckResult],
    settings: Sequence[Settings],
    *,
    checked: bool,
) -> Table:
    """Each account, where its API is, its zone, the variable holding its key (never the
    key), and what the check said."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("account", "API", "zone", "key variable", "status", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "no key": "yellow"}
    for account, result, s in zip(accounts, results, settings, strict=True):
        colour = colours.get(result.status, "red")
        table.add_row(
            account.name,
            account.base_url,
            account.tz or "the PBX's",
            account.key_env + ("" if s.api_key else " (not set)"),
            f"[{colour}]{result.status}[/{colour}]" if checked else "-",
            result.detail,
        )
    return table


def deployments_table(result: DeployResult) -> Table:
    """Each account deployed: its zone, its deployments and its API rate limit."""
    from rich.table import Table

    table = Table(
        title=f"work pool {result.pool} (limit {result.pool_limit or 'none'})",
        title_justify="left",
    )
    for column in ("account", "zone", "deployments", "API rate limit"):
        table.add_column(column)
    for d in result.deployed:
        table.add_row(d.account, d.tz, "\n".join(d.deployments), f"{d.rate_per_s:g} requests/s")
    return table


def status_counts(results: Iterable[CheckResult]) -> str:
    """`2 ok, 1 rejected key`: how many accounts of each status, in order of appearance."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())
