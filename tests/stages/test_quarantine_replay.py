"""A day with one row that cannot be placed: the others load, that one waits in quarantine
exactly as received (every key, its uid), the data_quality view says so, and a replay from
the raw archive after a fix loads it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

from vats_etl import parse, pipeline, warehouse
from vats_etl.client import PbxClient, RetryPolicy
from vats_etl.config import Secret, Settings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects" / "history"
DAY = date(2024, 6, 3)
NOW = datetime(2024, 6, 4, 12, 0, tzinfo=UTC)
UNPLACEABLE = "4700000003"


def serve(body: bytes) -> httpx.MockTransport:
    """The day's external history is `body`; internal history is an empty window (null)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/history/json"):
            return httpx.Response(200, content=body)
        return httpx.Response(200, content=b"null")

    return httpx.MockTransport(handler)


def load_day(settings: Settings, body: bytes) -> pipeline.RunSummary:
    with PbxClient(
        "http://pbx.test/crmapi/v1",
        Secret("k"),
        transport=serve(body),
        retry=RetryPolicy(attempts=1),
    ) as client:
        chunks = pipeline.plan(DAY, DAY, settings.zone)
        return pipeline.run(settings, chunks, client=client, now=lambda: NOW)


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    company = warehouse.Company.from_settings(settings)
    with warehouse.connect(settings.db_path, company=company) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "w.duckdb", raw_dir=tmp_path / "raw", tz="Europe/Moscow")


def epoch_seconds_too(original: Any) -> Any:
    """The fix: a parser that also reads `start` as Unix seconds."""

    def late_starts(frame: pl.DataFrame, raw: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        frame, placed = original(frame, raw)
        seconds = raw["start"].str.strip_chars().cast(pl.Int64, strict=False)
        as_time = (seconds * 1_000_000).cast(pl.Datetime("us", "UTC"))
        filled = frame.with_columns(pl.col("started_at").fill_null(as_time))
        return filled, placed + frame["started_at"].null_count() - filled["started_at"].null_count()

    return late_starts


def test_the_day_loads_the_row_waits_and_a_replay_after_a_fix_loads_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (FIXTURES / "one_unplaceable_row.json").read_bytes()
    summary = load_day(settings, body)

    assert summary.status == "partial"
    assert (summary.rows_loaded, summary.rows_quarantined) == (4, 1)
    assert [uid for (uid,) in query(settings, "select uid from calls order by uid")] == [
        "4700000001",
        "4700000002",
        "4700000004",
        "4700000005",
    ]
    ((kind, uid, raw, reasons),) = query(settings, "select kind, uid, raw, reasons from quarantine")
    assert (kind, uid, reasons) == (
        "external",
        UNPLACEABLE,
        ["started_at: cannot parse '1717423203'"],
    )
    assert orjson.loads(raw) == orjson.loads(body)[2]  # every key as received
    assert query(
        settings,
        "select issue, detail, rows, example from data_quality where issue = 'quarantined'",
    ) == [
        (
            "quarantined",
            "started_at: cannot parse …",
            1,
            "started_at: cannot parse '1717423203'",
        )
    ]
    assert query(
        settings,
        "select local_date, kind, source, detail, rows from data_quality "
        "where issue = 'normalised' order by detail",
    ) == [
        (DAY, "external", "api_json", "direction_from_type", 5),
        (DAY, "external", "api_json", "login_domain_stripped", 1),
        (DAY, "external", "api_json", "status_alias", 1),
    ]

    monkeypatch.setattr(parse, "_late_starts", epoch_seconds_too(parse._late_starts))
    replayed = pipeline.replay(settings)

    assert replayed.status == "ok" and replayed.rows_quarantined == 0
    assert query(
        settings, f"select started_at, user_login, status from calls where uid = '{UNPLACEABLE}'"
    ) == [(datetime(2024, 6, 3, 14, 0, 3, tzinfo=UTC), "petrova", "success")]
    assert query(settings, "select count(*) from calls") == [(5,)]
    # the quarantine keeps its record; the view counts only rows still not loaded
    assert query(settings, "select count(*) from quarantine") == [(1,)]
    assert query(settings, "select count(*) from data_quality where issue = 'quarantined'") == [
        (0,)
    ]


def test_a_day_where_no_row_has_the_optional_fields_loads(settings: Settings) -> None:
    body = (FIXTURES / "direction_or_type.json").read_bytes()
    summary = load_day(settings, body)
    assert summary.status == "ok" and summary.rows_loaded == 10
    assert query(settings, "select count(record_url), count(rating) from calls") == [(0, 0)]


def test_direction_and_type_that_disagree_load_direction_and_say_so(settings: Settings) -> None:
    """`direction` wins over `type` when both are known spellings; `type` decides when
    `direction` is a word we do not know. Either way the call loads and data_quality counts
    the disagreement (the history parser used to quarantine the second row)."""

    def row(uid: str, direction: str, type_: str) -> dict[str, object]:
        return {
            "uid": uid,
            "direction": direction,
            "type": type_,
            "status": "success",
            "client": "79001112233",
            "start": "2024-06-03T09:00:00Z",
            "wait": 5,
            "duration": 60,
        }

    body = orjson.dumps(
        [
            row("4800000001", "out", "in"),
            row("4800000002", "sideways", "IN"),
            row("4800000003", "Incoming", "in"),
        ]
    )
    summary = load_day(settings, body)

    assert summary.status == "ok" and summary.rows_loaded == 3
    assert query(settings, "select uid, direction from calls order by uid") == [
        ("4800000001", "out"),
        ("4800000002", "in"),
        ("4800000003", "in"),
    ]
    assert query(
        settings,
        "select local_date, kind, source, detail, rows from data_quality "
        "where issue = 'normalised' order by detail",
    ) == [
        (DAY, "external", "api_json", "direction_type_disagree", 1),
        (DAY, "external", "api_json", "direction_unknown_from_type", 1),
    ]
