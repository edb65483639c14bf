"""Backfill: load external and internal history for any date range, resumably."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import groupby

from prefect import flow

from flows.accounts import per_account
from flows.history import load_history, publish_read_copy, publish_summary
from vats_etl import pipeline, runtime, warehouse
from vats_etl.client import Fmt, Kind
from vats_etl.pipeline import RunSummary


@flow(name="vats-backfill")
@per_account(check_api=True)
def backfill(
    date_from: date,
    date_to: date,
    kinds: tuple[Kind, ...] = ("external", "internal"),
    formats: tuple[Fmt, ...] = ("json",),
    concurrency: int = 4,
    force: bool = False,
    account: str | None = None,
) -> RunSummary:
    """Load every day from `date_from` to `date_to` (both included, days in VATS_TZ).

    Chunks already loaded settled are skipped unless `force` (see the README's re-run
    policy). Months are separate tasks so that the Prefect UI shows progress. `account`: a
    name of the accounts file whose settings the run uses (flows/accounts.py).
    """
    rt = runtime.current()
    settings = rt.settings
    chunks = pipeline.plan(date_from, date_to, settings.zone, kinds, formats)
    planned = len(chunks)
    if not force:
        with warehouse.connect(settings.db_path, timeout_s=settings.db_lock_timeout_s) as con:
            chunks = pipeline.without_settled(chunks, pipeline.settled_keys(con))
    if rt.on_plan is not None:
        rt.on_plan(len(chunks))
    summary = RunSummary(pipeline.new_run_id(), started_at=datetime.now(UTC))
    summary.skipped = planned - len(chunks)
    for _, month in groupby(chunks, key=lambda c: (c.day.year, c.day.month)):
        summary.merge(load_history(list(month), summary.run_id, concurrency))
    summary.finished_at = datetime.now(UTC)
    publish_read_copy()
    publish_summary("backfill-summary", f"Backfill {date_from} – {date_to}", summary)
    return summary
