"""Tasks shared by the history flows: thin wrappers over vats_etl.pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from vats_etl import catalog, errors, pipeline, warehouse
from vats_etl import summary as summary_lines
from vats_etl.flows import runtime
from vats_etl.pipeline import LoadChunk, RunSummary


def _busy(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(state.result(raise_on_failure=False), errors.DatabaseBusy)


# Retried only when another process held the warehouse too long: a failed chunk is in the
# summary, not an exception, and a full disk or an unreadable file does not heal in 10 s.
@task(
    name="load-history",
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=_busy,
    cache_policy=NO_CACHE,
)
def load_history(chunks: Sequence[LoadChunk], run_id: str, concurrency: int) -> RunSummary:
    """Fetch, archive, parse, validate and load chunks."""
    rt = runtime.current()
    with rt.client() as client:
        return pipeline.run(
            rt.settings,
            chunks,
            client=client,
            run_id=run_id,
            concurrency=concurrency,
            on_chunk=rt.on_chunk,
            now=rt.clock,
        )


@task(name="publish-read-copy")
def publish_read_copy() -> str:
    """Publish the read copy; for an account, refresh the catalog when the accounts changed
    (an account added or removed, a new sql/); a catalog problem never fails the load."""
    rt = runtime.current()
    settings = rt.settings
    published = warehouse.publish_read_copy(settings.db_path, timeout_s=settings.db_lock_timeout_s)
    if rt.accounts is not None:
        catalog.refresh_quietly(rt.accounts)
    return str(published)


def summary_markdown(title: str, summary: RunSummary) -> str:
    skipped = summary_lines.skipped_note(summary)
    lines = [
        f"# {title}",
        "",
        f"Run `{summary.run_id}`: **{summary.status}** in {summary.seconds:.1f} s"
        + (f"; {skipped}" if skipped else ""),
        "",
        *summary_lines.markdown_table(summary_lines.load_table(summary)),
    ]
    if summary.failures:
        lines += ["", "## Failed chunks", ""]
        lines += [f"- `{chunk}`: {error}" for chunk, error in summary.failures]
    if summary.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {warning}" for warning in summary.warnings]
    return "\n".join(lines) + "\n"


def publish_summary(key: str, title: str, summary: RunSummary) -> None:
    create_markdown_artifact(
        summary_markdown(title, summary), key=key, description=f"{title}: {summary.status}"
    )
