"""Running flows from a command: Prefect's API started in the background while the
preflight checks run, a progress bar driven by the run's hooks, and the run's summary turned
into the command's exit code.

Commands that run flows start Prefect's API first, in the background (vats_etl.prefect_api),
and meanwhile check the API key, the host and the warehouse, so that those fail in seconds
and before anything is planned; a backfill also starts loading meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from vats_etl import errors
from vats_etl.cli import output, process
from vats_etl.cli.failures import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

if TYPE_CHECKING:
    from vats_etl.cli.context import Context
    from vats_etl.client import PbxClient
    from vats_etl.config import Settings
    from vats_etl.flows.runtime import Runtime
    from vats_etl.pipeline import LoadChunkResult, RunSummary
    from vats_etl.zones import Settled


def prepare_flows(settings: Settings, *, api: bool = True) -> Settings:
    """Before a command runs flows: start Prefect's API in the background, and meanwhile
    check what would otherwise fail late and at length — with `api`, the key, the host and
    the archive folder; always the warehouse (busy, not a DuckDB file, read-only, under a
    file). The first run of a new warehouse also reads the PBX's zone (vats_etl.zones):
    returns the settings to run with."""
    from vats_etl import prefect_api, warehouse, zones

    prefect_api.start()
    if api:
        with api_client(settings) as client:
            check_api(settings, client)
            settled = _told(zones.settle_first_run(settings, client))
        settings = settled
    # the writer applies this command's settings (its zone, an account's KPI settings file)
    company = warehouse.Company.from_settings(settings)
    with warehouse.connect(settings.db_path, company=company, timeout_s=settings.db_lock_timeout_s):
        pass
    if api:
        try:
            settings.raw_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.ArchiveError(f"cannot create {settings.raw_dir}: {exc.strerror}") from None
    return settings


def api_client(settings: Settings) -> PbxClient:
    """A client for the preflight's few calls, quick to give up (its check within the
    check's own bound: a silent host too)."""
    from vats_etl.client import PbxClient, RetryPolicy

    base_url, api_key = settings.require_api()
    return PbxClient(base_url, api_key, timeout_s=10, retry=RetryPolicy(attempts=2, total_s=20))


def check_api(settings: Settings, client: PbxClient | None = None) -> int | None:
    """One cheap authenticated call, in seconds (a silent host within the check's bound):
    a rejected key or an unreachable host fails here, before anything is planned. Returns
    the number of users, None when the PBX did not say."""
    try:
        if client is not None:
            return client.check()
        with api_client(settings) as own:
            return own.check()
    except errors.ApiError as exc:  # an account's key is in its own variable: name that one
        message = f"{settings.base_url}: {exc}".replace("VATS_API_KEY", settings.api_key_var)
        raise type(exc)(message, status=exc.status, endpoint=exc.endpoint) from None


def _told(settled: Settled) -> Settings:
    """Show what reading the PBX's zone found (a line each), and return the settings."""
    out = output.console()
    for note in settled.notes:
        out.print(note, markup=False, highlight=False, soft_wrap=True)
    output.warnings(out, settled.warnings)
    return settled.settings


@contextlib.contextmanager
def flows_connected(*, verbose: bool, load: Any = None) -> Iterator[None]:
    """Run flows inside this: Prefect's API ready, or one line and exit 1 when it did not
    start. A load begun meanwhile is stopped when anything fails before it is done (it
    writes whole chunks only: a re-run resumes)."""
    from vats_etl import prefect_api

    try:
        with prefect_api.connected(verbose=verbose):
            yield
    except BaseException:
        if load is not None:
            load.stop()
            with contextlib.suppress(Exception):
                load.join()
        raise


@contextlib.contextmanager
def progress(
    context: Context,
    settings: Settings,
    label: str,
    *,
    begin: Callable[[Runtime], Runtime] | None = None,
) -> Iterator[Runtime]:
    """Install a Runtime whose hooks drive a progress bar on stderr, once Prefect's API is
    ready. `begin` may start work first (a backfill's load), while the API starts."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vats_etl.flows import runtime

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TimeElapsedColumn(),
        console=output.console(),
        transient=False,
    )
    task_id = bar.add_task(label, total=None, rows=0)
    # an account's jobs refresh the catalog of its accounts file
    accounts = context.accounts() if settings.account is not None else None

    def on_plan(total: int) -> None:
        bar.update(task_id, total=total)

    def on_chunk(result: LoadChunkResult) -> None:
        task = bar.tasks[task_id]
        rows = int(task.fields["rows"]) + result.rows_loaded
        bar.update(task_id, advance=1, rows=rows, description=f"{label} {result.chunk.day}")

    rt = runtime.Runtime(settings, on_chunk=on_chunk, on_plan=on_plan, accounts=accounts)
    with bar:
        try:
            if begin is not None:
                with runtime.using(rt):  # what begins sees this command's settings (--tz)
                    rt = begin(rt)
            with runtime.using(rt), flows_connected(verbose=context.verbose, load=rt.load):
                yield rt
        except BaseException:  # the failure is told in one line: take the bar away
            bar.live.transient = True
            bar.live.stop()
            bar.disable = True  # so that leaving `bar` prints nothing more
            raise


def show_summary(summary: RunSummary) -> None:
    """The run's totals, and the time the user waited for them since the process started
    (or since the previous summary)."""
    seconds, waited_s = process.clock.lap()
    output.run_summary(summary, seconds, waited_s)


def exit_code(summary: RunSummary) -> int:
    """ok 0, partial 3 (rows quarantined, everything else loaded), failed 1."""
    return {"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(summary.status, EXIT_FAILED)


def run_flow(
    context: Context,
    settings: Settings,
    label: str,
    call: Callable[[], RunSummary],
    *,
    api: bool = True,
    begin: Callable[[Runtime], Runtime] | None = None,
) -> int:
    """Prepare, run `call` (a flow) under a progress bar, show its summary; its exit code."""
    settings = prepare_flows(settings, api=api)
    with progress(context, settings, label, begin=begin):
        summary = call()
    show_summary(summary)
    return exit_code(summary)
