"""History in every dialect the platform is known to speak.

Each fixture under tests/fixtures/dialects/history/ is a hand-written, recorded-style payload
of one bullet (made from how public integrations of the platform read it; nothing fetched).
Each is parsed *and* validated here: a dialect is accepted only when its rows load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from vats_etl.client import decode_json
from vats_etl.errors import UnknownShape
from vats_etl.parse import CALL_SCHEMA, INTERNAL_SCHEMA, Parsed, parse_history
from vats_etl.schemas import Validated, validate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects" / "history"
NOW = datetime(2024, 6, 4, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str, kind: str = "external") -> tuple[Parsed, Validated]:
    fmt = "csv" if name.endswith(".csv") else "json"
    parsed = parse_history(kind, fmt, fixture(name))  # type: ignore[arg-type]
    return parsed, validate(kind, parsed, NOW)  # type: ignore[arg-type]


def column(checked: Validated, *names: str) -> list[tuple[Any, ...]]:
    return checked.good.select(names).rows()


# --- direction in `direction` or in `type` --------------------------------------------------


def test_direction_from_direction_or_type_in_any_spelling() -> None:
    parsed, checked = load("direction_or_type.json")

    assert checked.rejected.is_empty()
    assert column(checked, "uid", "direction") == [
        ("4000000001", "in"),
        ("4000000002", "out"),
        ("4000000003", "in"),  # IN
        ("4000000004", "out"),  # Out
        ("4000000005", "in"),  # incoming
        ("4000000006", "out"),  # OUTGOING
        ("4000000007", "in"),  # `direction` only (the spec's letter)
        ("4000000008", "out"),  # both
        ("4000000009", "in"),  # `direction` empty, `type` given
        ("4000000010", "in"),  # `direction` null, `type` Incoming
    ]
    # `record`, `rating`, `user_name`, ... are absent from every row: no reason to fail a day
    assert checked.good["record_url"].null_count() == checked.good.height
    assert parsed.notes["direction_from_type"] == 8


# --- an empty window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "empty_window_null.json",
        "empty_window_string.json",
        "empty_window_array.json",
        "empty_window_object.json",
        "empty_window_body.json",
    ],
)
@pytest.mark.parametrize(
    ("kind", "schema"), [("external", CALL_SCHEMA), ("internal", INTERNAL_SCHEMA)]
)
def test_an_empty_window_in_any_form_is_zero_rows(
    name: str, kind: str, schema: dict[str, pl.DataType]
) -> None:
    parsed, checked = load(name, kind)

    assert len(parsed) == 0 and parsed.frame.schema == pl.Schema(schema)
    assert checked.good.is_empty() and checked.rejected.is_empty()
    assert decode_json(fixture(name)) == []  # the client's convenience reader agrees


@pytest.mark.parametrize(
    "body", [b'{"error": "CRM disabled"}', b'"CRM disabled"', b"<html>502</html>", b"nul"]
)
def test_what_is_not_an_empty_window_still_fails_loudly(body: bytes) -> None:
    with pytest.raises(UnknownShape, match="external history JSON"):
        parse_history("external", "json", body)


# --- statuses ---------------------------------------------------------------------------------


def test_every_status_spelling_and_unknown_statuses_load() -> None:
    parsed, checked = load("statuses.json")

    assert checked.rejected.is_empty()
    assert [status for (status,) in column(checked, "status")] == [
        "success",
        "success",
        "missed",
        "cancel",
        "busy",
        "notavailable",
        "notallowed",
        "missed",  # noanswer
        "missed",  # NoAnswer
        "notavailable",  # not_available
        "transferred",  # unknown: as delivered, lower-cased (data_quality lists it)
        "voicemail",
    ]
    assert parsed.notes["status_alias"] == 3


# --- user / account ---------------------------------------------------------------------------


def test_user_and_account_as_login_login_at_domain_or_a_target() -> None:
    parsed, checked = load("logins.json")

    assert checked.rejected.is_empty()
    assert column(checked, "uid", "user_login", "destination", "group_name") == [
        ("4200000001", "ivanov", None, None),
        ("4200000002", "ivanov", None, None),  # the domain is not part of a login
        ("4200000003", "petrova", None, None),  # user empty: account
        ("4200000004", "petrova", None, None),  # account as login@domain
        ("4200000005", None, "ivr", None),  # account names a target
        ("4200000006", None, None, "Отдел продаж"),  # ... or a department
        ("4200000007", "u712", "ivr", None),  # user wins; the target fills destination
    ]
    assert parsed.notes == {
        "direction_from_type": 7,
        "login_domain_stripped": 2,
        "account_as_destination": 1,
        "account_as_group": 1,
    }


def test_csv_account_holding_a_target_or_a_department() -> None:
    parsed, checked = load("account_targets.csv")

    assert parsed.shape == "csv10" and checked.rejected.is_empty()
    assert column(
        checked, "uid", "direction", "status", "user_login", "destination", "group_name"
    ) == [
        ("4600000001", "in", "success", "ivanov", None, None),
        ("4600000002", "in", "success", "ivanov", None, None),
        ("4600000003", "in", "missed", None, "ivr", None),
        ("4600000004", "in", "missed", None, "ivr", None),
        ("4600000005", "in", "missed", None, "vm", None),  # voicemail
        ("4600000006", "in", "missed", None, "fax", None),
        ("4600000007", "in", "missed", None, None, "Отдел продаж"),
        ("4600000008", "in", "missed", None, None, "Sales, B2B"),
        ("4600000009", "out", "success", "petrova", None, None),
        ("4600000010", "in", "missed", None, None, None),
    ]
    assert parsed.notes == {
        "login_domain_stripped": 1,
        "account_as_destination": 4,
        "account_as_group": 2,
        "start_other_format": 1,
    }


# --- missing keys, extra keys, numbers as strings, any uid ---------------------------------------


def test_missing_and_extra_keys_numbers_as_text_and_any_uid() -> None:
    _, checked = load("sparse_and_extra_keys.json")

    assert checked.rejected.is_empty()
    assert column(
        checked, "uid", "status", "user_login", "wait_s", "duration_s", "rating", "record_url"
    ) == [
        ("4300000001", "success", None, 7, None, None, None),  # duration, record... absent
        (
            "5f2b6c1e-8d4a-4e0b-9a57-3c2f1d0e9b11",  # a UUID
            "success",
            "ivanov",
            3,
            95,
            None,
            "https://romashka.megapbx.ru/records/2024-06-03/5f2b6c1e.mp3",
        ),
        ("A1b2C3d4E5", "missed", None, 22, 0, None, None),  # alphanumeric
        ("4300000004", "success", "petrova", 6, 180, 5, None),  # uid and client as numbers
    ]
    assert checked.good["client"][3] == "79161230204"


# --- start ------------------------------------------------------------------------------------


def test_start_in_every_known_form_is_the_same_instant() -> None:
    parsed, checked = load("start_forms.json")

    assert checked.rejected.is_empty()
    instant = datetime(2024, 6, 3, 8, 59, 22, tzinfo=UTC)
    assert checked.good["started_at"].to_list() == [instant] * 7
    assert parsed.notes["start_other_format"] == 5  # the spec's two forms are not "other"


# --- internal history ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["internal_login_at_domain.json", "internal_login_at_domain.csv"])
def test_internal_from_and_to_as_login_at_domain(name: str) -> None:
    parsed, checked = load(name, "internal")

    assert checked.rejected.is_empty()
    assert column(checked, "status", "from_login", "to_login") == [
        ("success", "ivanov", "petrova"),
        ("noanswer", "petrova", "u712"),
        ("success", "admin", "director"),
    ]
    assert parsed.notes["login_domain_stripped"] == 3


# --- a row that cannot be placed ----------------------------------------------------------------


def test_one_unplaceable_row_is_rejected_with_its_uid_and_every_key_the_rest_loads() -> None:
    _, checked = load("one_unplaceable_row.json")

    assert checked.good["uid"].to_list() == ["4700000001", "4700000002", "4700000004", "4700000005"]
    assert checked.rejected.select("uid", "reasons").rows() == [
        ("4700000003", ["started_at: cannot parse '1717423203'"])
    ]
    received = orjson.loads(fixture("one_unplaceable_row.json"))[2]
    assert orjson.loads(checked.rejected["raw"][0]) == received  # missedStatus, telnum_name too
