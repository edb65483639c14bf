"""parse_history: recorded bodies (spec examples and every quirk seen in the wild) and
hypothesis round-trips canonical rows → JSON/CSV bytes → canonical frame."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.stages.support import (
    SPEC_EXTERNAL_JSON,
    SPEC_INTERNAL_JSON,
    external_csv_case,
    external_json_case,
    internal_case,
)
from vats_etl.errors import UnknownShape
from vats_etl.parse import (
    CALL_SCHEMA,
    EXTERNAL_CSV_LAYOUTS,
    INTERNAL_SCHEMA,
    Parsed,
    normalise,
    parse_history,
    read_history,
)
from vats_etl.schemas import validate


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def rows(parsed: Parsed, *columns: str) -> list[tuple[Any, ...]]:
    return parsed.frame.select(columns).rows()


# --- recorded bodies: external JSON ---------------------------------------------------------


def test_spec_external_json_example() -> None:
    parsed = parse_history("external", "json", SPEC_EXTERNAL_JSON)

    assert parsed.shape == "json"
    assert len(parsed) == 2
    assert parsed.frame.schema == pl.Schema(CALL_SCHEMA)
    assert parsed.frame.row(0, named=True) == {
        "uid": "3934307521",
        "direction": "in",
        "status": "missed",
        "client": "79008003396",
        "diversion": "79001112233",
        "destination": "group",
        "user_login": None,
        "user_name": None,
        "group_name": "Отдел продаж",
        "started_at": utc("2022-01-20T08:59:22Z"),
        "wait_s": 13,
        "duration_s": 0,
        "record_url": None,
        "rating": None,
        "pbx_missed_status": None,
        "source": "api_json",
    }
    assert rows(parsed, "uid", "user_login", "user_name", "group_name", "duration_s") == [
        ("3934307521", None, None, "Отдел продаж", 0),
        ("1755936870", "admin", "Администратор", None, 23),
    ]


def test_raw_keeps_rows_as_received_as_text() -> None:
    parsed = parse_history("external", "json", SPEC_EXTERNAL_JSON)

    assert parsed.raw.schema == pl.Schema(dict.fromkeys(parsed.raw.columns, pl.String()))
    first = parsed.raw.row(0, named=True)
    assert first["uid"] == "3934307521"
    assert first["user"] == ""  # "" stays "" in raw, becomes null in frame
    assert first["wait"] == "13"  # numbers become their text
    assert first["rating"] is None  # missing key
    assert parsed.raw["uid"].to_list() == parsed.frame["uid"].to_list()  # same order


def test_json_quirks_case_compact_time_strings_blanks() -> None:
    body = orjson.dumps(
        [
            {
                "uid": " 42 ",
                "direction": "IN",
                "status": "NotAvailable",
                "destination": "Group",
                "start": "20220120T085922Z",
                "wait": "13",
                "duration": "23.0",
                "rating": "5",
                "user": "",
                "account": "petrov",
                "user_name": "  Пётр Петров  ",
                "record": "   ",
                "unknown_key": {"nested": [1, 2]},
            },
            {
                "uid": "43",
                "direction": "Out",
                "status": "SUCCESS",
                "start": "2022-01-20T09:00:00Z",
                "wait": None,
                "duration": 1e3,
                "rating": "",
                "user": "ivanov",
                "account": "petrov",
            },
        ]
    )
    parsed = parse_history("external", "json", body)

    assert rows(parsed, "uid", "direction", "status", "destination") == [
        ("42", "in", "notavailable", "group"),
        ("43", "out", "success", None),
    ]
    assert rows(parsed, "started_at", "wait_s", "duration_s", "rating") == [
        (utc("2022-01-20T08:59:22Z"), 13, 23, 5),
        (utc("2022-01-20T09:00:00Z"), None, 1000, None),
    ]
    # user_login is `user`, or `account` when `user` is empty
    assert rows(parsed, "user_login", "user_name", "record_url") == [
        ("petrov", "Пётр Петров", None),
        ("ivanov", None, None),
    ]


def test_json_unconvertible_values_become_null_in_frame_but_stay_in_raw() -> None:
    body = orjson.dumps(
        [
            {
                "uid": "1",
                "start": "2022-13-45T99:00:00Z",
                "wait": "abc",
                "duration": 13.5,
                "rating": 200,
            }
        ]
    )
    parsed = parse_history("external", "json", body)

    assert rows(parsed, "started_at", "wait_s", "duration_s", "rating") == [
        (None, None, None, None)
    ]
    assert parsed.raw.select("start", "wait", "duration", "rating").row(0) == (
        "2022-13-45T99:00:00Z",
        "abc",
        "13.5",
        "200",
    )
    assert parsed.lossy >= {"started_at", "wait_s", "duration_s", "rating"}
    assert parsed.sources["started_at"] == "start"


def test_json_empty_array_gives_empty_frames_with_schemas() -> None:
    for kind, schema in (("external", CALL_SCHEMA), ("internal", INTERNAL_SCHEMA)):
        parsed = parse_history(kind, "json", b" [ ]\n")  # type: ignore[arg-type]
        assert len(parsed) == 0
        assert parsed.frame.schema == pl.Schema(schema)
        assert parsed.raw.height == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": "Invalid token"}', 'got a JSON object of 26 bytes starting \'{"error"'),
        (b"<html><body>522 Origin timeout</body></html>", "got an HTML/XML page"),
        (b'[{"uid": "1", "start": "2022-01-', "not valid JSON"),
        (b'"CRM disabled"', "expected an array of call objects, got text"),
        (b"true", "expected an array of call objects, got text"),
        (b'{"items": []}', "got a JSON object of 13 bytes"),
        (b"[1, 2]", "element 0 is a number, expected an object"),
        (b'[{"uid": "1"}, null]', "element 1 is null, expected an object"),
        (b'[{"uid": "1"}] trailing', "not valid JSON"),
    ],
)
def test_json_that_is_not_an_array_of_objects_is_an_unknown_shape(
    body: bytes, expected: str
) -> None:
    with pytest.raises(UnknownShape, match="external history JSON") as caught:
        parse_history("external", "json", body)
    assert expected in str(caught.value)


def test_unknown_shape_message_is_short_and_one_line() -> None:
    body = b"<html>\n" + "Ошибка\r\n".encode() * 500 + b"</html>"
    with pytest.raises(UnknownShape) as caught:
        parse_history("external", "json", body)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert len(message) < 250
    assert "<html>\\nОшибка\\r\\n" in message


def test_json_nested_value_in_a_known_field_is_a_row_problem_not_a_failure() -> None:
    body = b'[{"uid": "1", "wait": [1, 2], "start": "2022-01-20T08:59:22Z"}, {"uid": "2"}]'
    parsed = parse_history("external", "json", body)

    assert len(parsed) == 2
    assert parsed.raw["wait"].to_list() == ["[1,2]", None]
    assert parsed.frame["wait_s"].to_list() == [None, None]
    assert parsed.row_problems.rows() == [(0, "wait: nested value '[1,2]'")]


def test_json_booleans_are_text() -> None:
    parsed = parse_history("external", "json", b'[{"uid": "1", "status": true}]')
    assert parsed.raw["status"].to_list() == ["true"]
    assert parsed.frame["status"].to_list() == ["true"]  # validation rejects it


def test_json_with_utf8_bom() -> None:
    parsed = parse_history("external", "json", b"\xef\xbb\xbf" + SPEC_EXTERNAL_JSON)
    assert len(parsed) == 2


# --- recorded bodies: internal ----------------------------------------------------------------


def test_spec_internal_json_example() -> None:
    parsed = parse_history("internal", "json", SPEC_INTERNAL_JSON)

    assert parsed.shape == "json"
    assert parsed.frame.schema == pl.Schema(INTERNAL_SCHEMA)
    assert parsed.frame.rows() == [
        (
            "3934307521",
            "noanswer",
            "admin",
            "manager",
            "admin",
            "Ivan",
            utc("2022-01-20T08:59:22Z"),
            13,
            0,
            None,
        ),
        (
            "1755936870",
            "success",
            "admin",
            "manager",
            None,
            "lvan",
            utc("2022-01-20T08:58:42Z"),
            5,
            23,
            None,
        ),
    ]


def test_spec_internal_csv_example_strips_domain_from_logins() -> None:
    # Spec 4.3's example (its two lines were run together in the seed's text). Its second
    # column holds "out"/"in", not a status: the status then follows from the duration.
    body = (
        b"1910575453,out,admin@domain,manager@domain,2022-03-17T12:54:45Z,5,0,\n"
        b"2012250090,in,manager@domain,admin@domain,2022-03-17T12:54:27Z,11,0,\n"
        b"2012250091,Out,manager@domain,admin@domain,2022-03-17T12:55:27Z,3,42,\n"
    )
    parsed = parse_history("internal", "csv", body)

    assert parsed.shape == "inner-csv8"
    assert parsed.frame.schema == pl.Schema(INTERNAL_SCHEMA)
    assert rows(parsed, "uid", "status", "from_login", "to_login", "wait_s", "record_url") == [
        ("1910575453", "noanswer", "admin", "manager", 5, None),
        ("2012250090", "noanswer", "manager", "admin", 11, None),
        ("2012250091", "success", "manager", "admin", 3, None),
    ]
    assert validate("internal", parsed, datetime(2030, 1, 1, tzinfo=UTC)).rejected.is_empty()
    assert parsed.raw["from"].to_list() == ["admin@domain", "manager@domain", "manager@domain"]


def test_internal_json_logins_lose_the_domain_too_and_bare_domain_is_lossy() -> None:
    body = b'[{"uid": "1", "status": "Success", "from": "admin@acme.megapbx.ru", "to": "@x"}]'
    parsed = parse_history("internal", "json", body)
    assert rows(parsed, "status", "from_login", "to_login") == [("success", "admin", None)]
    assert {"from_login", "to_login"} <= parsed.lossy


def test_internal_csv_with_other_column_count_is_unknown_shape() -> None:
    with pytest.raises(UnknownShape, match=r"internal CSV with 10 columns: expected 8"):
        parse_history("internal", "csv", b"1,success,a,b,n1,n2,20220120T085922Z,5,0,\n")


# --- recorded bodies: external CSV --------------------------------------------------------------

CSV_ROWS = {
    "csv8": "1,in,79001,74951,2022-01-20T08:59:22Z,5,10,https://r/1.mp3",
    "csv9-account": "1,in,79001,ivanov,74951,2022-01-20T08:59:22Z,5,10,https://r/1.mp3",
    "csv9-rating": "1,in,79001,74951,2022-01-20T08:59:22Z,5,10,https://r/1.mp3,4",
    "csv10": "1,in,79001,ivanov,74951,2022-01-20T08:59:22Z,5,10,https://r/1.mp3,4",
}


@pytest.mark.parametrize("shape", list(CSV_ROWS))
def test_every_external_csv_shape(shape: str) -> None:
    parsed = parse_history("external", "csv", CSV_ROWS[shape].encode() + b"\n")

    assert parsed.shape == shape
    assert parsed.raw.columns == list(EXTERNAL_CSV_LAYOUTS[shape])
    assert parsed.frame.schema == pl.Schema(CALL_SCHEMA)
    has_account = shape in ("csv9-account", "csv10")
    has_rating = shape in ("csv9-rating", "csv10")
    assert parsed.frame.row(0, named=True) == {
        "uid": "1",
        "direction": "in",
        "status": "success",
        "client": "79001",
        "diversion": "74951",
        "destination": None,
        "user_login": "ivanov" if has_account else None,
        "user_name": None,
        "group_name": None,
        "started_at": utc("2022-01-20T08:59:22Z"),
        "wait_s": 5,
        "duration_s": 10,
        "record_url": "https://r/1.mp3",
        "rating": 4 if has_rating else None,
        "pbx_missed_status": None,  # no CSV layout carries missedStatus
        "source": "api_csv",
    }


def test_csv_type_mapping() -> None:
    body = (
        b"1,in,c,v,20220120T085922Z,5,10,\n"
        b"2,missed,c,v,20220120T085922Z,30,0,\n"
        b"3,out,c,v,20220120T085922Z,0,61,\n"
        b"4,out,c,v,20220120T085922Z,0,0,\n"
        b"5,OUT,c,v,20220120T085922Z,0,,\n"
        b"6,Missed,c,v,20220120T085922Z,3,0,\n"
        b"7,transfer,c,v,20220120T085922Z,3,0,\n"
    )
    parsed = parse_history("external", "csv", body)
    assert rows(parsed, "uid", "direction", "status") == [
        ("1", "in", "success"),
        ("2", "in", "missed"),
        ("3", "out", "success"),
        ("4", "out", "missed"),
        ("5", "out", "missed"),  # empty duration: not "> 0", so missed
        ("6", "in", "missed"),
        ("7", None, None),  # unknown type: validation reports it
    ]
    assert {"direction", "status"} <= parsed.lossy
    assert parsed.sources["direction"] == parsed.sources["status"] == "type"


def test_csv_crlf_quoting_bom_and_blank_lines() -> None:
    body = (
        b"\xef\xbb\xbf\r\n"
        b'1,in,"79001",ivanov,74951,20220120T085922Z,5,10,"https://r/a,b.mp3",""\r\n'
        b"\r\n"
        b'2,out,79002,"say ""hi""",74951,2022-01-20T09:00:00Z, 7 ,0,,\r\n'
        b"   \r\n"
    )
    parsed = parse_history("external", "csv", body)

    assert parsed.shape == "csv10"
    assert rows(parsed, "uid", "user_login", "group_name", "record_url", "rating", "wait_s") == [
        ("1", "ivanov", None, "https://r/a,b.mp3", None, 5),
        ("2", None, 'say "hi"', None, None, 7),  # not a login: a name, i.e. a department
    ]
    assert parsed.raw["wait"].to_list() == ["5", " 7 "]
    assert parsed.raw["rating"].to_list() == ["", ""]
    assert parsed.row_problems.is_empty()


def test_csv_without_trailing_newline_and_with_quoted_newline() -> None:
    body = b'1,in,79001,74951,2022-01-20T08:59:22Z,5,10,"line1\nline2"'
    parsed = parse_history("external", "csv", body)
    assert rows(parsed, "uid", "record_url") == [("1", "line1\nline2")]


@pytest.mark.parametrize("body", [b"", b"\n", b"\r\n\r\n", b"   \n"])
def test_empty_csv_bodies_give_empty_frames(body: bytes) -> None:
    external = parse_history("external", "csv", body)
    internal = parse_history("internal", "csv", body)

    assert len(external) == 0 and external.frame.schema == pl.Schema(CALL_SCHEMA)
    assert external.raw.columns == list(EXTERNAL_CSV_LAYOUTS["csv10"])
    assert len(internal) == 0 and internal.frame.schema == pl.Schema(INTERNAL_SCHEMA)


@pytest.mark.parametrize("width", [1, 7, 11, 12])
def test_unknown_external_csv_column_count(width: int) -> None:
    body = ",".join(["x"] * width).encode() + b"\n"
    with pytest.raises(
        UnknownShape, match=rf"external CSV with {width} columns: expected 8, 9 or 10"
    ):
        parse_history("external", "csv", body)


def test_html_error_page_on_csv_endpoint_is_unknown_shape_naming_it() -> None:
    with pytest.raises(UnknownShape, match="an HTML/XML page of 30 bytes starting '<html>"):
        parse_history("external", "csv", b"<html>CRM switched off</html>\n")


def test_nine_columns_without_timestamps_cannot_be_told_apart() -> None:
    with pytest.raises(UnknownShape, match="cannot tell `account` from `rating` layout"):
        parse_history("external", "csv", b"1,in,c,a,v,bad,5,10,r\n")


def test_nine_columns_majority_decides() -> None:
    body = (
        b"1,in,c,v,2022-01-20T08:59:22Z,5,10,r,4\n"
        b"2,in,c,v,garbage,5,10,r,4\n"
        b"3,in,c,v,20220120T085922Z,5,10,r,\n"
    )
    parsed = parse_history("external", "csv", body)
    assert parsed.shape == "csv9-rating"
    assert parsed.frame["started_at"].null_count() == 1


def test_csv_record_wider_than_the_first_is_a_row_problem() -> None:
    body = (
        b"1,in,c,v,20220120T085922Z,5,10,r\n"
        b"2,in,c,v,20220120T085922Z,5,10,r,extra,more\n"
        b"\n"
        b"3,in,c,v,20220120T085922Z,5,10,r\n"
    )
    parsed = parse_history("external", "csv", body)

    assert parsed.shape == "csv8"
    assert parsed.frame["uid"].to_list() == ["1", "2", "3"]
    assert parsed.row_problems.rows() == [(1, "csv: 10 fields, expected 8 (extra 'extra,more')")]


def test_csv_record_shorter_than_the_first_is_padded() -> None:
    body = b"1,in,c,v,20220120T085922Z,5,10,r\n2,in,c\n"
    parsed = parse_history("external", "csv", body)

    assert parsed.raw.row(1) == ("2", "in", "c", "", "", "", "", "")
    assert rows(parsed, "uid", "started_at") == [
        ("1", utc("2022-01-20T08:59:22Z")),
        ("2", None),  # validation reports "started_at: missing"
    ]


def test_csv_that_is_not_utf8_is_unknown_shape() -> None:
    body = "1,in,c,Иванов,v,20220120T085922Z,5,10,r\n".encode("cp1251")
    with pytest.raises(UnknownShape, match=r"external history CSV is not UTF-8 text"):
        parse_history("external", "csv", body)


def test_bad_kind_or_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown history format 'xml'"):
        parse_history("external", "xml", b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown history kind 'inner'"):
        parse_history("inner", "json", b"[]")  # type: ignore[arg-type]


def test_pages_normalised_together_equal_pages_normalised_alone() -> None:
    """The pipeline reads a day's pages one by one and normalises them in one query."""
    csv8 = b"1,in,c,v,20220120T085922Z,5,10,r\n2,in,c,v,20220120T090000Z,5,10,r,x\n"
    csv8_again = b"3,out,c,v,20220120T100000Z,0,0,r\n4,in,c,v,20220120T110000Z,7,1e3,r,y\n"
    csv10 = b"5,in,c,admin,v,20220120T120000Z,5,10,r,4\n"
    pages = [read_history("external", "csv", body) for body in (csv8, csv8_again, csv10)]
    assert [len(page) for page in pages] == [2, 2, 1]

    together = normalise(pages)

    # One Parsed per run of pages of one shape; rows and row problems renumbered.
    assert [parsed.shape for parsed in together] == ["csv8", "csv10"]
    alone = [parse_history("external", "csv", body) for body in (csv8, csv8_again)]
    assert_frame_equal(together[0].frame, pl.concat([p.frame for p in alone]))
    assert_frame_equal(together[0].raw, pl.concat([p.raw for p in alone]))
    assert together[0].row_problems["row"].to_list() == [1, 3]
    assert together[0].sources == alone[0].sources
    assert together[1].frame.row(0, named=True)["rating"] == 4
    assert "rating" not in together[0].sources and "rating" in together[1].sources


def test_validation_of_pages_normalised_together_names_the_right_rows() -> None:
    first = orjson.dumps(
        [{"uid": "a", "direction": "in", "status": "success", "start": "2022-01-20T08:59:22Z"}]
    )
    second = orjson.dumps(
        [
            {
                "uid": "b",
                "direction": "sideways",
                "status": "success",
                "start": "2022-01-20T09:00:00Z",
            }
        ]
    )
    (parsed,) = normalise([read_history("external", "json", b) for b in (first, second)])

    checked = validate("external", parsed, datetime(2023, 1, 1, tzinfo=UTC))

    assert checked.good["uid"].to_list() == ["a"]
    assert checked.rejected.select("row", "reasons").rows() == [
        (1, ["direction: unknown 'sideways'"])
    ]


# --- hypothesis round-trips ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(external_json_case(), max_size=6))
def test_external_json_round_trip(cases: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    expected = pl.DataFrame([row for row, _ in cases], schema=CALL_SCHEMA, orient="row")
    parsed = parse_history("external", "json", orjson.dumps([obj for _, obj in cases]))

    assert_frame_equal(parsed.frame, expected)
    assert parsed.raw.height == len(cases)
    assert parsed.row_problems.is_empty()


@settings(max_examples=150, deadline=None)
@given(external_csv_case())
def test_external_csv_round_trip(case: tuple[str, list[dict[str, Any]], bytes]) -> None:
    shape, canonical, body = case
    parsed = parse_history("external", "csv", body)

    assert parsed.shape == shape
    assert_frame_equal(parsed.frame, pl.DataFrame(canonical, schema=CALL_SCHEMA, orient="row"))
    assert parsed.row_problems.is_empty()


@settings(max_examples=150, deadline=None)
@given(internal_case())
def test_internal_round_trip(case: tuple[str, list[dict[str, Any]], bytes]) -> None:
    fmt, canonical, body = case
    parsed = parse_history("internal", fmt, body)  # type: ignore[arg-type]

    assert_frame_equal(parsed.frame, pl.DataFrame(canonical, schema=INTERNAL_SCHEMA, orient="row"))
