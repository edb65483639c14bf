"""The analysts' catalog cannot write, and tells the truth about what it cannot show.

Every way the catalog was found to write (attaching a warehouse read-write, `copy ... to`
over a warehouse, exporting, extensions, settings, secrets, detaching) is refused in one
line, both by `vats-etl catalog --query` (read statements only) and by the session itself
(DuckDB's external access off, its configuration locked); what analysts do — every view,
the raw archive — still works. An account whose read copy is missing, unreadable or of
another account is left out and named, never shown as zero rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pytest

from tests.cli.support import vats
from tests.support.warehouse_rows import T0, call, insert_calls
from vats_etl import archive, catalog, errors, warehouse
from vats_etl.accounts import Accounts, load_accounts
from vats_etl.periods import day_window

MOSCOW = ZoneInfo("Europe/Moscow")
CALLS = {"good1": 3, "good2": 5}


def accounts_file(folder: Path) -> Path:
    text = "".join(
        f'[accounts.{name}]\nbase_url = "http://127.0.0.1:9/{name}"\n'
        f'key_env = "{name.upper()}_KEY"\ntz = "Europe/Moscow"\n'
        for name in CALLS
    )
    path = folder / "accounts.toml"
    path.write_text(text, "utf-8")
    return path


def load(accounts: Accounts, name: str) -> None:
    """The account's warehouse with its calls, its read copy published, one archived page."""
    settings = accounts.get(name)
    company = warehouse.Company("Europe/Moscow", account=name)
    with warehouse.connect(settings.db_path, company=company) as con:
        insert_calls(con, [call(f"{name}-{i}", started_at=T0) for i in range(CALLS[name])])
    warehouse.publish_read_copy(settings.db_path)
    rows = [{"uid": f"{name}-raw", "type": "in", "status": "success", "start": "20240603T090000Z"}]
    archive.store(
        settings.raw_dir,
        "external",
        "json",
        day_window(date(2024, 6, 3), MOSCOW),
        orjson.dumps(rows),
        datetime(2024, 6, 4, 1, tzinfo=UTC),
        MOSCOW,
    )


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[Accounts, dict[str, str]]]:
    accounts = load_accounts(accounts_file(tmp_path))
    for name in CALLS:
        load(accounts, name)
    yield accounts, {"VATS_ACCOUNTS": str(accounts.path)}


def calls_of(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute("select count(*) from calls").fetchall()[0][0])


def query(env: dict[str, str], sql: str):
    return vats("catalog", "--query", sql, env=env)


# -- nothing written ---------------------------------------------------------------------------


def test_every_way_to_write_is_refused_in_one_line(loaded) -> None:
    accounts, env = loaded
    good2 = accounts.get("good2").db_path
    before = good2.read_bytes()
    for sql, kind in (
        (f"attach '{good2}' as w (read_only false); delete from w.calls where true", "ATTACH"),
        (f"copy (select 42 as x) to '{good2}' (format csv)", "COPY"),
        (f"export database '{good2.parent / 'export'}'", "EXPORT"),
        ("install httpfs", "LOAD"),
        ("load httpfs", "LOAD"),
        ("set threads = 1", "SET"),
        ("set enable_external_access = true", "SET"),
        ("reset lock_configuration", "SET"),
        ("pragma enable_profiling", "PRAGMA"),
        ("create secret s (type s3, key_id 'a', secret 'b')", "CREATE"),
        ("detach acct_good1", "DETACH"),
        ("checkpoint", "CALL"),
        ("select 1; copy calls to 'x.csv'", "COPY"),  # a read first changes nothing
        (f"explain analyze copy calls to '{good2}'", "EXPLAIN"),
    ):
        ran = query(env, sql)
        assert ran.code == 1, (sql, ran.stderr)
        assert "Traceback" not in ran.stderr
        assert ran.error_lines() == [
            f"error: the catalog only reads: {kind} is refused (it would write or change the "
            "session); to save results to a file, copy them in a duckdb session of your own "
            "(docs/scale.md)"
        ], sql
    assert good2.read_bytes() == before
    assert calls_of(good2) == CALLS["good2"]
    assert not (good2.parent / "export").exists() and not Path("x.csv").exists()


def test_the_session_itself_cannot_write_or_reach_other_files(loaded) -> None:
    """Below the command's check: the same statements sent straight to the session that
    `catalog.connect` opens are refused by DuckDB."""
    accounts, _ = loaded
    catalog.build(accounts)
    good2 = accounts.get("good2").db_path
    raw = accounts.get("good1").raw_dir
    with catalog.connect(accounts.catalog) as con:
        for sql, refusal in (
            (f"attach '{good2}' as w (read_only false)", duckdb.PermissionException),
            (f"copy (select 42 as x) to '{good2}' (format csv)", duckdb.PermissionException),
            (f"select * from read_text('{accounts.path}')", duckdb.PermissionException),
            (f"export database '{good2.parent / 'export'}'", duckdb.PermissionException),
            ("install httpfs", duckdb.PermissionException),
            ("set enable_external_access = true", duckdb.InvalidInputException),
            ("set allowed_directories = ['/']", duckdb.InvalidInputException),
            ("create table t as select 1", duckdb.InvalidInputException),  # read-only file
            ("insert into acct_good1.calls (uid) values ('x')", duckdb.InvalidInputException),
        ):
            with pytest.raises(refusal):
                con.execute(sql)
        # the raw archive's folders are readable (raw_history), nothing else of the account's
        assert con.execute("select count(*) from raw_history('external')").fetchall() == [(2,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"select * from read_text('{raw.parent.parent / 'vats.duckdb'}')")
    assert calls_of(good2) == CALLS["good2"]


def test_analysts_still_read_every_view_and_the_raw_archive(loaded) -> None:
    accounts, env = loaded
    catalog.build(accounts)
    with catalog.connect(accounts.catalog) as con:
        views = [
            row[0]
            for row in con.execute(
                "select view_name from duckdb_views() where not internal "
                "and database_name = current_database() order by 1"
            ).fetchall()
        ]
        assert len(views) > 20
        for view in views:  # every one answers
            con.execute(f'select count(*) from "{view}"').fetchall()
        counts = con.execute("select account, count(*) from calls group by 1 order by 1")
        assert counts.fetchall() == sorted(CALLS.items())
    ran = query(env, "select account, uid from raw_history('external') order by 1")
    assert ran.code == 0, ran.stderr
    assert "good1-raw" in ran.stdout and "good2-raw" in ran.stdout
    for sql in ("describe calls", "explain select * from calls", "select 1; select 2 as two"):
        ran = query(env, sql)
        assert ran.code == 0 and not ran.error_lines(), (sql, ran.stderr)
    assert "two" in query(env, "select 1; select 2 as two").stdout


# -- the catalog file replaces only a catalog ---------------------------------------------------


@pytest.mark.parametrize("victim", ["warehouse", "accounts file", "other file"])
def test_a_catalog_never_replaces_what_is_not_a_catalog(victim: str, loaded, tmp_path) -> None:
    accounts, _ = loaded
    target = {
        "warehouse": tmp_path / "single" / "vats.duckdb",
        "accounts file": accounts.path,
        "other file": tmp_path / "notes.duckdb",
    }[victim]
    if victim == "warehouse":
        with warehouse.connect(target, company=warehouse.Company("Europe/Moscow")) as con:
            insert_calls(con, [call("single-1")])
    elif victim == "other file":
        target.write_text("my notes", "utf-8")
    text = accounts.path.read_text("utf-8")
    before = target.read_bytes()
    moved = tmp_path / "moved.toml"
    moved.write_text(f'catalog = "{target}"\n' + text, "utf-8")
    ran = vats("catalog", env={"VATS_ACCOUNTS": str(moved)})
    assert ran.code == 1, ran.stderr
    [error] = ran.error_lines()
    assert str(target) in error and ("not a catalog" in error or "accounts file" in error)
    assert target.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_group_catalogs_are_checked_too(loaded, tmp_path) -> None:
    accounts, _ = loaded
    path = accounts.path.with_name("grouped.toml")
    path.write_text(accounts.path.read_text("utf-8") + '[groups]\nnorth = ["good1"]\n', "utf-8")
    grouped = load_accounts(path)
    target = catalog.catalog_path(grouped, "north")
    target.write_text("someone's file", "utf-8")
    with pytest.raises(errors.ConfigError, match="is not a catalog"):
        catalog.build(grouped, "north")
    assert target.read_text("utf-8") == "someone's file"
    target.unlink()
    script = catalog.script_path(target)
    script.write_text("select 'my own script';\n", "utf-8")
    with pytest.raises(errors.ConfigError, match="was not written by vats-etl"):
        catalog.build(grouped, "north")
    assert script.read_text("utf-8") == "select 'my own script';\n"


# -- the truth about what cannot be shown -------------------------------------------------------


def test_a_missing_read_copy_is_named_never_zero_rows(loaded) -> None:
    accounts, env = loaded
    warehouse.read_copy_path(accounts.get("good2").db_path).unlink()
    ran = query(env, "select account, count(*) as n from calls group by 1")
    assert ran.code == 0, ran.stderr
    assert "good1" in ran.stdout and "good2" not in ran.stdout  # not a row of zero
    warnings = [line for line in ran.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: account good2 is left out of the catalog: read copy missing: "
        f"{warehouse.read_copy_path(accounts.get('good2').db_path)} is missing but its "
        f"warehouse {accounts.get('good2').db_path} exists: its next load publishes a read copy"
    ]
    with duckdb.connect(str(accounts.catalog), read_only=True) as con:
        states = con.execute("select account, status from catalog_accounts order by 1")
        assert states.fetchall() == [("good1", "ok"), ("good2", "read copy missing")]
    again = vats("catalog", env=env)  # up to date: still told
    assert "catalog" in again.stderr and "up to date" in again.stderr
    assert "warning: account good2 is left out of the catalog: read copy missing" in again.stderr
    warehouse.publish_read_copy(accounts.get("good2").db_path)  # its next load
    back = query(env, "select account, count(*) as n from calls group by 1 order by 1")
    assert "good2" in back.stdout and "warning" not in back.stderr


def test_an_unreadable_read_copy_leaves_the_others_answering(loaded) -> None:
    accounts, env = loaded
    warehouse.read_copy_path(accounts.get("good1").db_path).write_bytes(b"not duckdb" * 500)
    ran = query(env, "select account, count(*) as n from calls group by 1")
    assert ran.code == 0, ran.stderr
    assert "good2" in ran.stdout and "good1" not in ran.stdout
    [warning] = [line for line in ran.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        "warning: account good1 is left out of the catalog: read copy unreadable"
    )


def test_a_read_copy_that_breaks_after_the_build_is_left_out_at_connect(loaded) -> None:
    """The build attached it; when the session opens it no longer opens (a truncated file,
    its first bytes intact): the views are made again over the accounts that answer."""
    accounts, _ = loaded
    catalog.build(accounts)
    copy = warehouse.read_copy_path(accounts.get("good1").db_path)
    copy.write_bytes(copy.read_bytes()[:4096])
    told: list[catalog.AccountState] = []
    with catalog.connect(accounts.catalog, warn=told.append) as con:
        assert con.execute("select account, count(*) from calls group by 1").fetchall() == [
            ("good2", CALLS["good2"])
        ]
        assert con.execute("select count(*) from kpi_daily where account = 'good1'").fetchall()
    assert [(t.account, t.status) for t in told] == [("good1", "read copy unreadable")]


def test_a_read_copy_of_another_account_is_left_out(loaded) -> None:
    """good1's read copy replaced by good2's (a copy by hand): its stamp says good2."""
    accounts, env = loaded
    good1 = warehouse.read_copy_path(accounts.get("good1").db_path)
    good1.write_bytes(warehouse.read_copy_path(accounts.get("good2").db_path).read_bytes())
    ran = query(env, "select account, count(*) as n from calls group by 1 order by 1")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.count("good2") == 1 and "good1" not in ran.stdout  # never counted twice
    assert "account good1 is left out of the catalog: read copy of another account" in ran.stderr


def test_a_read_copy_replaced_by_another_accounts_after_the_build_is_left_out(loaded) -> None:
    """The catalog is current (the file is still a DuckDB file where it was), but good1's
    read copy is now good2's: the session sees its stamp and leaves it out."""
    accounts, env = loaded
    catalog.build(accounts)
    good1 = warehouse.read_copy_path(accounts.get("good1").db_path)
    good1.write_bytes(warehouse.read_copy_path(accounts.get("good2").db_path).read_bytes())
    ran = query(env, "select account, count(*) as n from calls group by 1 order by 1")
    assert ran.code == 0, ran.stderr
    assert "up to date" in ran.stderr
    assert ran.stdout.count("good2") == 1 and "good1" not in ran.stdout
    assert "account good1 is left out of the catalog: read copy of another account" in ran.stderr
