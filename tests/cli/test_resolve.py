"""`vats-etl resolve PHONE --note TEXT`: the client reached outside the PBX leaves the lists
(its misses resolved_manually), the read copy the reports read is published again, and a
number the warehouse does not know is refused in one line."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.cli.support import vats
from tests.support.warehouse_rows import DAY, T0, call, insert_calls, miss
from vats_etl import warehouse


def warehouse_with_a_lost_client(tmp_path: Path) -> Path:
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        insert_calls(
            con,
            [
                miss("m1", client="79001234567"),
                call("last", client="79000000099", started_at=T0 + 2 * DAY),
            ],
        )
    warehouse.publish_read_copy(db)
    return db


def read(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse.read_copy_path(db)), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_resolve_takes_the_client_off_the_list_and_republishes(tmp_path: Path) -> None:
    db = warehouse_with_a_lost_client(tmp_path)
    assert read(db, "select client, status from callback_worklist") == [("79001234567", "lost")]
    ran = vats(
        "--db", str(db), "--tz", "Europe/Moscow", "resolve", "8 (900) 123-45-67",
        "--note", "ответили в WhatsApp",
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith("resolved 79001234567 at ")
    assert "(Europe/Moscow): 1 open misses closed; note: ответили в WhatsApp" in ran.stdout
    # the read copy the reports read says so already
    assert read(db, "select count(*) from callback_worklist") == [(0,)]
    assert read(db, "select outcome from missed_calls") == [("resolved_manually",)]
    assert read(db, "select client, note from manual_resolutions") == [
        ("79001234567", "ответили в WhatsApp")
    ]


def test_an_unknown_or_malformed_number_is_refused_in_one_line(tmp_path: Path) -> None:
    db = warehouse_with_a_lost_client(tmp_path)
    unknown = vats("--db", str(db), "resolve", "+7 900 000-00-00")
    assert unknown.code == 1
    assert unknown.error_lines() == [
        f"error: no calls of 79000000000 in {db}: nothing to resolve "
        "(the number as the calls have it, e.g. 79001234567)"
    ]
    malformed = vats("--db", str(db), "resolve", "call me")
    assert malformed.code == 1
    assert malformed.error_lines() == [
        "error: not a phone number: 'call me' (digits, +, spaces, dashes)"
    ]
    assert read(db, "select count(*) from manual_resolutions") == [(0,)]
