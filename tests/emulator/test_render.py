"""What goes on the wire: quirks that never change meaning, CSV shapes, malformed rows."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from tests.emulator.support import (
    CANONICAL_EXTERNAL,
    CANONICAL_INTERNAL,
    canonical,
    csv_rows,
    day,
    fixed_clock,
    missed_status,
    normalise_external,
    normalise_internal,
    parse_start,
)
from vats_etl.emulator import Emulator
from vats_etl.periods import Window

D = date(2024, 5, 21)  # a Tuesday
COMPACT = re.compile(r"^\d{8}T\d{6}Z$")


def _json(emu: Emulator, kind: str = "external", d: date = D) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(
        emu.render_history(kind, "json", day(d), limit=emu.page_cap)  # type: ignore[arg-type]
    )
    return rows


def _truth(emu: Emulator, d: date = D) -> dict[str, dict[str, Any]]:
    return {r["uid"]: canonical(r, CANONICAL_EXTERNAL) for r in emu.external_calls(day(d))}


@pytest.mark.parametrize("profile", ["clean", "realistic"])
def test_served_json_normalises_to_the_truth(profile: str) -> None:
    emu = Emulator(seed=5, agents=40, profile=profile, clock=fixed_clock)
    served = {r["uid"]: normalise_external(r) for r in _json(emu)}
    assert served == _truth(emu)


@pytest.mark.parametrize("profile", ["clean", "realistic"])
def test_served_internal_json_normalises_to_the_truth(profile: str) -> None:
    emu = Emulator(seed=5, agents=40, profile=profile, clock=fixed_clock)
    served = {r["uid"]: normalise_internal(r) for r in _json(emu, "internal")}
    truth = {r["uid"]: canonical(r, CANONICAL_INTERNAL) for r in emu.internal_calls(day(D))}
    assert served == truth


def test_realistic_profile_shows_every_quirk(emu: Emulator) -> None:
    rows = _json(emu)
    statuses = {r["status"] for r in rows}
    assert {"success", "Success", "SUCCESS"} <= statuses
    assert any(s in statuses for s in ("NotAvailable", "NOTAVAILABLE"))
    assert any(COMPACT.match(r["start"]) for r in rows)
    assert any(r["start"].endswith("Z") and "-" in r["start"] for r in rows)
    assert any(r.get("rating", "x") is None for r in rows)  # null
    assert any(r.get("rating", "x") == "" for r in rows)  # empty string
    assert any("rating" not in r for r in rows)  # missing
    assert any(isinstance(r["wait"], str) for r in rows)  # numbers as strings
    assert any(r.get("user") == "" and r.get("account") for r in rows)  # login only in account
    body = emu.render_history("external", "csv", day(D))
    assert body.count(b"\r\n") == body.count(b"\n") > 0  # CRLF


def test_clean_profile_has_no_quirks(clean_emu: Emulator) -> None:
    rows = _json(clean_emu)
    assert all(r["status"] == r["status"].lower() for r in rows)
    assert all(not COMPACT.match(r["start"]) for r in rows)
    assert all(isinstance(r["wait"], int) and isinstance(r["duration"], int) for r in rows)
    assert all(len(r) == 15 for r in rows)  # every field present
    assert all(r["user"] == r["account"] for r in rows)
    body = clean_emu.render_history("external", "csv", day(D))
    assert b"\r\n" not in body


def test_history_is_served_newest_first(emu: Emulator) -> None:
    starts = [parse_start(r["start"]) for r in _json(emu)]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize(
    ("shape", "columns", "account_at", "rating_at"),
    [(8, 8, None, None), (9, 9, 3, None), ("9r", 9, None, 8), (10, 10, 3, 9)],
)
def test_csv_shapes(shape: int | str, columns: int, account_at: int, rating_at: int) -> None:
    emu = Emulator(seed=5, agents=40, profile="clean", csv_shape=shape, clock=fixed_clock)
    rows = csv_rows(emu.render_history("external", "csv", day(D)))
    truth = _truth(emu)
    assert rows and {len(r) for r in rows} == {columns}
    start_at = 5 if account_at else 4  # how a reader tells 9 from 9r
    for row in rows:
        expected = truth[row[0]]
        assert parse_start(row[start_at]) == expected["started_at"]
        if account_at:
            assert (row[account_at] or None) == expected["user_login"]
        if rating_at:
            assert (int(row[rating_at]) if row[rating_at] else None) == expected["rating"]


def test_csv_type_follows_the_canonical_mapping(clean_emu: Emulator) -> None:
    truth = _truth(clean_emu)
    mapping = {"in": ("in", "success"), "missed": ("in", "missed")}
    for uid, kind, *rest in csv_rows(clean_emu.render_history("external", "csv", day(D))):
        expected = truth[uid]
        duration = int(rest[5])
        direction, status = mapping.get(kind, ("out", "success" if duration > 0 else "missed"))
        assert expected["direction"] == direction
        if status == "success":
            assert expected["status"] == "success"
        else:
            assert expected["status"] != "success" or expected["duration_s"] == 0


def test_csv_has_no_header_and_quotes_nothing_needlessly(clean_emu: Emulator) -> None:
    body = clean_emu.render_history("external", "csv", day(D))
    first = body.split(b"\n", 1)[0].decode()
    assert first.split(",")[0].isdigit()
    assert b'"' not in body


def test_internal_csv_has_eight_columns_and_login_at_domain(emu: Emulator) -> None:
    rows = csv_rows(emu.render_history("internal", "csv", day(D)))
    truth = {r["uid"]: r for r in emu.internal_calls(day(D))}
    assert {len(r) for r in rows} == {8}
    assert any("@" in r[2] for r in rows) and any("@" not in r[2] for r in rows)
    for uid, _status, caller, callee, *_ in rows:
        assert caller.split("@")[0] == truth[uid]["from_login"]
        assert callee.split("@")[0] == truth[uid]["to_login"]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    def body(seed: int, fmt: str) -> bytes:
        emu = Emulator(seed=seed, agents=30, clock=fixed_clock)
        return emu.render_history("external", fmt, day(D))  # type: ignore[arg-type]

    for fmt in ("json", "csv"):
        assert body(3, fmt) == body(3, fmt)
        assert body(3, fmt) != body(4, fmt)


def test_a_row_looks_the_same_in_every_window(emu: Emulator) -> None:
    whole = {r["uid"]: r for r in _json(emu)}
    midnight = day(D).start
    morning = Window(midnight + timedelta(hours=9), midnight + timedelta(hours=12))
    part = orjson.loads(emu.render_history("external", "json", morning))
    assert part and all(whole[r["uid"]] == r for r in part)
    assert len(part) < len(whole)


def test_malformed_rows_are_broken_and_flagged() -> None:
    emu = Emulator(seed=5, agents=40, profile="clean", malformed_rate=0.05, clock=fixed_clock)
    truth = emu.external_calls(day(D))
    flagged = [r for r in truth if r["malformed"]]
    assert 0.025 <= len(flagged) / len(truth) <= 0.06
    kinds = {r["malformed_kind"] for r in flagged}
    assert kinds == {"bad_date", "negative_duration", "negative_wait", "no_uid"}
    served = _json(emu)
    by_uid = {r.get("uid"): r for r in served}
    assert sum("uid" not in r for r in served) == sum(k == "no_uid" for k in map(_kind, flagged))
    for row in flagged:
        if row["malformed_kind"] == "no_uid":
            continue
        got = by_uid[row["uid"]]
        problem = row["malformed_kind"]
        if problem == "bad_date":
            with pytest.raises(ValueError):
                parse_start(got["start"])
        elif problem == "negative_duration":
            assert int(got["duration"]) < 0
        else:
            assert int(got["wait"]) < 0
    clean = {r["uid"]: canonical(r, CANONICAL_EXTERNAL) for r in truth if not r["malformed"]}
    assert all(normalise_external(by_uid[uid]) == row for uid, row in clean.items())


def test_an_unknown_status_is_served_on_unanswered_calls_and_is_the_truth() -> None:
    """Not a broken row: it loads, status as delivered, so the truth says that status."""
    emu = Emulator(seed=5, agents=40, profile="clean", malformed_rate=0.05, clock=fixed_clock)
    truth = emu.external_calls(day(D))
    odd = [r for r in truth if r["malformed_kind"] == "unknown_status"]
    assert len(odd) >= 3
    assert all(r["status"] == "transferred_away" and not r["malformed"] for r in odd)
    served = {r.get("uid"): r for r in _json(emu)}
    assert all(served[r["uid"]]["status"] == "transferred_away" for r in odd)
    # CSV `type` cannot carry a status; for a call nobody answered it says missed / out
    types = {r[0]: r[1] for r in csv_rows(emu.render_history("external", "csv", day(D)))}
    assert {types[r["uid"]] for r in odd} <= {"missed", "out"}
    many = Emulator(seed=5, agents=40, profile="clean", malformed_rate=0.5, clock=fixed_clock)
    internal = [r for r in many.internal_calls(day(D)) if r["malformed_kind"] == "unknown_status"]
    assert internal and all(r["status"] == "transferred_away" for r in internal)
    assert not any(r["malformed"] for r in internal)
    served_internal = {r.get("uid"): r for r in _json(many, "internal")}
    assert all(served_internal[r["uid"]]["status"] == "transferred_away" for r in internal)


def _kind(row: dict[str, Any]) -> str:
    return str(row["malformed_kind"])


def test_malformed_rows_are_broken_in_csv_too() -> None:
    emu = Emulator(seed=5, agents=40, profile="clean", malformed_rate=0.05, clock=fixed_clock)
    flagged = {r["uid"]: r["malformed_kind"] for r in emu.external_calls(day(D)) if r["malformed"]}
    rows = csv_rows(emu.render_history("external", "csv", day(D)))
    assert sum(r[0] == "" for r in rows) == sum(k == "no_uid" for k in flagged.values())
    for row in rows:
        if flagged.get(row[0]) == "negative_wait":
            assert int(row[6]) < 0
        assert row[1] in {"in", "missed", "out"}


# --- the platform's dialect -----------------------------------------------------------------


@pytest.fixture(scope="module")
def platform_emu() -> Emulator:
    return Emulator(seed=7, agents=40, profile="realistic", dialect="platform", clock=fixed_clock)


def _addressless(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows with their recording link reduced to whether there is one: the platform links
    to its v2 recordings API, the spec's letter to a plain path (the same recordings)."""
    return {uid: {**row, "record_url": row["record_url"] is not None} for uid, row in rows.items()}


@pytest.mark.parametrize("profile", ["clean", "realistic"])
def test_platform_json_normalises_to_the_same_truth(profile: str) -> None:
    spec = Emulator(seed=5, agents=40, profile=profile, clock=fixed_clock)
    platform = Emulator(seed=5, agents=40, profile=profile, dialect="platform", clock=fixed_clock)
    served = {r["uid"]: normalise_external(r) for r in _json(platform)}
    assert served == _truth(platform)
    # a dialect changes only the bytes (and where a recording is fetched from)
    assert _addressless(_truth(platform)) == _addressless(_truth(spec))
    internal = {r["uid"]: normalise_internal(r) for r in _json(platform, "internal")}
    truth = {r["uid"]: canonical(r, CANONICAL_INTERNAL) for r in platform.internal_calls(day(D))}
    assert internal == truth
    spec_truth = {r["uid"]: canonical(r, CANONICAL_INTERNAL) for r in spec.internal_calls(day(D))}
    assert _addressless(truth) == _addressless(spec_truth)


def test_platform_json_speaks_as_the_platform(platform_emu: Emulator) -> None:
    rows = _json(platform_emu)
    assert all("type" in r and "direction" not in r for r in rows)
    assert {r["type"] for r in rows} == {"in", "out"}
    statuses = {r["status"] for r in rows}
    assert {"noanswer", "missed"} <= statuses and "NoAnswer" in statuses
    assert "not_available" in statuses
    domain = platform_emu.directory(day(D).start).domain
    assert any(str(r.get("user", "")).endswith("@" + domain) for r in rows)
    assert any(r.get("user") and "@" not in r["user"] for r in rows)
    assert all(r.get(k) not in ("", None) for r in rows for k in r if k != "wait")  # absent
    assert any("record" not in r for r in rows) and any("rating" not in r for r in rows)
    # duration only on answered calls (and voicemail messages); a department's miss names
    # no employee
    answered = [r for r in rows if r["status"].lower() == "success"]
    assert all("duration" in r for r in answered)
    unanswered = [r for r in rows if r["status"].lower() != "success"]
    assert unanswered and all(
        "duration" not in r for r in unanswered if r.get("destination") != "vm"
    )
    by_department = [r for r in rows if r.get("destination") == "group"]
    assert by_department and all(
        "user" not in r and "user_name" not in r and "account" not in r for r in by_department
    )
    # the PBX's verdict: misses open (3) or closed (1), call-backs (2), in both spellings
    verdicts = {r["uid"]: missed_status(r) for r in rows}
    truth = {r["uid"]: r for r in platform_emu.external_calls(day(D))}
    assert verdicts == {uid: t["missed_status"] for uid, t in truth.items()}
    assert {v for v in verdicts.values() if v} == {1, 2, 3}
    assert any("missedstatus" in r for r in rows) and any("missedStatus" in r for r in rows)
    assert any(isinstance(r.get("missedStatus"), str) for r in rows)
    for uid, verdict in verdicts.items():
        row = truth[uid]
        miss = row["direction"] == "in" and row["status"] != "success" and row["wait_s"] >= 5
        assert (verdict in (1, 3)) == miss
        assert verdict != 2 or row["direction"] == "out"
    starts = [r["start"] for r in rows]
    assert any(s.endswith("+03:00") for s in starts) and any(" " in s for s in starts)
    assert any(COMPACT.match(s) for s in starts) and any(s.endswith("Z") for s in starts)
    internal = _json(platform_emu, "internal")
    assert all(
        r["from"].endswith("@" + domain) and r["to"].endswith("@" + domain) for r in internal
    )


def test_platform_answers_an_empty_window_with_null(platform_emu: Emulator) -> None:
    night = Window(day(D).start + timedelta(hours=3), day(D).start + timedelta(hours=3, seconds=1))
    assert platform_emu.render_history("external", "json", night) == b"null"
    assert platform_emu.render_history("external", "csv", night) == b""
    spec = Emulator(seed=7, agents=40, clock=fixed_clock)
    assert spec.render_history("external", "json", night) == b"[]"


def test_platform_csv_account_names_targets_and_departments(platform_emu: Emulator) -> None:
    truth = _truth(platform_emu)
    rows = csv_rows(platform_emu.render_history("external", "csv", day(D)))
    group_names = set(platform_emu.directory(day(D).start).group_names.values())
    seen = set()
    for row in rows:
        account, expected = row[3], truth[row[0]]
        if expected["user_login"]:
            assert account.split("@")[0] == expected["user_login"]
            seen.add("login@domain" if "@" in account else "login")
        elif expected["destination"] == "ivr":
            assert account == "ivr"
            seen.add("ivr")
        elif expected["destination"] == "vm":
            assert account == "voicemail"
            seen.add("voicemail")
        elif account:
            assert expected["destination"] == "group" and account == expected["group_name"]
            assert account in group_names
            seen.add("department")
    assert seen == {"login", "login@domain", "ivr", "voicemail", "department"}
