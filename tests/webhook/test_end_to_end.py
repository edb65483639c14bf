"""End to end: the emulator's WebhookPusher → the receiver over loopback → DuckDB, in JSON
and form encodings with duplicates and ratings before their history, in the spec's dialect
and the platform's; then the same day loaded in batch from the emulator's API reconciles
with the webhook rows by uid."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support.emulated import clock, load, make_settings, served, span
from tests.webhook.support import TOKEN, config, contact, query, wait_until
from vats_etl import warehouse
from vats_etl.emulator import Emulator, WebhookPusher
from vats_etl.periods import Window
from vats_etl.webhook import serve_in_background

# about 10 s per dialect: a day pushed, then loaded in batch
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DAY = date(2024, 6, 7)  # a Friday, long settled by the emulator's clock
MORNING = Window(
    span(DAY, DAY).start + timedelta(hours=9), span(DAY, DAY).start + timedelta(hours=11)
)
COMPARED = (
    "uid", "direction", "status", "client", "diversion", "user_login", "group_name",
    "started_at", "duration_s", "record_url", "rating",
)  # fmt: skip


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(seed=5, agents=30, profile="realistic", clock=clock)


def stored(db: Any, where: str = "true") -> dict[str, dict[str, Any]]:
    with warehouse.connect(db, company=None) as con:
        frame = con.sql(f"select * from calls where {where}").pl()
    return {row["uid"]: row for row in frame.to_dicts()}


def expected_row(call: dict[str, Any]) -> dict[str, Any]:
    return {c: call[c] for c in COMPARED}


@pytest.mark.parametrize("dialect", ["platform", "spec"])
def test_pusher_to_receiver_then_batch_load_reconciles(emu, tmp_path, dialect):
    calls = emu.external_calls(MORNING)
    early, late = calls[: len(calls) // 2], calls[len(calls) // 2 :]
    split = late[0]["started_at"]
    assert len(calls) > 50 and any(c["rating"] for c in calls)
    notices = 0
    with serve_in_background(config(tmp_path)) as receiver:
        for fmt, window, seed in (
            ("json", Window(MORNING.start, split), 1),
            ("form", Window(split, MORNING.end), 2),
        ):
            with WebhookPusher(
                emu,
                receiver.url,
                TOKEN,
                fmt=fmt,
                duplicate_rate=0.2,
                reorder=True,
                seed=seed,
                dialect=dialect,
            ) as pusher:
                result = pusher.push_window(window)
            assert result.failed == 0 and result.duplicates > 0
            notices += result.by_cmd["webhook"]
        contacts = receiver.stats.contacts
    inbound = sum(1 for c in calls if c["direction"] == "in")
    assert inbound <= contacts <= 2 * inbound  # answered from memory, duplicates too
    db = receiver.config.db_path

    rows = stored(db)
    assert rows.keys() == {c["uid"] for c in calls}
    for call in early + late:
        row = rows[call["uid"]]
        assert {c: row[c] for c in COMPARED} == expected_row(call), call["uid"]
        assert row["source"] == "webhook"
        assert row["wait_s"] == (call["wait_s"] if dialect == "platform" else None)
        # the platform's history webhook says what the PBX thought as the call ended: a
        # call-back is one, a miss is still open
        verdict = {2: 2, 1: 3, 3: 3}.get(call["missed_status"]) if dialect == "platform" else None
        assert row["pbx_missed_status"] == verdict
    answered = sum(1 for c in calls if c["status"] == "success")
    assert query(db, "select count(*) from webhook_events where cmd = 'event'") == [
        (2 * len(calls) + answered,)
    ]
    kept = query(db, "select count(*) from webhook_events where cmd = 'webhook'")[0][0]
    assert (kept > 0) == (notices > 0) == (dialect == "platform")
    assert query(db, "select count(*) from ringing_now") == [(0,)]

    # the daily batch load of the same day: API rows outrank webhook rows, one row per uid
    with served(emu) as server:
        settings = make_settings(server.base_url, tmp_path)
        summary = load(settings, DAY, DAY)
    assert summary.status in ("ok", "partial")
    after = stored(db)
    day_calls = {c["uid"]: c for c in emu.external_calls(span(DAY, DAY)) if not c["malformed"]}
    assert query(db, "select count(*) - count(distinct uid) from calls") == [(0,)]
    for call in calls:
        row = after[call["uid"]]
        if call["uid"] in day_calls:
            assert row["source"] == "api_json"
            assert row["wait_s"] == call["wait_s"]  # only the API knows it
        assert row["rating"] == call["rating"]  # never lost, whoever came last

    # a late re-delivery (of the same webhooks) after the batch load changes nothing
    before = query(db, "select * from calls order by uid")
    with (
        serve_in_background(config(tmp_path)) as receiver,
        WebhookPusher(emu, receiver.url, TOKEN, fmt="json", seed=3, dialect=dialect) as pusher,
    ):
        assert pusher.push_window(MORNING).failed == 0
    assert query(db, "select * from calls order by uid") == before


def test_contact_answers_the_last_employee_from_pushed_history(emu, tmp_path):
    window = Window(MORNING.start, MORNING.start + timedelta(minutes=30))
    answered = [
        c
        for c in emu.external_calls(window)
        if c["status"] == "success" and c["user_login"] and c["client"]
    ]
    last: dict[str, str] = {}
    for c in sorted(answered, key=lambda c: c["started_at"]):
        last[c["client"]] = c["user_login"]
    assert last
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        with WebhookPusher(emu, receiver.url, TOKEN) as pusher:
            pusher.push_window(window)
        wait_until(lambda: receiver.applier_stats.applied > 0, what="apply")

        def answers() -> dict[str, str | None]:
            return {
                phone: client.post(receiver.url, json=contact(phone)).json().get("responsible")
                for phone in last
            }

        wait_until(lambda: answers() == last, what="contact answers")
