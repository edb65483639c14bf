"""The shared spelling tables: every known spelling maps, unknown ones are kept, not dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tests.webhook.support import TOKEN, history
from vats_etl import spellings
from vats_etl.parse import parse_history
from vats_etl.schemas import validate
from vats_etl.webhook.payloads import Record, check_token, to_record


@pytest.mark.parametrize(
    ("delivered", "canonical"),
    [
        ("in", "in"),
        ("IN", "in"),
        (" Incoming ", "in"),
        ("out", "out"),
        ("OUTGOING", "out"),
        ("sideways", None),
        ("", None),
        (None, None),
    ],
)
def test_direction(delivered: str | None, canonical: str | None) -> None:
    assert spellings.direction(delivered) == canonical


@pytest.mark.parametrize(
    ("delivered", "canonical"),
    [
        ("success", "success"),
        ("SUCCESS", "success"),
        ("NoAnswer", "missed"),
        ("noanswer", "missed"),
        ("not_available", "notavailable"),
        ("NotAvailable", "notavailable"),
        ("Transfered", "transfered"),
        ("  ", None),
        (None, None),
    ],
)
def test_status(delivered: str | None, canonical: str | None) -> None:
    assert spellings.status(delivered) == canonical


def test_every_alias_lands_on_a_known_status() -> None:
    assert set(spellings.STATUS_SPELLINGS.values()) <= set(spellings.EXTERNAL_STATUSES)


@pytest.mark.parametrize(
    ("delivered", "canonical"),
    [
        ("ivanov", "ivanov"),
        ("ivanov@acme.megapbx.ru", "ivanov"),
        (" u701@pbx.example ", "u701"),
        ("@acme.megapbx.ru", None),
        (None, None),
    ],
)
def test_login(delivered: str | None, canonical: str | None) -> None:
    assert spellings.login(delivered) == canonical


# --- a call's direction: `direction` and `type` together, in both parsers ---------------------


class _Absent:
    """The key is not in the payload at all (a stable test id, so parallel runs collect alike)."""

    def __repr__(self) -> str:
        return "absent"


ABSENT = _Absent()
# Every way a field arrives: absent, null, empty, blank, each spelling in mixed case, unknown.
DELIVERED: list[object] = [
    ABSENT,
    None,
    "",
    "  ",
    "in",
    "IN",
    " Incoming ",
    "out",
    "Out",
    "OUTGOING",
    "sideways",
    "SideWays",
]
KNOWN = {"in": "in", "incoming": "in", "out": "out", "outgoing": "out"}


def said(value: object) -> str | None:
    """What one field says on its own, in any case and with blanks around."""
    return KNOWN.get(value.strip().lower()) if isinstance(value, str) else None


def given(value: object) -> str | None:
    """The field's word as the history parser keeps it (stripped, lower-cased), if any."""
    return (value.strip().lower() or None) if isinstance(value, str) else None


def with_fields(body: dict[str, object], direction: object, type_: object) -> dict[str, object]:
    body = {k: v for k, v in body.items() if k not in ("direction", "type")}
    for key, value in (("direction", direction), ("type", type_)):
        if value is not ABSENT:
            body[key] = value
    return body


def history_row(direction: object, type_: object) -> tuple[str | None, list[str], dict[str, int]]:
    """(direction loaded or None, reasons of a rejection, direction notes) of one API row."""
    row = {"uid": "1", "status": "success", "start": "2024-06-03T10:00:00Z"}
    parsed = parse_history("external", "json", orjson.dumps([with_fields(row, direction, type_)]))
    checked = validate("external", parsed, datetime(2024, 6, 4, tzinfo=UTC))
    notes = {k: v for k, v in parsed.notes.items() if k.startswith("direction")}
    if checked.good.height:
        return checked.good["direction"].item(), [], notes
    return None, checked.rejected["reasons"].item().to_list(), notes


def webhook_direction(direction: object, type_: object) -> str | None:
    body = with_fields(history(), direction, type_)
    check_token(body, TOKEN.encode())
    record = to_record(body, 1_718_000_000_000_000)
    assert isinstance(record, Record)
    return record.data["direction"]  # type: ignore[return-value]


@pytest.mark.parametrize("type_", DELIVERED, ids=repr)
@pytest.mark.parametrize("direction", DELIVERED, ids=repr)
def test_history_and_webhooks_read_a_direction_alike(direction: object, type_: object) -> None:
    """The first of `direction`, `type` that is a known spelling decides, in the API's
    history and in webhooks; neither known: the history rejects the row naming the word
    delivered (never loads it under a guess), a webhook keeps the call without a direction.
    Whatever decided otherwise than `direction` alone is noted for data_quality."""
    expected = said(direction) or said(type_)
    loaded, reasons, notes = history_row(direction, type_)
    assert webhook_direction(direction, type_) == expected
    assert loaded == expected
    if expected is None:
        word = given(direction) or given(type_)
        assert reasons == [f"direction: unknown '{word}'" if word else "direction: missing"]
    if said(direction) and said(type_) and said(direction) != said(type_):
        assert notes == {"direction_type_disagree": 1}
    elif not said(direction) and said(type_):
        from_type = "direction_unknown_from_type" if given(direction) else "direction_from_type"
        assert notes == {from_type: 1}
    else:
        assert notes == {}
    verdict = spellings.call_direction(
        *(v if isinstance(v, str) else None for v in (direction, type_))
    )
    assert (verdict.direction, verdict.note) == (expected, next(iter(notes), None))


# --- missedStatus: either spelling, integer or text, in both parsers --------------------------

MISSED_STATUS_CASES: list[tuple[dict[str, object], int | None]] = [
    ({"missedStatus": 3}, 3),
    ({"missedStatus": "3"}, 3),
    ({"missedStatus": " 4 "}, 4),
    ({"missedStatus": "2.0"}, 2),
    ({"missedStatus": 2.0}, 2),
    ({"missedstatus": 2}, 2),
    ({"missedstatus": "3"}, 3),
    ({"missedStatus": None, "missedstatus": "3"}, 3),
    ({"missedStatus": "", "missedstatus": 4}, 4),
    ({"missedStatus": 1, "missedstatus": 3}, 1),  # the documented spelling first
    ({"missedStatus": "noanswer"}, None),
    ({"missedStatus": "3.5"}, None),
    ({"missedStatus": True}, None),
    ({"missedStatus": 70000}, None),  # beyond a smallint: no verdict we can store
    ({"MissedStatus": 3}, None),  # not a spelling we know
    ({}, None),
]


@pytest.mark.parametrize(("fields", "expected"), MISSED_STATUS_CASES, ids=repr)
def test_missed_status_in_history_rows_and_webhooks_alike(
    fields: dict[str, object], expected: int | None
) -> None:
    """`missedStatus` or `missedstatus`, as an integer or as text: the API's history and the
    webhooks store the same verdict; a value that is no whole number is no verdict, and the
    call loads (or is accepted) all the same."""
    assert spellings.missed_status(fields) == expected
    row = {"uid": "1", "type": "in", "status": "noanswer", "start": "2024-06-03T10:00:00Z"}
    parsed = parse_history("external", "json", orjson.dumps([{**row, **fields}]))
    checked = validate("external", parsed, datetime(2024, 6, 4, tzinfo=UTC))
    assert checked.rejected.is_empty()
    assert checked.good["pbx_missed_status"].item() == expected
    unreadable = any(value not in (None, "") for value in fields.values()) and expected is None
    known = any(key in spellings.MISSED_STATUS_KEYS for key in fields)
    assert parsed.notes.get("missed_status_unreadable", 0) == int(unreadable and known)
    body = {**history(), **fields}
    check_token(body, TOKEN.encode())
    record = to_record(body, 1_718_000_000_000_000)
    assert isinstance(record, Record)
    assert record.data["pbx_missed_status"] == expected
