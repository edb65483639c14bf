"""The `vats-etl` command: a thin shell over the library and the flows.

Exit codes: 0 success; 1 failure (a one-line message, no traceback, for expected errors:
errors.VatsError and what the operating system says about files and disks); 2 usage error;
3 partial success (everything loaded but some rows were quarantined). With -v a failure also
prints its traceback.

Commands that run flows start Prefect's API first, in the background (vats_etl.prefect_api),
and meanwhile check the API key, the host and the warehouse, so that those fail in seconds
and before anything is planned; a backfill also starts loading meanwhile.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from vats_etl import errors
from vats_etl.config import Settings, load_settings, variables, with_overrides

if TYPE_CHECKING:
    from rich.console import Console

    from vats_etl.accounts import Accounts
    from vats_etl.client import Fmt, Kind
    from vats_etl.pipeline import ChunkResult, RunSummary
    from vats_etl.runtime import Runtime

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3
KINDS = ("external", "internal")
SERVICES = {"emulator", "serve", "webhook"}  # run until stopped; their logs are watched


def _process_started() -> float:
    """When this process started, on time.monotonic()'s clock (Linux; elsewhere: now)."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        since_boot_s = int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot_s)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


class _Clock:
    """The time the user waited, from the process's start to the first summary, then from
    one summary to the next (`demo` prints two), and how much of it went on waiting for
    Prefect's temporary server."""

    def __init__(self) -> None:
        self.since = _process_started()
        self.waited_s = 0.0

    def lap(self) -> tuple[float, float]:
        from vats_etl import prefect_api

        now, waited_s = time.monotonic(), prefect_api.waited_s()
        lap = (now - self.since, waited_s - self.waited_s)
        self.since, self.waited_s = now, waited_s
        return lap


_clock = _Clock()
_verbose = False
# The last thing at exit (atexit runs last what registered first): keep the interpreter's
# final garbage collections off the ~150,000 objects Prefect, polars and DuckDB leave —
# 0.3-1 s a user waited for after the summary, for memory the process returns anyway.
# Files and connections are closed by then, and Prefect has sent its last events.
atexit.register(gc.freeze)


def _quiet_prefect(verbose: bool) -> None:
    """Prefect reads its settings at import: set ours before any flow module is imported."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")


def _console(*, stderr: bool = True) -> Console:
    """Progress and summaries go to stderr; a pipe or log file gets 120 columns, not 80."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=120)
    return console


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(EXIT_FAILED)


def _os_error(exc: OSError) -> str:
    """What the operating system said, naming the file: `out/x.html: No space left on device`."""
    if exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


class Context:
    """Options given before the command name; settings are built lazily.

    With an accounts file (VATS_ACCOUNTS or --accounts-file), the settings are those of the
    account chosen with --account; --all-accounts runs the command once per account
    (:class:`_Main`). Without one, everything comes from the environment as it always did."""

    def __init__(
        self,
        overrides: dict[str, Any],
        env_file: str,
        verbose: bool,
        *,
        accounts_file: Path | None = None,
        account: str | None = None,
        all_accounts: bool = False,
    ) -> None:
        self.overrides = overrides
        self.env_file = env_file
        self.verbose = verbose
        self.accounts_file = accounts_file
        self.account = account
        self.all_accounts = all_accounts
        self._accounts: Accounts | None = None

    def accounts(self) -> Accounts | None:
        """The accounts file, if one is configured."""
        if self._accounts is None:
            from vats_etl.accounts import load_accounts

            path = self.accounts_file or variables(env_file=self.env_file).get("VATS_ACCOUNTS")
            if path and str(path).strip():
                self._accounts = load_accounts(Path(str(path).strip()).expanduser())
        return self._accounts

    def require_accounts(self) -> Accounts:
        accounts = self.accounts()
        if accounts is None:
            raise errors.ConfigError("no accounts file: set VATS_ACCOUNTS or give --accounts-file")
        return accounts

    def settings(self, **more: Any) -> Settings:
        accounts = self.accounts()
        if accounts is None:
            if self.account:
                raise errors.ConfigError(
                    "--account needs an accounts file: set VATS_ACCOUNTS or give --accounts-file"
                )
            return load_settings({**self.overrides, **more}, env_file=self.env_file)
        if self.account is None:
            raise errors.ConfigError(
                f"{accounts.path} lists {len(accounts.names)} accounts "
                f"({', '.join(accounts.names)}): choose one with --account NAME, "
                "or --all-accounts"
            )
        return self.account_settings(self.account, **more)

    def account_settings(self, name: str, **more: Any) -> Settings:
        """Account `name`'s settings; options given before the command still win."""
        accounts = self.require_accounts()
        env = variables(env_file=self.env_file)
        base = load_settings(environ=env, env_file=None)
        return with_overrides(accounts.settings(name, base, env), {**self.overrides, **more})

    def plain_settings(self) -> Settings:
        """Settings from the environment and options alone, whatever the accounts file says
        (the emulator and the demo are nobody's account)."""
        return load_settings(self.overrides, env_file=self.env_file)


pass_context = click.make_pass_decorator(Context)

# Commands that serve one account until stopped, or none: no --all-accounts loop.
_SINGLE_ONLY = {"demo", "emulator", "serve", "webhook"}
# Commands that work over the accounts file themselves (--account narrows where it can).
_OVER_ACCOUNTS = {"accounts", "deploy", "catalog", "group-report", "group-email"}


class _EachAccount(click.Command):
    """A command run once per account (--all-accounts), one after another; exits with the
    worst result (failure 1 over partial 3 over 0) after naming each account's."""

    def __init__(self, inner: click.Command) -> None:
        super().__init__(
            inner.name,
            context_settings=inner.context_settings,
            callback=inner.callback,
            params=inner.params,
            help=inner.help,
        )
        self.inner = inner

    def invoke(self, ctx: click.Context) -> Any:
        obj = ctx.find_object(Context)
        assert obj is not None
        results: dict[str, int] = {}
        for name in obj.require_accounts().names:
            obj.account = name
            click.echo(f"== account {name}", err=True)
            try:
                self.inner.invoke(ctx)
                code = EXIT_OK
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else EXIT_FAILED
            except errors.VatsError as exc:
                click.echo(f"error: account {name}: {exc}", err=True)
                code = EXIT_FAILED
            results[name] = code
        words = {EXIT_OK: "ok", EXIT_PARTIAL: "partial"}
        told = ", ".join(f"{n} {words.get(c, 'failed')}" for n, c in results.items())
        click.echo(f"accounts: {told}", err=True)
        codes = set(results.values())
        if codes - {EXIT_OK, EXIT_PARTIAL}:
            sys.exit(EXIT_FAILED)
        sys.exit(EXIT_PARTIAL if EXIT_PARTIAL in codes else EXIT_OK)


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
        return name, _EachAccount(command), rest


@click.group(
    cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
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
    global _verbose
    _verbose = verbose
    _quiet_prefect(verbose)
    # A one-shot command tells what matters itself (progress, summary, `warning:` and
    # `error:` lines): its library's warnings would only repeat that. Services keep theirs.
    quiet = logging.WARNING if ctx.invoked_subcommand in SERVICES else logging.ERROR
    logging.basicConfig(
        level=logging.INFO if verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {"base_url": base_url, "db_path": db_path, "raw_dir": raw_dir, "tz": tz}
    ctx.obj = Context(
        overrides,
        env_file,
        verbose,
        accounts_file=accounts_file,
        account=account,
        all_accounts=all_accounts,
    )


def run_cli() -> None:
    """Console entry point: expected errors become one line on stderr and exit code 1."""
    try:
        main(standalone_mode=False, prog_name="vats-etl")
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        click.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
        sys.exit(exc.exit_code)
    except errors.VatsError as exc:
        _traceback_if_verbose()
        _fail(str(exc))
    except OSError as exc:  # a path that is not a folder, no permission, the disk is full
        _traceback_if_verbose()
        _fail(_os_error(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


def _traceback_if_verbose() -> None:
    if _verbose:
        traceback.print_exc()


# -- progress and summaries -------------------------------------------------------------------


def _prepare_flows(settings: Settings, *, api: bool = True) -> None:
    """Before a command runs flows: start Prefect's API in the background, and meanwhile
    check what would otherwise fail late and at length — with `api`, the key, the host and
    the archive folder; always the warehouse (busy, not a DuckDB file, read-only, under a
    file)."""
    from vats_etl import prefect_api, runtime, warehouse

    prefect_api.start()
    if api:
        _check_api(settings)
    with (  # the writer applies this command's settings (an account's KPI settings file)
        runtime.using(runtime.Runtime(settings)),
        warehouse.connect(settings.db_path, timeout_s=settings.db_lock_timeout_s, tz=settings.tz),
    ):
        pass
    if api:
        try:
            settings.raw_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.ArchiveError(f"cannot create {settings.raw_dir}: {exc.strerror}") from None


def _check_api(settings: Settings) -> int:
    """One cheap authenticated call, in seconds: a rejected key or an unreachable host
    fails here, before anything is planned. Returns the number of users."""
    from vats_etl.client import PbxClient, RetryPolicy

    base_url, api_key = settings.require_api()
    retry = RetryPolicy(attempts=2, total_s=20)
    try:
        with PbxClient(base_url, api_key, timeout_s=10, retry=retry) as client:
            return client.check()
    except errors.ApiError as exc:  # an account's key is in its own variable: name that one
        message = f"{base_url}: {exc}".replace("VATS_API_KEY", settings.api_key_var)
        raise type(exc)(message, status=exc.status, endpoint=exc.endpoint) from None


@contextlib.contextmanager
def _flows_connected(load: Any = None) -> Iterator[None]:
    """Run flows inside this: Prefect's API ready, or one line and exit 1 when it did not
    start. A load begun meanwhile is stopped when anything fails before it is done (it
    writes whole chunks only: a re-run resumes)."""
    from vats_etl import prefect_api

    try:
        with prefect_api.connected(verbose=_verbose):
            yield
    except BaseException:
        if load is not None:
            load.stop()
            with contextlib.suppress(Exception):
                load.join()
        raise


@contextlib.contextmanager
def _progress(
    settings: Settings,
    label: str,
    *,
    begin: Callable[[Runtime], Runtime] | None = None,
    **runtime_options: Any,
) -> Iterator[Runtime]:
    """Install a Runtime whose hooks drive a progress bar on stderr, once Prefect's API is
    ready. `begin` may start work first (a backfill's load), while the API starts."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vats_etl import runtime

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TimeElapsedColumn(),
        console=_console(),
        transient=False,
    )
    task_id = progress.add_task(label, total=None, rows=0)
    if settings.account is not None:  # its jobs refresh the catalog of the accounts file
        obj = click.get_current_context().find_object(Context)
        runtime_options.setdefault("accounts", obj.accounts() if obj else None)

    def on_plan(total: int) -> None:
        progress.update(task_id, total=total)

    def on_chunk(result: ChunkResult) -> None:
        task = progress.tasks[task_id]
        rows = int(task.fields["rows"]) + result.rows_loaded
        progress.update(task_id, advance=1, rows=rows, description=f"{label} {result.chunk.day}")

    rt = runtime.Runtime(settings, on_chunk=on_chunk, on_plan=on_plan, **runtime_options)
    with progress:
        try:
            if begin is not None:
                with runtime.using(rt):  # what begins sees this command's settings (--tz)
                    rt = begin(rt)
            with runtime.using(rt), _flows_connected(rt.load):
                yield rt
        except BaseException:  # the failure is told in one line: take the bar away
            progress.live.transient = True
            progress.live.stop()
            progress.disable = True  # so that leaving `progress` prints nothing more
            raise


def _print_summary(summary: RunSummary) -> None:
    """The totals, and the time the user waited for them (see _Clock)."""
    from rich.table import Table

    seconds, waited = _clock.lap()

    table = Table(title=f"run {summary.run_id[:8]}: {summary.status}", title_justify="left")
    for column in ("kind", "chunks", "failed", "received", "loaded", "quarantined"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, t in sorted(summary.totals.items()):
        table.add_row(
            kind,
            str(t.chunks),
            str(t.failed),
            f"{t.rows_received:,}",
            f"{t.rows_loaded:,}",
            f"{t.rows_quarantined:,}",
        )
    console = _console()
    console.print(table)
    console.print(
        f"{summary.rows_loaded:,} rows in {seconds:.1f} s "
        f"({summary.rows_loaded / max(seconds, 1e-9):,.0f} rows/s)"
        + (f", {waited:.1f} s of it waiting for Prefect's server" if waited >= 0.1 else "")
        + (f"; {summary.skipped} settled chunks skipped" if summary.skipped else "")
    )
    for chunk, error in summary.failures:
        console.print(f"[red]failed[/red] {chunk}: {error}", markup=True, highlight=False)
    for warning in summary.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if summary.rows_quarantined:
        console.print(
            f"{summary.rows_quarantined:,} rows quarantined: select * from quarantine "
            "order by last_seen_at desc"
        )


def _exit_for(summary: RunSummary) -> NoReturn:
    sys.exit({"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(summary.status, EXIT_FAILED))


def _run_flow(
    settings: Settings,
    label: str,
    call: Callable[[], RunSummary],
    *,
    api: bool = True,
    begin: Callable[[Runtime], Runtime] | None = None,
) -> NoReturn:
    _prepare_flows(settings, api=api)
    with _progress(settings, label, begin=begin):
        summary = call()
    _print_summary(summary)
    _exit_for(summary)


def _kinds(value: str) -> tuple[Kind, ...]:
    chosen = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = set(chosen) - set(KINDS)
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(KINDS)}", param_hint="--kinds")
    return tuple(cast("Kind", k) for k in chosen)


# -- commands ---------------------------------------------------------------------------------

DATE = click.DateTime(formats=["%Y-%m-%d"])


class IsoWeek(click.ParamType[str]):
    """`2026-W47`, checked when the command line is read: a week that does not exist is a
    usage error (exit 2). The command gets the text back."""

    name = "week"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from vats_etl.reports import Period

        try:
            Period.week(str(value))
        except errors.ConfigError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


WEEK = IsoWeek()


@main.command()
@click.option("--from", "date_from", type=DATE, required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", type=DATE, required=True, help="Last day, included.")
@click.option("--kinds", default="external,internal", show_default=True, help="History kinds.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option("--concurrency", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--force", is_flag=True, help="Re-read chunks that are already loaded settled.")
@pass_context
def backfill(
    ctx: Context,
    date_from: Any,
    date_to: Any,
    kinds: str,
    fmt: str,
    concurrency: int,
    force: bool,
) -> None:
    """Load history for a date range (days in VATS_TZ, both included); resumable."""
    first: date = date_from.date()
    last: date = date_to.date()
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    chosen = _kinds(kinds)
    formats = (cast("Fmt", fmt),)
    settings = ctx.settings()
    settings.require_api()

    def begin(rt: Runtime) -> Runtime:
        """Start loading while Prefect's server starts; the flow follows this load."""
        load = rt.begin_backfill(first, last, chosen, formats, concurrency=concurrency, force=force)
        return dataclasses.replace(rt, load=load)

    def call() -> RunSummary:
        from flows.backfill import backfill as backfill_flow

        return backfill_flow(first, last, chosen, formats, concurrency=concurrency, force=force)

    _run_flow(settings, "backfill", call, begin=begin)


@main.command()
@click.option("--kinds", default="external,internal", show_default=True, help="History kinds.")
@pass_context
def daily(ctx: Context, kinds: str) -> None:
    """Load yesterday and today (further back if earlier days never settled)."""
    chosen = _kinds(kinds)
    settings = ctx.settings()
    settings.require_api()

    def call() -> RunSummary:
        from flows.daily import daily as daily_flow

        return daily_flow(chosen)

    _run_flow(settings, "daily", call)


@main.command()
@click.option("--from", "date_from", type=DATE, help="First archived day to replay.")
@click.option("--to", "date_to", type=DATE, help="Last archived day to replay.")
@pass_context
def replay(ctx: Context, date_from: Any, date_to: Any) -> None:
    """Rebuild history tables from the raw archive (no API calls)."""
    settings = ctx.settings()
    first = date_from.date() if date_from else None
    last = date_to.date() if date_to else None
    if first and last and last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")

    def call() -> RunSummary:
        from flows.replay import replay as replay_flow

        return replay_flow(first, last)

    _run_flow(settings, "replay", call, api=False)


@main.command()
@pass_context
def check(ctx: Context) -> None:
    """Verify the API URL and key with one cheap call."""
    settings = ctx.settings()
    base_url, _ = settings.require_api()
    total = _check_api(settings)
    click.echo(f"ok: {base_url} answers; {total} users")


DIALECT_OPTION = click.option(
    "--dialect",
    type=click.Choice(["platform", "spec"]),
    default="platform",
    show_default=True,
    help="platform: as the platform really answers (type, null, noanswer, login@domain, no "
    "SIMs); spec: the letter of the API spec.",
)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True, help="Synthetic company seed.")
@click.option("--agents", type=click.IntRange(5, 900), default=200, show_default=True)
@click.option(
    "--profile",
    type=click.Choice(["realistic", "clean"]),
    default="realistic",
    show_default=True,
    help="realistic: the quirks of real payloads; clean: none.",
)
@DIALECT_OPTION
@click.option(
    "--faults", default="", help='Injected faults, e.g. "latency=20,error=0.1,429=0.05,drop=0.02".'
)
@click.option("--api-key", envvar="VATS_API_KEY", help="Key to accept [VATS_API_KEY].")
@click.option("--crm-url", help="Push spec section 2 webhooks to this URL as calls complete.")
@click.option("--crm-token", envvar="VATS_CRM_TOKEN", help="crm_token for pushed webhooks.")
@click.option("--webhook-format", type=click.Choice(["json", "form"]), default="json")
@click.option("--prerender-days", type=click.IntRange(0, 3660), default=0, help="Warm cache.")
@pass_context
def emulator(
    ctx: Context,
    host: str,
    port: int,
    seed: int,
    agents: int,
    profile: str,
    dialect: str,
    faults: str,
    api_key: str | None,
    crm_url: str | None,
    crm_token: str | None,
    webhook_format: str,
    prerender_days: int,
) -> None:
    """Run the built-in PBX emulator (a deterministic synthetic company) until Ctrl-C."""
    from vats_etl.emulator.faults import Faults
    from vats_etl.emulator.server import run

    if not api_key:
        raise click.BadParameter("give --api-key or set VATS_API_KEY", param_hint="--api-key")
    try:
        Faults.parse(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    run(
        host,
        port,
        seed,
        profile,
        faults,
        api_key,
        agents,
        crm_url=crm_url,
        crm_token=crm_token,
        webhook_format=webhook_format,
        tz=ctx.plain_settings().tz,
        prerender_days=prerender_days,
        dialect=dialect,
        printer=lambda line: click.echo(f"emulator listening on {line} (Ctrl-C stops)"),
    )


@main.command()
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True)
@click.option("--agents", type=click.IntRange(5, 900), default=60, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--faults", default="error=0.02,429=0.01,drop=0.01", show_default=True)
@DIALECT_OPTION
@pass_context
def demo(ctx: Context, days: int, agents: int, seed: int, faults: str, dialect: str) -> None:
    """Emulator on a free port, backfill of the last DAYS days, daily run, example queries.

    The database, archive and dashboards go to data/demo/ unless --db/--raw-dir (and
    VATS_DASHBOARDS_DIR) are given. Ends with the commands to try next on that data.
    """
    from datetime import UTC, datetime, timedelta

    from rich.table import Table

    from flows.backfill import backfill as backfill_flow
    from flows.daily import daily as daily_flow
    from vats_etl import dashboards, periods
    from vats_etl import demo as demo_lib

    explicit = {k for k, v in ctx.overrides.items() if v is not None}
    console = _console()
    with (
        demo_lib.emulator(seed=seed, agents=agents, faults=faults, dialect=dialect) as (url, key),
        demo_lib.dashboards_under_demo() as pages,
    ):
        settings = demo_lib.demo_settings(ctx.plain_settings(), url, key, explicit)
        console.print(
            f"emulator: {agents} agents (seed {seed}, {dialect} dialect) at {url}, faults: {faults}"
        )
        today = periods.local_date(datetime.now(UTC), settings.zone)
        first, last = today - timedelta(days=days), today - timedelta(days=1)
        with _progress(settings, "backfill"):
            summary = backfill_flow(first, last)
        _print_summary(summary)
        with _progress(settings, "daily"):
            summary = daily_flow()
        _print_summary(summary)
    console = _console(stderr=False)  # the results are the demo's output
    console.print(f"\nwarehouse: {settings.db_path}  (analysts: open {settings.read_db_path})")
    for example, columns, rows in demo_lib.run_examples(settings.read_db_path, settings.tz):
        table = Table(title=example.title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(f"\n[dim]{example.sql}[/dim]", highlight=False)
        console.print(table)
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
    _exit_for(summary)


# -- webhook receiver (issue 6) ---------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0: all).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8088,
    show_default=True,
    help="TCP port (0: any free port).",
)
@click.option("--path", "url_path", default="/", show_default=True, help="URL path the PBX posts.")
@click.option(
    "--spool-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write-ahead spool folder [default: webhook-spool next to the DB].",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024, 16 << 20),
    default=64 * 1024,
    show_default=True,
    help="Largest accepted body in bytes (larger: 413).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Serve HTTPS with this certificate (PEM; the chain after it).",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The certificate's private key (PEM) [default: in --ssl-certfile].",
)
@click.option(
    "--limit-concurrency",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Most connections open at once (past it the longest idle one is closed) and most "
    "webhooks in flight (past it: 503). Capped by the open-files limit.",
)
@click.option(
    "--timeout-keep-alive",
    type=click.IntRange(1, 3600),
    default=75,
    show_default=True,
    help="Seconds an idle connection is kept open.",
)
@pass_context
def webhook(
    ctx: Context,
    host: str,
    port: int,
    url_path: str,
    spool_dir: Path | None,
    max_body: int,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
    limit_concurrency: int,
    timeout_keep_alive: int,
) -> None:
    """Receive the PBX's webhooks (history, event, contact, rating) in real time.

    Needs VATS_CRM_TOKEN (the crm_token set in the PBX cabinet). Every accepted request is
    on disk before it is answered and reaches the DuckDB file within about a second; while
    that cannot be done, webhooks are answered 503 (the PBX retries) and GET /health says
    why. The receiver stops on Ctrl-C or SIGTERM after applying what it holds. See
    docs/webhook.md (systemd unit, reverse proxy).
    """
    from vats_etl.webhook import ReceiverConfig, run, summary

    settings = ctx.settings()
    if not settings.crm_token:
        raise errors.ConfigError(
            "VATS_CRM_TOKEN is not set (the crm_token entered in the PBX cabinet)"
        )
    config = ReceiverConfig(
        db_path=settings.db_path,
        token=settings.crm_token,
        spool_dir=spool_dir,
        host=host,
        port=port,
        path=url_path,
        max_body_bytes=max_body,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        limit_concurrency=limit_concurrency,
        keep_alive_s=timeout_keep_alive,
        lock_timeout_s=min(settings.db_lock_timeout_s, 5.0),
    )

    def ready(receiver: Any) -> None:
        click.echo(
            f"listening on {receiver.url} (warehouse {settings.db_path}, spool {config.spool});"
            " Ctrl-C stops"
        )
        sys.stdout.flush()

    receiver = run(config, on_ready=ready)
    click.echo(f"stopped: {summary(receiver)}", err=True)


@main.command("contacts-import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--replace", is_flag=True, help="The file becomes the whole table (default: merge).")
@pass_context
def contacts_import(ctx: Context, csv_file: Path, replace: bool) -> None:
    """Import the client directory the webhook receiver answers `contact` requests from.

    CSV_FILE has a header naming a phone and a contact_name (or name) column, optionally
    responsible (login, extension or number); ',' or ';' separated, UTF-8. Rows are merged
    by phone (digits only, 8XXXXXXXXXX counts as 7XXXXXXXXXX). A running receiver sees
    the change within a minute.
    """
    from datetime import UTC, datetime

    from vats_etl import warehouse
    from vats_etl.webhook import import_contacts

    settings = ctx.settings()
    with warehouse.connect(settings.db_path, timeout_s=settings.db_lock_timeout_s) as con:
        result = import_contacts(con, csv_file, imported_at=datetime.now(UTC), replace=replace)
    skipped = f"; {result.skipped:,} rows without a phone skipped" if result.skipped else ""
    click.echo(f"imported {result.rows:,} contacts{skipped}; {result.total:,} in the table")


# -- directory snapshots (issue 4) ------------------------------------------------------------


@main.command()
@pass_context
def snapshot(ctx: Context) -> None:
    """Snapshot the directory into SCD2 history (employees and their departments, departments
    and members, numbers and routes, SIMs, blacklist). A re-run in the same state changes
    nothing; `daily` does this first."""
    from rich.table import Table

    from vats_etl import runtime

    settings = ctx.settings()
    settings.require_api()
    _prepare_flows(settings)
    console = _console()
    with (
        runtime.using(runtime.Runtime(settings)),
        console.status("reading the directory (users, departments, numbers, SIMs, blacklist)"),
        _flows_connected(),
    ):
        from flows.snapshot import snapshot as snapshot_flow

        summary = snapshot_flow()
    table = Table(title=f"snapshot {summary.taken_at:%Y-%m-%d %H:%M:%S} UTC", title_justify="left")
    for column in ("table", "seen", "new versions", "closed", "unchanged"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, t in summary.tables.items():
        table.add_row(name, f"{t.seen:,}", f"{t.opened:,}", f"{t.closed:,}", f"{t.unchanged:,}")
    console.print(table)
    for warning in summary.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{summary.requests} requests; "
        + ("changes recorded" if summary.changed else "no change since the last snapshot")
    )


# -- dashboards, weekly email, schedules (issue 5) --------------------------------------------


def _report_period(settings: Settings, date_from: Any, date_to: Any, week: str | None) -> Any:
    from vats_etl import dashboards
    from vats_etl.reports import Period

    if week and (date_from or date_to):
        raise click.UsageError("give either --week or --from/--to")
    if week:
        return Period.week(week)
    if date_from or date_to:
        if not (date_from and date_to):
            raise click.UsageError("--from and --to go together")
        if date_to < date_from:
            raise click.BadParameter("--to is before --from", param_hint="--to")
        return Period(date_from.date(), date_to.date())
    return dashboards.recent_period(settings)


@main.command()
@click.option("--from", "date_from", type=DATE, help="First day (YYYY-MM-DD), with --to.")
@click.option("--to", "date_to", type=DATE, help="Last day, included.")
@click.option("--week", type=WEEK, help="ISO week instead, e.g. 2026-W47.")
@click.option("--department", help="Only this department (its name as the dashboards show it).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder [VATS_DASHBOARDS_DIR, else dashboards/].",
)
@pass_context
def report(
    ctx: Context,
    date_from: Any,
    date_to: Any,
    week: str | None,
    department: str | None,
    out: Path | None,
) -> None:
    """Write the dashboards: overview, missed calls, ratings (self-contained HTML).

    The period is --week, or --from/--to (days in VATS_TZ, both included); by default the
    last seven full days. Reads the published read copy, so it never blocks a load. Writes
    overview.html, missed-calls.html (+ missed-calls.csv, the whole not-called-back list)
    and ratings.html; with --department the names end in the department's name.
    See docs/dashboards.md.
    """
    import time

    from vats_etl import dashboards, reports

    settings = ctx.settings()
    period = _report_period(settings, date_from, date_to, week)
    target = out or settings.dashboards_dir or dashboards.default_out_dir()
    started = time.perf_counter()
    with _console().status(f"building dashboards for {period.label()}"):
        reports.prepare_read_copy(settings)
        with reports.open_read(settings) as con:
            reader = reports.Reader(con, period, department)
            files = dashboards.build(reader)
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


# The weekly email and the group email trust the same SMTP server.
cafile_option = click.option(
    "--cafile",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    envvar="SMTP_CA_FILE",
    help="CA certificates to trust for the SMTP server's TLS [SMTP_CA_FILE].",
)


@main.command("email-weekly")
@click.option("--week", type=WEEK, help="ISO week, e.g. 2026-W47 [default: last week in VATS_TZ].")
@click.option(
    "--routing",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="VATS_EMAIL_ROUTING",
    help="TOML file: department -> addresses (docs/operations.md) [VATS_EMAIL_ROUTING].",
)
@click.option("--dry-run", is_flag=True, help="Write the messages to --out instead of sending.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("weekly-email"),
    show_default=True,
    help="Folder for --dry-run (.eml and .html per message).",
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
@cafile_option
@click.option(
    "--only",
    multiple=True,
    help="Send only this message: a department of the routing file, or roll-up (repeatable).",
)
@pass_context
def email_weekly(
    ctx: Context,
    week: str | None,
    routing: Path | None,
    dry_run: bool,
    out: Path,
    cap: int,
    late_after_min: int,
    cafile: Path | None,
    only: tuple[str, ...],
) -> None:
    """Send the weekly missed-call email: one message per department of the routing file
    plus a roll-up to REPORT_TO, over SMTP_HOST/SMTP_PORT/SMTP_SECURITY (SMTP_USER and
    SMTP_PASSWORD to log in), from REPORT_FROM.

    Exits 1 when any message did not go, naming the messages that went and those that did
    not. A week without misses still sends.
    """
    from vats_etl import dashboards, reports, weekly_email
    from vats_etl.reports import Period

    settings = ctx.settings()
    period = Period.week(week) if week else dashboards.default_period(settings)
    plan = weekly_email.load_routing(routing or settings.email_routing)
    config = None if dry_run else weekly_email.SmtpConfig.from_settings(settings, cafile=cafile)
    with _console().status(f"composing the weekly email for {period.label()}"):
        reports.prepare_read_copy(settings)
        messages, warnings = weekly_email.prepare(
            settings, period, plan, dry_run=dry_run, cap=cap, late_after_s=late_after_min * 60
        )
    if only:
        unknown = sorted(set(only) - {m.key for m in messages})
        if unknown:
            keys = ", ".join(m.key for m in messages)
            raise click.BadParameter(
                f"no message {', '.join(unknown)}; messages: {keys}", param_hint="--only"
            )
        messages = [m for m in messages if m.key in only]
        warnings = []
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if config is None:
        for path in weekly_email.write_dry_run(messages, out):
            click.echo(str(path))
        click.echo(f"dry run: {len(messages)} messages for {period.iso_week} in {out}", err=True)
        return

    def report_one(outgoing: weekly_email.Outgoing, error: str | None) -> None:
        status = "sent" if error is None else "NOT sent"
        detail = "" if error is None else f": {error}"
        click.echo(f"{status} {outgoing.key} -> {', '.join(outgoing.recipients)}{detail}")

    result = weekly_email.send(messages, config, on_message=report_one)
    if not result.ok:
        _fail(result.summary())
    click.echo(f"{result.summary()} for {period.iso_week}", err=True)


@main.command()
@click.option(
    "--daily-cron",
    envvar="VATS_DAILY_CRON",
    default="0 6 * * *",
    show_default=True,
    help="When the daily load runs, cron in VATS_TZ [VATS_DAILY_CRON].",
)
@click.option(
    "--weekly-cron",
    envvar="VATS_WEEKLY_CRON",
    default="0 8 * * 1",
    show_default=True,
    help="When the weekly email goes, cron in VATS_TZ [VATS_WEEKLY_CRON].",
)
@click.option(
    "--routing",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="VATS_EMAIL_ROUTING",
    help="Routing file for the weekly email [VATS_EMAIL_ROUTING].",
)
@pass_context
def serve(ctx: Context, daily_cron: str, weekly_cron: str, routing: Path | None) -> None:
    """Register the daily load and the weekly email as Prefect deployments, scheduled in
    VATS_TZ, and run them until Ctrl-C or SIGTERM.

    Needs a Prefect server (`prefect server start`) at PREFECT_API_URL; runs, logs and the
    schedules show in its UI. See docs/operations.md (also for a systemd unit). With
    --account, the deployments are that account's (vats-daily/NAME, vats-weekly-email/NAME);
    many accounts on many hosts: `vats-etl deploy` (docs/scale.md).
    """
    from dotenv import load_dotenv
    from prefect.schedules import Cron

    settings = ctx.settings()
    settings.require_api()
    for option, cron in (("--daily-cron", daily_cron), ("--weekly-cron", weekly_cron)):
        try:
            Cron(cron, timezone=settings.tz)
        except ValueError as exc:
            raise click.BadParameter(str(exc).splitlines()[0], param_hint=option) from None
    # flow runs are subprocesses that build their settings from the environment
    if Path(ctx.env_file).is_file():
        load_dotenv(ctx.env_file, override=False)
    accounts = ctx.accounts() if settings.account else None
    if accounts is not None:  # flow runs read the account from the file, keys from the env
        os.environ["VATS_ACCOUNTS"] = str(accounts.path.resolve())
    names = {"base_url": "VATS_BASE_URL", "db_path": "VATS_DB", "raw_dir": "VATS_RAW_DIR"}
    for name, var in (*names.items(), ("tz", "VATS_TZ")):
        value = ctx.overrides.get(name)
        if value is not None:
            os.environ[var] = str(value)
    if os.environ.get("PREFECT_LOGGING_LEVEL") == "WARNING":  # set by _quiet_prefect
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    if os.environ.get("PREFECT_LOGGING_TO_API_ENABLED") == "false":
        os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "true"
    from vats_etl import prefect_api

    api = prefect_api.ready()  # PREFECT_API_URL, or a temporary server as for any command
    if prefect_api.temporary():
        click.echo(
            "warning: PREFECT_API_URL is not set: a temporary Prefect API lives only as long "
            "as this process (no UI); see docs/operations.md",
            err=True,
        )
        api = f"a temporary Prefect API ({api})"
    from flows.serve import DAILY_DEPLOYMENT, WEEKLY_DEPLOYMENT
    from flows.serve import serve as serve_flows

    daily_name, weekly_name = DAILY_DEPLOYMENT, WEEKLY_DEPLOYMENT
    if settings.account:
        daily_name = f"{daily_name.split('/')[0]}/{settings.account}"
        weekly_name = f"{weekly_name.split('/')[0]}/{settings.account}"
    click.echo(
        f"serving {daily_name} ({daily_cron}) and {weekly_name} ({weekly_cron}), "
        f"{settings.tz}, against {api}; Ctrl-C stops"
    )
    sys.stdout.flush()
    serve_flows(
        tz=settings.tz,
        daily_cron=daily_cron,
        weekly_cron=weekly_cron,
        routing=str(routing.resolve()) if routing else None,
        account=settings.account,
    )


# -- many accounts (issue 14): the accounts file, deployments, the catalog ----------------------


@main.command()
@click.option("--no-check", is_flag=True, help="Only list the accounts; call no API.")
@click.option("--group", help="Only the accounts of this group of the accounts file.")
@pass_context
def accounts(ctx: Context, no_check: bool, group: str | None) -> None:
    """List the accounts of the accounts file (VATS_ACCOUNTS) and check each with one cheap
    call, all at once: ok, rejected key, unreachable, or no key (its variable is not set).

    Exits 1 when any account is not ok. Keys are never shown: only the names of the
    variables that hold them.
    """
    from rich.table import Table

    from vats_etl.accounts import CheckResult, check_all
    from vats_etl.client import RetryPolicy
    from vats_etl.runtime import Runtime

    found = ctx.require_accounts()
    chosen = [a for a in found.group(group) if ctx.account in (None, a.name)]
    if ctx.account and not chosen:
        found.get(ctx.account)  # names the unknown account
    settings = [ctx.account_settings(a.name) for a in chosen]

    def call(s: Settings) -> int:
        with Runtime(s, retry=RetryPolicy(attempts=2, total_s=20)).client() as client:
            return client.check()

    results = (
        [CheckResult(s.account or "", "ok", "not checked") for s in settings]
        if no_check
        else check_all(settings, call)
    )
    table = Table(title=f"accounts of {found.path}", title_justify="left")
    for column in ("account", "API", "zone", "key variable", "status", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "no key": "yellow"}
    for account, result, s in zip(chosen, results, settings, strict=True):
        status = result.status if not no_check else "-"
        colour = colours.get(result.status, "red")
        table.add_row(
            account.name,
            account.base_url,
            account.tz,
            account.key_env + ("" if s.api_key else " (not set)"),
            f"[{colour}]{status}[/{colour}]" if not no_check else status,
            result.detail,
        )
    console = _console(stderr=False)
    console.print(table)
    if no_check:
        return
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()))
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--pool", default="vats", show_default=True, help="Prefect work pool (process).")
@click.option(
    "--pool-limit",
    type=click.IntRange(1, 10000),
    help="At most this many runs of the pool at once, on all workers together.",
)
@click.option(
    "--daily-cron",
    envvar="VATS_DAILY_CRON",
    default="0 6 * * *",
    show_default=True,
    help="When each account's daily load runs, in the account's zone [VATS_DAILY_CRON].",
)
@click.option(
    "--weekly-cron",
    envvar="VATS_WEEKLY_CRON",
    default="0 8 * * 1",
    show_default=True,
    help="When each account's weekly email goes, in its zone [VATS_WEEKLY_CRON].",
)
@pass_context
def deploy(
    ctx: Context, pool: str, pool_limit: int | None, daily_cron: str, weekly_cron: str
) -> None:
    """Create or update every account's deployments in a Prefect process work pool: daily
    and weekly email on schedules in the account's zone, backfill on demand; a rate limit
    per account for its API calls; then rebuild the catalog.

    Needs a Prefect server at PREFECT_API_URL. Workers run the deployments:
    `prefect worker start --pool vats --limit 2` on any number of hosts, each with the
    package installed, VATS_ACCOUNTS and the accounts' keys in its environment. With
    --account only that account is deployed; otherwise deployments of accounts no longer in
    the file are deleted. See docs/scale.md.
    """
    from rich.table import Table

    from vats_etl import catalog

    found = ctx.require_accounts()
    selected = [found.get(ctx.account)] if ctx.account else list(found.accounts.values())
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        raise errors.ConfigError(
            "PREFECT_API_URL is not set: deployments go to a Prefect server "
            "(prefect server start), which the workers poll"
        )
    from flows.deploy import deploy as deploy_accounts
    from vats_etl import prefect_api

    prefect_api.ready()  # one line when that server does not answer

    with _console().status(f"deploying {len(selected)} accounts to {api}"):
        result = deploy_accounts(
            found,
            selected,
            pool=pool,
            pool_limit=pool_limit,
            daily_cron=daily_cron,
            weekly_cron=weekly_cron,
        )
    table = Table(
        title=f"work pool {result.pool} (limit {result.pool_limit or 'none'})",
        title_justify="left",
    )
    for column in ("account", "zone", "deployments", "API rate limit"):
        table.add_column(column)
    for d in result.deployed:
        table.add_row(d.account, d.tz, "\n".join(d.deployments), f"{d.rate_per_s:g} requests/s")
    console = _console(stderr=False)
    console.print(table)
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


@main.command("catalog")
@click.option("--query", "sql", help="Run this SQL on the catalog and print the result.")
@click.option("--rebuild", is_flag=True, help="Rebuild even when the accounts did not change.")
@click.option("--group", help="A catalog of this group only: catalog-GROUP.duckdb.")
@pass_context
def catalog_command(ctx: Context, sql: str | None, rebuild: bool, group: str | None) -> None:
    """Build the catalog (data/catalog.duckdb by default) that attaches every account's read
    copy: the analyst views across accounts, with an `account` column, and the raw
    archives of all accounts (select * from raw_history('external')).

    Rebuilt only when the accounts changed (or with --rebuild); the flows also refresh the
    catalog of every account. Open it with the .sql next to it: duckdb -readonly -init
    data/catalog.sql data/catalog.duckdb. It never blocks a load: it reads read copies only.
    With hundreds of accounts, heavy views (missed_calls, kpi_*) over all of them are slow
    to plan: use a catalog per group (docs/scale.md).
    """
    from rich.table import Table

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
    if sql is None:
        return
    import duckdb

    with catalog.connect(path) as con:
        try:
            relation = con.sql(sql)
        except duckdb.Error as exc:
            raise errors.VatsError(str(exc).splitlines()[0]) from None
        if relation is None:
            return
        columns, rows = relation.columns, relation.fetchall()
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _console(stderr=False).print(table)


def _group_settings(ctx: Context, group: str | None) -> tuple[str, list[Settings]]:
    found = ctx.require_accounts()
    chosen = found.group(group)
    if ctx.account:
        found.get(ctx.account)
        chosen = [a for a in chosen if a.name == ctx.account]
    return group or "все аккаунты", [ctx.account_settings(a.name) for a in chosen]


@main.command("group-report")
@click.option("--group", help="A group of the accounts file [default: every account].")
@click.option("--from", "date_from", type=DATE, help="First day (YYYY-MM-DD), with --to.")
@click.option("--to", "date_to", type=DATE, help="Last day, included.")
@click.option("--week", help="ISO week instead, e.g. 2026-W47.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder [VATS_DASHBOARDS_DIR, else dashboards/].",
)
@pass_context
def group_report(
    ctx: Context,
    group: str | None,
    date_from: Any,
    date_to: Any,
    week: str | None,
    out: Path | None,
) -> None:
    """Write the overview across accounts (group-overview[-GROUP].html): the group's KPIs
    and its accounts ranked by lost contacts, then service level.

    Each account's days are in its own zone, its figures from its read copy (never
    blocking a load). By default the last seven full days. Accounts not loaded yet are
    listed as such.
    """
    from vats_etl import dashboards, group_report

    label, settings = _group_settings(ctx, group)
    period = _report_period(settings[0], date_from, date_to, week)
    with _console().status(f"reading {len(settings)} accounts for {period.label()}"):
        unprepared = group_report.prepare_accounts(settings)
        data = group_report.read_group(settings, period, group=label, unprepared=unprepared)
    target = out or dashboards.default_out_dir()
    click.echo(str(group_report.write_dashboard(target, data, group)))
    for problem in data.problems:
        click.echo(f"warning: no data for {problem.account}: {problem.problem}", err=True)


@main.command("group-email")
@click.option("--group", help="A group of the accounts file [default: every account].")
@click.option("--week", help="ISO week, e.g. 2026-W47 [default: last week].")
@click.option("--to", "recipients", multiple=True, help="Recipient (repeatable) [REPORT_TO].")
@click.option("--dry-run", is_flag=True, help="Write the message to --out instead of sending.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("weekly-email"),
    show_default=True,
    help="Folder for --dry-run (.eml and .html).",
)
@cafile_option
@pass_context
def group_email(
    ctx: Context,
    group: str | None,
    week: str | None,
    recipients: tuple[str, ...],
    dry_run: bool,
    out: Path,
    cafile: Path | None,
) -> None:
    """Send the roll-up across accounts for a week: one message with the group's KPIs and
    its accounts ranked by lost contacts, then service level (the overview page attached).

    Over SMTP_HOST etc. like email-weekly, from REPORT_FROM, to --to or REPORT_TO.
    """
    from vats_etl import dashboards, group_report, weekly_email
    from vats_etl.reports import Period

    label, settings = _group_settings(ctx, group)
    shared = ctx.plain_settings()
    period = Period.week(week) if week else dashboards.default_period(settings[0])
    to = recipients or shared.report_to or (("group@localhost",) if dry_run else ())
    if not to:
        raise errors.ConfigError("REPORT_TO is not set and no --to given: who receives it?")
    sender = weekly_email.sender_of(shared, dry_run=dry_run)
    config = None if dry_run else weekly_email.SmtpConfig.from_settings(shared, cafile=cafile)
    with _console().status(f"reading {len(settings)} accounts for {period.label()}"):
        unprepared = group_report.prepare_accounts(settings)
        data = group_report.read_group(settings, period, group=label, unprepared=unprepared)
    message = group_report.compose_email(data, sender, to)
    for problem in data.problems:
        click.echo(f"warning: no data for {problem.account}: {problem.problem}", err=True)
    if config is None:
        for path in weekly_email.write_dry_run([message], out):
            click.echo(str(path))
        return
    result = weekly_email.send([message], config)
    if not result.ok:
        _fail(result.summary())
    click.echo(f"{result.summary()}: {message.subject}", err=True)
