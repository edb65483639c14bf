"""What managers read and do: the dashboards (`report`), the weekly missed-call email, the
daily call-back digest (`email-daily`), and `resolve` (a client reached outside the PBX)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vats_etl.cli import options, output
from vats_etl.cli.context import Context, pass_context
from vats_etl.cli.failures import fail

if TYPE_CHECKING:
    from vats_etl.reports import Period
    from vats_etl.weekly_email import Outgoing, SmtpConfig


@click.command()
@options.first_day("First day (YYYY-MM-DD), with --to.")
@options.last_day("Last day, included.")
@options.week("ISO week instead, e.g. 2026-W47.")
@click.option("--department", help="Only this department (its name as the dashboards show it).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder [VATS_DASHBOARDS_DIR, else dashboards/].",
)
@pass_context
def report(
    ctx: Context,
    date_from: date | None,
    date_to: date | None,
    week: Period | None,
    department: str | None,
    out: Path | None,
) -> int:
    """Write the dashboards: overview, missed calls, ratings (self-contained HTML).

    The period is --week, or --from/--to (days in VATS_TZ, both included); by default the
    last seven full days. Reads the published read copy, so it never blocks a load. Writes
    overview.html, missed-calls.html (+ missed-calls.csv, the whole not-called-back list)
    and ratings.html; with --department the names end in the department's name.
    See docs/dashboards.md.
    """
    from vats_etl import dashboards, reports

    settings = ctx.settings()
    period = options.chosen_period(
        date_from, date_to, week, lambda: dashboards.recent_period(settings)
    )
    target = out or settings.dashboards_dir or dashboards.default_out_dir()
    started = time.perf_counter()
    with output.console().status(f"building dashboards for {period.label()}"):
        reports.prepare_read_copy(settings)
        with reports.open_read(settings) as con:
            reader = reports.Reader(con, period, department)
            files = dashboards.build(
                reader, recordings=dashboards.recordings_href(settings, target)
            )
            meta = reader.meta()
        written = dashboards.write_files(target, files)
    for path in written:
        click.echo(str(path))
    if department is not None and department not in meta.departments:
        known = ", ".join(meta.departments) or "none"
        click.echo(
            f"warning: no calls of department {department!r} in {period}; departments: {known}",
            err=True,
        )
    cutoff = f"{meta.cutoff:%Y-%m-%d %H:%M}" if meta.cutoff else "no data"
    click.echo(
        f"{period.label()}: data up to {cutoff} ({settings.tz}); "
        f"{time.perf_counter() - started:.1f} s",
        err=True,
    )
    return 0


@click.command("email-weekly")
@options.week("ISO week, e.g. 2026-W47 [default: last week in VATS_TZ].")
@options.routing("TOML file: department -> addresses (docs/operations.md) [VATS_EMAIL_ROUTING].")
@options.dry_run(
    Path("weekly-email"),
    dry_run_help="Write the messages to --out instead of sending.",
    out_help="Folder for --dry-run (.eml and .html per message).",
)
@click.option(
    "--cap",
    type=click.IntRange(1, 1000),
    default=25,
    show_default=True,
    help="Rows of the not-called-back list in the body; all of them go in a CSV attachment.",
)
@click.option(
    "--late-after",
    "late_after_min",
    type=click.IntRange(1, 10080),
    default=60,
    show_default=True,
    help="Minutes after which a callback is listed as late.",
)
@options.cafile
@options.only_messages
@pass_context
def email_weekly(
    ctx: Context,
    week: Period | None,
    routing: Path | None,
    dry_run: bool,
    out: Path,
    cap: int,
    late_after_min: int,
    cafile: Path | None,
    only: tuple[str, ...],
) -> int:
    """Send the weekly missed-call email: one message per department of the routing file
    plus a roll-up to REPORT_TO, over SMTP_HOST/SMTP_PORT/SMTP_SECURITY (SMTP_USER and
    SMTP_PASSWORD to log in), from REPORT_FROM.

    Exits 1 when any message did not go, naming the messages that went and those that did
    not. A week without misses still sends.
    """
    from vats_etl import dashboards, reports, weekly_email

    settings = ctx.settings()
    period = week or dashboards.default_period(settings)
    plan = weekly_email.load_routing(routing or settings.email_routing)
    config = None if dry_run else weekly_email.SmtpConfig.from_settings(settings, cafile=cafile)
    with output.console().status(f"composing the weekly email for {period.label()}"):
        reports.prepare_read_copy(settings)
        messages, warnings = weekly_email.prepare(
            settings, period, plan, dry_run=dry_run, cap=cap, late_after_s=late_after_min * 60
        )
    return _deliver(messages, warnings, only, config, out, period.iso_week, dry_run)


@click.command("email-daily")
@click.option(
    "--day",
    type=options.DAY,
    help="The morning's local day (YYYY-MM-DD) [default: today in VATS_TZ].",
)
@options.routing("TOML file: department -> addresses, as for email-weekly [VATS_EMAIL_ROUTING].")
@click.option(
    "--days",
    type=click.IntRange(0, 60),
    default=3,
    show_default=True,
    help="Lost clients with a miss this many days back at most (Monday's digest has Friday's).",
)
@options.dry_run(
    Path("daily-email"),
    dry_run_help="Write the messages to --out instead of sending.",
    out_help="Folder for --dry-run (.eml and .html per message).",
)
@click.option(
    "--cap",
    type=click.IntRange(1, 500),
    default=30,
    show_default=True,
    help="Clients in a message at most, the first by priority (fewer if a message would "
    "pass 100 KB).",
)
@options.cafile
@options.only_messages
@pass_context
def email_daily(
    ctx: Context,
    day: date | None,
    routing: Path | None,
    days: int,
    dry_run: bool,
    out: Path,
    cap: int,
    cafile: Path | None,
    only: tuple[str, ...],
) -> int:
    """Send the daily call-back digest: the clients to call back today, one message per
    department of the routing file that has any (none when its list is empty) plus a
    roll-up to REPORT_TO, over the weekly email's SMTP settings.

    A client is due when it is lost (its window W ended, nobody has talked to it since,
    a miss in the last --days days) or its window ends today; one row per client and
    department, each miss as it was, in priority order. `serve` sends it on working days at
    09:00 (VATS_DIGEST_CRON). Exits 1 when any message did not go. Nothing is sent on a
    company holiday (the holidays table).
    """
    from vats_etl import callback_digest, reports, weekly_email

    settings = ctx.settings()
    plan = weekly_email.load_routing(routing or settings.email_routing)
    config = None if dry_run else weekly_email.SmtpConfig.from_settings(settings, cafile=cafile)
    chosen = day or callback_digest.today(settings)
    with output.console().status(f"composing the call-back digest for {chosen:%d.%m.%Y}"):
        reports.prepare_read_copy(settings)
        messages, warnings = callback_digest.prepare(
            settings, plan, day=chosen, days=days, dry_run=dry_run, cap=cap
        )
    return _deliver(
        messages, warnings, only, config, out, f"the digest of {chosen:%Y-%m-%d}", dry_run
    )


def _deliver(
    messages: list[Outgoing],
    warnings: list[str],
    only: tuple[str, ...],
    config: SmtpConfig | None,
    out: Path,
    what: str,
    dry_run: bool,
) -> int:
    """Narrow to --only, tell the warnings, then write (--dry-run) or send; the exit code."""
    from vats_etl import weekly_email

    if only:
        unknown = sorted(set(only) - {m.key for m in messages})
        if unknown:
            keys = ", ".join(m.key for m in messages) or "none"
            raise click.BadParameter(
                f"no message {', '.join(unknown)}; messages: {keys}", param_hint="--only"
            )
        messages = [m for m in messages if m.key in only]
        warnings = []
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if config is None or dry_run:
        for path in weekly_email.write_dry_run(messages, out):
            click.echo(str(path))
        click.echo(f"dry run: {len(messages)} messages for {what} in {out}", err=True)
        return 0

    def report_one(outgoing: Outgoing, error: str | None) -> None:
        status = "sent" if error is None else "NOT sent"
        detail = "" if error is None else f": {error}"
        click.echo(f"{status} {outgoing.key} -> {', '.join(outgoing.recipients)}{detail}")

    result = weekly_email.send(messages, config, on_message=report_one)
    if not result.ok:
        return fail(result.summary())
    click.echo(f"{result.summary()} for {what}", err=True)
    return 0


@click.command()
@click.argument("phone")
@click.option("--note", help="What happened, for people (e.g. ответили в WhatsApp).")
@pass_context
def resolve(ctx: Context, phone: str, note: str | None) -> int:
    """Record that client PHONE was reached outside the PBX (a messenger, e-mail, a visit).

    Its misses so far leave the call-back list and the digest until it misses again; the
    views show them as resolved_manually, never as a callback (manual_resolutions). PHONE as
    the calls have it, or with +7 / 8, spaces and dashes. Then republishes the read copy.
    """
    from vats_etl import resolutions

    settings = ctx.settings()
    done = resolutions.resolve(settings, phone, note)
    click.echo(
        f"resolved {done.client} at {done.resolved_at.astimezone(settings.zone):%Y-%m-%d %H:%M} "
        f"({settings.tz}): {done.closed} open misses closed"
        + (f"; note: {done.note}" if done.note else "")
    )
    return 0
