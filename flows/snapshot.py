"""Snapshot: read the PBX directory and keep its SCD2 history (thin wiring of
vats_etl.snapshots). `daily` calls :func:`refresh_directory` before loading history."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from vats_etl import errors, snapshots
from vats_etl import summary as summary_lines
from vats_etl.flows import runtime
from vats_etl.flows.history import publish_read_copy
from vats_etl.snapshots import Snapshot, SnapshotSummary

# Worth another try: the PBX or the network gave up (the client already retried inside).
TRANSIENT = (errors.GaveUp, errors.ServerError)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(state.result(raise_on_failure=False), TRANSIENT)


@task(
    name="read-directory",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def read_directory() -> Snapshot:
    """Network: every directory endpoint, each body archived before anything is parsed."""
    rt = runtime.current()
    with rt.client() as client:
        return snapshots.take(client, rt.settings, rt.clock())


@task(name="store-snapshot", cache_policy=NO_CACHE)
def store_snapshot(snapshot: Snapshot) -> SnapshotSummary:
    """One transaction over every history table."""
    return snapshots.store(runtime.current().settings, snapshot)


def refresh_directory() -> SnapshotSummary:
    return store_snapshot(read_directory())


def summary_markdown(summary: SnapshotSummary, tz: str) -> str:
    lines = [
        f"# Directory snapshot {summary_lines.snapshot_heading(summary, tz)}",
        "",
        f"{summary.requests} requests; " + ("changes recorded" if summary.changed else "no change"),
        "",
        *summary_lines.markdown_table(summary_lines.snapshot_table(summary)),
    ]
    if summary.skipped:
        lines += ["", "Skipped (not offered by this account; earlier versions stay open):", ""]
        lines += [f"- {entity}: {why}" for entity, why in summary.skipped.items()]
    return "\n".join(lines) + "\n"


@flow(name="vats-snapshot")
def snapshot() -> SnapshotSummary:
    """Snapshot users, departments, numbers, SIMs, blacklist and options into SCD2 history."""
    summary = refresh_directory()
    publish_read_copy()
    create_markdown_artifact(
        summary_markdown(summary, runtime.current().settings.tz),
        key="snapshot-summary",
        description="changes recorded" if summary.changed else "no change",
    )
    return summary
