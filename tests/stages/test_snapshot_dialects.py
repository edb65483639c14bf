"""Snapshots survive what an account does not offer, and list paging.

The fake PBX answers from hand-written bodies under tests/fixtures/dialects/directory/. An
optional entity answering 404, 405, 501 or {"error": ...} is skipped with a warning, recorded
in load_runs, and its earlier versions stay open; paging follows info.next, falls back to
info.total, and stops on an empty page. (The CLI against the emulator over a real socket:
tests/integration/test_snapshot_platform.py.)"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest

from vats_etl import errors, snapshots
from vats_etl.client import PbxClient, RetryPolicy, _next_start
from vats_etl.config import Secret, Settings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects" / "directory"
T1 = datetime(2024, 6, 3, 3, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=1)

Answer = tuple[int, str]  # status, fixture file
EVERYTHING: dict[tuple[str, int], Answer] = {
    ("users", 0): (200, "users_page1.json"),
    ("users", 2): (200, "users_page2.json"),
    ("users/ivan/groups", 0): (200, "user_groups_ivan.json"),
    ("users/anna/groups", 0): (200, "user_groups_anna.json"),
    ("users/oleg/groups", 0): (200, "user_groups_oleg.json"),
    ("groups", 0): (200, "groups_total_only_page1.json"),
    ("groups", 1): (200, "groups_total_only_page2.json"),
    ("telnums", 0): (200, "telnums_page1.json"),
    ("telnums", 1): (200, "telnums_empty_page.json"),
    ("sims", 0): (200, "sims.json"),
    ("blacklist/telnums", 0): (200, "blacklist.json"),
    ("blacklist/block-anonymous", 0): (200, "block_anonymous.json"),
}


class FixturePbx:
    def __init__(self, answers: dict[tuple[str, int], Answer]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, int]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/crmapi/v1/")
        start = int(request.url.params.get("start", 0))
        self.requests.append((path, start))
        status, name = self.answers.get((path, start), (404, "not_found.json"))
        return httpx.Response(status, content=(FIXTURES / name).read_bytes())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "w.duckdb", raw_dir=tmp_path / "raw", tz="Europe/Moscow")


def client_for(pbx: FixturePbx) -> PbxClient:
    # list_limit only shapes the requests; the fixtures decide how the pages are cut
    retry = RetryPolicy(attempts=3, base_delay_s=0, max_delay_s=0)
    return PbxClient(
        "http://pbx.test/crmapi/v1",
        Secret("k"),
        transport=httpx.MockTransport(pbx.handler),
        retry=retry,
    )


def take(answers: dict[tuple[str, int], Answer], settings: Settings, at: datetime) -> Any:
    pbx = FixturePbx(answers)
    with client_for(pbx) as client:
        return snapshots.refresh(client, settings, now=lambda: at), pbx


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        return con.execute(sql).fetchall()


# --- paging -------------------------------------------------------------------------------------


def test_paging_follows_next_falls_back_to_total_and_stops_on_an_empty_page(
    settings: Settings,
) -> None:
    summary, pbx = take(EVERYTHING, settings, T1)

    assert not summary.skipped
    assert summary.tables["users_history"].seen == 3  # info.next: 0 → 2 → null
    assert summary.tables["groups_history"].seen == 2  # no next: total 2 after 1 item → start 1
    assert summary.tables["telnums_history"].seen == 1  # next says 2, but page 1 is empty
    assert [r for r in pbx.requests if r[0] in ("users", "groups", "telnums")] == [
        ("users", 0),
        ("users", 2),
        ("groups", 0),
        ("groups", 1),
        ("telnums", 0),
        ("telnums", 1),
    ]
    assert query(settings, "select user_login, group_ids from users_history order by 1") == [
        ("anna", ["support"]),  # a bare array is one page
        ("ivan", ["sales"]),
        ("oleg", []),
    ]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"total": 5, "start": 0, "limit": 2, "next": 2}, 2),
        ({"total": 5, "start": 0, "limit": 2, "next": "2"}, 2),  # next as text
        ({"total": 5, "start": 0, "limit": 2}, 2),  # no next: after this page's items
        ({"total": "5"}, 2),
        ({"total": 2, "start": 0, "limit": 2, "next": 2}, None),  # next at total: the end
        ({"start": 0, "limit": 2, "next": 0}, None),  # next not past start: no endless loop
        ({"total": 2, "next": None}, None),
        ({"total": "x", "next": "later"}, None),
        ({}, None),
    ],
)
def test_paging_state_machine_edges(info: dict[str, Any], expected: int | None) -> None:
    body = orjson.dumps({"items": [{"login": "a"}, {"login": "b"}], "info": info})
    assert _next_start("users", body, 0) == expected
    empty = orjson.dumps({"items": [], "info": info})
    assert _next_start("users", empty, 0) is None  # an empty page always ends it


# --- an entity the account does not offer ------------------------------------------

SKIPS = [
    pytest.param("sims", ("sims", 0), (404, "not_found.json"), ["sims_history"], id="sims-404"),
    pytest.param(
        "sims", ("sims", 0), (405, "method_not_allowed.json"), ["sims_history"], id="sims-405"
    ),
    pytest.param(
        "sims", ("sims", 0), (501, "not_implemented.html"), ["sims_history"], id="sims-501"
    ),
    pytest.param(
        "sims", ("sims", 0), (200, "error_tariff.json"), ["sims_history"], id="sims-error"
    ),
    pytest.param(
        "blacklist",
        ("blacklist/telnums", 0),
        (200, "error_tariff.json"),
        ["blacklist_history"],
        id="blacklist-error",
    ),
    pytest.param(
        "blacklist",
        ("blacklist/telnums", 0),
        (404, "not_found.json"),
        ["blacklist_history"],
        id="blacklist-404",
    ),
    pytest.param(
        "telnums",
        ("telnums", 0),
        (501, "not_implemented.html"),
        ["telnums_history"],
        id="telnums-501",
    ),
    pytest.param(
        "groups",
        ("groups", 0),
        (405, "method_not_allowed.json"),
        ["groups_history", "group_members_history"],
        id="groups-405",
    ),
    pytest.param(
        "block_anonymous",
        ("blacklist/block-anonymous", 0),
        (200, "error_tariff.json"),
        ["pbx_settings_history"],
        id="block-anonymous-error",
    ),
]


@pytest.mark.parametrize(("entity", "route", "answer", "tables"), SKIPS)
def test_an_entity_not_offered_is_skipped_recorded_and_its_versions_stay_open(
    entity: str,
    route: tuple[str, int],
    answer: Answer,
    tables: list[str],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, _ = take(EVERYTHING, settings, T1)
    assert not first.skipped
    open_before = {t: query(settings, f"select count(*) from {t} where is_current") for t in tables}
    assert all(count > [(0,)] for count in open_before.values())

    without = {**EVERYTHING, route: answer}
    with caplog.at_level(logging.WARNING, logger="vats_etl.snapshots"):
        second, pbx = take(without, settings, T2)

    assert list(second.skipped) == [entity]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"{entity} skipped: ")
    assert "\n" not in warnings[0] and "earlier versions stay open" in warnings[0]
    # the skipped entity's tables were not touched: nothing closed, nothing opened
    for table in tables:
        assert table not in second.tables
        assert (
            query(settings, f"select count(*) from {table} where is_current") == open_before[table]
        )
        assert query(settings, f"select count(*) from {table} where valid_to is not null") == [(0,)]
    # the rest of the snapshot was taken
    assert second.tables["users_history"].seen == 3
    assert query(settings, "select kind, status, day, window_start, error from load_runs") == [
        (entity, "skipped", T2.date(), T2, second.skipped[entity])
    ]
    assert query(
        settings, "select kind, issue, detail from data_quality where issue = 'skipped_endpoint'"
    ) == [("directory", "skipped_endpoint", entity)]
    if answer[0] == 501:  # "Not Implemented" is an answer, not a hiccup: asked once
        assert pbx.requests.count(route) == 1


def test_several_entities_missing_at_once(settings: Settings) -> None:
    without = {
        **EVERYTHING,
        ("sims", 0): (404, "not_found.json"),
        ("blacklist/telnums", 0): (404, "not_found.json"),
    }
    summary, _ = take(without, settings, T1)
    assert set(summary.skipped) == {"sims", "blacklist"}
    assert set(summary.tables) == {
        "users_history",
        "groups_history",
        "group_members_history",
        "telnums_history",
        "pbx_settings_history",
    }


def test_employees_are_not_optional(settings: Settings) -> None:
    without = {**EVERYTHING, ("users", 0): (404, "not_found.json")}
    with pytest.raises(errors.NotFound, match="users"):
        take(without, settings, T1)
    assert not settings.db_path.exists() or query(settings, "select count(*) from load_runs") == [
        (0,)
    ]


def test_a_server_error_on_an_optional_entity_still_fails_the_snapshot(settings: Settings) -> None:
    without = {**EVERYTHING, ("sims", 0): (503, "not_implemented.html")}
    with pytest.raises(errors.GaveUp, match="sims"):
        take(without, settings, T1)
