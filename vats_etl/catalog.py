"""One catalog for analysts across the accounts of an accounts file.

The catalog (``catalog.duckdb`` next to the accounts' root, by default ``data/catalog.duckdb``)
holds no data. It attaches every account's **read copy** (``<root>/<name>/vats.read.duckdb``)
read-only and has, for each table and view analysts use (``calls``, ``missed_calls``,
``kpi_daily``, ...), a view of the same name over all accounts — ``union all by name``, with
an ``account`` column first — plus ``catalog_accounts`` (which account is attached, its
zone, how fresh its copy is) and ``raw_external_json`` / ``raw_internal_json``, the raw
archives of all accounts as one table (Hive partitions ``account`` and ``date``).

Why read copies only: DuckDB allows one writer per file, and an open connection of another
process, even read-only, keeps a writer from opening it. The catalog never touches an
account's warehouse, so an analyst holding the catalog open never blocks a load; the flows
replace a read copy by an atomic rename, which open sessions survive (they keep the old
copy until they reconnect). The catalog itself is rebuilt the same way (a new file renamed
over the old one) when the accounts change: an account added or removed, a read copy that
appeared, a new version of sql/.

DuckDB does not remember attachments between sessions, so the attachments are also written
as SQL next to the catalog (``catalog.sql``). Open the catalog with :func:`connect`, or run
that file first: ``duckdb -readonly -init data/catalog.sql data/catalog.duckdb``, or DBeaver's
bootstrap queries.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from vats_etl import errors, warehouse
from vats_etl.accounts import Accounts

log = logging.getLogger(__name__)

# Bookkeeping of one warehouse, not analyst data.
INTERNAL = frozenset(
    {"schema_state", "view_caches", "inbound_outcomes_cache", "inbound_outcomes_inputs"}
)
RAW_KINDS = ("external", "internal")


def alias(account: str) -> str:
    return f'"acct_{account}"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _attach_sql(account: str, read_copy: str) -> str:
    return f"attach if not exists {_literal(read_copy)} as {alias(account)} (read_only)"


def script_path(catalog: Path) -> Path:
    return catalog.with_suffix(".sql")


def raw_glob(accounts: Accounts, kind: str, fmt: str = "json") -> str:
    """Every account's archived pages of `kind` and `fmt`; the path holds ``account=<name>``
    and ``date=YYYY-MM-DD`` (Hive partitions)."""
    return str(accounts.root / "*" / "raw" / "account=*" / kind / fmt / "date=*" / f"*.{fmt}.zst")


def raw_json_sql(accounts: Accounts, kind: str) -> str:
    """One row per archived JSON record of `kind`, all accounts, with `account`, `date` (the
    local day of the window) and `archive_file` (its name starts with the fetch instant: a
    window read twice shows twice, keep the latest)."""
    return (
        f"select * from read_json({_literal(raw_glob(accounts, kind))}, hive_partitioning = true, "
        "union_by_name = true, filename = 'archive_file') "
        "where uid is not null"
    )


def fingerprint(accounts: Accounts) -> str:
    """Changes when the catalog must be rebuilt: the accounts, which read copies exist,
    and the warehouse's SQL (a new view)."""
    parts = [str(accounts.path.resolve()), warehouse.sql_digest()]
    for account in accounts.accounts.values():
        copy = warehouse.read_copy_path(account.db_path)
        parts.append(f"{account.name}|{account.tz}|{copy}|{copy.exists()}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class CatalogInfo:
    path: Path
    attached: tuple[str, ...]
    missing: tuple[str, ...]  # accounts without a read copy yet
    relations: int
    rebuilt: bool


def _stored_fingerprint(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            found = con.execute("select fingerprint from catalog_state").fetchall()
    except duckdb.Error:  # held read-write by someone, or an older layout: rebuild
        return None
    return str(found[0][0]) if found else None


def refresh(accounts: Accounts, *, attempts: int = 3) -> CatalogInfo | None:
    """Rebuild the catalog when the accounts changed; None when it was current.

    Workers finish at any time: a build that saw fewer read copies than exist when it is
    done (another account published meanwhile) may have renamed its catalog over a newer
    one, so the check repeats until the catalog matches what it was built from."""
    info = None
    for _ in range(attempts):
        if _stored_fingerprint(accounts.catalog) == fingerprint(accounts):
            return info
        info = build(accounts)
    return info


def refresh_quietly(accounts: Accounts) -> None:
    """After a job: refresh the catalog, but a catalog problem never fails a load."""
    try:
        info = refresh(accounts)
    except (errors.VatsError, duckdb.Error, OSError) as exc:
        log.warning("catalog %s not refreshed: %s", accounts.catalog, exc)
        return
    if info is not None:
        log.info("catalog %s rebuilt: %d accounts", info.path, len(info.attached))


def build(accounts: Accounts) -> CatalogInfo:
    """Write the catalog (and catalog.sql) anew, then rename it over the old one."""
    target = accounts.catalog
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = fingerprint(accounts)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    attached: list[str] = []
    missing: list[str] = []
    attach_lines: list[str] = []
    try:
        with duckdb.connect(str(tmp)) as con:
            for account in accounts.accounts.values():
                copy = warehouse.read_copy_path(account.db_path).resolve()
                if not copy.exists():
                    missing.append(account.name)
                    continue
                line = _attach_sql(account.name, str(copy)) + ";"
                con.execute(line)
                attach_lines.append(line)
                attached.append(account.name)
            relations = _create_views(con, attached)
            _create_raw_views(con, accounts)
            _create_accounts_table(con, accounts, attached)
            con.execute("create table catalog_state (fingerprint varchar, built_at timestamptz)")
            con.execute("insert into catalog_state values (?, ?)", [stamp, datetime.now(UTC)])
            con.execute(
                "comment on table catalog_state is 'When the catalog was built and the "
                "fingerprint of the accounts it was built from (rebuilt when they change).'"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    _write_script(target, attach_lines)
    return CatalogInfo(target, tuple(attached), tuple(missing), relations, True)


def _create_views(con: duckdb.DuckDBPyConnection, attached: list[str]) -> int:
    """For each relation any account has, a view over every account that has it."""
    holders: dict[str, list[str]] = {}
    comments: dict[str, str] = {}
    for name in attached:
        database = alias(name).strip('"')
        for relation, comment in con.execute(
            "select table_name, comment from duckdb_tables() where database_name = ? "
            "union all select view_name, comment from duckdb_views() "
            "where database_name = ? and not internal",
            [database, database],
        ).fetchall():
            if relation in INTERNAL:
                continue
            holders.setdefault(relation, []).append(name)
            if comment:
                comments.setdefault(relation, comment)
    for relation, names in sorted(holders.items()):
        union = " union all by name ".join(
            f"select {_literal(n)} as account, r.* from {alias(n)}.main.{relation} as r"
            for n in names
        )
        con.execute(f'create view "{relation}" as {union}')
        about = comments.get(relation, "")
        con.execute(
            f'comment on view "{relation}" is '
            + _literal(f"Every account's {relation}, one row per row of each: {about}".strip())
        )
        con.execute(
            f'comment on column "{relation}".account is '
            "'The account (its name in the accounts file) the row belongs to.'"
        )
    return len(holders)


def _create_raw_views(con: duckdb.DuckDBPyConnection, accounts: Accounts) -> None:
    for kind in RAW_KINDS:
        if not any(accounts.root.glob(f"*/raw/account=*/{kind}/json/date=*/*.json.zst")):
            continue
        con.execute(f"create view raw_{kind}_json as {raw_json_sql(accounts, kind)}")
        con.execute(
            f"comment on view raw_{kind}_json is "
            + _literal(
                f"The raw archive of {kind} history (JSON) of every account as delivered by "
                "the PBX, one row per archived record; account and date (local day of the "
                "window) come from the Hive partitions; archive_file starts with the fetch "
                "instant: a window read twice shows twice, keep the latest."
            )
        )


def _create_accounts_table(
    con: duckdb.DuckDBPyConnection, accounts: Accounts, attached: list[str]
) -> None:
    con.execute(
        "create table catalog_accounts (account varchar primary key, base_url varchar, "
        "tz varchar, read_copy varchar, is_attached boolean, copy_published_at timestamptz)"
    )
    for account in accounts.accounts.values():
        copy = warehouse.read_copy_path(account.db_path).resolve()
        published = (
            datetime.fromtimestamp(copy.stat().st_mtime, UTC) if account.name in attached else None
        )
        con.execute(
            "insert into catalog_accounts values (?, ?, ?, ?, ?, ?)",
            [account.name, account.base_url, account.tz, str(copy), account.name in attached,
             published],
        )  # fmt: skip
    con.execute(
        "comment on table catalog_accounts is 'Every account of the accounts file: whether its "
        "read copy is attached (an account that never loaded has none yet) and when the copy "
        "was published (as of the catalog build).'"
    )


def _write_script(catalog: Path, attach_lines: list[str]) -> Path:
    script = script_path(catalog)
    tmp = script.with_name(f".{script.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    header = (
        f"-- Attach every account's read copy, then query the views of {catalog.name}:\n"
        f"--   duckdb -readonly -init {script} {catalog}\n"
        "-- Written by vats-etl when the accounts change; do not edit.\n"
    )
    tmp.write_text(header + "\n".join(attach_lines) + "\n", "utf-8")
    os.replace(tmp, script)
    return script


@contextlib.contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog, read-only, with every account's read copy attached."""
    if not path.exists():
        raise errors.VatsError(f"no catalog at {path}: run `vats-etl catalog` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set timezone = 'UTC'")
        for account, copy in con.execute(
            "select account, read_copy from catalog_accounts where is_attached order by account"
        ).fetchall():
            con.execute(_attach_sql(account, copy))
        yield con
    finally:
        con.close()
