"""Webhook bodies → records: decoding, token check, validation, normalisation (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.webhook.support import TOKEN, contact, event, history, rating
from vats_etl.webhook.payloads import (
    BadRequest,
    ContactQuery,
    Record,
    check_token,
    decode_body,
    micros,
    to_record,
)

EXPECTED = TOKEN.encode()
AT = 1_718_000_000_000_000


def accept(body: dict[str, object]) -> Record | ContactQuery:
    check_token(body, EXPECTED)
    return to_record(body, AT)


def refuse(body: dict[str, object]) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        accept(body)
    return info.value


def test_history_is_normalised_like_api_rows():
    record = accept(history(status="SUCCESS", duration="124", rating="4"))
    assert isinstance(record, Record) and record.kind == "history"
    assert record.data == {
        "uid": "C-1",
        "direction": "in",
        "status": "success",
        "client": "79101234567",
        "diversion": "74957654321",
        "user_login": "ivanov",
        "group_name": "Продажи",
        "started_at": micros(datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)),
        "wait_s": None,
        "duration_s": 124,
        "record_url": "https://rec.example/C-1.mp3",
        "rating": 4,
        "pbx_missed_status": None,
    }


def test_the_platform_dialect_of_a_history_webhook():
    """What the platform sends as public integrations read it: login@domain, wait, status
    spellings such as noanswer, direction in `direction` or in `type`, numbers as strings."""
    record = accept(
        history(
            user="ivanov@acme.megapbx.ru",
            status="NoAnswer",
            wait="17",
            type=None,
            direction="Incoming",
            start="2024-06-10 09:11:10",
            duration="0",
            missedStatus="noanswer",  # not a number: no verdict, and no reason to refuse
            note="a key we do not model",  # extra keys are ignored
        )
    )
    assert isinstance(record, Record)
    assert record.data["pbx_missed_status"] is None
    assert record.data["user_login"] == "ivanov"
    assert record.data["status"] == "missed"
    assert record.data["wait_s"] == 17
    assert record.data["direction"] == "in"
    assert record.data["started_at"] == micros(datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC))


@pytest.mark.parametrize(
    ("fields", "direction"),
    [
        ({"type": "in"}, "in"),
        ({"type": "OUT"}, "out"),
        ({"type": "outgoing"}, "out"),
        ({"type": None, "direction": "in"}, "in"),
        ({"type": "out", "direction": "in"}, "in"),  # direction, when known, wins
        ({"type": "in", "direction": "sideways"}, "in"),
        ({"type": "sideways"}, None),  # kept, not refused: the API load fills it in
        ({"type": None}, None),
    ],
)
def test_direction_from_direction_or_type(fields, direction):
    record = accept(history(**fields))
    assert isinstance(record, Record) and record.data["direction"] == direction


@pytest.mark.parametrize(
    ("delivered", "stored"),
    [
        ("Success", "success"),
        ("SUCCESS", "success"),
        ("noanswer", "missed"),
        ("NoAnswer", "missed"),
        ("no_answer", "missed"),
        ("not_available", "notavailable"),
        ("NotAllowed", "notallowed"),
        ("Cancel", "cancel"),
        ("Voicemail", "voicemail"),  # unknown: kept lower-cased, never dropped
        (None, None),
        ("", None),
    ],
)
def test_status_spellings(delivered, stored):
    record = accept(history(status=delivered))
    assert isinstance(record, Record) and record.data["status"] == stored


def test_logins_lose_their_domain_in_every_command():
    for body in (history(), rating(), event()):
        record = accept({**body, "user": " petrov@pbx.example.org "})
        assert isinstance(record, Record) and record.data["user_login"] == "petrov"


def test_a_command_the_receiver_does_not_know_is_kept_as_delivered():
    body = {
        "cmd": "webhook",
        "type": "sipregs_error",
        "user": "ivanov@acme.megapbx.ru",
        "ip": "10.0.0.7",
        "crm_token": TOKEN,
    }
    record = accept(body)
    assert isinstance(record, Record) and record.kind == "other"
    assert record.data["cmd"] == "webhook" and record.data["type"] == "sipregs_error"
    assert record.data["user_login"] == "ivanov" and record.data["callid"] is None
    payload = orjson.loads(str(record.data["payload"]))
    assert payload == {k: v for k, v in body.items() if k != "crm_token"}
    assert TOKEN.encode() not in record.to_json()
    assert Record.from_json(record.to_json()) == record
    again = accept(dict(reversed(list(body.items()))))  # same content, other key order
    assert isinstance(again, Record) and again.data["event_hash"] == record.data["event_hash"]
    odd = accept({"cmd": "Whatever", "type": {"nested": [1]}, "crm_token": TOKEN})
    assert isinstance(odd, Record) and odd.data["cmd"] == "Whatever"
    assert odd.data["type"] is None  # not text: only in the payload
    assert orjson.loads(str(odd.data["payload"])) == {"cmd": "Whatever", "type": {"nested": [1]}}


def test_event_types_the_spec_does_not_list_are_kept():
    record = accept(event(event_type="ringing", direction="both"))
    assert isinstance(record, Record)
    assert record.data["type"] == "RINGING" and record.data["direction"] is None


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("20240610T091110Z", datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)),
        ("2024-06-10T09:11:10Z", datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)),
        ("2024-06-10T12:11:10+03:00", datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)),
        ("2024-06-10 09:11:10", datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)),
        ("2024-06-10 12:11:10+03:00", datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc(start, expected):
    record = accept(history(start=start))
    assert isinstance(record, Record)
    assert record.data["started_at"] == micros(expected)


def test_numbers_as_strings_and_floats_and_status_case():
    record = accept(history(duration=12.0, status="NotAvailable", type="OUT", phone=79101234567))
    assert isinstance(record, Record)
    assert record.data["duration_s"] == 12
    assert record.data["status"] == "notavailable"
    assert record.data["direction"] == "out"
    assert record.data["client"] == "79101234567"


def test_empty_optional_fields_are_missing():
    record = accept(history(link="", rating="", groupRealName="  ", diversion=None))
    assert isinstance(record, Record)
    assert record.data["record_url"] is None
    assert record.data["rating"] is None
    assert record.data["group_name"] is None
    assert record.data["diversion"] is None


def test_rating_event_contact_records():
    r = accept(rating(value="5"))
    assert isinstance(r, Record) and r.kind == "rating"
    assert r.data == {"uid": "C-1", "client": "79101234567", "user_login": "ivanov", "rating": 5}
    e = accept(event(event_type="accepted"))
    assert isinstance(e, Record) and e.kind == "event"
    assert e.data["type"] == "ACCEPTED" and e.data["callid"] == "C-1"
    assert isinstance(e.data["event_hash"], str) and len(e.data["event_hash"]) == 32
    c = accept(contact(phone="+7 910 123-45-67"))
    assert c == ContactQuery("+7 910 123-45-67", "C-9")


def test_event_hash_identifies_content_whatever_the_encoding():
    as_json = decode_body("application/json", orjson.dumps(event()))
    as_form = decode_body(
        "application/x-www-form-urlencoded", urlencode(event(type="incoming")).encode()
    )
    a, b = accept(as_json), accept(as_form)
    assert isinstance(a, Record) and isinstance(b, Record)
    assert a.data["event_hash"] == b.data["event_hash"]
    c = accept(event(user="petrov"))
    assert isinstance(c, Record) and c.data["event_hash"] != a.data["event_hash"]


def test_the_token_is_not_part_of_any_record():
    for body in (history(), rating(), event()):
        record = accept(body)
        assert isinstance(record, Record)
        assert TOKEN.encode() not in record.to_json()


def test_record_round_trips_through_a_spool_line():
    record = accept(history(groupRealName="Отдел\nпродаж"))
    assert isinstance(record, Record)
    line = record.to_json()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert Record.from_json(line) == record


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"cmd": "contact"}'),
        ("application/json; charset=utf-8", b'{"cmd": "contact"}'),
        ("application/x-www-form-urlencoded", b"cmd=contact"),
        (None, b' {"cmd": "contact"}'),
        (None, b"cmd=contact"),
        ("text/plain", b"cmd=contact"),
    ],
)
def test_decode_json_and_form(content_type, body):
    assert decode_body(content_type, body) == {"cmd": "contact"}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        ("application/json", b"{broken", 400, "not valid JSON"),
        ("application/json", b"[1, 2]", 400, "must be an object"),
        ("application/json", b"", 400, "not valid JSON"),
        ("application/x-www-form-urlencoded", b"", 400, "empty body"),
        ("application/x-www-form-urlencoded", b"\xff\xfe", 400, "not UTF-8"),
        ("application/x-www-form-urlencoded", b"a=%ff", 400, "not UTF-8"),
        ("application/x-www-form-urlencoded", b"just text", 400, "neither"),
        ("multipart/form-data; boundary=x", b"--x", 415, "unsupported content type"),
    ],
)
def test_undecodable_bodies(content_type, body, status, reason):
    with pytest.raises(BadRequest) as info:
        decode_body(content_type, body)
    assert info.value.status == status and reason in info.value.reason


@pytest.mark.parametrize(
    "token",
    [None, "", "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper(), TOKEN.title(), 12345, ["x"], {}],
)
def test_wrong_or_missing_token_is_401(token):
    body = history()
    if token is None:
        del body["crm_token"]
    else:
        body["crm_token"] = token
    with pytest.raises(BadRequest) as info:
        check_token(body, EXPECTED)
    assert info.value.status == 401
    assert TOKEN not in info.value.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"crm_token": TOKEN}, "cmd: missing"),
        (history(cmd="  "), "cmd: missing"),
        (history(cmd=["history"]), "cmd: expected text, got an array"),
        (history(callid=""), "callid: missing"),
        (history(callid=None), "callid: missing"),
        (history(start=None), "start: missing"),
        (history(start="yesterday"), "start: expected YYYYmmddTHHMMSSZ"),
        (history(start="2024-06-10"), "start: expected YYYYmmddTHHMMSSZ"),
        (history(start=20240610), "start: expected YYYYmmddTHHMMSSZ"),
        (history(duration="abc"), "duration: not a number"),
        (history(duration=1.5), "duration: not a whole number"),
        (history(duration=-3), "duration: -3 is out of range"),
        (history(duration=True), "duration: expected a number, got a boolean"),
        (history(duration="1e400"), "duration: not a whole number"),
        (history(phone={"n": 1}), "phone: expected text, got an object"),
        (history(user=[1]), "user: expected text, got an array"),
        (history(link=False), "link: expected text, got a boolean"),
        (history(rating=7), "rating: 7 is out of range 1..5"),
        (rating(value=None), "rating: missing"),
        (rating(value="0"), "rating: 0 is out of range"),
        (rating(value="good"), "rating: not a number"),
        (history(wait="-1"), "wait: -1 is out of range"),
        (event(event_type=""), "type: missing"),
        (event(direction=["in"]), "direction: expected text, got an array"),
        (contact(phone=""), "phone: missing"),
    ],
)
def test_invalid_commands_are_400_with_a_short_reason(body, reason):
    error = refuse(body)
    assert error.status == 400
    assert error.reason.startswith(reason), error.reason
    assert len(error.reason) < 120 and TOKEN not in error.reason


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    [
        "cmd", "type", "direction", "status", "start", "wait", "duration", "rating", "callid",
        "phone", "user", "link",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([history(), rating(), event(), contact()]),
    changes=st.dictionaries(FIELDS, JSON_VALUES, max_size=4),
)
def test_any_json_values_give_a_record_or_a_bad_request(base, changes):
    body = {**base, **changes}
    try:
        result = accept(body)
    except BadRequest as exc:
        assert exc.status == 400
        assert TOKEN not in exc.reason
        return
    if isinstance(result, Record):
        assert Record.from_json(result.to_json()) == result


@settings(max_examples=300, deadline=None)
@given(
    content_type=st.sampled_from([None, "application/json", "application/x-www-form-urlencoded"]),
    body=st.binary(max_size=200),
)
def test_any_bytes_decode_or_give_a_bad_request(content_type, body):
    try:
        fields = decode_body(content_type, body)
    except BadRequest as exc:
        assert exc.status in (400, 415)
        return
    assert isinstance(fields, dict)
    try:
        check_token(fields, EXPECTED)
        to_record(fields, AT)
    except BadRequest as exc:
        assert exc.status in (400, 401)
