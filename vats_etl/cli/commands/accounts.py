"""Many PBX accounts (the accounts file): list and check them, deploy their schedules to a
Prefect work pool, the catalog across their read copies, and the group's report and email.
These commands work over the accounts file themselves (--account narrows where it can)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vats_etl import errors, schedules
from vats_etl.cli import options, output
from vats_etl.cli.context import Context, pass_context
from vats_etl.cli.failures import EXIT_FAILED, fail

if TYPE_CHECKING:
    from vats_etl.config import Settings
    from vats_etl.reports import Period


@click.command()
@click.option("--no-check", is_flag=True, help="Only list the accounts; call no API.")
@click.option("--group", help="Only the accounts of this group of the accounts file.")
@pass_context
def accounts(ctx: Context, no_check: bool, group: str | None) -> int:
    """List the accounts of the accounts file (VATS_ACCOUNTS) and check each with one cheap
    call, all at once: ok, rejected key, unreachable, or no key (its variable is not set).

    Exits 1 when any account is not ok. Keys are never shown: only the names of the
    variables that hold them.
    """
    from vats_etl.accounts import CheckResult, check_all
    from vats_etl.flows.runtime import Runtime

    found = ctx.require_accounts()
    chosen = [a for a in found.group(group) if ctx.account in (None, a.name)]
    if ctx.account and not chosen:
        found.get(ctx.account)  # names the unknown account
    settings = [ctx.account_settings(a.name) for a in chosen]

    def call(s: Settings) -> int | None:  # a silent host is given up within the check's bound
        with Runtime(s).client() as client:
            return client.check()

    results = (
        [CheckResult(s.account or "", "ok", "not checked") for s in settings]
        if no_check
        else check_all(settings, call)
    )
    title = f"accounts of {found.path}"
    console = output.console(stderr=False)
    console.print(output.accounts_table(title, chosen, results, settings, checked=not no_check))
    if no_check:
        return 0
    console.print(output.status_counts(results))
    return EXIT_FAILED if any(not r.ok for r in results) else 0


@click.command()
@click.option("--pool", default="vats", show_default=True, help="Prefect work pool (process).")
@click.option(
    "--pool-limit",
    type=click.IntRange(1, 10000),
    help="At most this many runs of the pool at once, on all workers together.",
)
@options.daily_cron(
    f"When each account's daily load runs, in the account's zone [{schedules.DAILY_CRON_VAR}]."
)
@options.weekly_cron(
    f"When each account's weekly email goes, in its zone [{schedules.WEEKLY_CRON_VAR}]."
)
@options.digest_cron(
    f"When each account's call-back digest goes, in its zone [{schedules.DIGEST_CRON_VAR}]."
)
@pass_context
def deploy(
    ctx: Context,
    pool: str,
    pool_limit: int | None,
    daily_cron: str,
    weekly_cron: str,
    digest_cron: str,
) -> int:
    """Create or update every account's deployments in a Prefect process work pool: daily,
    weekly email and call-back digest on schedules in the account's zone, backfill on
    demand; a rate limit
    per account for its API calls; then rebuild the catalog.

    Needs a Prefect server at PREFECT_API_URL. Workers run the deployments:
    `prefect worker start --pool vats --limit 2` on any number of hosts, each with the
    package installed, VATS_ACCOUNTS and the accounts' keys in its environment. With
    --account only that account is deployed; otherwise deployments of accounts no longer in
    the file are deleted. See docs/scale.md.
    """
    from vats_etl import catalog

    found = ctx.require_accounts()
    selected = [found.get(ctx.account)] if ctx.account else list(found.accounts.values())
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        raise errors.ConfigError(
            "PREFECT_API_URL is not set: deployments go to a Prefect server "
            "(prefect server start), which the workers poll"
        )
    from vats_etl import prefect_api
    from vats_etl.flows.deploy import deploy as deploy_accounts

    prefect_api.ready()  # one line when that server does not answer

    with output.console().status(f"deploying {len(selected)} accounts to {api}"):
        result = deploy_accounts(
            found,
            selected,
            pool=pool,
            pool_limit=pool_limit,
            daily_cron=daily_cron,
            weekly_cron=weekly_cron,
            digest_cron=digest_cron,
        )
    console = output.console(stderr=False)
    console.print(output.deployments_table(result))
    for name in result.removed:
        console.print(f"removed {name} (account no longer in {found.path})")
    info = catalog.build(found)
    console.print(
        f"catalog {info.path}: {len(info.attached)} accounts attached"
        + (f", not loaded yet: {', '.join(info.empty)}" if info.empty else "")
    )
    console.print(
        f"next: prefect worker start --pool {result.pool} --limit 2   (on each host; "
        f"VATS_ACCOUNTS and the keys in its environment)"
    )
    return 0


@click.command("catalog")
@click.option("--query", "sql", help="Run this SQL on the catalog and print the result.")
@click.option("--rebuild", is_flag=True, help="Rebuild even when the accounts did not change.")
@click.option("--group", help="A catalog of this group only: catalog-GROUP.duckdb.")
@pass_context
def catalog_command(ctx: Context, sql: str | None, rebuild: bool, group: str | None) -> int:
    """Build the catalog (data/catalog.duckdb by default) that attaches every account's read
    copy: the analyst views across accounts, with an `account` column, and the raw
    archives of all accounts (select * from raw_history('external')).

    Rebuilt only when the accounts changed (or with --rebuild); the flows also refresh the
    catalog of every account. Open it with the .sql next to it: duckdb -readonly -init
    data/catalog.sql data/catalog.duckdb. It never blocks a load: it reads read copies only.
    An account whose read copy is missing or unreadable is left out (a warning names it).
    --query runs read statements only, in a session that cannot write anything. With
    hundreds of accounts, heavy views (missed_calls, kpi_*) over all of them are slow to
    plan: use a catalog per group (docs/scale.md).
    """
    from vats_etl import catalog

    found = ctx.require_accounts()
    path = catalog.catalog_path(found, group)
    info = catalog.build(found, group) if rebuild else catalog.refresh(found, group)
    if info is not None:
        click.echo(
            f"catalog {info.path}: {len(info.attached)} accounts attached, "
            f"{info.relations} views"
            + (f"; not loaded yet (empty): {', '.join(info.empty)}" if info.empty else ""),
            err=True,
        )
    else:
        click.echo(f"catalog {path}: up to date", err=True)
    click.echo(f"open it: duckdb -readonly -init {catalog.script_path(path)} {path}", err=True)

    def warn(state: catalog.AccountState) -> None:
        click.echo(
            f"warning: account {state.account} is left out of the catalog: {state.status}: "
            f"{state.detail}",
            err=True,
        )

    if sql is None:
        for state in catalog.account_states(path):
            if not state.shown:
                warn(state)
        return 0
    with catalog.connect(path, warn=warn) as con:
        relation = catalog.run_query(con, sql)
        if relation is None:
            return 0
        columns, rows = relation.columns, relation.fetchall()
    output.console(stderr=False).print(output.rows_table(columns, rows))
    return 0


def _group_settings(ctx: Context, group: str | None) -> tuple[str, list[Settings]]:
    """The group's label and the settings of its accounts (of --account alone, if given)."""
    found = ctx.require_accounts()
    chosen = found.group(group)
    if ctx.account:
        found.get(ctx.account)
        chosen = [a for a in chosen if a.name == ctx.account]
    return group or "все аккаунты", [ctx.account_settings(a.name) for a in chosen]


@click.command("group-report")
@click.option("--group", help="A group of the accounts file [default: every account].")
@options.first_day("First day (YYYY-MM-DD), with --to.")
@options.last_day("Last day, included.")
@options.week("ISO week instead, e.g. 2026-W47.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder [VATS_DASHBOARDS_DIR, else dashboards/].",
)
@pass_context
def group_report(
    ctx: Context,
    group: str | None,
    date_from: date | None,
    date_to: date | None,
    week: Period | None,
    out: Path | None,
) -> int:
    """Write the overview across accounts (group-overview[-GROUP].html): the group's KPIs
    and its accounts ranked by lost contacts, then service level.

    Each account's days are in its own zone, its figures from its read copy (never
    blocking a load). By default the last seven full days. Accounts not loaded yet are
    listed as such.
    """
    from vats_etl import dashboards, group_report

    label, settings = _group_settings(ctx, group)
    period = options.chosen_period(
        date_from, date_to, week, lambda: dashboards.recent_period(settings[0])
    )
    with output.console().status(f"reading {len(settings)} accounts for {period.label()}"):
        unprepared = group_report.prepare_accounts(settings)
        data = group_report.read_group(settings, period, group=label, unprepared=unprepared)
    target = out or dashboards.default_out_dir()
    click.echo(str(group_report.write_dashboard(target, data, group)))
    for problem in data.problems:
        click.echo(f"warning: no data for {problem.account}: {problem.problem}", err=True)
    return 0


@click.command("group-email")
@click.option("--group", help="A group of the accounts file [default: every account].")
@options.week("ISO week, e.g. 2026-W47 [default: last week].")
@click.option("--to", "recipients", multiple=True, help="Recipient (repeatable) [REPORT_TO].")
@options.dry_run(
    Path("weekly-email"),
    dry_run_help="Write the message to --out instead of sending.",
    out_help="Folder for --dry-run (.eml and .html).",
)
@options.cafile
@pass_context
def group_email(
    ctx: Context,
    group: str | None,
    week: Period | None,
    recipients: tuple[str, ...],
    dry_run: bool,
    out: Path,
    cafile: Path | None,
) -> int:
    """Send the roll-up across accounts for a week: one message with the group's KPIs and
    its accounts ranked by lost contacts, then service level (the overview page attached).

    Over SMTP_HOST etc. like email-weekly, from REPORT_FROM, to --to or REPORT_TO.
    """
    from vats_etl import dashboards, group_report, weekly_email

    label, settings = _group_settings(ctx, group)
    shared = ctx.plain_settings()
    period = week or dashboards.default_period(settings[0])
    to = recipients or shared.report_to or (("group@localhost",) if dry_run else ())
    if not to:
        raise errors.ConfigError("REPORT_TO is not set and no --to given: who receives it?")
    sender = weekly_email.sender_of(shared, dry_run=dry_run)
    config = None if dry_run else weekly_email.SmtpConfig.from_settings(shared, cafile=cafile)
    with output.console().status(f"reading {len(settings)} accounts for {period.label()}"):
        unprepared = group_report.prepare_accounts(settings)
        data = group_report.read_group(settings, period, group=label, unprepared=unprepared)
    message = group_report.compose_email(data, sender, to)
    for problem in data.problems:
        click.echo(f"warning: no data for {problem.account}: {problem.problem}", err=True)
    if config is None:
        for path in weekly_email.write_dry_run([message], out):
            click.echo(str(path))
        return 0
    result = weekly_email.send([message], config)
    if not result.ok:
        return fail(result.summary())
    click.echo(f"{result.summary()}: {message.subject}", err=True)
    return 0
