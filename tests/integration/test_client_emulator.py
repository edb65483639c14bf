"""The API client against the emulator over a real socket: every endpoint, every fault switch.

Transient faults are recovered; permanent ones fail clearly (a named error naming the
endpoint and window) and fast (bounded attempts and time, never the key in the message).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

from tests.support.emulated import API_KEY, FAST_RETRY, NOW, company, served, span
from vats_etl import errors
from vats_etl.client import PbxClient, RetryPolicy, decode_json
from vats_etl.config import Secret
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.periods import day_window

DAY = date(2024, 6, 4)


def client_for(server: EmulatorServer, **options: object) -> PbxClient:
    options.setdefault("retry", FAST_RETRY)
    return PbxClient(server.base_url, Secret(API_KEY), **options)  # type: ignore[arg-type]


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[PbxClient]:
    with client_for(server, list_limit=25) as c:
        yield c


@pytest.mark.parametrize("dialect", ["platform", "spec"])
def test_directory_endpoints_equal_the_emulator(dialect):
    """Every directory endpoint, both dialects (the platform's lists have no `next`, its
    accounts no SIMs)."""
    emu = company(dialect)
    with served(emu) as server, client_for(server, list_limit=25) as client:
        check_directory(emu, client)


def check_directory(emu: Emulator, client: PbxClient) -> None:
    directory = emu.directory(NOW)
    users = client.users()
    assert [u["login"] for u in users] == [u.login for u in directory.users]
    assert len(users) > 25  # more than one page was read
    first = directory.users[0]
    assert client.user(first.login)["login"] == first.login
    assert client.user(first.ext)["login"] == first.login  # {login} also accepts the ext
    assert isinstance(client.user_groups(first.login), list)
    assert isinstance(client.dnd(first.login), bool)
    assert isinstance(client.subscription(first.login), bool)
    groups = client.groups()
    assert [g["id"] for g in groups] == [g.id for g in directory.groups]
    assert client.group(groups[0]["id"])["id"] == groups[0]["id"]
    assert isinstance(client.subscription(first.login, groups[0]["id"]), bool)
    telnums = client.telnums()
    assert [t["telnum"] for t in telnums] == [t.telnum for t in directory.telnums]
    assert client.telnum(telnums[0]["telnum"])["telnum"] == telnums[0]["telnum"]
    if emu.dialect == "platform":
        with pytest.raises(errors.NotFound, match="sims"):
            client.sims()
    else:
        sims = client.sims()
        assert len(sims) == len(directory.sims) > 0
        assert client.sim(sims[0]["telnum"])["telnum"] == sims[0]["telnum"]
    plain = client.blacklist()
    stats = client.blacklist(with_statistics=True)
    assert len(plain) == len(stats) == len(directory.blacklist)
    assert all("week" in entry and "year" in entry for entry in stats)
    assert client.block_anonymous() == directory.block_anonymous
    assert client.check() == len(directory.users)


def test_makecall_returns_a_call_id(emu, client):
    first = emu.directory(NOW).users[0]
    assert client.makecall("79101234567", first.login)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("external", "json"),
        ("external", "csv"),
        ("internal", "json"),
        ("internal", "csv"),
    ],
)
def test_every_history_endpoint_returns_the_whole_window(emu, server, kind, fmt):
    window = day_window(DAY, emu.zone)
    truth = emu.external_calls(window) if kind == "external" else emu.internal_calls(window)
    limit = max(10, len(truth) // 3)  # forces the offset-less split path
    with client_for(server, page_limit=limit) as c:
        pages = list(
            c.history(
                kind,
                fmt,
                window,
                decode=lambda _w, r: r.body.splitlines() if fmt == "csv" else decode_json(r.body),
            )
        )
    assert sum(len(p.decoded) for p in pages) == len(truth)
    assert len(pages) > 1 and all(len(p.decoded) < limit for p in pages)
    assert pages[0].window.start == window.start and pages[-1].window.end == window.end


def test_history_items_decodes_json(emu, client):
    items = client.history_items("external", day_window(DAY, emu.zone))
    assert {i["uid"] for i in items} == {
        r["uid"] for r in emu.external_calls(day_window(DAY, emu.zone))
    }


@pytest.mark.parametrize("faults", ["error=0.3", "429=0.3", "drop=0.3", "latency=30,error=0.2"])
def test_transient_faults_are_recovered(emu, faults):
    window = span(DAY, DAY)
    with (
        served(emu, faults) as srv,
        client_for(
            srv, retry=RetryPolicy(attempts=8, base_delay_s=0.01, max_delay_s=0.05, total_s=30)
        ) as c,
    ):
        items = c.history_items("external", window)
        injected = srv.stats.faults
    assert len(items) == len(emu.external_calls(window))
    assert sum(injected.values()) > 0


@pytest.mark.slow
def test_a_stalled_request_times_out_and_is_retried(emu):
    with (
        served(emu, "stall=0.5") as srv,
        client_for(
            srv,
            timeout_s=0.5,
            page_limit=15,  # many small requests: some of them stall
            retry=RetryPolicy(attempts=10, base_delay_s=0.01, max_delay_s=0.02, total_s=30),
        ) as c,
    ):
        items = c.history_items("internal", span(DAY, DAY))
        assert srv.stats.faults.get("stall", 0) > 0
    assert len(items) == len(emu.internal_calls(span(DAY, DAY)))


def test_a_permanent_failure_fails_clearly_and_fast(emu):
    with served(emu, f"fail_day={DAY}") as srv, client_for(srv) as c:
        started = time.monotonic()
        with pytest.raises(errors.GaveUp) as info:
            c.history_items("external", span(DAY, DAY))
        elapsed = time.monotonic() - started
    message = str(info.value)
    assert "history/json" in message and "20240603T210000Z" in message and "HTTP 5" in message
    assert API_KEY not in message
    assert elapsed < FAST_RETRY.total_s


@pytest.mark.parametrize(
    ("crm_state", "exc"),
    [("disabled", errors.CrmDisabled), ("switched_off", errors.CrmSwitchedOff)],
)
def test_crm_states_map_to_named_errors(emu, crm_state, exc):
    with (
        EmulatorServer(emu, api_key=API_KEY, crm_state=crm_state) as srv,
        client_for(srv) as c,
        pytest.raises(exc),
    ):
        c.users()


def test_wrong_key_is_invalid_token_without_retrying(server):
    with PbxClient(server.base_url, Secret("not-the-key-42"), retry=FAST_RETRY) as c:
        started = time.monotonic()
        with pytest.raises(errors.InvalidToken) as info:
            c.check()
    assert time.monotonic() - started < 1
    assert "not-the-key-42" not in str(info.value)


def test_unknown_user_and_unsupported_method(client):
    with pytest.raises(errors.NotFound):
        client.user("nobody-here")
    with pytest.raises(errors.MethodNotAllowed):
        client.request("DELETE", "users/admin")


def test_bad_parameters_are_a_validation_error(client):
    with pytest.raises(errors.ApiValidationError, match="400"):
        client.request("GET", "history/json", params={"start": "yesterday"})
