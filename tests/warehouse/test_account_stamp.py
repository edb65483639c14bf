"""A warehouse remembers the account it belongs to: its first writer of an account stamps
it, and a writer of another account (or of the single account) refuses to open it, naming
both, before it writes anything — not even its zone."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.cli.support import vats
from tests.support.warehouse_rows import call, insert_calls
from vats_etl import errors, warehouse
from vats_etl.warehouse import schema

MOSCOW, OMSK = "Europe/Moscow", "Asia/Omsk"


def row(db: Path) -> tuple[object, ...]:
    with duckdb.connect(str(db), read_only=True) as con:
        stamp = con.execute("select account from warehouse_account").fetchall()
        tz = con.execute("select tz from kpi_settings").fetchall()[0][0]
        calls = con.execute("select count(*) from calls").fetchall()[0][0]
    return (stamp[0][0] if stamp else None, tz, calls)


def test_the_first_writer_of_an_account_stamps_it_and_others_are_refused(tmp_path) -> None:
    db = tmp_path / "good2" / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company(OMSK, account="good2")) as con:
        insert_calls(con, [call("g2-1"), call("g2-2")])
    assert row(db) == ("good2", OMSK, 2)
    with warehouse.connect(db, company=warehouse.Company(OMSK, account="good2")):
        pass  # its own writer, again
    good1 = warehouse.Company(MOSCOW, account="good1")
    with pytest.raises(errors.WrongWarehouse) as caught, warehouse.connect(db, company=good1):
        pytest.fail("opened the warehouse of another account")
    assert str(caught.value) == (
        f"{db} is the warehouse of account good2, not of account good1: refusing to write "
        "into it (run with --account good2 to load that account)"
    )
    single = warehouse.Company(MOSCOW)
    with (
        pytest.raises(errors.WrongWarehouse, match=r"not of the single account \(no --account\)"),
        warehouse.connect(db, company=single),
    ):
        pass
    assert row(db) == ("good2", OMSK, 2)  # nothing written: not even the zone


def test_a_warehouse_without_a_stamp_is_adopted_by_an_account_and_kept_by_the_single(
    tmp_path,
) -> None:
    """The single account's warehouse never gets a stamp; an account's writer adopts one
    without (the account's own from before stamps, or one moved into its folder)."""
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company(MOSCOW)) as con:
        insert_calls(con, [call("s-1")])
    assert row(db) == (None, MOSCOW, 1)
    with warehouse.connect(db, company=warehouse.Company(MOSCOW)):
        pass
    assert row(db)[0] is None
    with warehouse.connect(db, company=warehouse.Company(OMSK, account="acme")):
        pass
    assert row(db) == ("acme", OMSK, 1)
    single = warehouse.Company(MOSCOW)
    with pytest.raises(errors.WrongWarehouse), warehouse.connect(db, company=single):
        pass


def test_a_warehouse_of_a_version_before_stamps_is_adopted(tmp_path) -> None:
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company(MOSCOW)) as con:
        insert_calls(con, [call("old-1")])
        con.execute("drop table warehouse_account")
        con.execute("update schema_state set sql_digest = 'an older version'")
    schema.forget_checked(db)  # as a new process of the new version finds it
    with warehouse.connect(db, company=warehouse.Company(MOSCOW, account="acme")):
        pass
    assert row(db) == ("acme", MOSCOW, 1)


def test_readers_and_the_read_copy_carry_the_stamp(tmp_path) -> None:
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company(MOSCOW, account="acme")):
        pass
    with warehouse.connect(db, read_only=True) as con:  # a reader checks nothing
        assert con.execute("select account from warehouse_account").fetchall() == [("acme",)]
    copy = warehouse.publish_read_copy(db)
    assert row(copy)[0] == "acme"


def test_an_account_folder_copied_by_hand_is_refused_by_its_stamp(tmp_path) -> None:
    """Paths cannot tell: good1's folder is a copy of good2's. good1's writer stops at the
    stamp, in one line (here: importing contacts, a writer that starts no flow)."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "".join(
            f'[accounts.{n}]\nbase_url = "http://127.0.0.1:9/{n}"\nkey_env = "{n.upper()}_KEY"\n'
            'tz = "Europe/Moscow"\n'
            for n in ("good1", "good2")
        ),
        "utf-8",
    )
    good2 = tmp_path / "data" / "accounts" / "good2"
    with warehouse.connect(
        good2 / "vats.duckdb", company=warehouse.Company(MOSCOW, account="good2")
    ) as con:
        insert_calls(con, [call("g2-1")])
    shutil.copytree(good2, tmp_path / "data" / "accounts" / "good1")
    env = {"VATS_ACCOUNTS": str(accounts), "GOOD1_KEY": "k1", "VATS_DB_LOCK_TIMEOUT": "5"}
    ran = vats("--account", "good1", "contacts-import", str(tmp_path / "contacts.csv"), env=env)
    assert ran.code == 1 and "Traceback" not in ran.stderr
    good1 = tmp_path / "data" / "accounts" / "good1" / "vats.duckdb"
    assert ran.error_lines() == [
        f"error: {good1} is the warehouse of account good2, not of account good1: refusing "
        "to write into it (run with --account good2 to load that account)"
    ]
