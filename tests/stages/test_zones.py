"""The company's zone against the PBX's (GET /domain): reading the answer, which zone is
used, and when the one given is worth a warning (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vats_etl.config import load_settings
from vats_etl.zones import PbxZone, mismatch, parse_domain, utc_offset

WINTER = datetime(2024, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2024, 7, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("answer", "zone"),
    [
        ({"timezone": {"name": "Asia/Omsk", "offset": 360}}, PbxZone("Asia/Omsk", 360)),
        ({"timezone": {"name": " Europe/Moscow ", "offset": "180"}}, PbxZone("Europe/Moscow", 180)),
        ({"timezone": {"name": "Europe/Moscow"}}, PbxZone("Europe/Moscow", None)),
        ({"timezone": {"offset": -240}}, PbxZone(None, -240)),
        ({"timezone": "Europe/Samara"}, PbxZone("Europe/Samara", None)),
        ({"timezone": {"name": "", "offset": None}}, None),
        ({"timezone": {"offset": 180.5}}, None),  # no whole minutes: no offset we trust
        ({"timezone": {"offset": True}}, None),
        ({"domain": "acme.megapbx.ru"}, None),
        ([], None),
        (None, None),
    ],
)  # fmt: skip
def test_the_zone_of_a_domain_answer(answer: Any, zone: PbxZone | None) -> None:
    assert parse_domain(answer) == zone


@pytest.mark.parametrize(
    ("zone", "usable"),
    [
        (PbxZone("Asia/Yekaterinburg", 300), "Asia/Yekaterinburg"),
        (PbxZone("Moscow Standard Time", 180), "Etc/GMT-3"),  # unknown name, whole hours
        (PbxZone(None, -240), "Etc/GMT+4"),
        (PbxZone(None, 0), "Etc/UTC"),
        (PbxZone("Asia/Kathmandu", 345), "Asia/Kathmandu"),
        (PbxZone("Nepal", 345), None),  # neither the name nor a whole-hour offset
        (PbxZone("Mars/Olympus", None), None),
    ],
)
def test_which_zone_the_pbx_gives_us(zone: PbxZone, usable: str | None) -> None:
    assert zone.usable() == usable


def test_offsets_are_compared_not_names() -> None:
    given = load_settings({"tz": "Europe/Moscow"}, environ={}, env_file=None)
    assert given.tz_source == "--tz"
    # another name for the same clock is no mismatch
    assert mismatch(given, PbxZone("Europe/Volgograd", 180), WINTER) is None
    assert mismatch(given, PbxZone("Moscow Standard Time", 180), WINTER) is None
    line = mismatch(given, PbxZone("Asia/Yekaterinburg", 300), WINTER)
    assert line == (
        "the PBX runs in Asia/Yekaterinburg (UTC+05:00) but --tz says Europe/Moscow "
        "(UTC+03:00): days and working hours are cut in Europe/Moscow"
    )
    assert "\n" not in line


def test_an_offset_given_by_name_only_is_its_current_one() -> None:
    berlin = load_settings(environ={"VATS_TZ": "Europe/Berlin"}, env_file=None)
    assert berlin.tz_source == "VATS_TZ"
    # in winter Berlin is UTC+1 as Lagos is; in summer it is not
    assert mismatch(berlin, PbxZone("Africa/Lagos", None), WINTER) is None
    assert "Africa/Lagos (UTC+01:00)" in (
        mismatch(berlin, PbxZone("Africa/Lagos", None), SUMMER) or ""
    )


def test_no_zone_given_is_no_mismatch_to_warn_about() -> None:
    unset = load_settings(environ={}, env_file=None)
    assert unset.tz_source is None and unset.tz == "Europe/Moscow"
    assert mismatch(unset, PbxZone("Asia/Yekaterinburg", 300), WINTER) is None


@pytest.mark.parametrize(
    ("minutes", "text"), [(180, "UTC+03:00"), (-150, "UTC-02:30"), (0, "UTC+00:00")]
)
def test_utc_offsets_read_as_people_write_them(minutes: int, text: str) -> None:
    assert utc_offset(minutes) == text


def test_a_warehouse_that_cannot_be_read_leaves_the_zone_to_the_command(tmp_path) -> None:
    """`check` needs no warehouse: a broken one does not stop it (a load reports it)."""
    from vats_etl.zones import with_remembered

    db = tmp_path / "vats.duckdb"
    db.write_bytes(b"not a duckdb file")
    unset = load_settings({"db_path": db}, environ={}, env_file=None)
    assert with_remembered(unset) == unset
    assert with_remembered(unset.replace(db_path=tmp_path / "none.duckdb")).tz == "Europe/Moscow"
