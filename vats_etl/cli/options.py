"""Options more than one command takes, each defined once: days and weeks (and the checks
between --from, --to and --week), history kinds, cron schedules, the emails' routing file,
--dry-run/--out and --only, the SMTP CA file and the API dialect. A value that cannot be
right is a usage error (exit 2) when the command line is read, before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from vats_etl import errors, schedules
from vats_etl.history import HISTORY_KINDS, HistoryKind

if TYPE_CHECKING:
    from vats_etl.reports import Period

# What click's option decorators take and give back: a command's function, or the command.
FC = TypeVar("FC", bound=Callable[..., Any] | click.Command)


class Day(click.ParamType[date]):
    """A calendar day, `2026-11-16` (read, shown and refused as click.DateTime does); the
    command gets a date."""

    name = "day"

    def __init__(self) -> None:
        self._text = click.DateTime(formats=["%Y-%m-%d"])

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return self._text.get_metavar(param, ctx)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return self._text.convert(value, param, ctx).date()


class IsoWeek(click.ParamType["Period"]):
    """`2026-W47`: a week that does not exist is a usage error. The command gets the
    week's Period (Monday to Sunday)."""

    name = "week"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Period:
        from vats_etl.reports import Period

        if isinstance(value, Period):
            return value
        try:
            return Period.week(str(value))
        except errors.ConfigError as exc:
            self.fail(str(exc), param, ctx)


DAY = Day()
WEEK = IsoWeek()


def first_day(help: str, *, required: bool = False) -> Callable[[FC], FC]:
    """--from: the first day of a range."""
    return click.option("--from", "date_from", type=DAY, required=required, help=help)


def last_day(help: str, *, required: bool = False) -> Callable[[FC], FC]:
    """--to: the last day of a range, included."""
    return click.option("--to", "date_to", type=DAY, required=required, help=help)


def week(help: str) -> Callable[[FC], FC]:
    """--week: an ISO week."""
    return click.option("--week", type=WEEK, help=help)


def check_order(first: date | None, last: date | None) -> None:
    """--to may not come before --from."""
    if first is not None and last is not None and last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")


def chosen_period(
    first: date | None, last: date | None, week: Period | None, default: Callable[[], Period]
) -> Period:
    """The period of --week, or of --from/--to (both or neither), else `default()`."""
    from vats_etl.reports import Period

    if week and (first or last):
        raise click.UsageError("give either --week or --from/--to")
    if week:
        return week
    if first or last:
        if not (first and last):
            raise click.UsageError("--from and --to go together")
        check_order(first, last)
        return Period(first, last)
    return default()


def _history_kinds(
    ctx: click.Context, param: click.Parameter, value: str
) -> tuple[HistoryKind, ...]:
    chosen = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = set(chosen) - set(HISTORY_KINDS)
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(HISTORY_KINDS)}", param_hint="--kinds")
    return tuple(cast(HistoryKind, k) for k in chosen)


history_kinds = click.option(
    "--kinds",
    default=",".join(HISTORY_KINDS),
    show_default=True,
    callback=_history_kinds,
    help="History kinds.",
)


def _cron(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        schedules.check_cron(value)
    except ValueError as exc:
        hint = param.opts[0] if param.opts else None
        raise click.BadParameter(str(exc).splitlines()[0], param_hint=hint) from None
    return value


def _cron_option(flag: str, variable: str, default: str) -> Callable[[str], Callable[[FC], FC]]:
    """A cron option read from `variable` too, checked when the command line is read."""

    def option(help: str) -> Callable[[FC], FC]:
        return click.option(
            flag, envvar=variable, default=default, show_default=True, callback=_cron, help=help
        )

    return option


# When the daily load runs, the weekly email goes, the daily call-back digest goes.
daily_cron = _cron_option("--daily-cron", schedules.DAILY_CRON_VAR, schedules.DAILY_CRON)
weekly_cron = _cron_option("--weekly-cron", schedules.WEEKLY_CRON_VAR, schedules.WEEKLY_CRON)
digest_cron = _cron_option("--digest-cron", schedules.DIGEST_CRON_VAR, schedules.DIGEST_CRON)


def routing(help: str) -> Callable[[FC], FC]:
    """--routing: the emails' routing file (department -> addresses)."""
    return click.option(
        "--routing",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="VATS_EMAIL_ROUTING",
        help=help,
    )


def dry_run(default_out: Path, *, dry_run_help: str, out_help: str) -> Callable[[FC], FC]:
    """--dry-run and the folder it writes to, --out."""

    def decorate(command: FC) -> FC:
        command = click.option(
            "--out",
            type=click.Path(path_type=Path, file_okay=False),
            default=default_out,
            show_default=True,
            help=out_help,
        )(command)
        return click.option("--dry-run", is_flag=True, help=dry_run_help)(command)

    return decorate


# The weekly email's and the digest's: some of their messages only.
only_messages = click.option(
    "--only",
    multiple=True,
    help="Send only this message: a department of the routing file, or roll-up (repeatable).",
)

# The weekly email and the group email trust the same SMTP server.
cafile = click.option(
    "--cafile",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    envvar="SMTP_CA_FILE",
    help="CA certificates to trust for the SMTP server's TLS [SMTP_CA_FILE].",
)

# The emulator's and the demo's.
dialect = click.option(
    "--dialect",
    type=click.Choice(["platform", "spec"]),
    default="platform",
    show_default=True,
    help="platform: as the platform really answers (type, null, noanswer, login@domain, no "
    "SIMs); spec: the letter of the API spec.",
)
