"""What the platform's newer edition adds, as the emulator serves it over a real socket:
missedStatus from its own call stream as of its clock, GET /domain, users with status,
recordings at the v2 path with the key (some 404, some 410), 501 on a history format on
request, 401 Domain disabled; and the spec's letter without any of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.emulator.support import API_KEY, day, fixed_clock, missed_status
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.emulator.recordings import audio
from vats_etl.emulator.render import record_uuid
from vats_etl.periods import Window

D = date(2024, 6, 3)  # a Monday, two days before the clock


@pytest.fixture(scope="module")
def platform() -> Emulator:
    return Emulator(seed=7, agents=40, dialect="platform", clock=fixed_clock, tz="Asia/Omsk")


@pytest.fixture(scope="module")
def server(platform: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(platform, api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"X-API-KEY": API_KEY}) as client:
        yield client


def root_of(server: EmulatorServer) -> str:
    return server.base_url.removesuffix("/crmapi/v1")


def served(emu: Emulator, d: date = D) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(emu.render_history("external", "json", day(d)))
    return rows


# -- missedStatus ------------------------------------------------------------------------------


def test_a_miss_is_open_until_a_conversation_closes_it_as_the_clock_moves() -> None:
    """The verdict is as of the emulator's clock: a miss served open in the morning is served
    closed once its client has been talked to — the same day's body changes with it."""
    now = [datetime(2024, 6, 3, 6, 0, tzinfo=UTC)]  # 09:00 in Moscow
    emu = Emulator(seed=7, agents=40, dialect="platform", clock=lambda: now[0])
    truth = {r["uid"]: r for r in emu.external_calls(day(D))}
    # a miss of the morning whose client is talked to later that day
    later = Emulator(
        seed=7, agents=40, dialect="platform", clock=lambda: now[0] + timedelta(days=1)
    )
    closed = {r["uid"] for r in later.external_calls(day(D)) if r["missed_status"] == 1}
    open_now = {uid for uid, r in truth.items() if r["missed_status"] == 3}
    flipping = open_now & closed
    assert flipping
    morning = {r["uid"]: missed_status(r) for r in served(emu)}
    now[0] += timedelta(days=1)
    evening = {r["uid"]: missed_status(r) for r in served(emu)}
    for uid in flipping:
        assert (morning.get(uid), evening[uid]) in ((3, 1), (None, 1))  # served once it began
    assert evening == {r["uid"]: r["missed_status"] for r in emu.external_calls(day(D))}


def test_a_miss_stays_open_until_its_clients_next_conversation_however_far_the_clock() -> None:
    """Months after the misses (more days than the emulator keeps whole), each miss's verdict
    is still what the whole call stream says: closed (1) when its client talked to the company
    at any later moment before the clock, open (3) when never."""
    now = datetime(2024, 11, 5, 9, 0, tzinfo=UTC)  # 155 days after D
    emu = Emulator(seed=7, agents=5, dialect="platform", clock=lambda: now)
    rows = list(emu.external_calls(Window(day(D).start, now)))
    order = sorted(rows, key=lambda r: (r["started_at"], r["uid"]))
    next_talk: dict[str, datetime] = {}  # walking backwards: each client's next conversation
    expected: dict[str, int] = {}
    for r in reversed(order):
        answered = r["status"] == "success"
        if r["direction"] == "in" and not answered and (r["wait_s"] or 0) >= 5:
            expected[r["uid"]] = 1 if r["client"] in next_talk else 3
        if answered and (r["direction"] == "in" or (r["duration_s"] or 0) > 0):
            next_talk[r["client"]] = r["started_at"]
    first_days = Window(day(D).start, day(D + timedelta(days=2)).end)
    misses = {
        r["uid"]: r["missed_status"]
        for r in rows
        if first_days.start <= r["started_at"] < first_days.end and r["uid"] in expected
    }
    assert len(misses) > 20
    assert {uid: expected[uid] for uid in misses} == misses
    closed_late = [  # closed by a conversation weeks later: the search reached that far
        r["uid"]
        for r in rows
        if r["uid"] in misses and misses[r["uid"]] == 1
        and next_talk_after(order, r) - r["started_at"] > timedelta(days=30)
    ]  # fmt: skip
    assert closed_late


def next_talk_after(order: list[dict[str, Any]], miss: dict[str, Any]) -> datetime:
    at = order.index(miss)
    return next(
        r["started_at"]
        for r in order[at + 1 :]
        if r["client"] == miss["client"]
        and r["status"] == "success"
        and (r["direction"] == "in" or (r["duration_s"] or 0) > 0)
    )


def test_call_backs_are_outgoing_calls_while_their_client_has_an_open_miss(
    platform: Emulator,
) -> None:
    """The PBX marks what it can see — an outgoing call while the client's miss is open, at
    most 24 h old — whatever the generator meant the call for: its own call-backs are marked
    unless they come later than that, answer a short abandon, or a conversation closed the
    miss first."""
    rows = platform.external_calls(Window(day(D - timedelta(days=3)).start, day(D).end))
    by_uid = {r["uid"]: r for r in rows}
    today = [r for r in rows if r["started_at"] >= day(D).start]
    assert all(r["direction"] == "out" for r in today if r["missed_status"] == 2)
    reasons: dict[str, int] = {}
    for call in (r for r in today if r["kind"] == "callback"):
        miss = by_uid[call["followup_of"]]
        talked = any(
            r["client"] == miss["client"]
            and miss["started_at"] < r["started_at"] < call["started_at"]
            and r["status"] == "success"
            and (r["direction"] == "in" or r["duration_s"] > 0)
            for r in rows
        )
        if call["started_at"] - miss["started_at"] > timedelta(hours=24):
            why = "after W"
        elif miss["wait_s"] < 5:
            why = "a short abandon"
        elif talked:
            why = "closed first"
        else:
            why = "marked"
            assert call["missed_status"] == 2, call["uid"]
        reasons[why] = reasons.get(why, 0) + 1
    assert reasons["marked"] > 50 and set(reasons) <= {
        "marked", "after W", "a short abandon", "closed first"
    }  # fmt: skip


def test_the_spec_letter_has_none_of_the_newer_edition() -> None:
    spec = Emulator(seed=7, agents=40, clock=fixed_clock)
    rows = served(spec)
    assert not any("missedStatus" in r or "missedstatus" in r for r in rows)
    assert all("duration" in r for r in rows)
    links = [r["record"] for r in rows if r.get("record")]
    assert links and all("/records/" in link and "/api/v2/" not in link for link in links)
    assert all(r["pbx_missed_status"] is None for r in spec.external_calls(day(D)))
    with (
        EmulatorServer(spec, api_key=API_KEY) as srv,
        httpx.Client(base_url=srv.base_url, headers={"X-API-KEY": API_KEY}) as client,
    ):
        assert client.get("/domain").status_code == 404
        users = client.get("/users", params={"with": "status"}).json()["items"]
        assert users and not any("status" in u for u in users)


# -- GET /domain, users with status --------------------------------------------------------------


def test_domain_answers_the_company_zone_and_its_offset_now(api: httpx.Client) -> None:
    assert api.get("/domain").json() == {"timezone": {"name": "Asia/Omsk", "offset": 360}}
    for month, offset in ((1, 60), (7, 120)):  # a zone with summer time: the offset of now
        emu = Emulator(
            seed=7,
            agents=10,
            dialect="platform",
            tz="Europe/Berlin",
            clock=lambda month=month: datetime(2024, month, 15, 12, tzinfo=UTC),
        )
        assert emu.domain_timezone() == {"name": "Europe/Berlin", "offset": offset}


def test_users_with_status_says_who_is_online(api: httpx.Client, platform: Emulator) -> None:
    users = api.get("/users", params={"with": "status", "limit": 100}).json()["items"]
    statuses = {u["login"]: u["status"] for u in users}
    assert set(statuses.values()) == {"online", "offline"}
    dnd = {u.login for u in platform.directory(fixed_clock()).users if u.dnd}
    assert all(statuses[login] == "offline" for login in dnd if login in statuses)
    assert all("status" not in u for u in api.get("/users").json()["items"])


# -- recordings --------------------------------------------------------------------------------


def test_recordings_are_served_at_the_v2_path_with_the_key(
    platform: Emulator, server: EmulatorServer
) -> None:
    links = [r["record_url"] for r in platform.external_calls(day(D)) if r["record_url"]]
    assert all("/api/v2/call-records/record/" in link for link in links)
    root = root_of(server)
    answers: dict[int, int] = {}
    with httpx.Client(headers={"X-API-KEY": API_KEY}) as client:
        for link in links:
            uid = link.rsplit("/", 1)[-1].split("_")[0]
            reply = client.get(root + "/" + link.split("/", 3)[3])
            answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
            if reply.status_code == 200:
                assert reply.headers["content-type"] == "audio/mpeg"
                assert reply.content == audio(platform.seed, uid)  # the same every time
            else:
                assert reply.json()["error"] in ("Record not found", "Record expired")
        bogus = f"/api/v2/call-records/record/{D}/{record_uuid('4000000001')[:-1]}9/x.mp3"
        assert client.get(root + bogus).status_code == 404  # a uuid that is not ours
    assert set(answers) == {200, 404, 410}
    assert answers[200] / len(links) > 0.9
    without_key = httpx.get(root + "/" + links[0].split("/", 3)[3])
    assert without_key.status_code == 401


def test_recordings_older_than_the_pbx_keeps_them_are_expired(server: EmulatorServer) -> None:
    old = D - timedelta(days=120)
    path = f"/api/v2/call-records/record/{old}/{record_uuid('4000000001')}/x.mp3"
    reply = httpx.get(root_of(server) + path, headers={"X-API-KEY": API_KEY})
    assert reply.status_code == 410 and reply.json() == {"error": "Record expired"}


# -- a history format the account lacks; a disabled domain ------------------------------------


def test_a_format_the_account_lacks_answers_501_after_the_key() -> None:
    emu = Emulator(seed=7, agents=10, clock=fixed_clock, not_implemented=("history/json",))
    with EmulatorServer(emu, api_key=API_KEY) as srv:
        keyed = {"X-API-KEY": API_KEY}
        assert httpx.get(srv.base_url + "/history/json", headers=keyed).status_code == 501
        assert httpx.get(srv.base_url + "/history/json").status_code == 401
        assert httpx.get(srv.base_url + "/history/csv", headers=keyed).status_code == 200
    with pytest.raises(ValueError, match="not_implemented"):
        Emulator(not_implemented=("users",))


def test_a_disabled_domain_answers_401_domain_disabled(platform: Emulator) -> None:
    with EmulatorServer(platform, api_key=API_KEY, crm_state="domain_disabled") as srv:
        reply = httpx.get(srv.base_url + "/users", headers={"X-API-KEY": API_KEY})
    assert reply.status_code == 401 and reply.json() == {"error": "Domain disabled"}
