"""Replay: rebuild the history tables from the raw archive, with no API calls."""

from __future__ import annotations

from datetime import date

from prefect import flow, task

from vats_etl import pipeline
from vats_etl.flows import runtime
from vats_etl.flows.history import publish_read_copy, publish_summary
from vats_etl.pipeline import RunSummary


@task(name="replay-archive")
def replay_archive(date_from: date | None, date_to: date | None) -> RunSummary:
    rt = runtime.current()
    return pipeline.replay(rt.settings, date_from, date_to, on_chunk=rt.on_chunk)


@flow(name="vats-replay")
def replay(date_from: date | None = None, date_to: date | None = None) -> RunSummary:
    """Re-apply every archived page (oldest fetch first) to the warehouse."""
    summary = replay_archive(date_from, date_to)
    publish_read_copy()
    publish_summary("replay-summary", "Replay from the raw archive", summary)
    return summary
