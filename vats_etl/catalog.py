"""One catalog for analysts across the accounts of an accounts file.

The catalog (``catalog.duckdb`` next to the accounts' root, by default ``data/catalog.duckdb``)
holds no data. It attaches every account's **read copy** (``<root>/<name>/vats.read.duckdb``)
read-only and has, for each table and view analysts use (``calls``, ``missed_calls``,
``kpi_daily``, ...), a view of the same name over all accounts — ``union all by name``, with
an ``account`` column first — plus ``catalog_accounts`` (the accounts, their zones and read
copies) and the table macro ``raw_history('external' | 'internal')``, the raw archives of
all accounts as one table (Hive partitions ``account`` and ``date``).

Why read copies only: DuckDB allows one writer per file, and an open connection of another
process, even read-only, keeps a writer from opening it. The catalog never touches an
account's warehouse, so an analyst holding the catalog open never blocks a load; the flows
replace a read copy by an atomic rename, which open sessions survive (they keep the old
copy until they reconnect). The catalog itself is rebuilt the same way (a new file renamed
over the old one) when the accounts change: an account added or removed, a new version of
sql/. An account that never loaded gets an empty read copy (the schema, no rows) when the
catalog is built, so its first load does not change the catalog: with a thousand accounts
a rebuild costs minutes, and it happens when the accounts file changes, not per account.

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
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from vats_etl import errors, warehouse
from vats_etl.accounts import Account, Accounts

log = logging.getLogger(__name__)

# Bookkeeping of one warehouse, not analyst data.
INTERNAL = frozenset(
    {"schema_state", "view_caches", "inbound_outcomes_cache", "inbound_outcomes_inputs"}
)


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


def raw_history_sql(accounts: Accounts, only: Sequence[str] | None = None) -> str:
    """The table macro ``raw_history(kind)``: one row per archived JSON record of `kind`
    (``external`` or ``internal``) of every account (or of `only`), as the PBX delivered it,
    with `account`, `date` (the local day of the window) and `archive_file` (its name starts
    with the fetch instant: a window read twice shows twice, keep the latest). A filter on
    `account` or `date` skips the other folders' files (Hive partition pruning). A macro,
    not a view: it finds the files when it is queried, those of accounts added since too."""
    head, _, tail = raw_glob(accounts, "KIND").partition("KIND")
    where = "r.uid is not null"
    if only is not None:
        where += f" and r.account in ({', '.join(_literal(n) for n in only)})"
    return (
        "create macro raw_history(kind) as table select r.* from read_json("
        f"{_literal(head)} || kind || {_literal(tail)}, hive_partitioning = true, "
        f"union_by_name = true, filename = 'archive_file') as r where {where}"
    )


def catalog_path(accounts: Accounts, group: str | None = None) -> Path:
    """The catalog of every account, or of a group: ``catalog-<group>.duckdb`` beside it."""
    base = accounts.catalog
    if group is None:
        return base
    slug = re.sub(r"[^\w-]+", "-", group.lower()).strip("-_") or "group"
    return base.with_name(f"{base.stem}-{slug}{base.suffix}")


def fingerprint(accounts: Accounts, group: str | None = None) -> str:
    """Changes when the catalog must be rebuilt: the accounts, the warehouse's SQL (a new
    view), a read copy gone missing."""
    parts = [str(accounts.path.resolve()), warehouse.sql_digest()]
    for account in accounts.group(group):
        copy = warehouse.read_copy_path(account.db_path)
        parts.append(f"{account.name}|{account.tz}|{copy}|{copy.exists()}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class CatalogInfo:
    path: Path
    attached: tuple[str, ...]
    empty: tuple[str, ...]  # accounts never loaded: an empty read copy stands in
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


def refresh(
    accounts: Accounts, group: str | None = None, *, attempts: int = 3
) -> CatalogInfo | None:
    """Rebuild the catalog when the accounts changed; None when it was current.

    Workers finish at any time: a build that saw fewer read copies than exist when it is
    done (another account published meanwhile) may have renamed its catalog over a newer
    one, so the check repeats until the catalog matches what it was built from."""
    info = None
    for _ in range(attempts):
        if _stored_fingerprint(catalog_path(accounts, group)) == fingerprint(accounts, group):
            return info
        info = build(accounts, group)
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


def build(accounts: Accounts, group: str | None = None) -> CatalogInfo:
    """Write the catalog of every account, or of a group (and its .sql) anew, then rename it
    over the old one."""
    selected = accounts.group(group)
    target = catalog_path(accounts, group)
    target.parent.mkdir(parents=True, exist_ok=True)
    ensure_read_copies(selected)
    stamp = fingerprint(accounts, group)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    attached = [a.name for a in selected]
    empty = [a.name for a in selected if not a.db_path.exists()]
    attach_lines: list[str] = []
    try:
        with duckdb.connect(str(tmp)) as con:
            for account in selected:
                copy = warehouse.read_copy_path(account.db_path).resolve()
                line = _attach_sql(account.name, str(copy)) + ";"
                con.execute(line)
                attach_lines.append(line)
            relations = _create_views(con, attached)
            _create_raw_history(con, accounts, None if group is None else attached)
            _create_accounts_table(con, selected)
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
    return CatalogInfo(target, tuple(attached), tuple(empty), relations, True)


def ensure_read_copies(accounts: Sequence[Account]) -> list[str]:
    """Give every account without a read copy an empty one (the warehouse's schema in the
    account's zone, no rows); returns their names. Made next to its place and linked there,
    which fails when a copy exists: a read copy a load just published is never replaced."""
    missing = [a for a in accounts if not warehouse.read_copy_path(a.db_path).exists()]
    if not missing:
        return []
    with tempfile.TemporaryDirectory(prefix="vats-empty-") as folder:
        template = Path(folder) / "empty.duckdb"
        with duckdb.connect(str(template)) as con:
            warehouse.ensure_schema(con)
            warehouse.sync_kpi_settings(con, None)
            con.execute("checkpoint")
        for account in missing:
            target = warehouse.read_copy_path(account.db_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            shutil.copyfile(template, tmp)
            try:
                with duckdb.connect(str(tmp)) as con:
                    warehouse.sync_kpi_settings(con, account.tz)
                    con.execute("checkpoint")
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
    return [a.name for a in missing]


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


def _create_raw_history(
    con: duckdb.DuckDBPyConnection, accounts: Accounts, only: Sequence[str] | None
) -> None:
    con.execute(raw_history_sql(accounts, only))
    con.execute(
        "comment on macro table raw_history is "
        + _literal(
            "raw_history('external') or raw_history('internal'): the raw archive (JSON) of "
            "every account as delivered by the PBX, one row per archived record; account and "
            "date (local day of the window) come from the Hive partitions; archive_file "
            "starts with the fetch instant: a window read twice shows twice, keep the latest."
        )
    )


def _create_accounts_table(con: duckdb.DuckDBPyConnection, accounts: Sequence[Account]) -> None:
    con.execute(
        "create table catalog_accounts (account varchar primary key, base_url varchar, "
        "tz varchar, read_copy varchar)"
    )
    for account in accounts:
        copy = warehouse.read_copy_path(account.db_path).resolve()
        con.execute(
            "insert into catalog_accounts values (?, ?, ?, ?)",
            [account.name, account.base_url, account.tz, str(copy)],
        )
    con.execute(
        "comment on table catalog_accounts is 'Every account of the accounts file and the read "
        "copy the catalog attaches (an empty one until the account first loads). How fresh "
        "each is: select account, max(finished_at) from load_runs group by account.'"
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
def connect(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog, read-only, with every account's read copy attached:
    ``with connect("data/catalog.duckdb") as con: con.sql(...)``."""
    path = Path(path)
    if not path.exists():
        raise errors.VatsError(f"no catalog at {path}: run `vats-etl catalog` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set timezone = 'UTC'")
        for account, copy in con.execute(
            "select account, read_copy from catalog_accounts order by account"
        ).fetchall():
            con.execute(_attach_sql(account, copy))
        yield con
    finally:
        con.close()
