"""Conformance over a real socket: every endpoint, status code, body and period rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.emulator.support import (
    API_KEY,
    NOW,
    csv_rows,
    fixed_clock,
    normalise_external,
)
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.periods import Window


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def small() -> Iterator[EmulatorServer]:
    """A 10-agent company with a high page cap: whole months fit in one response."""
    emu = Emulator(seed=9, agents=10, page_cap=100_000, list_cap=100, clock=fixed_clock)
    with EmulatorServer(emu, api_key=API_KEY) as server:
        yield server


def _get(server: EmulatorServer, path: str, **params: Any) -> httpx.Response:
    headers = {"X-API-KEY": API_KEY}
    return httpx.get(server.base_url + path, params=params, headers=headers, timeout=10)


def _uids(server: EmulatorServer, **params: Any) -> set[str]:
    response = _get(server, "/history/json", **params)
    assert response.status_code == 200, response.text
    return {row["uid"] for row in response.json()}


def _truth(server: EmulatorServer, start: str, end: str) -> set[str]:
    return {r["uid"] for r in server.emu.external_calls(Window(utc(start), utc(end)))}


# --- section 4.5: period rules, with NOW = Wed 2024-06-05 15:00 MSK ------------------------------

PERIODS = {
    "today": ("20240604T210000Z", "20240605T210000Z"),
    "yesterday": ("20240603T210000Z", "20240604T210000Z"),
    "this_week": ("20240602T210000Z", "20240609T210000Z"),
    "last_week": ("20240526T210000Z", "20240602T210000Z"),
    "this_month": ("20240531T210000Z", "20240630T210000Z"),
    "last_month": ("20240430T210000Z", "20240531T210000Z"),
}


@pytest.mark.parametrize("period", sorted(PERIODS))
def test_each_period_is_its_calendar_period_in_company_time(
    small: EmulatorServer, period: str
) -> None:
    served = _uids(small, period=period)
    assert served and served == _truth(small, *PERIODS[period])


def test_period_wins_over_start_and_end(small: EmulatorServer) -> None:
    served = _uids(small, period="yesterday", start="20240101T000000Z", end="20240102T000000Z")
    assert served == _truth(small, *PERIODS["yesterday"])


def test_start_and_end_are_a_half_open_window(small: EmulatorServer) -> None:
    start, end = "20240603T060000Z", "20240603T090000Z"
    served = _get(small, "/history/json", start=start, end=end).json()
    assert {r["uid"] for r in served} == _truth(small, start, end)
    truth = small.emu.external_calls(Window(utc(start), utc("20240603T120000Z")))
    at_end = [r for r in truth if r["started_at"] == utc(end)]
    assert not {r["uid"] for r in at_end} & {r["uid"] for r in served}


def test_missing_start_is_the_local_day_of_end(small: EmulatorServer) -> None:
    assert _uids(small, end="20240603T100000Z") == _truth(
        small, "20240602T210000Z", "20240603T100000Z"
    )
    # an end exactly at local midnight closes the day before it
    assert _uids(small, end="20240603T210000Z") == _truth(
        small, "20240602T210000Z", "20240603T210000Z"
    )


def test_missing_end_is_the_end_of_today(small: EmulatorServer) -> None:
    assert _uids(small, start="20240604T000000Z") == _truth(
        small, "20240604T000000Z", "20240605T210000Z"
    )


def test_nothing_given_is_today_so_far(small: EmulatorServer) -> None:
    rows = _get(small, "/history/json").json()
    assert {r["uid"] for r in rows} == _truth(small, *PERIODS["today"])
    assert all(normalise_external(r)["started_at"] < NOW for r in rows)


def test_internal_history_follows_the_same_rules(small: EmulatorServer) -> None:
    rows = _get(small, "/history/inner/json", period="yesterday").json()
    truth = small.emu.internal_calls(Window(*map(utc, PERIODS["yesterday"])))
    assert {r["uid"] for r in rows} == {r["uid"] for r in truth} != set()


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-06-01"},
        {"end": "20240601T000000"},
        {"period": "week"},
        {"type": "success"},
        {"limit": "abc"},
        {"limit": "-1"},
        {"limit": "0"},
        {"start": "20240602T000000Z", "end": "20240601T000000Z"},
    ],
)
def test_bad_parameters_are_400_validation_error(
    small: EmulatorServer, params: dict[str, str]
) -> None:
    response = _get(small, "/history/json", **params)
    assert response.status_code == 400
    assert response.json()["error"] == "Validation error"


def test_internal_types_differ_from_external(small: EmulatorServer) -> None:
    assert _get(small, "/history/inner/csv", type="in").status_code == 400
    assert _get(small, "/history/inner/csv", type="noanswer").status_code == 200


# --- types, formats, limits ---------------------------------------------------------------------


def test_type_filters_partition_the_calls(small: EmulatorServer) -> None:
    everything = _uids(small, period="yesterday")
    parts = {
        t: _get(small, "/history/json", period="yesterday", type=t).json()
        for t in ("in", "missed", "out")
    }
    assert set().union(*({r["uid"] for r in rows} for rows in parts.values())) == everything
    assert sum(len(rows) for rows in parts.values()) == len(everything)
    assert all(normalise_external(r)["status"] == "success" for r in parts["in"])
    assert all(normalise_external(r)["status"] != "success" for r in parts["missed"])
    assert all(r["direction"] == "in" for r in parts["in"] + parts["missed"])
    assert all(r["direction"] == "out" for r in parts["out"])


def test_content_types_and_csv_body(small: EmulatorServer) -> None:
    json_reply = _get(small, "/history/json", period="yesterday")
    csv_reply = _get(small, "/history/csv", period="yesterday")
    assert json_reply.headers["content-type"] == "application/json; charset=utf-8"
    assert csv_reply.headers["content-type"] == "text/csv; charset=utf-8"
    rows = csv_rows(csv_reply.content)
    assert {r[0] for r in rows} == {r["uid"] for r in json_reply.json()}
    inner = _get(small, "/history/inner/csv", period="yesterday")
    assert inner.headers["content-type"].startswith("text/csv") and csv_rows(inner.content)


@pytest.fixture(scope="module")
def capped() -> Iterator[EmulatorServer]:
    emu = Emulator(seed=9, agents=10, page_cap=50, list_cap=5, clock=fixed_clock)
    with EmulatorServer(emu, api_key=API_KEY) as server:
        yield server


def test_page_cap_truncates_to_the_newest_rows(capped: EmulatorServer) -> None:
    day = PERIODS["yesterday"]
    truth = sorted(capped.emu.external_calls(Window(*map(utc, day))), key=lambda r: r["started_at"])
    assert len(truth) > 50
    served = _get(capped, "/history/json", period="yesterday").json()
    assert len(served) == 50
    newest = {r["uid"] for r in truth[-50:]}
    assert {r["uid"] for r in served} == newest
    assert len(_get(capped, "/history/json", period="yesterday", limit=10).json()) == 10
    assert len(_get(capped, "/history/json", period="yesterday", limit=5000).json()) == 50
    assert len(csv_rows(_get(capped, "/history/csv", period="yesterday").content)) == 50


# --- list endpoints -----------------------------------------------------------------------------


def test_list_paging_walks_to_the_end(capped: EmulatorServer) -> None:
    seen: list[str] = []
    start: int | None = 0
    pages = 0
    while start is not None:
        body = _get(capped, "/users", start=start, limit=4).json()
        info = body["info"]
        assert set(info) == {"search", "total", "start", "limit", "next"}
        assert info["start"] == start and info["limit"] == 4
        assert len(body["items"]) <= 4
        seen += [u["login"] for u in body["items"]]
        start = info["next"]
        pages += 1
    users = capped.emu.directory(NOW).users
    assert seen == [u.login for u in users]
    assert pages == -(-len(users) // 4)
    assert info["total"] == len(users)


def test_list_limit_is_capped_and_search_filters(capped: EmulatorServer) -> None:
    body = _get(capped, "/users", limit=1000).json()
    assert body["info"]["limit"] == 5 and len(body["items"]) == 5
    assert body["info"]["next"] == 5
    someone = capped.emu.directory(NOW).users[3]
    surname = someone.name.split()[0]
    found = _get(capped, "/users", search=surname.lower()).json()
    assert someone.login in {u["login"] for u in found["items"]}
    assert all(
        surname.lower() in u["name"].lower() or surname.lower() in u["login"]
        for u in found["items"]
    )
    assert found["info"]["search"] == surname.lower()
    past = _get(capped, "/users", start=10_000).json()
    assert past["items"] == [] and past["info"]["next"] is None
    assert _get(capped, "/users", start="x").status_code == 400


def test_user_endpoints(api: httpx.Client, emulator_server: EmulatorServer) -> None:
    directory = emulator_server.emu.directory(NOW)
    member = next(u for u in directory.users if u.group_id)
    body = api.get(f"/users/{member.login}").json()
    assert set(body) == {
        "login", "name", "position", "ext", "telnum", "email", "role", "mobile", "mobile_redirect",
    }  # fmt: skip
    assert body["name"] == member.name and "enabled" in body["mobile_redirect"]
    assert api.get(f"/users/{member.ext}").json() == body  # ext works as login
    assert api.get("/users/nobody").status_code == 404
    groups = api.get(f"/users/{member.login}/groups").json()["items"]
    assert groups == [
        {
            "id": member.group_id,
            "name": directory.group_names[member.group_id],
            "ext": directory.group(member.group_id).ext,
        }
    ]
    sub = api.get(f"/users/{member.login}/subscription", params={"group_id": member.group_id})
    assert sub.json() == {"state": member.calls_enable}
    assert (
        api.get(f"/users/{member.login}/subscription", params={"group_id": "nope"}).status_code
        == 404
    )
    assert api.get(f"/users/{member.login}/dnd").json() == {"state": member.dnd}
    assert api.get("/users/admin/groups").json()["items"] == []


def test_group_telnum_sim_and_blacklist_endpoints(
    api: httpx.Client, emulator_server: EmulatorServer
) -> None:
    directory = emulator_server.emu.directory(NOW)
    groups = api.get("/groups").json()["items"]
    assert [g["id"] for g in groups] == [g.id for g in directory.groups]
    sales = api.get("/groups/sales").json()
    assert sales["name"] == "Отдел продаж" and sales["users"]
    assert {"login", "name", "calls_enable"} == set(sales["users"][0])
    assert {"time", "target"} <= set(sales["timeout"])
    assert api.get("/groups/g_missing").status_code == 404
    telnums = api.get("/telnums").json()["items"]
    main = next(t for t in telnums if t["is_main_phone"])
    assert main["type"] == "ivr" and set(main["schedule"]) >= {"monday", "sunday"}
    assert main["schedule"]["monday"]["holiday"] is False
    assert api.get(f"/telnums/{main['telnum']}").json() == main
    assert api.get("/telnums/70000000000").status_code == 404
    sims = api.get("/sims").json()["items"]
    assert sims and api.get(f"/sims/{sims[0]['telnum']}").json() == sims[0]
    assert api.get("/sims/1").status_code == 404
    plain = api.get("/blacklist/telnums").json()["items"]
    stats = api.get("/blacklist/telnums", params={"with": "statistics"}).json()["items"]
    assert plain and all(set(e) == {"telnum", "comment"} for e in plain)
    assert all(set(e) == {"telnum", "comment", "week", "year"} for e in stats)
    assert all(0 <= e["week"] <= e["year"] for e in stats)
    assert api.get("/blacklist/telnums", params={"with": "x"}).status_code == 400
    state = api.get("/blacklist/block-anonymous").json()
    assert state == {"state": directory.block_anonymous}


def test_makecall_returns_a_uid(api: httpx.Client) -> None:
    first = api.post("/makecall", json={"phone": "79101234567", "user": "admin"})
    second = api.post("/makecall", data={"phone": "79101234567", "user": "admin"})
    assert first.status_code == second.status_code == 200
    uid = first.json()["uid"]
    assert len(uid) == 10 and uid.isdigit() and uid != second.json()["uid"]
    assert api.post("/makecall", json={"user": "admin"}).status_code == 400
    assert (
        api.post(
            "/makecall", content=b"{oops", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert api.post("/makecall", json={"phone": "79101234567", "user": "ghost"}).status_code == 404


# --- methods, paths, auth -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/users/admin"),
        ("DELETE", "/users/admin"),
        ("POST", "/history/json"),
        ("GET", "/makecall"),
    ],
)
def test_other_methods_on_known_paths_are_405(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path, json={"name": "x"})
    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}


@pytest.mark.parametrize("path", ["/nope", "/users/admin/nope", "/history", "/../../etc"])
def test_unknown_paths_are_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_paths_outside_the_api_base_are_404(emulator_server: EmulatorServer) -> None:
    root = emulator_server.base_url.removesuffix("/crmapi/v1")
    response = httpx.get(root + "/users", headers={"X-API-KEY": API_KEY})
    assert response.status_code == 404


@pytest.mark.parametrize("key", [None, "", "wrong", API_KEY + "x"])
def test_wrong_or_missing_key_is_401_invalid_token(
    emulator_server: EmulatorServer, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-KEY": key}
    response = httpx.get(emulator_server.base_url + "/users", headers=headers)
    assert response.status_code == 401
    assert "Invalid token" in response.json()["error"]


@pytest.mark.parametrize(
    ("state", "text"), [("disabled", "CRM disabled"), ("switched_off", "CRM switched off")]
)
def test_crm_state_is_401_with_its_text(emu: Emulator, state: str, text: str) -> None:
    with EmulatorServer(emu, api_key=API_KEY, crm_state=state) as server:
        response = _get(server, "/history/json")
        assert response.status_code == 401
        assert response.json() == {"error": text}


def test_keep_alive_reuses_one_connection(emu: Emulator) -> None:
    with (
        EmulatorServer(emu, api_key=API_KEY) as server,
        httpx.Client(base_url=server.base_url, headers={"X-API-KEY": API_KEY}) as client,
    ):
        for _ in range(5):
            assert client.get("/users").status_code == 200
        assert server.stats.connections == 1
        assert server.stats.requests == 5
        assert server.stats.statuses == {200: 5}


def test_stats_count_history_rows(emu: Emulator) -> None:
    with EmulatorServer(emu, api_key=API_KEY) as server:
        rows = _get(server, "/history/json", period="yesterday").json()
        assert server.stats.rows == len(rows) > 0
