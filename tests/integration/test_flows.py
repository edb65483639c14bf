"""The Prefect flows (in-process, against the session's test Prefect API)."""

from __future__ import annotations

from datetime import date

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from tests.support.emulated import FAST_RETRY, checksums, clock, make_settings, query
from vats_etl.flows import runtime
from vats_etl.flows.backfill import backfill
from vats_etl.flows.daily import daily
from vats_etl.flows.replay import replay

# flows on the session's Prefect server
pytestmark = pytest.mark.slow


def latest_artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50
        )
    assert found, f"no artifact {key}"
    newest = max(found, key=lambda a: a.created)
    return str(newest.data)


def test_backfill_flow_loads_publishes_copy_and_summary(prefect_harness, server, tmp_path):
    settings = make_settings(server.base_url, tmp_path)
    seen: list[int] = []
    rt = runtime.Runtime(settings, retry=FAST_RETRY, clock=clock, on_plan=seen.append)
    with runtime.using(rt):
        summary = backfill(date(2024, 5, 30), date(2024, 6, 2))
        markdown = latest_artifact("backfill-summary")
        again = backfill(date(2024, 5, 30), date(2024, 6, 2))
    assert summary.status == "ok" and summary.rows_loaded > 0
    assert seen == [8, 0]  # 4 days x 2 kinds, then everything settled: nothing to fetch
    assert again.skipped == 8 and again.rows_loaded == 0
    assert settings.read_db_path.exists()
    assert "| external |" in markdown and "| internal |" in markdown
    assert f"| {summary.totals['external'].rows_loaded} |" in markdown
    assert "8 settled chunks skipped" in latest_artifact("backfill-summary")


def test_backfill_streams_one_run_and_shows_each_month(
    prefect_harness, server, tmp_path, monkeypatch
):
    """Months are tasks in the UI, but one pipeline run covers the range: the fetchers and
    the writer never wait for a month to drain."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from vats_etl import pipeline

    runs: list[list[pipeline.LoadChunk]] = []
    real_run = pipeline.run

    def spy(settings, chunks, **options):  # type: ignore[no-untyped-def]
        runs.append(list(chunks))
        return real_run(settings, chunks, **options)

    monkeypatch.setattr(pipeline, "run", spy)
    settings = make_settings(server.base_url, tmp_path)
    with runtime.using(runtime.Runtime(settings, retry=FAST_RETRY, clock=clock)):
        state = backfill(date(2024, 5, 30), date(2024, 6, 2), return_state=True)
    summary = state.result()
    assert len(runs) == 1 and {c.day.month for c in runs[0]} == {5, 6}
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    months = sorted(t.name for t in tasks if t.name.startswith("history "))
    assert months == ["history 2024-05", "history 2024-06"]
    assert all(t.state is not None and t.state.is_completed() for t in tasks)
    assert (
        summary.rows_loaded
        == query(settings.db_path, "select count(*) from calls")[0][0]
        + (query(settings.db_path, "select count(*) from internal_calls")[0][0])
    )


def test_daily_flow_catches_up_from_the_first_unsettled_day(prefect_harness, server, tmp_path):
    settings = make_settings(server.base_url, tmp_path)
    planned: list[int] = []
    with runtime.using(
        runtime.Runtime(settings, retry=FAST_RETRY, clock=clock, on_plan=planned.append)
    ):
        backfill(date(2024, 6, 1), date(2024, 6, 5))  # the emulator's today is 2024-06-10
        summary = daily()
    assert summary.status == "ok"
    # 6..10 June were never loaded: daily goes back to them (2 kinds a day), not just 2 days
    days = query(settings.db_path, "select distinct day from load_runs order by day")
    assert [d for (d,) in days] == [date(2024, 6, d) for d in range(1, 11)]
    assert planned[-1] == 10
    markdown = latest_artifact("daily-summary")
    assert "| external |" in markdown
    # the platform's emulator has no SIMs: the daily says so, and is not failed for it
    assert summary.warnings == [
        "sims skipped: GET sims: 404 Not Found; its earlier versions stay open"
    ]
    assert "## Warnings\n\n- sims skipped: GET sims: 404 Not Found" in markdown


def test_replay_flow_equals_the_loaded_tables(prefect_harness, server, tmp_path):
    settings = make_settings(server.base_url, tmp_path)
    with runtime.using(runtime.Runtime(settings, retry=FAST_RETRY, clock=clock)):
        backfill(date(2024, 6, 3), date(2024, 6, 4))
    rebuilt = settings.replace(db_path=tmp_path / "rebuilt.duckdb")
    with runtime.using(runtime.Runtime(rebuilt)):
        summary = replay()
    assert summary.status == "ok"
    assert checksums(rebuilt.db_path) == checksums(settings.db_path)
    assert "Replay" in latest_artifact("replay-summary")


def test_daily_copies_the_reported_recordings_when_asked(prefect_harness, server, tmp_path):
    """VATS_RECORDINGS=reported: the daily copies what the reports point to (the last week),
    before it publishes the read copy, and the ratings page links the copies."""
    import os
    from pathlib import Path

    settings = make_settings(server.base_url, tmp_path, recordings="reported")
    with runtime.using(runtime.Runtime(settings, retry=FAST_RETRY, clock=clock)):
        backfill(date(2024, 6, 3), date(2024, 6, 9))
        summary = daily()
    assert summary.status == "ok"
    copied = query(
        settings.db_path,
        "select count(*) from recordings as r join reported_recordings as rr using (uid) "
        "where r.status = 'copied'",
    )[0][0]
    assert copied > 0
    assert query(
        settings.db_path,
        "select count(*) from reported_recordings where local_date >= '2024-06-03' "
        "and uid not in (select uid from recordings)",
    ) == [(0,)]
    page = (Path(os.environ["VATS_DASHBOARDS_DIR"]) / "ratings.html").read_text("utf-8")
    assert "/recordings/date=2024-06-" in page  # a low rating's copy, not the PBX's link
