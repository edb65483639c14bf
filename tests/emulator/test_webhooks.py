"""The webhook pusher against a tiny local CRM receiver: spec section 2, both encodings, both
dialects (the spec's letter and the platform's)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

from tests.emulator.support import NOW
from vats_etl import spellings
from vats_etl.emulator import Emulator, WebhookPusher
from vats_etl.emulator.render import pbx_host
from vats_etl.periods import Window

TOKEN = "crm-token-123"
WINDOW = Window(NOW - timedelta(hours=3), NOW - timedelta(hours=2))


class Receiver:
    """Records every POST as (content type, decoded body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits for a delayed ACK

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                kind = self.headers["Content-Type"]
                body = orjson.loads(raw) if "json" in kind else dict(parse_qsl(raw.decode()))
                with receiver.lock:
                    receiver.posts.append((kind, body))
                answer = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def bodies(self, cmd: str | None = None) -> list[dict[str, Any]]:
        return [b for _, b in self.posts if cmd is None or b["cmd"] == cmd]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    crm = Receiver()
    crm.thread.start()
    yield crm
    crm.server.shutdown()
    crm.server.server_close()


@pytest.fixture(scope="module")
def hooks_emu() -> Emulator:
    return Emulator(seed=4, agents=20, profile="clean", clock=lambda: NOW)


def test_json_push_sends_every_command_with_spec_fields(
    hooks_emu: Emulator, receiver: Receiver
) -> None:
    calls = hooks_emu.external_calls(WINDOW)
    with WebhookPusher(hooks_emu, receiver.url, TOKEN, fmt="json", dialect="spec") as pusher:
        result = pusher.push_window(WINDOW)
    inbound = [c for c in calls if c["direction"] == "in"]
    rated = [c for c in calls if c["rating"]]
    assert calls and rated
    assert result.failed == 0 and result.duplicates == 0
    assert result.by_cmd["history"] == len(calls)
    assert result.by_cmd["contact"] == len(inbound)
    assert result.by_cmd["rating"] == len(rated)
    assert result.sent == len(receiver.posts)
    assert all(kind.startswith("application/json") for kind, _ in receiver.posts)
    assert all(b["crm_token"] == TOKEN for b in receiver.bodies())
    histories = {h["callid"]: h for h in receiver.bodies("history")}
    for call in calls:
        history = histories[call["uid"]]
        assert history["type"] == call["direction"]
        assert history["phone"] == call["client"]
        assert history["start"] == call["started_at"].strftime("%Y%m%dT%H%M%SZ")
        assert history["duration"] == call["duration_s"]
        assert history["status"][0].isupper() and history["status"].lower() == call["status"]
        assert history["user"] == (call["user_login"] or "")
        assert history["groupRealName"] == (call["group_name"] or "")
        assert history["link"] == (call["record_url"] or "")
        assert history.get("rating") == call["rating"]
    assert {"NotAvailable", "Success", "Missed"} & {h["status"] for h in histories.values()}


@pytest.mark.parametrize("dialect", ["spec", "platform"])
def test_events_tell_the_story_of_each_call(
    hooks_emu: Emulator, receiver: Receiver, dialect: str
) -> None:
    with WebhookPusher(hooks_emu, receiver.url, TOKEN, dialect=dialect) as pusher:
        pusher.push_window(WINDOW)
    per_call: dict[str, list[str]] = {}
    for body in receiver.bodies():
        if body["cmd"] == "webhook":
            continue  # platform: a notice about no call in particular
        label = body["cmd"] if body["cmd"] != "event" else body["type"]
        per_call.setdefault(body["callid"], []).append(label)
    for call in hooks_emu.external_calls(WINDOW):
        story = per_call[call["uid"]]
        opening = ["contact", "INCOMING"] if call["direction"] == "in" else ["OUTGOING"]
        middle = ["ACCEPTED", "COMPLETED"] if call["status"] == "success" else ["CANCELLED"]
        closing = ["history", "rating"] if call["rating"] else ["history"]
        assert story == opening + middle + closing
    events = receiver.bodies("event")
    if dialect == "spec":
        assert all(e["direction"] in ("in", "out") for e in events)
    else:  # the spec's own example leaves it out, as the platform does
        assert not any("direction" in e for e in events)


def test_the_platform_dialect_carries_the_same_calls(hooks_emu: Emulator) -> None:
    """Same calls, the platform's spellings: normalised with vats_etl.spellings (as the
    receiver does) they are the spec dialect's values — the truth does not depend on it."""
    wide = Window(NOW - timedelta(hours=8), NOW - timedelta(hours=1))
    sent: dict[str, list[dict[str, Any]]] = {}
    for dialect in ("spec", "platform"):
        crm = Receiver()
        crm.thread.start()
        try:
            with WebhookPusher(hooks_emu, crm.url, TOKEN, dialect=dialect, seed=3) as pusher:
                assert pusher.push_window(wide).failed == 0
            sent[dialect] = crm.bodies()
        finally:
            crm.server.shutdown()
            crm.server.server_close()
    calls = {c["uid"]: c for c in hooks_emu.external_calls(wide)}
    spec = {b["callid"]: b for b in sent["spec"] if b["cmd"] == "history"}
    platform = {b["callid"]: b for b in sent["platform"] if b["cmd"] == "history"}
    assert spec.keys() == platform.keys() == calls.keys()
    host = pbx_host(hooks_emu.directory(NOW))
    for uid, body in platform.items():
        call, letter = calls[uid], spec[uid]
        assert spellings.status(body["status"]) == letter["status"].lower() == call["status"]
        assert body["status"] == body["status"].lower()
        assert spellings.login(body.get("user")) == (call["user_login"] or None)
        if call["user_login"]:
            assert body["user"] == f"{call['user_login']}@{host}"
        assert body["wait"] == str(call["wait_s"]) and "wait" not in letter
        assert body["duration"] == str(call["duration_s"])
        assert "" not in body.values()  # empty optional fields are left out
        assert body.get("link") == (call["record_url"] or None)
    assert "noanswer" in {b["status"] for b in platform.values()}
    users = [b["user"] for b in sent["platform"] if b["cmd"] in ("event", "rating") and "user" in b]
    assert users and all("@" in u for u in users)
    notices = [b for b in sent["platform"] if b["cmd"] == "webhook"]
    assert notices and all(n["type"] == "sipregs_error" for n in notices)
    assert not [b for b in sent["spec"] if b["cmd"] == "webhook"]
    other = [b for b in sent["platform"] if b["cmd"] not in ("webhook",)]
    assert len(other) == len(sent["spec"])  # the same commands otherwise


def test_an_unknown_dialect_is_refused(hooks_emu: Emulator) -> None:
    with pytest.raises(ValueError, match="dialect must be one of"):
        WebhookPusher(hooks_emu, "http://127.0.0.1:9/", TOKEN, dialect="letter")


def test_form_encoding_and_duplicates(hooks_emu: Emulator, receiver: Receiver) -> None:
    with WebhookPusher(
        hooks_emu, receiver.url, TOKEN, fmt="form", duplicate_rate=0.2, seed=1, dialect="spec"
    ) as pusher:
        result = pusher.push_window(WINDOW)
    assert all(k == "application/x-www-form-urlencoded" for k, _ in receiver.posts)
    assert all(b["crm_token"] == TOKEN for b in receiver.bodies())
    seen = Counter((b["callid"], b["cmd"], b.get("type")) for b in receiver.bodies())
    duplicated = sum(n - 1 for n in seen.values())
    assert duplicated == result.duplicates > 0
    assert 0.1 <= result.duplicates / len(seen) <= 0.3
    assert max(seen.values()) == 2


def test_reorder_sends_some_ratings_before_their_history(
    hooks_emu: Emulator, receiver: Receiver
) -> None:
    wide = Window(NOW - timedelta(hours=6), NOW - timedelta(hours=1))
    with WebhookPusher(hooks_emu, receiver.url, TOKEN, reorder=True, seed=2) as pusher:
        pusher.push_window(wide)
    order: dict[str, list[str]] = {}
    for body in receiver.bodies():
        if body["cmd"] in ("history", "rating"):
            order.setdefault(body["callid"], []).append(body["cmd"])
    rated = [seq for seq in order.values() if "rating" in seq]
    assert ["rating", "history"] in rated and ["history", "rating"] in rated


def test_unreachable_crm_counts_failures(hooks_emu: Emulator) -> None:
    with WebhookPusher(hooks_emu, "http://127.0.0.1:9/", TOKEN, timeout_s=0.5) as pusher:
        result = pusher.push_window(Window(WINDOW.start, WINDOW.start + timedelta(minutes=10)))
    assert result.sent == 0 and result.failed > 0


def test_run_pushes_in_real_time_by_the_emulator_clock(receiver: Receiver) -> None:
    began = NOW - timedelta(hours=2)
    now = [began]
    emu = Emulator(seed=4, agents=20, profile="clean", clock=lambda: now[0])
    stop = threading.Event()
    pusher = WebhookPusher(emu, receiver.url, TOKEN)
    worker = threading.Thread(target=lambda: pusher.run(stop, poll_s=0.01))
    worker.start()
    for _ in range(20):  # the clock moves 30 minutes in 20 steps
        stop.wait(0.02)
        now[0] += timedelta(seconds=90)
    finished = [
        c["uid"]
        for c in emu.external_calls(Window(began, now[0]))
        if c["started_at"] + timedelta(seconds=c["wait_s"] + c["duration_s"] + 60) < now[0]
    ]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pushed = Counter(h["callid"] for h in receiver.bodies("history"))
        if all(pushed[uid] for uid in finished):
            break
        stop.wait(0.05)
    stop.set()
    worker.join(5)
    pusher.close()
    assert finished and all(pushed[uid] == 1 for uid in finished)
    for history in receiver.bodies("history"):
        started = datetime.strptime(history["start"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert began - timedelta(hours=2) <= started < now[0]
    contacts = [c for c in receiver.bodies("contact")]
    assert contacts and all(c["crm_token"] == TOKEN for c in contacts)
