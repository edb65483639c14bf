"""`vats-etl demo`: the whole product on a synthetic company, in one command."""

from __future__ import annotations

import click

from vats_etl.cli import options, output, running
from vats_etl.cli.context import Context, pass_context


@click.command()
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=30,
    show_default=True,
    help="Days to backfill, up to yesterday.",
)
@click.option(
    "--agents",
    type=click.IntRange(5, 900),
    default=60,
    show_default=True,
    help="Employees of the synthetic company.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Synthetic company seed.")
@click.option(
    "--faults",
    default="error=0.02,429=0.01,drop=0.01",
    show_default=True,
    help="Faults the emulator injects (see vats-etl emulator --help).",
)
@options.dialect
@pass_context
def demo(ctx: Context, days: int, agents: int, seed: int, faults: str, dialect: str) -> int:
    """Emulator on a free port, backfill of the last DAYS days, daily run, example queries.

    The database, archive and dashboards go to data/demo/ unless --db/--raw-dir (and
    VATS_DASHBOARDS_DIR) are given. Ends with the commands to try next on that data.
    """
    from datetime import UTC, datetime, timedelta

    from vats_etl import dashboards, periods
    from vats_etl import demo as demo_lib
    from vats_etl.flows.backfill import backfill as backfill_flow
    from vats_etl.flows.daily import daily as daily_flow

    explicit = {k for k, v in ctx.overrides.items() if v is not None}
    with (
        demo_lib.emulator(seed=seed, agents=agents, faults=faults, dialect=dialect) as (url, key),
        demo_lib.dashboards_under_demo() as pages,
    ):
        settings = demo_lib.demo_settings(ctx.plain_settings(), url, key, explicit)
        output.console().print(
            f"emulator: {agents} agents (seed {seed}, {dialect} dialect) at {url}, faults: {faults}"
        )
        today = periods.local_date(datetime.now(UTC), settings.zone)
        first, last = today - timedelta(days=days), today - timedelta(days=1)
        with running.progress(ctx, settings, "backfill"):
            summary = backfill_flow(first, last)
        running.show_summary(summary)
        with running.progress(ctx, settings, "daily"):
            summary = daily_flow()
        running.show_summary(summary)
    console = output.console(stderr=False)  # the results are the demo's output
    console.print(f"\nwarehouse: {settings.db_path}  (analysts: open {settings.read_db_path})")
    for example, columns, rows in demo_lib.run_examples(settings.read_db_path, settings.tz):
        console.print(f"\n[dim]{example.sql}[/dim]", highlight=False)
        console.print(output.rows_table(columns, rows, title=example.title))
    names = dashboards.filenames(None)
    overview = (pages / names["overview"]).absolute()
    console.print(
        f"\ndashboards (last 7 days): {overview.as_uri()}", highlight=False, soft_wrap=True
    )
    console.print(f"  also {names['missed']}, {names['ratings']} in {pages}", soft_wrap=True)
    week = dashboards.default_period(settings).iso_week
    console.print("\nnext (times in " + settings.tz + "):", highlight=False)
    for command in demo_lib.next_steps(settings, pages, week):
        console.print(f"  {command}", highlight=False, markup=False, soft_wrap=True)
    return running.exit_code(summary)
