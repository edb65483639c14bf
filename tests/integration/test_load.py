"""Loading end to end: the emulator over a real socket → pipeline → DuckDB, in both dialects
(the platform's answers load exactly as the spec's do)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson
import polars as pl
import pytest

from tests.support.emulated import (
    API_KEY,
    DIALECTS,
    EXTERNAL_COLUMNS,
    FIRST,
    LAST,
    canonical_frame,
    checksums,
    clock,
    company,
    load,
    make_settings,
    query,
    served,
    span,
)
from vats_etl import archive, errors, pipeline, warehouse
from vats_etl.emulator import Emulator, EmulatorServer

# each test loads days through the pipeline from the emulator over a socket: 1-5 s
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=DIALECTS)
def emu(request: pytest.FixtureRequest) -> Emulator:
    return company(request.param)


@pytest.fixture(scope="module")
def server(emu: Emulator) -> Iterator[EmulatorServer]:
    with served(emu) as srv:
        yield srv


def truth_frame(emu: Emulator, first: date = FIRST, last: date = LAST) -> pl.DataFrame:
    return canonical_frame(emu.external_calls(span(first, last)))


def loaded_frame(db: Path) -> pl.DataFrame:
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        frame = con.sql(f"select {', '.join(EXTERNAL_COLUMNS)} from calls order by uid").pl()
    return frame.with_columns(pl.col("started_at").dt.convert_time_zone("UTC"))


def test_row_counts_and_content_equal_the_emulator_truth(emu, settings):
    summary = load(settings)
    assert summary.status == "ok" and not summary.failures
    truth = truth_frame(emu)
    internal_truth = emu.internal_calls(span(FIRST, LAST))
    assert summary.totals["external"].rows_loaded == truth.height > 1000
    assert query(settings.db_path, "select count(*), count(distinct uid) from calls") == [
        (truth.height, truth.height)
    ]
    assert query(settings.db_path, "select count(*) from internal_calls") == [
        (len(internal_truth),)
    ]
    # The realistic profile's quirks (mixed case, compact timestamps, numbers as strings,
    # missing/null/"" fields) all normalise back to the truth, value for value.
    assert loaded_frame(settings.db_path).equals(truth)


def test_load_runs_record_every_chunk(settings):
    load(settings)
    rows = query(
        settings.db_path,
        "select kind, format, day, status, rows_received = rows_loaded, requests >= pages"
        " from load_runs order by day, kind",
    )
    days = (LAST - FIRST).days + 1
    assert len(rows) == 2 * days
    assert all(r[3] == "ok" and r[4] and r[5] for r in rows)


def test_rerun_changes_nothing_and_never_duplicates(settings):
    load(settings)
    first = checksums(settings.db_path)
    loaded_at = query(settings.db_path, "select max(loaded_at) from calls")
    load(settings)  # the same windows again (a forced re-run)
    assert checksums(settings.db_path) == first
    # nothing changed, so no row was touched
    assert query(settings.db_path, "select max(loaded_at) from calls") == loaded_at
    assert query(settings.db_path, "select count(*) - count(distinct uid) from calls") == [(0,)]


def test_overlapping_windows_do_not_duplicate(settings):
    load(settings, FIRST, date(2024, 6, 5))
    load(settings, date(2024, 6, 4), LAST)
    single = make_settings(settings.base_url or "", settings.db_path.parent / "single")
    load(single)
    assert checksums(settings.db_path) == checksums(single.db_path)


def test_truncated_days_are_split_until_complete(emu, server, tmp_path):
    """A page limit far below a day's volume forces the offset-less split path."""
    settings = make_settings(server.base_url, tmp_path, page_limit=300)
    summary = load(settings, FIRST, FIRST)
    assert summary.totals["external"].rows_loaded == truth_frame(emu, FIRST, FIRST).height
    requests, pages = query(
        settings.db_path, "select sum(requests), sum(pages) from load_runs where kind='external'"
    )[0]
    assert pages > 1 and requests >= pages


def test_csv_format_loads_the_same_calls(emu, settings):
    summary = load(settings, fmts=("csv",))
    assert summary.status == "ok"
    truth = truth_frame(emu)
    assert summary.totals["external"].rows_loaded == truth.height
    loaded = loaded_frame(settings.db_path).join(truth, on="uid", suffix="_truth")
    assert loaded.height == truth.height
    assert query(settings.db_path, "select distinct source from calls") == [("api_csv",)]
    for column in ("direction", "client", "started_at", "wait_s", "duration_s", "rating"):
        assert loaded[column].equals(loaded[f"{column}_truth"], check_names=False), column
    # CSV has no destination or department column; the platform's `account` names them when
    # no employee took the call (ivr, voicemail, a department), and then it agrees with JSON
    named = loaded.filter(pl.col("destination").is_not_null() | pl.col("group_name").is_not_null())
    if emu.dialect == "spec":
        assert named.is_empty()
    else:
        assert set(named["destination"].drop_nulls()) == {"ivr", "vm"}
        assert named.filter(pl.col("destination").is_not_null())["destination"].equals(
            named.filter(pl.col("destination").is_not_null())["destination_truth"],
            check_names=False,
        )
        departments = named.filter(pl.col("group_name").is_not_null())
        assert departments.height > 0
        assert departments["group_name"].equals(departments["group_name_truth"], check_names=False)
        assert departments["user_login"].null_count() == departments.height


def test_json_after_csv_upgrades_rows_and_csv_never_downgrades(emu, settings):
    load(settings, fmts=("csv",))
    load(settings, fmts=("json",))
    json_state = checksums(settings.db_path)
    assert query(settings.db_path, "select distinct source from calls") == [("api_json",)]
    load(settings, fmts=("csv",))
    assert checksums(settings.db_path) == json_state


@pytest.mark.parametrize("dialect", DIALECTS)
def test_malformed_rows_go_to_quarantine_with_reasons_and_the_rest_loads(dialect, tmp_path):
    emu = Emulator(
        seed=9, agents=20, profile="realistic", malformed_rate=0.03, dialect=dialect, clock=clock
    )
    truth = emu.external_calls(span(FIRST, LAST)) + emu.internal_calls(span(FIRST, LAST))
    bad = {r.get("uid") for r in truth if r["malformed"]}
    odd = [r for r in truth if r["malformed_kind"] == "unknown_status"]
    assert len(bad) > 10 and odd
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp_path)
        summary = load(settings)
    assert summary.status == "partial"
    bad_rows = sum(r["malformed"] for r in truth)
    assert summary.rows_quarantined == bad_rows
    assert summary.rows_loaded == len(truth) - bad_rows
    rows = query(settings.db_path, "select kind, uid, raw, reasons from quarantine")
    assert len(rows) == bad_rows
    for kind, uid, raw, reasons in rows:
        assert kind in {"external", "internal"}
        received = orjson.loads(raw)
        assert received.get("uid") == uid  # the uid kept, when the row has one
        assert uid is None or uid in bad
        if kind == "external" and dialect == "platform":
            assert "type" in received and "direction" not in received  # as received
        assert reasons and all(isinstance(r, str) and ":" in r for r in reasons)
    assert sum(uid is None for _, uid, _, _ in rows) == sum(
        r["malformed_kind"] == "no_uid" for r in truth
    )
    # an unknown status is no reason to lose a call: loaded as delivered, listed for analysts
    loaded = query(
        settings.db_path,
        "select uid from calls where status = 'transferred_away' union all "
        "select uid from internal_calls where status = 'transferred_away'",
    )
    assert {uid for (uid,) in loaded} == {r["uid"] for r in odd}
    listed = query(
        settings.db_path,
        "select sum(rows) from data_quality where issue = 'unknown_status' "
        "and detail = 'transferred_away'",
    )
    assert listed == [(len(odd),)]
    # a re-run quarantines nothing twice
    with served(emu) as srv:
        load(make_settings(srv.base_url, tmp_path))
    assert query(settings.db_path, "select count(*) from quarantine") == [(bad_rows,)]


def test_a_permanently_failing_chunk_is_reported_while_the_others_load(emu, tmp_path):
    with served(emu, faults="fail_day=2024-06-05") as srv:
        settings = make_settings(srv.base_url, tmp_path)
        summary = load(settings)
    assert summary.status == "failed"
    failed = {chunk for chunk, _ in summary.failures}
    assert len(failed) == 2 and all("2024-06-05" in c for c in failed)
    assert all("gave up" in e and "20240604T210000Z" in e for _, e in summary.failures)
    statuses = query(
        settings.db_path, "select day, status, error is not null from load_runs order by day"
    )
    assert {(d, s, e) for d, s, e in statuses if s == "failed"} == {
        (date(2024, 6, 5), "failed", True)
    }
    loaded_days = query(
        settings.db_path,
        "select distinct (started_at at time zone 'Europe/Moscow')::date from calls order by 1",
    )
    assert [d for (d,) in loaded_days] == [
        date(2024, 6, 3),
        date(2024, 6, 4),
        date(2024, 6, 6),
        date(2024, 6, 7),
    ]


def test_transient_faults_are_survived(emu, tmp_path):
    with served(emu, faults="error=0.15,429=0.1,drop=0.05") as srv:
        settings = make_settings(srv.base_url, tmp_path)
        summary = load(settings)
        faults = srv.stats.faults
    assert summary.status == "ok"
    assert sum(faults.values()) > 0
    assert summary.totals["external"].rows_loaded == truth_frame(emu).height


def test_resume_skips_settled_chunks(settings):
    load(settings)
    with warehouse.connect(
        settings.db_path, company=warehouse.Company.from_settings(settings)
    ) as con:
        settled = pipeline.settled_keys(con)
    chunks = pipeline.plan(FIRST, LAST, settings.zone)
    assert pipeline.without_settled(chunks, settled) == []
    more = pipeline.plan(FIRST, date(2024, 6, 8), settings.zone)
    assert [c.day for c in pipeline.without_settled(more, settled)] == [date(2024, 6, 8)] * 2


def test_archive_holds_every_body_compressed_and_never_the_key(settings):
    load(settings)
    files = list(settings.raw_dir.rglob("*.zst"))
    pages = list(archive.pages(settings.raw_dir, "external", "json"))
    assert files and len(pages) >= (LAST - FIRST).days + 1
    assert {p.path.parent.name for p in pages} == {
        f"date={d}" for d in ("2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07")
    }
    for path in files:
        assert API_KEY.encode() not in path.read_bytes()
        assert API_KEY.encode() not in archive.read_body(path)
    assert orjson.loads(pages[0].read())  # a JSON array of calls


def test_replay_rebuilds_the_same_tables_without_the_api(settings, tmp_path):
    load(settings)
    rebuilt = make_settings("http://127.0.0.1:9/unused", tmp_path / "rebuilt")
    rebuilt = rebuilt.replace(raw_dir=settings.raw_dir)
    summary = pipeline.replay(rebuilt)
    assert summary.status == "ok"
    assert checksums(rebuilt.db_path) == checksums(settings.db_path)


def test_replay_of_a_range_only_touches_that_range(settings, tmp_path):
    load(settings)
    rebuilt = make_settings("http://127.0.0.1:9/unused", tmp_path / "part").replace(
        raw_dir=settings.raw_dir
    )
    pipeline.replay(rebuilt, date(2024, 6, 4), date(2024, 6, 4))
    days = query(
        rebuilt.db_path,
        "select distinct (started_at at time zone 'Europe/Moscow')::date from calls",
    )
    assert days == [(date(2024, 6, 4),)]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Vladivostok"])
def test_days_follow_the_company_time_zone(tz, tmp_path):
    emu = Emulator(seed=3, agents=10, profile="clean", tz=tz, clock=clock)
    with served(emu) as srv:
        settings = make_settings(srv.base_url, tmp_path, tz=tz)
        load(settings, FIRST, FIRST)
    windows = query(settings.db_path, "select window_start, window_end from load_runs")
    from zoneinfo import ZoneInfo

    from vats_etl.periods import day_window

    expected = day_window(FIRST, ZoneInfo(tz))
    assert {(s, e) for s, e in windows} == {(expected.start, expected.end)}


# -- a backfill's load: one run over the range, followed month by month -----------------------


def begin(settings, first: date, last: date, **options: object) -> pipeline.Load:
    from tests.support.emulated import FAST_RETRY
    from vats_etl.client import PbxClient

    client = PbxClient(
        settings.base_url or "", settings.api_key, retry=FAST_RETRY, page_limit=settings.page_limit
    )
    return pipeline.begin(settings, first, last, client=client, now=clock, **options)  # type: ignore[arg-type]


def by_month(chunks: list[pipeline.LoadChunk]) -> dict[str, list[pipeline.LoadChunk]]:
    months: dict[str, list[pipeline.LoadChunk]] = {}
    for chunk in chunks:
        months.setdefault(f"{chunk.day:%Y-%m}", []).append(chunk)
    return months


def test_a_load_is_one_run_over_the_range_followed_month_by_month(settings):
    with begin(settings, date(2024, 5, 29), date(2024, 6, 2)) as load:
        months = by_month(load.chunks)
        parts = {month: load.wait(chunks) for month, chunks in months.items()}
        whole = load.join()
    assert list(parts) == ["2024-05", "2024-06"]
    assert [sum(t.chunks for t in p.totals.values()) for p in parts.values()] == [6, 4]
    for kind in ("external", "internal"):
        assert (
            sum(p.totals[kind].rows_loaded for p in parts.values())
            == whole.totals[kind].rows_loaded
        )
    assert (
        whole.rows_loaded
        == query(
            settings.db_path,
            "select (select count(*) from calls) + (select count(*) from internal_calls)",
        )[0][0]
    )
    # one pipeline run: every chunk of both months carries its run id
    assert query(settings.db_path, "select distinct run_id from load_runs") == [(whole.run_id,)]


def test_a_resumed_load_plans_only_what_is_not_settled(settings):
    with begin(settings, date(2024, 6, 3), date(2024, 6, 4)) as first:
        first.join()
    with begin(settings, date(2024, 6, 3), date(2024, 6, 5)) as again:
        summary = again.join()
    assert [c.day for c in again.chunks] == [date(2024, 6, 5)] * 2
    assert summary.skipped == 4


def test_an_error_that_stops_the_load_is_raised_to_every_follower(settings, tmp_path):
    """The archive cannot be written: the run stops at once, and each month's wait says why."""
    (tmp_path / "afile").write_text("a file where the archive's folder should be")
    broken = settings.replace(raw_dir=tmp_path / "afile" / "raw")
    with begin(broken, date(2024, 5, 30), date(2024, 6, 2)) as load:
        for chunks in by_month(load.chunks).values():
            with pytest.raises(errors.ArchiveError, match="cannot write"):
                load.wait(chunks)
        with pytest.raises(errors.ArchiveError):
            load.join()
    assert query(broken.db_path, "select count(*) from load_runs") == [(0,)]


def test_a_stopped_load_writes_whole_chunks_and_says_what_it_did_not_write(emu, tmp_path):
    import threading

    written_one = threading.Event()
    with served(emu, faults="latency=30") as srv:
        settings = make_settings(srv.base_url, tmp_path)
        first, last = date(2024, 1, 1), date(2024, 6, 7)
        with begin(
            settings, first, last, concurrency=2, on_chunk=lambda _: written_one.set()
        ) as load:
            assert written_one.wait(120)
            load.stop()
            with pytest.raises(errors.VatsError, match="stopped before"):
                load.wait(load.chunks)
            summary = load.join()
    written = query(settings.db_path, "select count(*) from load_runs")[0][0]
    assert 0 < written < len(load.chunks)  # what was in flight, not the range
    assert written == sum(t.chunks for t in summary.totals.values())
    assert query(settings.db_path, "select count(*) - count(distinct uid) from calls") == [(0,)]
