"""Applying webhook records to the warehouse: normalised history, rating before history,
reconciliation with batch loads by source rank, idempotent re-application, event dedup,
the ringing_now / missed_last_hour views, the contact index and the contacts import, and the
company zone the receiver and the contacts import keep (the one they were given)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import polars as pl
import pytest

from tests.webhook.support import child_env, cli, cli_receiver, event, history, rating
from vats_etl import warehouse
from vats_etl.errors import VatsError
from vats_etl.parse import CALL_SCHEMA
from vats_etl.webhook.apply import apply_batch
from vats_etl.webhook.contacts import ContactIndex, import_contacts, phone_key, read_contacts_csv
from vats_etl.webhook.payloads import Record, micros, to_record

T0 = datetime(2024, 6, 10, 9, 0, tzinfo=UTC)
COLUMNS = (
    "uid, direction, status, client, diversion, user_login, group_name, started_at, wait_s, "
    "duration_s, record_url, rating, source"
)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with warehouse.connect(
        tmp_path / "w.duckdb", company=warehouse.Company("Europe/Moscow")
    ) as connection:
        yield connection


def rec(body: dict[str, Any], at: datetime = T0) -> Record:
    record = to_record(body, micros(at))
    assert isinstance(record, Record)
    return record


def calls(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return con.sql(f"select {COLUMNS} from calls order by uid").pl().to_dicts()


def api_json_row(uid: str = "C-1", **more: Any) -> pl.DataFrame:
    row: dict[str, Any] = {
        "uid": uid,
        "direction": "in",
        "status": "success",
        "client": "79101234567",
        "diversion": "74957654321",
        "destination": "user",
        "user_login": "ivanov",
        "user_name": "Иван Иванов",
        "group_name": "Продажи",
        "started_at": datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC),
        "wait_s": 7,
        "duration_s": 120,
        "record_url": "https://rec.example/api.mp3",
        "rating": None,
        "source": "api_json",
        **more,
    }
    return pl.DataFrame([row], schema=CALL_SCHEMA)


def test_history_lands_normalised_with_source_webhook(con):
    apply_batch(con, [rec(history(status="SUCCESS", duration="124"))], T0)
    (row,) = calls(con)
    assert row == {
        "uid": "C-1",
        "direction": "in",
        "status": "success",
        "client": "79101234567",
        "diversion": "74957654321",
        "user_login": "ivanov",
        "group_name": "Продажи",
        "started_at": datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC),
        "wait_s": None,
        "duration_s": 124,
        "record_url": "https://rec.example/C-1.mp3",
        "rating": None,
        "source": "webhook",
    }


def test_rating_before_history_then_history_fills_in(con):
    apply_batch(con, [rec(rating(value=4))], T0)
    (row,) = calls(con)
    assert {k: v for k, v in row.items() if v is not None} == {
        "uid": "C-1",
        "client": "79101234567",
        "user_login": "ivanov",
        "rating": 4,
        "source": "webhook",
    }
    apply_batch(con, [rec(history())], T0 + timedelta(seconds=1))
    (row,) = calls(con)
    assert row["rating"] == 4 and row["status"] == "success" and row["duration_s"] == 124
    assert row["started_at"] == datetime(2024, 6, 10, 9, 11, 10, tzinfo=UTC)


def test_rating_and_history_in_one_batch_in_any_order(con):
    apply_batch(
        con, [rec(rating("A", 2)), rec(history("A")), rec(history("B")), rec(rating("B", 5))], T0
    )
    rows = {r["uid"]: r for r in calls(con)}
    assert rows["A"]["rating"] == 2 and rows["A"]["status"] == "success"
    assert rows["B"]["rating"] == 5 and rows["B"]["status"] == "success"


def test_reapplying_the_same_records_changes_nothing(con):
    batch = [rec(history()), rec(rating(value=3)), rec(event())]
    apply_batch(con, batch, T0)
    before = (
        con.execute("select * from calls").fetchall(),
        con.execute("select * from webhook_events").fetchall(),
    )
    apply_batch(con, batch, T0 + timedelta(hours=1))
    after = (
        con.execute("select * from calls").fetchall(),
        con.execute("select * from webhook_events").fetchall(),
    )
    assert before == after  # loaded_at included: nothing was rewritten


def test_api_json_outranks_webhook_and_keeps_the_webhook_rating(con):
    apply_batch(con, [rec(history(duration="124")), rec(rating(value=5))], T0)
    warehouse.upsert(con, "calls", api_json_row(), T0 + timedelta(hours=1))
    (row,) = calls(con)
    assert row["source"] == "api_json"
    assert row["duration_s"] == 120 and row["wait_s"] == 7  # API values win
    assert row["record_url"] == "https://rec.example/api.mp3"
    assert row["rating"] == 5  # never overwritten by null
    # a late webhook for a call the API already delivered fills gaps only
    apply_batch(
        con, [rec(history(duration="999", link="https://x/late.mp3"))], T0 + timedelta(hours=2)
    )
    (row,) = calls(con)
    assert row["source"] == "api_json" and row["duration_s"] == 120
    assert row["record_url"] == "https://rec.example/api.mp3"


def test_rating_for_a_call_the_api_loaded_first(con):
    warehouse.upsert(con, "calls", api_json_row(), T0)
    apply_batch(con, [rec(rating(value=2))], T0 + timedelta(minutes=1))
    (row,) = calls(con)
    assert row["rating"] == 2 and row["source"] == "api_json" and row["wait_s"] == 7


def test_webhook_outranks_api_csv(con):
    csv_row = api_json_row(source="api_csv", user_name=None, group_name=None, duration_s=50)
    warehouse.upsert(con, "calls", csv_row, T0)
    apply_batch(con, [rec(history(duration="124"))], T0 + timedelta(minutes=1))
    (row,) = calls(con)
    assert row["source"] == "webhook" and row["duration_s"] == 124
    assert row["wait_s"] == 7  # the gap the webhook cannot fill keeps the CSV value


def test_events_are_deduplicated_by_content(con):
    first = [rec(event()), rec(event()), rec(event(event_type="ACCEPTED"))]
    apply_batch(con, first, T0)
    apply_batch(con, [rec(event(), T0 + timedelta(seconds=5))], T0 + timedelta(seconds=5))
    rows = con.execute("select type, received_at from webhook_events order by type").fetchall()
    assert rows == [("ACCEPTED", T0), ("INCOMING", T0)]  # first delivery's time kept


def test_ringing_now_and_missed_last_hour(con):
    now = datetime.now(UTC)
    started = (now - timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    apply_batch(
        con,
        [
            rec(event("ring", "INCOMING", groupRealName="Продажи"), now),
            rec(event("ring", "INCOMING", user="petrov", groupRealName="Продажи"), now),
            rec(event("answered", "INCOMING"), now),
            rec(event("answered", "ACCEPTED"), now),
            rec(event("out", "OUTGOING", direction="out"), now),
            rec(event("old", "INCOMING"), now - timedelta(hours=2)),
            rec(event("done", "INCOMING"), now),
            rec(history("done", start=started)),  # history arrived, events lost
            rec(history("miss", status="Missed", start=started, duration="0", user="")),
            rec(
                history(
                    "cb",
                    type="out",
                    status="success",
                    start=(now - timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ"),
                )
            ),
        ],
        now,
    )
    ringing = con.sql(
        "select callid, direction, user_logins, group_name from ringing_now order by callid"
    ).fetchall()
    assert ringing == [
        ("out", "out", ["ivanov"], None),
        ("ring", "in", ["ivanov", "petrov"], "Продажи"),
    ]
    missed = con.sql(
        "select uid, status, called_back_at is not null from missed_last_hour"
    ).fetchall()
    assert missed == [("miss", "missed", True)]


def test_commands_the_receiver_does_not_know_are_kept_beside_events(con):
    notice = {"cmd": "webhook", "type": "sipregs_error", "user": "ivanov@x.ru"}
    lookalike = {"cmd": "transfer", "type": "INCOMING", "callid": "N-1"}
    now = datetime.now(UTC)
    records = [rec({**notice, "crm_token": "t"}, now), rec({**lookalike, "crm_token": "t"}, now)]
    apply_batch(con, [*records, records[0], rec(event("E-1"), now)], now)
    rows = con.execute(
        "select cmd, type, callid, user_login, payload::json from webhook_events order by cmd"
    ).fetchall()
    assert [(*row[:4], orjson.loads(row[4]) if row[4] else None) for row in rows] == [
        ("event", "INCOMING", "E-1", "ivanov", None),
        ("transfer", "INCOMING", "N-1", None, lookalike),
        ("webhook", "sipregs_error", None, "ivanov", notice),
    ]
    assert con.sql("select callid from ringing_now").fetchall() == [("E-1",)]


def test_a_history_webhook_brings_its_wait(con):
    apply_batch(con, [rec(history(wait="12", status="noanswer", user="ivanov@x.ru"))], T0)
    (row,) = calls(con)
    assert (row["wait_s"], row["status"], row["user_login"]) == (12, "missed", "ivanov")


def test_a_warehouse_made_before_gets_the_new_webhook_events_columns(tmp_path):
    """webhook_events had callid and type NOT NULL and no cmd or payload: an existing file is
    brought to the new shape by sql/webhook_events.sql, its rows becoming cmd = 'event'."""
    db = tmp_path / "old.duckdb"
    old = duckdb.connect(str(db))
    old.execute(
        "create table webhook_events (event_hash varchar primary key, callid varchar not null, "
        "type varchar not null, direction varchar, client varchar, diversion varchar, "
        "user_login varchar, ext varchar, telnum varchar, group_name varchar, "
        "received_at timestamptz not null, loaded_at timestamptz not null)"
    )
    old.execute(
        "insert into webhook_events (event_hash, callid, type, received_at, loaded_at) "
        "values ('h', 'OLD-1', 'INCOMING', now(), now())"
    )
    old.close()
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        apply_batch(con, [rec({"cmd": "webhook", "type": "x", "crm_token": "t"})], T0)
        rows = con.execute("select callid, cmd from webhook_events order by cmd").fetchall()
    assert rows == [("OLD-1", "event"), (None, "webhook")]


def test_views_and_tables_carry_comments(con):
    for relation in ("webhook_events", "contacts", "ringing_now", "missed_last_hour"):
        (comment,) = con.execute(
            "select comment from duckdb_tables() where table_name = ? union all "
            "select comment from duckdb_views() where view_name = ?",
            [relation, relation],
        ).fetchall()[0]
        assert comment and len(comment) > 40, relation
    uncommented = con.execute(
        "select table_name, column_name from duckdb_columns() where table_name in "
        "('webhook_events', 'contacts', 'ringing_now', 'missed_last_hour') and comment is null "
        "and column_name not in ('event_hash')"
    ).fetchall()
    assert uncommented == []


# -- contacts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("79101234567", "79101234567"),
        ("+7 (910) 123-45-67", "79101234567"),
        ("8 910 123 45 67", "79101234567"),
        ("701", "701"),
        ("", None),
        ("anonymous", None),
    ],
)
def test_phone_key(text, key):
    assert phone_key(text) == key


def test_contacts_csv_import_and_index(con, tmp_path):
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_bytes(
        "\ufeffPhone;Contact_Name;Responsible\r\n"
        "+7 (910) 123-45-67;ООО «Рога и копыта»;\r\n"
        "8 916 000 00 01;ИП Петров;sidorov\r\n"
        ";без номера;\r\n".encode()
    )
    result = import_contacts(con, csv_file, imported_at=T0)
    assert (result.rows, result.skipped, result.total) == (2, 1, 2)
    warehouse.upsert(con, "calls", api_json_row(), T0)  # ivanov answered 79101234567
    warehouse.upsert(
        con, "calls", api_json_row("C-2", client="79160000001", user_login="ivanov"), T0
    )
    index = ContactIndex()
    index.refresh(con)
    assert index.lookup("79101234567") == {
        "contact_name": "ООО «Рога и копыта»",
        "responsible": "ivanov",
    }
    assert index.lookup("89160000001") == {"contact_name": "ИП Петров", "responsible": "sidorov"}
    assert index.lookup("79990000000") == {}
    assert index.lookup("") == {}
    # a later successful call moves the responsible employee; an earlier one does not
    later = micros(datetime(2024, 6, 11, tzinfo=UTC))
    index.note_success([("79101234567", "petrov", later), ("79101234567", "old", later - 10**9)])
    assert index.lookup("+79101234567")["responsible"] == "petrov"
    # re-import with --replace: the file becomes the table
    csv_file.write_text("phone,name\n79990000000,Новый\n", encoding="utf-8")
    assert import_contacts(con, csv_file, imported_at=T0, replace=True).total == 1


def test_only_the_last_successful_call_counts(con):
    warehouse.upsert(con, "calls", api_json_row("a", user_login="first", started_at=T0), T0)
    warehouse.upsert(
        con, "calls", api_json_row("b", user_login="second", started_at=T0 + timedelta(days=1)), T0
    )
    warehouse.upsert(
        con,
        "calls",
        api_json_row("c", user_login="missed", status="missed", started_at=T0 + timedelta(days=2)),
        T0,
    )
    index = ContactIndex()
    index.refresh(con)
    assert index.lookup("79101234567") == {"responsible": "second"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"number_only\n1\n", "header must name a phone and a contact_name"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_contacts_csv(data, message):
    with pytest.raises(VatsError, match=message):
        read_contacts_csv(data)


# -- the company's zone: what the command was given, never the environment's default --------

# Monday 10 June 2024. 13:00 UTC is 22:00 in Tokyo (after hours) but 16:00 in Moscow (in
# hours); 16:30 UTC is already Tuesday in Tokyo but still Monday in Moscow.
ZONE_CALLS = {"C-day": "20240610T130000Z", "C-night": "20240610T163000Z"}
IN_TOKYO = [
    ("C-day", date(2024, 6, 10), "after_hours"),
    ("C-night", date(2024, 6, 11), "after_hours"),
]
ZONE_WAYS = ["--tz", "accounts file"]


def tokyo_options(how: str, tmp: Path) -> tuple[Path, list[str]]:
    """The folder of the warehouse (``--db FOLDER/vats.duckdb``) and the options that put a
    command in Asia/Tokyo, while the environment says nothing of a zone (its default is
    Europe/Moscow). The account's folder is that folder: an account writes its own
    warehouse only."""
    folder = tmp / "tokyo"
    folder.mkdir()
    if how == "--tz":
        return folder, ["--tz", "Asia/Tokyo"]
    accounts = tmp / "accounts.toml"
    accounts.write_text(
        'root = "."\n[accounts.tokyo]\nbase_url = "tokyo.example"\nkey_env = "TOKYO_KEY"\n'
        'tz = "Asia/Tokyo"\ncrm_token_env = "VATS_CRM_TOKEN"\n',  # named, never inherited
        "utf-8",
    )
    return folder, ["--accounts-file", str(accounts), "--account", "tokyo"]


def zone_and_days(db: Path) -> tuple[object, list[tuple[Any, ...]]]:
    """kpi_settings.tz, and each inbound call's local day and hours as the views cut them."""
    with duckdb.connect(str(db), read_only=True) as con:
        (tz,) = con.execute("select tz from kpi_settings").fetchone() or (None,)
        days = con.execute("select uid, local_date, hours from inbound_calls order by uid")
        return tz, days.fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("how", ZONE_WAYS)
def test_the_webhook_receiver_keeps_the_zone_it_was_given(how: str, tmp_path: Path) -> None:
    folder, options = tokyo_options(how, tmp_path)
    with cli_receiver(folder, options=options) as (_, url):
        for uid, start in ZONE_CALLS.items():
            answer = httpx.post(url, json=history(uid, start=start), timeout=10)
            assert answer.status_code == 200, answer.text
    # stopped: everything it accepted is applied
    assert zone_and_days(folder / "vats.duckdb") == ("Asia/Tokyo", IN_TOKYO)


@pytest.mark.slow
@pytest.mark.parametrize("how", ZONE_WAYS)
def test_contacts_import_keeps_the_zone_it_was_given(how: str, tmp_path: Path) -> None:
    folder, options = tokyo_options(how, tmp_path)
    db = folder / "vats.duckdb"
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("phone,contact_name\n79101234567,ООО Ромашка\n", "utf-8")
    command = cli("--db", str(db), *options, "contacts-import", str(csv_file))
    done = subprocess.run(command, cwd=tmp_path, env=child_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db)) as con:  # calls from anywhere: the views cut them in tz
        for uid, start in ZONE_CALLS.items():
            con.execute(
                "insert into calls (uid, direction, status, client, started_at, source, "
                "loaded_at) values (?, 'in', 'success', '79101234567', ?, 'webhook', now())",
                [uid, datetime.strptime(start, "%Y%m%dT%H%M%S%z")],
            )
    assert zone_and_days(db) == ("Asia/Tokyo", IN_TOKYO)
