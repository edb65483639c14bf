"""Backfill: load external and internal history for any date range, resumably."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import groupby

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from vats_etl import pipeline
from vats_etl.flows import runtime
from vats_etl.flows.accounts import per_account
from vats_etl.flows.history import publish_read_copy, publish_summary
from vats_etl.history import HISTORY_KINDS, HistoryFormat, HistoryKind
from vats_etl.pipeline import LoadChunk, RunSummary


@task(name="load-month", task_run_name="history {month}", cache_policy=NO_CACHE)
def follow_month(load: pipeline.Load, month: str, chunks: Sequence[LoadChunk]) -> RunSummary:
    """One month of the backfill's pipeline run: done once its last chunk is written."""
    return load.wait(chunks)


@flow(name="vats-backfill")
@per_account(check_api=True)
def backfill(
    date_from: date,
    date_to: date,
    kinds: tuple[HistoryKind, ...] = HISTORY_KINDS,
    formats: tuple[HistoryFormat, ...] = ("json",),
    concurrency: int = 4,
    force: bool = False,
    account: str | None = None,
) -> RunSummary:
    """Load every day from `date_from` to `date_to` (both included, days in VATS_TZ).

    Chunks already loaded settled are skipped unless `force` (see the README's re-run
    policy). One pipeline runs over the whole range; each month is a task that ends when
    its days are written, so the Prefect UI shows progress. The CLI starts that pipeline
    while Prefect's temporary server starts and hands it over (``Runtime.load``).
    `account`: a name of the accounts file whose settings the run uses (flows/accounts.py).
    """
    rt = runtime.current()
    load = rt.load or rt.begin_backfill(
        date_from, date_to, kinds, formats, concurrency=concurrency, force=force
    )
    with load:
        for month, chunks in groupby(load.chunks, key=lambda c: f"{c.day:%Y-%m}"):
            follow_month(load, month, list(chunks))
        summary = load.join()
    publish_read_copy()
    publish_summary("backfill-summary", f"Backfill {date_from} – {date_to}", summary)
    return summary
