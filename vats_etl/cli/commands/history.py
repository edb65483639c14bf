"""Loading history and the directory: backfill, daily, replay, snapshot; and check, the one
cheap call that says whether the URL and the key work."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import TYPE_CHECKING, cast

import click

from vats_etl.cli import options, output, running
from vats_etl.cli.context import Context, pass_context

if TYPE_CHECKING:
    from vats_etl.flows.runtime import Runtime
    from vats_etl.history import HistoryFormat, HistoryKind
    from vats_etl.pipeline import RunSummary


@click.command()
@options.first_day("First day (YYYY-MM-DD).", required=True)
@options.last_day("Last day, included.", required=True)
@options.history_kinds
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="History format to ask the API for (csv: for accounts that export only CSV).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Chunks fetched at once.",
)
@click.option("--force", is_flag=True, help="Re-read chunks that are already loaded settled.")
@pass_context
def backfill(
    ctx: Context,
    date_from: date,
    date_to: date,
    kinds: tuple[HistoryKind, ...],
    fmt: str,
    concurrency: int,
    force: bool,
) -> int:
    """Load history for a date range (days in VATS_TZ, both included); resumable."""
    options.check_order(date_from, date_to)
    formats = (cast("HistoryFormat", fmt),)
    settings = ctx.settings()
    settings.require_api()

    def begin(rt: Runtime) -> Runtime:
        """Start loading while Prefect's server starts; the flow follows this load."""
        load = rt.begin_backfill(
            date_from, date_to, kinds, formats, concurrency=concurrency, force=force
        )
        return dataclasses.replace(rt, load=load)

    def call() -> RunSummary:
        from vats_etl.flows.backfill import backfill as backfill_flow

        return backfill_flow(
            date_from, date_to, kinds, formats, concurrency=concurrency, force=force
        )

    return running.run_flow(ctx, settings, "backfill", call, begin=begin)


@click.command()
@options.history_kinds
@pass_context
def daily(ctx: Context, kinds: tuple[HistoryKind, ...]) -> int:
    """Load yesterday and today (further back if earlier days never settled)."""
    settings = ctx.settings()
    settings.require_api()

    def call() -> RunSummary:
        from vats_etl.flows.daily import daily as daily_flow

        return daily_flow(kinds)

    return running.run_flow(ctx, settings, "daily", call)


@click.command()
@options.first_day("First archived day to replay.")
@options.last_day("Last archived day to replay.")
@pass_context
def replay(ctx: Context, date_from: date | None, date_to: date | None) -> int:
    """Rebuild history tables from the raw archive (no API calls)."""
    settings = ctx.settings()
    options.check_order(date_from, date_to)

    def call() -> RunSummary:
        from vats_etl.flows.replay import replay as replay_flow

        return replay_flow(date_from, date_to)

    return running.run_flow(ctx, settings, "replay", call, api=False)


@click.command()
@pass_context
def check(ctx: Context) -> int:
    """Verify the API URL and key with one cheap call; read the PBX's zone when it says
    (GET /domain): used when VATS_TZ is not set, else compared with it."""
    from vats_etl import zones

    settings = ctx.settings()
    base_url, _ = settings.require_api()
    with running.api_client(settings) as client:
        total = running.check_api(settings, client)
        click.echo(f"ok: {base_url} answers" + ("" if total is None else f"; {total} users"))
        settled = zones.settle(settings, client, create=False)
    for note in settled.notes:
        click.echo(note)
    output.warnings(output.console(), settled.warnings)
    return 0


@click.command()
@pass_context
def snapshot(ctx: Context) -> int:
    """Snapshot the directory into SCD2 history (employees and their departments, departments
    and members, numbers and routes, SIMs, blacklist). A re-run in the same state changes
    nothing; `daily` does this first."""
    from vats_etl.flows import runtime

    settings = ctx.settings()
    settings.require_api()
    settings = running.prepare_flows(settings)
    with (
        runtime.using(runtime.Runtime(settings)),
        output.console().status(
            "reading the directory (users, departments, numbers, SIMs, blacklist)"
        ),
        running.flows_connected(verbose=ctx.verbose),
    ):
        from vats_etl.flows.snapshot import snapshot as snapshot_flow

        summary = snapshot_flow()
    output.snapshot_summary(summary, settings.tz)
    return 0
