"""Daily: catch up from the first unsettled day (yesterday at the latest) through today."""

from __future__ import annotations

from prefect import flow

from flows.history import load_history, publish_read_copy, publish_summary
from vats_etl import pipeline, runtime, warehouse
from vats_etl.client import Fmt, Kind
from vats_etl.pipeline import RunSummary


@flow(name="vats-daily")
def daily(
    kinds: tuple[Kind, ...] = ("external", "internal"),
    formats: tuple[Fmt, ...] = ("json",),
    concurrency: int = 4,
) -> RunSummary:
    """Re-read yesterday and today (overlapping the previous run), or further back when
    earlier days never settled, so a skipped run loses nothing."""
    rt = runtime.current()
    settings = rt.settings
    with warehouse.connect(settings.db_path, timeout_s=settings.db_lock_timeout_s) as con:
        first, last = pipeline.daily_range(con, rt.clock(), settings.zone, kinds)
    chunks = pipeline.plan(first, last, settings.zone, kinds, formats)
    if rt.on_plan is not None:
        rt.on_plan(len(chunks))
    summary = load_history(chunks, pipeline.new_run_id(), concurrency)
    publish_read_copy()
    publish_summary("daily-summary", f"Daily {first} – {last}", summary)
    return summary
