"""Copies of call recordings, next to the raw archive, before the PBX's links expire."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, cast

import click

from vats_etl.cli import options, output
from vats_etl.cli.context import Context, pass_context
from vats_etl.cli.failures import EXIT_OK, EXIT_PARTIAL

if TYPE_CHECKING:
    from vats_etl.recordings import Outcome, Which


@click.command()
@options.first_day("First day of the calls (YYYY-MM-DD) [default: 7 days before --to].")
@options.last_day("Last day of the calls, included [default: today].")
@click.option(
    "--which",
    type=click.Choice(["reported", "all"]),
    default="reported",
    show_default=True,
    help="reported: the recordings the reports point to (low ratings, lost clients' "
    "voicemails, late call-backs); all: every call's.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Downloads at once.",
)
@pass_context
def recordings(
    ctx: Context, date_from: date | None, date_to: date | None, which: str, concurrency: int
) -> int:
    """Copy call recordings into recordings/date=YYYY-MM-DD/ next to the raw archive (the
    PBX deletes or expires them), and prune copies older than VATS_RECORDINGS_KEEP_DAYS.
    Resumable; a recording the PBX no longer has is noted, never asked for again. Exit code
    3 when some could not be fetched now (asked again next time)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vats_etl import recordings as copies
    from vats_etl.client import PbxClient

    settings = ctx.settings()
    base_url, api_key = settings.require_api()
    options.check_order(date_from, date_to)
    today = datetime.now(UTC).astimezone(settings.zone).date()
    last = date_to or today
    first = date_from or last - timedelta(days=copies.REFETCH_DAYS)
    bar = Progress(
        TextColumn("[bold]recordings"),
        BarColumn(),
        MofNCompleteColumn(),
        console=output.console(),
        transient=True,
    )
    task = bar.add_task("recordings", total=None)

    def on_one(_: Outcome) -> None:
        bar.update(task, advance=1)

    with PbxClient(base_url, api_key) as client, bar:
        summary = copies.copy(
            settings,
            client,
            which=cast("Which", which),
            first=first,
            last=last,
            concurrency=concurrency,
            on_one=on_one,
        )
    out = output.console()
    out.print(summary.line(), markup=False, highlight=False, soft_wrap=True)
    output.warnings(out, (f"not copied: {failure}" for failure in summary.failures[:10]))
    return EXIT_PARTIAL if summary.failed else EXIT_OK
