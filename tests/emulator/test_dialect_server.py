"""The emulator's dialects over a real socket: the platform lacks `sims` (and, when told,
`blacklist`), pages its lists by `info.total` alone, and answers an empty window `null`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.emulator.support import API_KEY, fixed_clock
from vats_etl.client import PbxClient
from vats_etl.config import Secret
from vats_etl.emulator import Emulator, EmulatorServer


@pytest.fixture(scope="module")
def platform() -> Iterator[httpx.Client]:
    emu = Emulator(seed=7, agents=40, dialect="platform", clock=fixed_clock, list_cap=10)
    with (
        EmulatorServer(emu, api_key=API_KEY) as server,
        httpx.Client(base_url=server.base_url, headers={"X-API-KEY": API_KEY}) as client,
    ):
        yield client


def test_platform_has_no_sims_endpoint(platform: httpx.Client) -> None:
    assert platform.get("/sims").status_code == 404
    assert platform.get("/sims/79260000001").status_code == 404
    assert platform.get("/sims").json() == {"error": "Not found"}
    assert platform.get("/blacklist/telnums").status_code == 200  # only when told


def test_platform_lists_page_by_total_without_next(platform: httpx.Client) -> None:
    page = platform.get("/users", params={"start": 0, "limit": 10}).json()
    assert "next" not in page["info"] and page["info"]["total"] > 10
    assert len(page["items"]) == 10


def test_the_client_pages_a_platform_list_to_the_end(platform: httpx.Client) -> None:
    base_url = str(platform.base_url).rstrip("/")
    with PbxClient(base_url, Secret(API_KEY), list_limit=10) as client:
        users = client.users()
    total = platform.get("/users", params={"limit": 1}).json()["info"]["total"]
    assert len(users) == total > 10 and len({u["login"] for u in users}) == total


def test_platform_answers_an_empty_window_null_over_http(platform: httpx.Client) -> None:
    start = fixed_clock() - timedelta(days=2, hours=12)  # 03:00 in Moscow: a quiet hour
    params = {
        "start": start.strftime("%Y%m%dT%H%M%SZ"),
        "end": (start + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ"),
    }
    reply = platform.get("/history/json", params=params)
    assert reply.status_code == 200 and reply.content == b"null"


def test_an_account_without_blacklist_and_numbers() -> None:
    emu = Emulator(
        seed=7, agents=40, dialect="spec", missing_endpoints=("blacklist", "telnums"),
        clock=fixed_clock,
    )  # fmt: skip
    with (
        EmulatorServer(emu, api_key=API_KEY) as server,
        httpx.Client(base_url=server.base_url, headers={"X-API-KEY": API_KEY}) as client,
    ):
        assert client.get("/blacklist/telnums").status_code == 404
        assert client.get("/blacklist/block-anonymous").status_code == 404
        assert client.get("/telnums").status_code == 404
        assert client.get("/sims").status_code == 200
        assert "next" in client.get("/users").json()["info"]  # the spec's lists


def test_bad_dialect_or_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        Emulator(dialect="cisco")
    with pytest.raises(ValueError, match="missing_endpoints"):
        Emulator(missing_endpoints=("users",))
