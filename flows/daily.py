"""Daily: catch up from the first unsettled day (yesterday at the latest) through today."""

from __future__ import annotations

from prefect import flow

from vats_etl import errors, pipeline, warehouse
from vats_etl.flows import runtime
from vats_etl.flows.accounts import per_account
from vats_etl.flows.history import load_history, publish_read_copy, publish_summary
from vats_etl.flows.recordings import copy_recordings
from vats_etl.flows.snapshot import refresh_directory
from vats_etl.flows.weekly import build_dashboards
from vats_etl.history import HISTORY_KINDS, HistoryFormat, HistoryKind
from vats_etl.pipeline import RunSummary


@flow(name="vats-daily")
@per_account(check_api=True)
def daily(
    kinds: tuple[HistoryKind, ...] = HISTORY_KINDS,
    formats: tuple[HistoryFormat, ...] = ("json",),
    concurrency: int = 4,
    account: str | None = None,
) -> RunSummary:
    """Re-read yesterday and today (overlapping the previous run), or further back when
    earlier days never settled, so a skipped run loses nothing. `account`: a name of the
    accounts file (VATS_ACCOUNTS) whose settings the run uses (flows/accounts.py)."""
    rt = runtime.current()
    settings = rt.settings
    # directory first, so the new history is enriched with today's employees; a failed
    # snapshot does not stop the history load but fails the run
    snapshot_failure, snapshot_warnings = None, []
    try:
        snapshot_warnings = refresh_directory().warnings
    except errors.VatsError as exc:
        snapshot_failure = ("directory snapshot", str(exc))
    with warehouse.connect(
        settings.db_path,
        company=warehouse.Company.from_settings(settings),
        timeout_s=settings.db_lock_timeout_s,
    ) as con:
        first, last = pipeline.daily_range(con, rt.clock(), settings.zone, kinds)
        lacking = warehouse.format_fallbacks(con)  # formats earlier runs found missing
    chunks = pipeline.plan(first, last, settings.zone, kinds, formats, lacking=lacking)
    if rt.on_plan is not None:
        rt.on_plan(len(chunks))
    summary = load_history(chunks, pipeline.new_run_id(), concurrency)
    summary.warnings.extend(snapshot_warnings)
    if snapshot_failure is not None:
        summary.failures.append(snapshot_failure)
    if settings.recordings != "off":  # before the copy is published: the pages link them
        try:
            copied = copy_recordings(settings.recordings, last)
            if copied.failed:
                summary.warnings.append(
                    f"recordings: {copied.failed} could not be fetched now (asked again next "
                    f"time), e.g. {copied.failures[0]}"
                )
        except errors.VatsError as exc:
            summary.failures.append(("recordings", str(exc)))
    publish_read_copy()
    try:  # the managers' dashboards, from the copy just published (a failure fails the run)
        build_dashboards()
    except errors.VatsError as exc:
        summary.failures.append(("dashboards", str(exc)))
    publish_summary("daily-summary", f"Daily {first} – {last}", summary)
    return summary
