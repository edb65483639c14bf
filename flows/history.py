"""Tasks shared by the history flows: thin wrappers over vats_etl.pipeline."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.artifacts import create_markdown_artifact

from vats_etl import catalog, pipeline, runtime, warehouse
from vats_etl.pipeline import Chunk, RunSummary


@task(name="load-history", retries=1, retry_delay_seconds=10)
def load_history(chunks: Sequence[Chunk], run_id: str, concurrency: int) -> RunSummary:
    """Fetch, archive, parse, validate and load chunks (network: retried once as a whole;
    chunks already loaded settled are skipped on the retry by the caller's plan)."""
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
    (a first read copy, an account added); a catalog problem never fails the load."""
    rt = runtime.current()
    settings = rt.settings
    published = warehouse.publish_read_copy(settings.db_path, timeout_s=settings.db_lock_timeout_s)
    if rt.accounts is not None:
        catalog.refresh_quietly(rt.accounts)
    return str(published)


def summary_markdown(title: str, summary: RunSummary) -> str:
    lines = [
        f"# {title}",
        "",
        f"Run `{summary.run_id}`: **{summary.status}** in {summary.seconds:.1f} s"
        + (f"; {summary.skipped} settled chunks skipped" if summary.skipped else ""),
        "",
        "| kind | chunks | failed | rows received | rows loaded | rows quarantined |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, t in sorted(summary.totals.items()):
        lines.append(
            f"| {kind} | {t.chunks} | {t.failed} | {t.rows_received} | {t.rows_loaded} "
            f"| {t.rows_quarantined} |"
        )
    if summary.failures:
        lines += ["", "## Failed chunks", ""]
        lines += [f"- `{chunk}`: {error}" for chunk, error in summary.failures]
    return "\n".join(lines) + "\n"


def publish_summary(key: str, title: str, summary: RunSummary) -> None:
    create_markdown_artifact(
        summary_markdown(title, summary), key=key, description=f"{title}: {summary.status}"
    )
