"""The `vats-etl` command: a thin shell over the library and the flows.

    __init__    the group (options before the command, --all-accounts) and run_cli, the
                console script: the only place an exit code becomes the process's status
    process     Prefect's and logging's set-up, the time the user waited
    context     Context (options, settings, accounts) and the loop over accounts
    options     options several commands share (days, weeks, kinds, cron, --cafile, ...)
    running     running flows: Prefect's API, preflight checks, progress, summary → code
    output      tables and summaries on the terminal
    failures    exit codes and one-line failures
    commands/   the commands, grouped by job; each returns its exit code

Exit codes: 0 success; 1 failure (a one-line message, no traceback, for expected errors:
errors.VatsError and what the operating system says about files and disks); 2 usage error;
3 partial success (everything loaded but some rows were quarantined); 130 interrupted.
With -v a failure also prints its traceback.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from vats_etl import errors
from vats_etl.cli import process
from vats_etl.cli.commands import (
    accounts,
    contacts,
    demo,
    history,
    recordings,
    reports,
    services,
)
from vats_etl.cli.context import Context, EachAccount
from vats_etl.cli.failures import EXIT_INTERRUPTED, EXIT_OK, fail, one_line, os_error

# Commands that run until stopped: their logs are watched.
SERVICES = {"emulator", "serve", "webhook"}
# Commands that serve one account until stopped, or none: no --all-accounts loop.
_SINGLE_ONLY = {"demo", "emulator", "serve", "webhook"}
# Commands that work over the accounts file themselves (--account narrows where it can).
_OVER_ACCOUNTS = {"accounts", "deploy", "catalog", "group-report", "group-email"}


class _Main(click.Group):
    """The `vats-etl` group: --all-accounts turns a per-account command into a loop."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is None or name in _OVER_ACCOUNTS or "--help" in rest or "-h" in rest:
            return name, command, rest
        if ctx.params.get("account") and ctx.params.get("all_accounts"):
            raise click.UsageError("give either --account or --all-accounts")
        if not ctx.params.get("all_accounts"):
            return name, command, rest
        if name in _SINGLE_ONLY:
            raise click.UsageError(
                f"{name} runs for one account: give --account NAME "
                "(every account on a schedule: vats-etl deploy, see docs/scale.md)"
            )
        if any(ctx.params.get(f) for f in ("base_url", "db_path", "raw_dir", "tz")):
            raise click.UsageError(
                "--base-url, --db, --raw-dir and --tz set one account's settings: "
                "not with --all-accounts"
            )
        return name, EachAccount(command), rest


# Also for a command run on its own (run_cli's `command`).
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=_Main, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="vats-etl")
@click.option("--base-url", help="API base URL or bare domain [env VATS_BASE_URL].")
@click.option("--db", "db_path", type=click.Path(path_type=Path), help="DuckDB file [VATS_DB].")
@click.option(
    "--raw-dir", type=click.Path(path_type=Path), help="Raw archive folder [VATS_RAW_DIR]."
)
@click.option("--tz", help="Company time zone [VATS_TZ].")
@click.option("--env-file", default=".env", show_default=True, help="Optional .env file.")
@click.option(
    "--accounts-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Accounts file (TOML) of many PBX accounts [VATS_ACCOUNTS]; see docs/scale.md.",
)
@click.option("--account", help="Run for this account of the accounts file.")
@click.option(
    "--all-accounts", is_flag=True, help="Run for every account of the accounts file, in turn."
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress details and Prefect output.")
@click.pass_context
def main(
    ctx: click.Context,
    base_url: str | None,
    db_path: Path | None,
    raw_dir: Path | None,
    tz: str | None,
    env_file: str,
    accounts_file: Path | None,
    account: str | None,
    all_accounts: bool,
    verbose: bool,
) -> None:
    """Call-history ETL and analytics for cloud virtual PBX (ВАТС) CRM API.

    Settings come from environment variables (optionally a .env file); the options above
    override them. See README.md for the variables. With an accounts file (VATS_ACCOUNTS),
    a command runs for the account given with --account, or for each with --all-accounts.
    """
    process.set_up(verbose=verbose, service=ctx.invoked_subcommand in SERVICES)
    context = ctx.ensure_object(Context)  # run_cli's, which reads -v when a failure reaches it
    context.overrides = {"base_url": base_url, "db_path": db_path, "raw_dir": raw_dir, "tz": tz}
    context.env_file = env_file
    context.verbose = verbose
    context.accounts_file = accounts_file
    context.account = account
    context.all_accounts = all_accounts


for _command in (
    history.backfill,
    history.daily,
    history.replay,
    history.check,
    history.snapshot,
    recordings.recordings,
    services.emulator,
    services.webhook,
    services.serve,
    demo.demo,
    reports.report,
    reports.email_weekly,
    reports.email_daily,
    reports.resolve,
    contacts.contacts_import,
    accounts.accounts,
    accounts.deploy,
    accounts.catalog_command,
    accounts.group_report,
    accounts.group_email,
):
    main.add_command(_command)


def run_cli(
    args: Sequence[str] | None = None,
    *,
    command: click.Command = main,
    prog_name: str = "vats-etl",
) -> NoReturn:
    """Console entry point: run `command` (the group, or one command of it on its own, as
    `python -m vats_etl.emulator` does) and exit with the code it returns. Expected errors
    become one line on stderr and exit code 1; usage errors exit 2."""
    context = Context()
    if command is not main:  # the group's set-up, for a command run without the group
        process.set_up(verbose=False, service=command.name in SERVICES)
    try:
        code: Any = command.main(
            args, prog_name=prog_name, standalone_mode=False, obj=context, **CONTEXT_SETTINGS
        )
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        click.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)
        sys.exit(exc.exit_code)
    except errors.VatsError as exc:
        _traceback_if(context.verbose)
        sys.exit(fail(str(exc)))
    except OSError as exc:  # a path that is not a folder, no permission, the disk is full
        _traceback_if(context.verbose)
        sys.exit(fail(os_error(exc)))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _traceback_if(verbose: bool) -> None:
    if verbose:
        traceback.print_exc()


__all__ = ["main", "run_cli"]
