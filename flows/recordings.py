"""Copies of call recordings: a task of the daily flow (the command runs the library)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import cast

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from vats_etl import recordings
from vats_etl.flows import runtime


@task(name="copy-recordings", cache_policy=NO_CACHE)
def copy_recordings(which: str, last: date) -> recordings.Summary:
    """Copy the recordings `which` (reported or all) of the REFETCH_DAYS up to `last` that
    are not held yet, and prune old copies (the client retries 5xx and timeouts itself)."""
    rt = runtime.current()
    first = last - timedelta(days=recordings.REFETCH_DAYS)
    with rt.client() as client:
        summary = recordings.copy(
            rt.settings,
            client,
            which=cast(recordings.Which, which),
            first=first,
            last=last,
            today=last,
        )
    get_run_logger().info("%s", summary.line())
    return summary
