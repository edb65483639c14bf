"""The analysts' catalog over accounts: a group's catalog shows that group only, also in the
raw archive, and read copies written by different versions of the schema sit side by side."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pytest

from vats_etl import archive, catalog, warehouse
from vats_etl.accounts import Accounts, load_accounts
from vats_etl.periods import day_window

DAY = date(2024, 6, 3)
MOSCOW = ZoneInfo("Europe/Moscow")


def accounts_file(folder: Path, names: list[str], groups: str = "") -> Accounts:
    text = "".join(
        f'[accounts.{name}]\nbase_url = "{name}.example.ru"\nkey_env = "K"\n'
        'tz = "Europe/Moscow"\n\n'
        for name in names
    )
    path = folder / "accounts.toml"
    path.write_text(text + groups, "utf-8")
    return load_accounts(path)


def archive_day(accounts: Accounts, name: str) -> None:
    """One archived page of the account's external history: two calls, uids named for it."""
    rows = [
        {"uid": f"{name}-{i}", "type": "in", "status": "success", "start": "20240603T090000Z"}
        for i in range(2)
    ]
    archive.store(
        accounts.get(name).raw_dir,
        "external",
        "json",
        day_window(DAY, MOSCOW),
        orjson.dumps(rows),
        datetime(2024, 6, 4, 1, 0, tzinfo=UTC),
        MOSCOW,
    )


@pytest.mark.slow
def test_a_group_catalog_reads_only_its_accounts_raw_history(tmp_path: Path) -> None:
    accounts = accounts_file(
        tmp_path, ["north-a", "north-b", "south"], '[groups]\nnorth = ["north-a", "north-b"]\n'
    )
    for name in accounts.names:
        archive_day(accounts, name)
    query = "select account, uid from raw_history('external') order by uid"

    with catalog.connect(catalog.build(accounts, "north").path) as con:
        assert con.execute(query).fetchall() == [
            ("north-a", "north-a-0"),
            ("north-a", "north-a-1"),
            ("north-b", "north-b-0"),
            ("north-b", "north-b-1"),
        ]
        assert con.execute("select distinct account from calls").fetchall() == []  # never loaded
    with catalog.connect(catalog.build(accounts).path) as con:  # the archive of all is there
        found = con.execute("select account, count(*) from raw_history('external') group by 1")
        assert sorted(found.fetchall()) == [("north-a", 2), ("north-b", 2), ("south", 2)]


def read_copy_with_an_event(accounts: Accounts, name: str) -> Path:
    """The account's read copy as a load publishes it: the schema, and one webhook event."""
    path = warehouse.read_copy_path(accounts.get(name).db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    at = datetime(2024, 6, 3, 9, tzinfo=UTC)
    with duckdb.connect(str(path)) as con:
        warehouse.ensure_schema(con)
        con.execute(
            "insert into webhook_events (event_hash, callid, type, received_at, loaded_at, "
            "cmd, payload) values (?, ?, 'INCOMING', ?, ?, 'event', ?)",
            [f"h-{name}", f"{name}-1", at, at, f'{{"callid": "{name}-1"}}'],
        )
        con.execute("checkpoint")
    return path


def make_older(read_copy: Path) -> None:
    """The read copy as a version from before webhooks other than `event` were kept: no
    webhook_events.cmd and .payload, no ringing_now (which reads cmd)."""
    with duckdb.connect(str(read_copy)) as con:
        con.execute("drop view ringing_now")
        con.execute("alter table webhook_events drop column payload")
        con.execute("alter table webhook_events drop column cmd")
        con.execute("checkpoint")


@pytest.mark.slow
def test_read_copies_of_two_schema_versions_make_one_catalog(tmp_path: Path) -> None:
    accounts = accounts_file(tmp_path, ["new", "old"])
    read_copy_with_an_event(accounts, "new")
    make_older(read_copy_with_an_event(accounts, "old"))

    info = catalog.build(accounts)

    assert info.attached == ("new", "old")
    with catalog.connect(info.path) as con:
        events = con.execute(
            "select account, callid, cmd, payload from webhook_events order by account"
        ).fetchall()
        assert events == [
            ("new", "new-1", "event", '{"callid": "new-1"}'),
            ("old", "old-1", None, None),  # columns its version did not have: null
        ]
        # a relation only the newer version has covers the accounts that have it
        assert con.execute("select count(*) from ringing_now").fetchall() == [(0,)]
        [(sql,)] = con.execute(
            "select sql from duckdb_views() "
            "where view_name = 'ringing_now' and database_name = current_database()"
        ).fetchall()
        assert "acct_new" in sql and "acct_old" not in sql
