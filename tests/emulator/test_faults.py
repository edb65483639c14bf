"""Injected faults: parsed from a string, decided per request identity, reproducible."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest

from tests.emulator.support import API_KEY, MSK, day, fixed_clock
from vats_etl.emulator import Emulator, EmulatorServer, Faults


def test_parse_reads_every_key() -> None:
    faults = Faults.parse(
        "latency=20, jitter=5, error=0.1, 429=0.05, drop=0.02, stall=0.01, stall_s=3,"
        "retry_after=2, fail_day=2024-03-05, fail_day=2024-03-07, seed=9"
    )
    assert faults == Faults(
        latency_ms=20, jitter_ms=5, error=0.1, too_many=0.05, drop=0.02, stall=0.01,
        stall_s=3, retry_after_s=2, fail_days=(date(2024, 3, 5), date(2024, 3, 7)), seed=9,
    )  # fmt: skip
    assert faults.active and not Faults.parse("").active


@pytest.mark.parametrize(
    "spec", ["boom=1", "error", "error=x", "fail_day=2024-13-01", "error=0.7,429=0.5", "error=-1"]
)
def test_parse_rejects_nonsense(spec: str) -> None:
    with pytest.raises(ValueError):
        Faults.parse(spec)


def test_decisions_depend_only_on_request_identity_and_attempt() -> None:
    faults = Faults(error=0.3, too_many=0.2, drop=0.1, stall=0.1, seed=4)
    query = [("start", "20240101T000000Z"), ("end", "20240102T000000Z")]
    first = faults.decide("GET", "history/json", query, 0)
    assert faults.decide("GET", "history/json", list(reversed(query)), 0) == first
    outcomes = {faults.decide("GET", "history/json", query, n).kind for n in range(40)}
    assert outcomes == {None, "error", "429", "drop", "stall"}  # retries meet other fates
    other_seed = Faults(error=0.3, too_many=0.2, drop=0.1, stall=0.1, seed=5)
    fates = [faults.decide("GET", "users", [("start", str(i))], 0) for i in range(50)]
    assert fates != [other_seed.decide("GET", "users", [("start", str(i))], 0) for i in range(50)]


def test_fault_rates_and_error_codes() -> None:
    faults = Faults(error=0.2, too_many=0.1)
    fates = [faults.decide("GET", "users", [("start", str(i))], 0) for i in range(4000)]
    kinds = Counter(f.kind for f in fates)
    assert 0.17 <= kinds["error"] / 4000 <= 0.23
    assert 0.08 <= kinds["429"] / 4000 <= 0.12
    codes = Counter(f.status for f in fates if f.kind == "error")
    assert set(codes) == {500, 502, 503, 522}


def _server(faults: Faults) -> EmulatorServer:
    emu = Emulator(seed=2, agents=10, clock=fixed_clock)
    return EmulatorServer(emu, api_key=API_KEY, faults=faults)


def _client(server: EmulatorServer, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-KEY": API_KEY}, timeout=timeout)


@pytest.fixture
def erroring() -> Iterator[EmulatorServer]:
    with _server(Faults(error=1.0)) as server:
        yield server


def test_error_fault_answers_5xx_with_json(erroring: EmulatorServer) -> None:
    with _client(erroring) as client:
        replies = [client.get("/users", params={"start": i}) for i in range(30)]
    assert {r.status_code for r in replies} <= {500, 502, 503, 522}
    assert all("error" in r.json() for r in replies)
    assert erroring.stats.faults == {"error": 30}


def test_429_carries_retry_after() -> None:
    with _server(Faults(too_many=1.0, retry_after_s=2)) as server, _client(server) as client:
        reply = client.get("/users")
        assert reply.status_code == 429
        assert reply.headers["Retry-After"] == "2"
        assert server.stats.faults == {"429": 1}


def test_drop_closes_the_connection_without_an_answer() -> None:
    with _server(Faults(drop=1.0)) as server, _client(server) as client:
        with pytest.raises(httpx.TransportError):
            client.get("/users")
        assert server.stats.faults == {"drop": 1}


def test_stall_outlasts_the_client_timeout() -> None:
    with _server(Faults(stall=1.0, stall_s=3)) as server, _client(server, 0.3) as client:
        began = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get("/users")
        assert time.monotonic() - began < 2
        assert server.stats.faults == {"stall": 1}


def test_latency_delays_every_answer() -> None:
    with _server(Faults(latency_ms=150)) as server, _client(server) as client:
        began = time.monotonic()
        assert client.get("/users").status_code == 200
        assert time.monotonic() - began >= 0.15
        assert server.stats.faults == {"latency": 1}


def _statuses(server: EmulatorServer, paths: list[tuple[str, int]]) -> list[int]:
    with _client(server) as client:
        return [_status(client, path, start) for path, start in paths]


def _status(client: httpx.Client, path: str, start: int) -> int:
    try:
        return client.get(path, params={"start": start}).status_code
    except httpx.TransportError:
        return 0


def test_same_requests_meet_the_same_faults_on_every_run() -> None:
    faults = Faults(error=0.3, too_many=0.2, drop=0.1, seed=8)
    # retries of one request identity are counted: attempt 0, 1, 2... of ("users", start=i)
    plan = [("/users", i % 7) for i in range(40)]
    with _server(faults) as one:
        first = _statuses(one, plan)
    with _server(faults) as two:
        second = _statuses(two, plan)
    assert first == second
    assert {0, 200, 429} <= set(first) and set(first) & {500, 502, 503, 522}
    attempts: Counter[int] = Counter()
    for (_, start), status in zip(plan, first, strict=True):
        fate = faults.decide("GET", "users", [("start", str(start))], attempts[start])
        attempts[start] += 1
        expected = {None: 200, "429": 429, "drop": 0}.get(fate.kind, fate.status)
        assert status == expected


def test_fates_do_not_depend_on_thread_interleaving() -> None:
    faults = Faults(error=0.4, too_many=0.2, seed=3)
    plan = [("/users", i) for i in range(24)]
    with _server(faults) as sequential:
        expected = _statuses(sequential, plan)
    with _server(faults) as concurrent, ThreadPoolExecutor(8) as pool:

        def one(item: tuple[str, int]) -> int:
            with _client(concurrent) as client:
                return _status(client, *item)

        assert list(pool.map(one, plan)) == expected


def test_fail_day_is_permanent_for_overlapping_history_windows() -> None:
    bad = date(2024, 6, 3)
    with _server(Faults(fail_days=(bad,))) as server, _client(server) as client:
        window = day(bad)
        inside = {"start": window.start.strftime("%Y%m%dT%H%M%SZ"),
                  "end": window.end.strftime("%Y%m%dT%H%M%SZ")}  # fmt: skip
        for _ in range(5):
            assert client.get("/history/json", params=inside).status_code == 500
        assert client.get("/history/inner/csv", params=inside).status_code == 500
        assert client.get("/history/json", params={"period": "this_week"}).status_code == 500
        before = day(date(2024, 6, 2))
        neighbour = {"start": before.start.strftime("%Y%m%dT%H%M%SZ"),
                     "end": before.end.strftime("%Y%m%dT%H%M%SZ")}  # fmt: skip
        assert client.get("/history/json", params=neighbour).status_code == 200
        assert client.get("/history/json", params={"period": "today"}).status_code == 200
        assert client.get("/users").status_code == 200
        assert server.stats.faults == {"fail_day": 7}
        assert window.start.astimezone(MSK).date() == bad
