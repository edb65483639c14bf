"""The receiver over a real loopback socket (in-process): commands in JSON and form bodies,
the platform's dialect, commands it does not know, bad inputs → the right status and nothing
stored, the token never leaking, duplicated and out-of-order deliveries, contact answers, and
a warehouse held by another process. (HTTP-level probes: test_http.py.)"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from tests.webhook.support import (
    TOKEN,
    config,
    contact,
    db_held_by_another_process,
    event,
    history,
    query,
    rating,
    spool_bytes,
    wait_until,
)
from vats_etl import warehouse
from vats_etl.webhook import import_contacts, serve_in_background
from vats_etl.webhook.payloads import micros

pytestmark = pytest.mark.timeout(60)


def post(client: httpx.Client, url: str, body: dict[str, Any], fmt: str = "json") -> httpx.Response:
    if fmt == "json":
        return client.post(url, json=body)
    return client.post(url, data={k: str(v) for k, v in body.items()})


def test_commands_in_json_and_form_are_applied(tmp_path):
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        assert post(client, receiver.url, event(), "form").status_code == 200
        assert post(client, receiver.url, history(), "json").json() == {"result": "ok"}
        assert post(client, receiver.url, rating(value=5), "form").status_code == 200
        db = receiver.config.db_path
        wait_until(lambda: receiver.applier_stats.applied >= 3, what="apply")
    assert query(db, "select uid, status, rating, source from calls") == [
        ("C-1", "success", 5, "webhook")
    ]
    assert query(db, "select callid, type from webhook_events") == [("C-1", "INCOMING")]
    assert receiver.drained


BAD_INPUTS: list[tuple[str, dict[str, str], bytes, int, str]] = [
    (
        "no token",
        {"content-type": "application/json"},
        orjson.dumps({**history(), "crm_token": None}),
        401,
        "invalid crm_token",
    ),
    (
        "wrong token",
        {"content-type": "application/json"},
        orjson.dumps(history(crm_token="nope")),
        401,
        "invalid crm_token",
    ),
    (
        "wrong token, form",
        {"content-type": "application/x-www-form-urlencoded"},
        b"cmd=history&crm_token=x",
        401,
        "invalid",
    ),
    (
        "broken JSON",
        {"content-type": "application/json"},
        b'{"cmd": "history", ',
        400,
        "not valid JSON",
    ),
    ("JSON array", {"content-type": "application/json"}, b"[]", 400, "must be an object"),
    (
        "token in upper case",
        {"content-type": "application/json"},
        orjson.dumps(history(crm_token=TOKEN.upper())),
        401,
        "invalid crm_token",
    ),
    (
        "token in swapped case, form",
        {"content-type": "application/x-www-form-urlencoded"},
        urlencode(history(crm_token=TOKEN.swapcase())).encode(),
        401,
        "invalid crm_token",
    ),
    (
        "no cmd",
        {"content-type": "application/json"},
        orjson.dumps(history(cmd=None)),
        400,
        "cmd: missing",
    ),
    (
        "wrong type",
        {"content-type": "application/json"},
        orjson.dumps(history(duration={"s": 1})),
        400,
        "duration: expected a number",
    ),
    (
        "not a number",
        {"content-type": "application/json"},
        orjson.dumps(history(duration="long")),
        400,
        "duration: not a number",
    ),
    (
        "missing callid",
        {"content-type": "application/json"},
        orjson.dumps(history(callid=None)),
        400,
        "callid: missing",
    ),
    (
        "rating out of range",
        {"content-type": "application/json"},
        orjson.dumps(rating(value=9)),
        400,
        "rating: 9",
    ),
    (
        "start missing",
        {"content-type": "application/json"},
        orjson.dumps(history(start=None)),
        400,
        "start: missing",
    ),
    ("empty body", {"content-type": "application/json"}, b"", 400, "not valid JSON"),
    (
        "multipart",
        {"content-type": "multipart/form-data; boundary=b"},
        b"--b--",
        415,
        "unsupported",
    ),
    (
        "huge body",
        {"content-type": "application/json"},
        b"{" + b" " * 200_000 + b"}",
        413,
        "larger than",
    ),
]


def test_bad_inputs_get_the_right_status_and_store_nothing(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        for name, headers, body, status, reason in BAD_INPUTS:
            response = client.post(receiver.url, content=body, headers=headers)
            assert response.status_code == status, name
            assert reason in response.json()["error"], (name, response.text)
            assert response.headers["connection"] == "close", name  # a refusal ends it
        assert client.get(receiver.url).status_code == 405
        assert client.post(receiver.url + "other", json=history()).status_code == 404
        spooled = spool_bytes(receiver.config.spool)
        db = receiver.config.db_path
    assert spooled == b""
    assert query(db, "select count(*) from calls") == [(0,)]
    assert query(db, "select count(*) from webhook_events") == [(0,)]
    assert "Traceback" not in caplog.text and TOKEN not in caplog.text


def test_the_platform_dialect_lands_as_canonical_values(tmp_path):
    """login@domain, noanswer, wait and direction as the platform sends them."""
    bodies = [
        history("P-1", user="ivanov@acme.megapbx.ru", status="noanswer", wait="23", duration="0"),
        history("P-2", type=None, direction="OUT", status="Success", wait=4, user="petrov@x.ru"),
        event("P-1", user="ivanov@acme.megapbx.ru", direction="incoming"),
        rating("P-2", value="4", user="petrov@x.ru"),
    ]
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        for i, body in enumerate(bodies):
            assert post(client, receiver.url, body, "form" if i % 2 else "json").status_code == 200
    db = receiver.config.db_path
    assert query(
        db, "select uid, direction, status, user_login, wait_s, rating from calls order by uid"
    ) == [("P-1", "in", "missed", "ivanov", 23, None), ("P-2", "out", "success", "petrov", 4, 4)]
    assert query(db, "select callid, cmd, direction, user_login from webhook_events") == [
        ("P-1", "event", "in", "ivanov")
    ]


def test_a_command_the_receiver_does_not_know_is_answered_200_and_stored(tmp_path):
    """cmd=webhook type=sipregs_error: 200 (the PBX must not retry it), kept as delivered,
    once per distinct content, and never mistaken for a ringing call."""
    notice = {
        "cmd": "webhook",
        "type": "sipregs_error",
        "user": "ivanov@acme.megapbx.ru",
        "crm_token": TOKEN,
    }
    lookalike = {"cmd": "transfer", "type": "INCOMING", "callid": "N-1", "crm_token": TOKEN}
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        for fmt in ("json", "json", "form"):
            response = post(client, receiver.url, notice, fmt)
            assert response.status_code == 200 and response.json() == {"result": "ok"}
        assert post(client, receiver.url, lookalike).status_code == 200
        assert post(client, receiver.url, event("R-1")).status_code == 200
    db = receiver.config.db_path
    rows = query(
        db,
        "select cmd, type, callid, user_login, payload from webhook_events where cmd = 'webhook'",
    )
    assert len(rows) == 1  # JSON and form bodies of it carry the same text: one content
    cmd, kind, callid, login, payload = rows[0]
    assert (cmd, kind, callid, login) == ("webhook", "sipregs_error", None, "ivanov")
    assert orjson.loads(payload) == {k: v for k, v in notice.items() if k != "crm_token"}
    assert query(db, "select cmd, type, callid from webhook_events where cmd = 'transfer'") == [
        ("transfer", "INCOMING", "N-1")
    ]
    assert TOKEN not in str(query(db, "select * from webhook_events"))
    assert query(db, "select callid from ringing_now") == [("R-1",)]


@pytest.mark.slow
def test_the_token_never_appears_in_logs_spool_rows_or_answers(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "vats.duckdb"
    answers = []
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        with db_held_by_another_process(db):  # everything stays in the spool for inspection
            for body in (history(), rating(), event(), contact(), history(crm_token=TOKEN + "x")):
                answers.append(post(client, receiver.url, body, "form").text)
            bad = b"crm_token=" + TOKEN.encode() + b"&cmd=history"  # no callid: a 400
            answers.append(client.post(receiver.url, content=bad).text)
            spool_dir = receiver.config.spool
            on_disk = spool_bytes(spool_dir)
            names = [p.name for p in spool_dir.iterdir()]
        wait_until(lambda: receiver.applier_stats.applied >= 3, timeout=20, what="apply")
    assert on_disk.count(b"\n") == 3
    assert TOKEN.encode() not in on_disk
    assert not any(TOKEN in name for name in names)
    assert not any(TOKEN in a for a in answers)
    assert TOKEN not in caplog.text
    assert "crm_token" not in on_disk.decode()
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        dump = str(con.execute("select * from calls").fetchall()) + str(
            con.execute("select * from webhook_events").fetchall()
        )
    assert TOKEN not in dump and "C-1" in dump


def test_duplicated_and_out_of_order_deliveries_from_many_connections(tmp_path):
    rng = random.Random(7)
    commands: list[dict[str, Any]] = []
    for i in range(60):
        uid = f"U-{i:03d}"
        commands += [
            event(uid, "INCOMING"),
            event(uid, "ACCEPTED"),
            event(uid, "COMPLETED"),
            history(uid, duration=str(i)),
            rating(uid, value=1 + i % 5),
        ]
    deliveries = commands + rng.sample(commands, 100)  # re-deliveries
    rng.shuffle(deliveries)  # ratings before histories, COMPLETED before INCOMING, ...

    formats = [rng.choice(["json", "form"]) for _ in deliveries]
    limits = httpx.Limits(max_connections=16)
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client(limits=limits) as client:

        def send(i: int) -> int:
            return post(client, receiver.url, deliveries[i], formats[i]).status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(send, range(len(deliveries)))) == {200}
    db = receiver.config.db_path
    rows = query(db, "select uid, duration_s, rating, status from calls order by uid")
    assert rows == [(f"U-{i:03d}", i, 1 + i % 5, "success") for i in range(60)]
    assert query(db, "select count(*), count(distinct callid) from webhook_events") == [(180, 60)]


def test_contact_answers_from_the_warehouse_and_from_fresh_history(tmp_path):
    db = tmp_path / "vats.duckdb"
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("phone,contact_name\n+7 910 123-45-67,ЗАО Рога и копыта\n", "utf-8")
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        import_contacts(con, csv_file, imported_at=time_now())
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        assert post(client, receiver.url, contact("89101234567")).json() == {
            "contact_name": "ЗАО Рога и копыта"
        }
        assert post(client, receiver.url, contact("79990000000"), "form").json() == {}
        post(client, receiver.url, history("H-1", phone="79990000000", user="petrov"))
        wait_until(lambda: receiver.applier_stats.applied >= 1, what="apply")
        assert post(client, receiver.url, contact("79990000000")).json() == {
            "responsible": "petrov"
        }
        post(client, receiver.url, history("H-2", user="ivanov"))
        wait_until(lambda: receiver.applier_stats.applied >= 2, what="apply")
        assert post(client, receiver.url, contact("79101234567")).json() == {
            "contact_name": "ЗАО Рога и копыта",
            "responsible": "ivanov",
        }


@pytest.mark.slow
def test_requests_are_answered_fast_while_another_process_holds_the_warehouse(tmp_path):
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")):
        pass
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        with db_held_by_another_process(db):
            took = []
            for i in range(50):
                started = time.perf_counter()
                assert post(client, receiver.url, history(f"L-{i}")).status_code == 200
                took.append(time.perf_counter() - started)
            assert sorted(took)[25] < 0.05  # median well under 50 ms: nobody waits for DuckDB
            assert receiver.applier_stats.applied == 0
        wait_until(
            lambda: receiver.applier_stats.applied >= 50, timeout=20, what="apply after release"
        )
    assert query(db, "select count(*) from calls") == [(50,)]


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_started_at_is_stored_as_utc(tmp_path):
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        post(client, receiver.url, history(start="2024-06-10T12:11:10+03:00"))
    ((started,),) = query(receiver.config.db_path, "select epoch_us(started_at) from calls")
    from datetime import UTC, datetime

    assert started == micros(datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC))


def test_spool_is_empty_after_a_clean_stop(tmp_path: Path):
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        for i in range(20):
            post(client, receiver.url, event(f"E-{i}"))
    assert receiver.drained
    assert list(receiver.config.spool.glob("*.spool")) == []
