"""validate(): good rows pass, every malformed row is rejected with every reason, schema
problems raise; and the compiled rules agree with pandera's own full validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors
from polars.testing import assert_frame_equal

from vats_etl.errors import UnknownShape
from vats_etl.parse import CALL_SCHEMA, INTERNAL_SCHEMA, Parsed, parse_history
from vats_etl.schemas import (
    CallsModel,
    InternalCallsModel,
    Validated,
    column_contracts,
    validate,
)

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
GOOD_CALL = {
    "uid": "100",
    "direction": "in",
    "status": "success",
    "client": "79001234567",
    "diversion": "74951234567",
    "destination": "user",
    "user": "ivanov",
    "user_name": "Иван Иванов",
    "group_name": "Отдел продаж",
    "start": "2024-03-01T08:00:00Z",
    "wait": 5,
    "duration": 60,
    "record": "https://acme.megapbx.ru/rec/100.mp3",
    "rating": 5,
}


def external(*changes: dict[str, Any], now: datetime = NOW) -> Validated:
    """Validate a JSON chunk: a good call, then one call per ``changes`` (None = drop key)."""
    calls = [GOOD_CALL]
    for i, change in enumerate(changes):
        call = {**GOOD_CALL, "uid": str(101 + i), **change}
        calls.append({key: value for key, value in call.items() if value is not None})
    return validate("external", parse_history("external", "json", orjson.dumps(calls)), now)


def reasons_of(validated: Validated) -> list[list[str]]:
    return validated.rejected["reasons"].to_list()


# --- good rows ------------------------------------------------------------------------------


def test_good_rows_pass_with_canonical_dtypes() -> None:
    parsed = parse_history("external", "json", orjson.dumps([GOOD_CALL]))
    checked = validate("external", parsed, NOW)

    assert_frame_equal(checked.good, parsed.frame)
    assert checked.good.schema == pl.Schema(CALL_SCHEMA)
    assert checked.rejected.is_empty()
    assert checked.rejected.schema == pl.Schema(
        {"row": pl.Int64(), "uid": pl.String(), "raw": pl.String(), "reasons": pl.List(pl.String())}
    )


def test_optional_fields_may_be_null_or_missing() -> None:
    checked = external(
        {"wait": None, "duration": "", "rating": None, "user": None, "client": None},
        {"destination": "", "record": "   ", "user_name": None, "group_name": None},
    )
    assert checked.good.height == 3
    assert checked.rejected.is_empty()


def test_duplicate_uids_in_a_chunk_are_not_an_error() -> None:
    checked = external({"uid": "100"}, {"uid": "100", "status": "missed"})
    assert checked.good["uid"].to_list() == ["100", "100", "100"]


def test_spec_example_passes() -> None:
    from tests.stages.support import SPEC_EXTERNAL_JSON

    parsed = parse_history("external", "json", SPEC_EXTERNAL_JSON)
    assert validate("external", parsed, NOW).good.height == 2


# --- one reason per malformed kind ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"uid": None}, "uid: missing"),
        ({"uid": "  "}, "uid: missing"),
        ({"direction": None}, "direction: missing"),
        ({"direction": "Sideways"}, "direction: unknown 'sideways'"),
        ({"status": ""}, "status: missing"),
        ({"start": None}, "started_at: missing"),
        ({"start": "2022-13-45T99:00:00Z"}, "started_at: cannot parse '2022-13-45T99:00:00Z'"),
        ({"start": "01.03.2024 08:00:00"}, "started_at: cannot parse '01.03.2024 08:00:00'"),
        ({"start": "2024-03-01"}, "started_at: cannot parse '2024-03-01'"),  # no time of day
        (
            {"start": "2024-03-01T12:10:01Z"},
            "started_at: 2024-03-01T12:10:01Z is later than now + 0:10:00 (2024-03-01T12:10:00Z)",
        ),
        ({"wait": -1}, "wait_s: -1 is negative"),
        ({"wait": "abc"}, "wait_s: cannot parse 'abc'"),
        ({"wait": " 1,5 "}, "wait_s: cannot parse ' 1,5 '"),
        ({"duration": -5}, "duration_s: -5 is negative"),
        ({"duration": "-5"}, "duration_s: -5 is negative"),
        ({"duration": 13.5}, "duration_s: cannot parse '13.5'"),
        ({"duration": 2**31}, "duration_s: cannot parse '2147483648'"),
        ({"rating": 0}, "rating: 0 is not between 1 and 5"),
        ({"rating": "6"}, "rating: 6 is not between 1 and 5"),
        ({"rating": 200}, "rating: cannot parse '200'"),
        ({"rating": "five"}, "rating: cannot parse 'five'"),
    ],
)
def test_each_malformed_value_has_a_reason(change: dict[str, Any], reason: str) -> None:
    checked = external(change)

    assert checked.good["uid"].to_list() == ["100"]  # the good row of the chunk loads
    assert checked.rejected["row"].to_list() == [1]
    assert reasons_of(checked) == [[reason]]


@pytest.mark.parametrize("status", ["transfered", "TRANSFERED", "Voicemail", "true"])
def test_an_unknown_status_loads_lower_cased_as_delivered(status: str) -> None:
    checked = external({"status": status})

    assert checked.rejected.is_empty()
    assert checked.good["status"].to_list() == ["success", status.lower()]


def test_start_within_the_tolerance_passes_and_tolerance_is_a_parameter() -> None:
    parsed = parse_history(
        "external", "json", orjson.dumps([{**GOOD_CALL, "start": "2024-03-01T12:09:59Z"}])
    )
    assert validate("external", parsed, NOW).good.height == 1
    strict = validate("external", parsed, NOW, future_tolerance=timedelta(0))
    assert reasons_of(strict) == [
        ["started_at: 2024-03-01T12:09:59Z is later than now + 0:00:00 (2024-03-01T12:00:00Z)"]
    ]


def test_now_in_another_time_zone_is_the_same_instant() -> None:
    from zoneinfo import ZoneInfo

    moscow_now = NOW.astimezone(ZoneInfo("Europe/Moscow"))
    checked = external({"start": "2024-03-01T12:10:01Z"}, now=moscow_now)
    assert reasons_of(checked) == [
        ["started_at: 2024-03-01T12:10:01Z is later than now + 0:10:00 (2024-03-01T12:10:00Z)"]
    ]


def test_naive_now_and_unknown_kind_are_programming_errors() -> None:
    parsed = parse_history("external", "json", b"[]")
    with pytest.raises(ValueError, match="timezone-aware"):
        validate("external", parsed, datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="unknown history kind 'inner'"):
        validate("inner", parsed, NOW)  # type: ignore[arg-type]


def test_a_row_with_several_problems_lists_them_all_in_column_order() -> None:
    checked = external(
        {
            "uid": "",
            "direction": "sideways",
            "status": "transfered",
            "start": "2022-13-45T99:00:00Z",
            "wait": "abc",
            "duration": -5,
            "rating": 9,
        },
        {"status": "success"},  # a good row after the bad one
    )
    assert checked.good["uid"].to_list() == ["100", "102"]
    assert checked.rejected["row"].to_list() == [1]
    assert reasons_of(checked) == [
        [
            "uid: missing",
            "direction: unknown 'sideways'",
            "started_at: cannot parse '2022-13-45T99:00:00Z'",
            "wait_s: cannot parse 'abc'",
            "duration_s: -5 is negative",
            "rating: 9 is not between 1 and 5",
        ]
    ]


def test_rejected_raw_is_the_json_object_as_received_with_every_key_and_its_uid() -> None:
    received = {
        "uid": "3934307521",
        "type": "in",  # the platform's direction
        "status": "NoAnswer",
        "missedStatus": "no_answer",  # keys we do not model are kept
        "second_callid": "3934307522",
        "note": {"text": "перезвонить", "tags": [1, 2]},
        "start": "2022-13-45T99:00:00Z",
        "wait": "13",
        "duration": 1.5,
        "user_name": "Пётр <b>",
    }
    checked = external(received)

    assert checked.rejected.select("row", "uid").rows() == [(1, "3934307521")]
    raw = checked.rejected["raw"][0]
    assert orjson.loads(raw) == {**GOOD_CALL, **received}  # values and keys as sent
    assert list(orjson.loads(raw)) == [*GOOD_CALL, "type", "missedStatus", "second_callid", "note"]
    # so the row can be loaded again as it is, once what rejected it is fixed:
    again = parse_history("external", "json", b"[" + raw.encode() + b"]")
    assert again.frame.select("uid", "direction", "status", "wait_s").row(0) == (
        "3934307521",
        "in",
        "missed",
        13,
    )


def test_rejected_rows_without_a_uid_have_a_null_uid() -> None:
    checked = external({"uid": None})
    assert checked.rejected["uid"].to_list() == [None]
    assert "uid" not in orjson.loads(checked.rejected["raw"][0])


def test_long_and_multiline_values_are_shortened_in_reasons() -> None:
    checked = external({"direction": "x" * 100 + "\nmore"})
    (reason,) = reasons_of(checked)[0]
    assert reason == "direction: unknown '" + "x" * 59 + "…'"
    checked = external({"start": "2024\r\n03"})
    assert reasons_of(checked) == [["started_at: cannot parse '2024\\r\\n03'"]]


# --- CSV and internal ---------------------------------------------------------------------------


def test_csv_reasons_include_type_and_structural_problems_first() -> None:
    body = (
        b"1,in,c,v,2024-03-01T08:00:00Z,5,10,r\r\n"
        b"2,transfer,c,v,2024-03-01T08:00:00Z,5,10,r\r\n"
        b",out,c,v,20240301T080000Z,-1,0,r,EXTRA\r\n"
        b"4,missed,c,v,,5,0,\r\n"
    )
    checked = validate("external", parse_history("external", "csv", body), NOW)

    assert checked.good["uid"].to_list() == ["1"]
    assert checked.rejected["row"].to_list() == [1, 2, 3]
    assert reasons_of(checked) == [
        ["type: cannot parse 'transfer'"],
        ["csv: 9 fields, expected 8 (extra 'EXTRA')", "uid: missing", "wait_s: -1 is negative"],
        ["started_at: missing"],
    ]
    assert orjson.loads(checked.rejected["raw"][0]) == {
        "uid": "2",
        "type": "transfer",
        "client": "c",
        "via": "v",
        "start": "2024-03-01T08:00:00Z",
        "wait": "5",
        "duration": "10",
        "record": "r",
    }


def test_internal_statuses_and_logins() -> None:
    body = (
        b"1,NoAnswer,admin@d,manager@d,2024-03-01T08:00:00Z,5,0,\n"
        b"2,success,@d,manager,2024-03-01T08:00:00Z,5,3,\n"
        b"3,notavailable,a,b,2024-03-01T08:00:00Z,5,3,\n"
        b"1910575453,out,admin@domain,manager@domain,2022-03-17T12:54:45Z,5,0,\n"
    )
    checked = validate("internal", parse_history("internal", "csv", body), NOW)

    assert checked.good.schema == pl.Schema(INTERNAL_SCHEMA)
    assert checked.good.select("uid", "status", "from_login").rows() == [
        ("1", "noanswer", "admin"),
        ("3", "notavailable", "a"),  # unexpected for internal calls, but loaded as delivered
        ("1910575453", "noanswer", "admin"),  # the spec's own CSV example: "out", 0 s
    ]
    assert reasons_of(checked) == [["from_login: cannot parse '@d'"]]


def test_internal_json_good_rows() -> None:
    from tests.stages.support import SPEC_INTERNAL_JSON

    checked = validate("internal", parse_history("internal", "json", SPEC_INTERNAL_JSON), NOW)
    assert checked.good.height == 2 and checked.rejected.is_empty()


def test_nested_json_value_is_a_reason() -> None:
    body = orjson.dumps([GOOD_CALL, {**GOOD_CALL, "uid": {"id": 1}}])
    checked = validate("external", parse_history("external", "json", body), NOW)
    assert reasons_of(checked) == [["uid: nested value '{\"id\":1}'"]]


def test_empty_chunks() -> None:
    for kind, fmt, body in (("external", "json", b"[]"), ("internal", "csv", b"")):
        checked = validate(kind, parse_history(kind, fmt, body), NOW)  # type: ignore[arg-type]
        assert checked.good.is_empty() and checked.rejected.is_empty()
        assert checked.good.schema == parse_history(kind, fmt, body).frame.schema  # type: ignore[arg-type]


# --- schema level: raises -----------------------------------------------------------------------


def test_required_field_absent_from_the_whole_payload_is_unknown_shape() -> None:
    calls = [{k: v for k, v in GOOD_CALL.items() if k != "start"} for _ in range(3)]
    parsed = parse_history("external", "json", orjson.dumps(calls))
    with pytest.raises(
        UnknownShape, match=r"required field 'start' \(for started_at\) is absent from all 3 rows"
    ):
        validate("external", parsed, NOW)


def test_direction_is_absent_only_when_type_is_absent_too() -> None:
    without = [{k: v for k, v in GOOD_CALL.items() if k != "direction"} for _ in range(3)]
    parsed = parse_history("external", "json", orjson.dumps(without))
    with pytest.raises(
        UnknownShape,
        match=r"required field 'direction' or 'type' \(for direction\) is absent from all 3",
    ):
        validate("external", parsed, NOW)
    platform = [{**call, "type": "out"} for call in without]
    checked = validate("external", parse_history("external", "json", orjson.dumps(platform)), NOW)
    assert checked.good["direction"].to_list() == ["out"] * 3 and checked.rejected.is_empty()


def test_a_single_row_without_a_required_field_is_quarantined_not_fatal() -> None:
    call = {k: v for k, v in GOOD_CALL.items() if k != "uid"}
    checked = validate("external", parse_history("external", "json", orjson.dumps([call])), NOW)
    assert reasons_of(checked) == [["uid: missing"]]


def test_frame_with_missing_column_or_wrong_dtype_is_unknown_shape() -> None:
    parsed = parse_history("external", "json", orjson.dumps([GOOD_CALL]))
    broken = Parsed(
        parsed.frame.drop("client").with_columns(pl.col("wait_s").cast(pl.Int64)),
        parsed.raw,
        parsed.shape,
        parsed.sources,
        parsed.lossy,
    )
    with pytest.raises(UnknownShape) as caught:
        validate("external", broken, NOW)
    message = str(caught.value)
    assert "does not match CallsModel" in message
    assert "column 'client' is missing" in message
    assert "column 'wait_s' is Int64, expected ('Int32')" in message


def test_internal_frame_validated_as_external_is_unknown_shape() -> None:
    parsed = parse_history("internal", "json", b"[]")
    with pytest.raises(UnknownShape, match="does not match CallsModel"):
        validate("external", parsed, NOW)


def test_model_with_a_check_validate_cannot_compile_fails_early() -> None:
    class Odd(pa.DataFrameModel):
        uid: str = pa.Field(str_matches=r"^\d+$")

    with pytest.raises(TypeError, match=r"cannot compile pandera check 'str_matches' on Odd\.uid"):
        column_contracts(Odd)


# --- the compiled rules agree with pandera ------------------------------------------------------

messy_calls = st.lists(
    st.fixed_dictionaries(
        {
            "uid": st.sampled_from(["1", "2", None]),
            "direction": st.sampled_from(["in", "out", "up", None]),
            "status": st.sampled_from(["success", "missed", "notfound", "noanswer", "x", None]),
            "client": st.sampled_from(["7900", None]),
            "diversion": st.none(),
            "destination": st.sampled_from(["user", "nowhere", None]),
            "user_login": st.none(),
            "user_name": st.sampled_from(["Иван", None]),
            "group_name": st.none(),
            "started_at": st.sampled_from([NOW - timedelta(days=1), None]),
            "wait_s": st.sampled_from([0, 5, -1, None]),
            "duration_s": st.sampled_from([0, 60, -5, None]),
            "record_url": st.none(),
            "rating": st.sampled_from([1, 5, 0, 6, -3, None]),
            "source": st.sampled_from(["api_json", "api_csv", "webhook", "fax", None]),
        }
    ),
    max_size=8,
)


def pandera_flags(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> set[tuple[int, str]]:
    try:
        model.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases.filter(pl.col("index").is_not_null())
        return {(int(i), str(c)) for i, c in cases.select("index", "column").rows()}
    return set()


def validate_flags(kind: str, frame: pl.DataFrame) -> set[tuple[int, str]]:
    # No raw values and no lossy columns: only the model's rules (and a far-away "now").
    raw = frame.select(pl.all().cast(pl.String))
    parsed = Parsed(frame, raw, "test", {}, frozenset())
    checked = validate(kind, parsed, NOW + timedelta(days=365))  # type: ignore[arg-type]
    return {
        (row, reason.split(":", 1)[0])
        for row, reasons in checked.rejected.select("row", "reasons").rows()
        for reason in reasons
    }


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(messy_calls)
def test_compiled_rules_flag_what_pandera_flags_for_calls(calls: list[dict[str, Any]]) -> None:
    frame = pl.DataFrame(calls, schema=CALL_SCHEMA, orient="row")
    assert validate_flags("external", frame) == pandera_flags(CallsModel, frame)


@settings(max_examples=100, deadline=None)
@given(messy_calls)
def test_compiled_rules_flag_what_pandera_flags_for_internal_calls(
    calls: list[dict[str, Any]],
) -> None:
    internal = [
        {
            "uid": c["uid"],
            "status": c["status"],
            "from_login": c["client"],
            "to_login": None,
            "from_name": c["user_name"],
            "to_name": None,
            "started_at": c["started_at"],
            "wait_s": c["wait_s"],
            "duration_s": c["duration_s"],
            "record_url": None,
        }
        for c in calls
    ]
    frame = pl.DataFrame(internal, schema=INTERNAL_SCHEMA, orient="row")
    assert validate_flags("internal", frame) == pandera_flags(InternalCallsModel, frame)


# --- the emulator's bytes parse and validate to the emulator's truth ----------------------------


def csv_projection(truth: pl.DataFrame, shape: str) -> pl.DataFrame:
    """What external CSV can say about the canonical rows: no names or destination, status
    collapsed to CSV `type`, account and rating only where the shape has them."""
    missing = {"destination", "user_name", "group_name"}
    if shape in ("csv8", "csv9-rating"):
        missing.add("user_login")
    if shape in ("csv8", "csv9-account"):
        missing.add("rating")
    answered = pl.col("status") == "success"
    talked = pl.col("duration_s") > 0
    return truth.with_columns(
        status=pl.when(pl.col("direction") == "in")
        .then(pl.when(answered).then(pl.lit("success")).otherwise(pl.lit("missed")))
        .otherwise(pl.when(talked).then(pl.lit("success")).otherwise(pl.lit("missed")))
    ).drop(missing)


@pytest.mark.parametrize(
    ("kind", "fmt", "csv_shape"),
    [
        ("external", "json", 10),
        ("external", "csv", 10),
        ("external", "csv", 9),
        ("external", "csv", "9r"),
        ("external", "csv", 8),
        ("internal", "json", 10),
        ("internal", "csv", 10),
    ],
)
def test_emulator_day_parses_and_validates_to_its_truth(
    kind: str, fmt: str, csv_shape: int | str
) -> None:
    from zoneinfo import ZoneInfo

    from vats_etl.emulator.core import Emulator
    from vats_etl.periods import day_window

    emulator = Emulator(
        seed=7, agents=30, malformed_rate=0.03, csv_shape=csv_shape, clock=lambda: NOW
    )
    window = day_window(datetime(2024, 2, 27).date(), ZoneInfo("Europe/Moscow"))
    truth_rows = (
        emulator.external_calls(window) if kind == "external" else emulator.internal_calls(window)
    )
    body = emulator.render_history(kind, fmt, window)  # type: ignore[arg-type]

    parsed = parse_history(kind, fmt, body)  # type: ignore[arg-type]
    checked = validate(kind, parsed, NOW)  # type: ignore[arg-type]

    schema = CALL_SCHEMA if kind == "external" else INTERNAL_SCHEMA
    expected = pl.DataFrame(
        [row for row in truth_rows if not row["malformed"]], orient="row", strict=False
    ).select(schema.keys() - {"source"})
    if kind == "external":
        expected = expected.with_columns(source=pl.lit(f"api_{fmt}"))
    expected = expected.select(schema.keys()).cast(schema)  # type: ignore[arg-type]
    if kind == "external" and fmt == "csv":
        expected = csv_projection(expected, parsed.shape)
    if kind == "internal" and fmt == "csv":
        expected = expected.drop("from_name", "to_name")  # internal CSV carries no names
    got = checked.good.select(expected.columns)
    assert len(truth_rows) > 20
    assert checked.rejected.height == sum(row["malformed"] for row in truth_rows) > 0
    assert_frame_equal(got.sort("uid"), expected.sort("uid"))


# --- rows as received: found again by uid, or by decoding the body --------------------------

received_values = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["{", "}", '"uid": "1"', "\\", "Ж{}"]),
    st.dictionaries(st.sampled_from(["a", "uid", "{"]), st.integers(-9, 9), max_size=2),
)


@st.composite
def payload_with_bad_rows(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bytes]:
    """Calls whose uids repeat, hide in other keys and strings, come as numbers or are
    missing; some rows rejected (negative duration); pretty-printed or compact."""
    calls = []
    for i in range(draw(st.integers(min_value=1, max_value=12))):
        call: dict[str, Any] = {
            # (not all without a uid: that is a format change, UnknownShape)
            "uid": draw(st.sampled_from(["7", "8", "uid", " 7 ", "Ж", 7, 8, *([None] * bool(i))])),
            "type": "in",
            "status": "success",
            "start": "2024-03-01T08:00:00Z",
            "duration": draw(st.sampled_from([-1, 5])),
            "user_name": f"n{i}",
        }
        for key in draw(st.lists(st.sampled_from(["note", "second_callid", "uid_"]), max_size=2)):
            call[key] = draw(received_values)
        if call["uid"] is None:
            del call["uid"]
        calls.append(call)
    indent = draw(st.booleans())
    body = orjson.dumps(calls, option=orjson.OPT_INDENT_2 if indent else 0)
    return calls, body


@settings(max_examples=200, deadline=None)
@given(payload_with_bad_rows())
def test_rejected_rows_are_the_objects_as_received(
    case: tuple[list[dict[str, Any]], bytes],
) -> None:
    calls, body = case
    parsed = parse_history("external", "json", body)
    checked = validate("external", parsed, NOW)
    expected = [calls[row] for row in checked.rejected["row"]]
    assert [orjson.loads(raw) for raw in checked.rejected["raw"]] == expected
    assert checked.rejected.height == sum(c["duration"] < 0 or "uid" not in c for c in calls)


def test_rejected_rows_with_a_uid_are_found_without_decoding_the_whole_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vats_etl import parse

    def whole_body(text: bytes) -> list[object]:
        raise AssertionError("decoded the whole body")

    calls = [
        {**GOOD_CALL, "uid": str(100 + i), "duration": -1 if i % 50 == 7 else 60, "n": {"i": i}}
        for i in range(400)
    ]
    calls[57]["second_callid"] = "107"  # the uid of a rejected row, in another key before it
    calls[300]["uid"] = 400  # a number
    calls[300]["duration"] = -3
    body = orjson.dumps(calls, option=orjson.OPT_INDENT_2)
    parsed = parse_history("external", "json", body)
    monkeypatch.setattr(parse, "_json_items", whole_body)

    checked = validate("external", parsed, NOW)

    rows = checked.rejected["row"].to_list()
    assert rows == [7, 57, 107, 157, 207, 257, 300, 307, 357]
    assert [orjson.loads(raw) for raw in checked.rejected["raw"]] == [calls[r] for r in rows]
