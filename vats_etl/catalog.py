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

An account whose read copy cannot be shown is never shown as zero rows: one whose warehouse
exists but whose read copy is missing, a read copy that is not a DuckDB file (or does not
open), or a read copy stamped with another account's name is left out of the views and
listed in ``catalog_accounts.status`` with why; the other accounts still answer.

DuckDB does not remember attachments between sessions, so the attachments are also written
as SQL next to the catalog (``catalog.sql``). Open the catalog with :func:`connect`, or run
that file first: ``duckdb -readonly -init data/catalog.sql data/catalog.duckdb``, or DBeaver's
bootstrap queries.

:func:`connect` opens a session that cannot write: the catalog file and every read copy
read-only, then DuckDB's external access turned off — except, for reading only, the
accounts' raw archive folders ``raw_history`` reads — and its configuration locked, so no
statement can attach a warehouse, copy or export to a file, install or load an extension,
create a secret or change a setting. :func:`run_query` (``vats-etl catalog --query``) runs
read statements only (``select``, ``describe``, ``explain`` ...), which also keeps DuckDB from
writing inside those archive folders. An analyst who wants a file of results copies it from
their own duckdb session (the ``-init`` script above), not through the catalog.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from vats_etl import errors, warehouse
from vats_etl.accounts import Account, Accounts, group_slug, is_duckdb_file

log = logging.getLogger(__name__)

# Bookkeeping of one warehouse, not analyst data.
INTERNAL = frozenset(
    {
        "schema_state",
        "view_caches",
        "inbound_outcomes_cache",
        "inbound_outcomes_inputs",
        "warehouse_account",
    }
)
SCRIPT_HEADER = "-- Attach every account's read copy, then query the views of "
# catalog_accounts.status: what the catalog shows of the account.
OK = "ok"
NOT_LOADED = "not loaded yet"  # an empty read copy stands in: no rows, truly
MISSING = "read copy missing"
UNREADABLE = "read copy unreadable"
FOREIGN = "read copy of another account"
SHOWN = (OK, NOT_LOADED)
# What a session may run through run_query: statements that only read.
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT})
_EXPLAIN = re.compile(r"\s*explain\s+(?:analy[sz]e\s+)?", re.IGNORECASE)


@dataclass(frozen=True)
class AccountState:
    """What the catalog shows of an account: `status` (one of SHOWN, or why it is left out)
    and, when it is left out, the reason in a few words."""

    account: str
    status: str
    detail: str = ""

    @property
    def shown(self) -> bool:
        return self.status in SHOWN


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
    return base.with_name(f"{base.stem}-{group_slug(group)}{base.suffix}")


def _copy_state(account: Account) -> str:
    """The read copy as the file system shows it, cheaply (no DuckDB): for the fingerprint."""
    copy = warehouse.read_copy_path(account.db_path)
    if copy.exists():
        return "duckdb" if is_duckdb_file(copy) else "not duckdb"
    return "missing, warehouse" if account.db_path.exists() else "missing"


def fingerprint(accounts: Accounts, group: str | None = None) -> str:
    """Changes when the catalog must be rebuilt: the accounts, the warehouse's SQL (a new
    view), a read copy gone missing, come back or replaced by something else."""
    parts = [str(accounts.path.resolve()), warehouse.sql_digest()]
    for account in accounts.group(group):
        copy = warehouse.read_copy_path(account.db_path)
        parts.append(f"{account.name}|{account.tz}|{copy}|{_copy_state(account)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class CatalogInfo:
    path: Path
    attached: tuple[str, ...]
    empty: tuple[str, ...]  # accounts never loaded: an empty read copy stands in
    relations: int
    rebuilt: bool
    left_out: tuple[AccountState, ...] = ()  # accounts whose read copy cannot be shown


def _stored_fingerprint(path: Path) -> str | None:
    if not is_duckdb_file(path):
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            found = con.execute("select fingerprint from catalog_state").fetchall()
    except duckdb.Error:  # held read-write by someone, or an older layout: rebuild
        return None
    return str(found[0][0]) if found else None


def _is_catalog(path: Path) -> bool:
    """Whether the file at `path` is a catalog (a build may replace it), not a warehouse
    or anything else."""
    if not is_duckdb_file(path):
        return False
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            con.execute("select fingerprint from catalog_state").fetchall()
    except duckdb.Error:  # no catalog_state, or held by a writer: not a catalog
        return False
    return True


def refuse_to_replace(accounts: Accounts, target: Path) -> None:
    """A build renames a new catalog over `target` and writes its .sql: refuse when either
    would replace what is not a catalog of ours (a warehouse, the accounts file, ...), or
    lies in an account's folder."""
    script = script_path(target)
    for path in (target, script):
        accounts.refuse_as_catalog(path)
    if target.exists() and not _is_catalog(target):
        raise errors.ConfigError(
            f"catalog {target} exists and is not a catalog (a warehouse? another file?): "
            f"refusing to replace it; name another catalog file in {accounts.path}"
        )
    if script.exists():
        try:
            ours = script.read_bytes().startswith(SCRIPT_HEADER.encode())
        except OSError:
            ours = False
        if not ours:
            raise errors.ConfigError(
                f"{script} (the catalog's attach script) exists and was not written by "
                f"vats-etl: refusing to replace it; name another catalog file in {accounts.path}"
            )


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
        for state in info.left_out:
            _log_left_out(state)


def build(accounts: Accounts, group: str | None = None) -> CatalogInfo:
    """Write the catalog of every account, or of a group (and its .sql) anew, then rename it
    over the old one. Accounts whose read copy cannot be shown are left out of the views
    and listed as such (CatalogInfo.left_out, catalog_accounts.status)."""
    selected = accounts.group(group)
    target = catalog_path(accounts, group)
    refuse_to_replace(accounts, target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        ensure_read_copies([a for a in selected if not a.db_path.exists()])
        stamp = fingerprint(accounts, group)
        tmp.unlink(missing_ok=True)
        states: dict[str, AccountState] = {}
        attach_lines: list[str] = []
        with duckdb.connect(str(tmp)) as con:
            for account in selected:
                states[account.name] = state = _attach(con, account)
                if state.shown:
                    copy = warehouse.read_copy_path(account.db_path).resolve()
                    attach_lines.append(_attach_sql(account.name, str(copy)) + ";")
            attached = [name for name, state in states.items() if state.shown]
            relations = _create_views(con, attached)
            only = None if group is None else [a.name for a in selected]
            _create_raw_history(con, accounts, only)
            _create_accounts_table(con, selected, states)
            con.execute("create table catalog_state (fingerprint varchar, built_at timestamptz)")
            con.execute("insert into catalog_state values (?, ?)", [stamp, datetime.now(UTC)])
            con.execute(
                "comment on table catalog_state is 'When the catalog was built and the "
                "fingerprint of the accounts it was built from (rebuilt when they change).'"
            )
            con.execute("checkpoint")
        os.replace(tmp, target)
        _write_script(target, attach_lines)
    except OSError as exc:
        raise errors.WarehouseError(
            f"cannot write the catalog {target}: {errors.describe(exc)}"
        ) from None
    except duckdb.Error as exc:
        if not warehouse.is_storage_error(exc):
            raise
        raise errors.WarehouseError(
            f"cannot write the catalog {target}: {' '.join(str(exc).split())}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
    empty = [name for name, state in states.items() if state.status == NOT_LOADED]
    left_out = tuple(state for state in states.values() if not state.shown)
    return CatalogInfo(target, tuple(attached), tuple(empty), relations, True, left_out)


def _attach(con: duckdb.DuckDBPyConnection, account: Account) -> AccountState:
    """Attach the account's read copy, or say why it is left out (and leave it out)."""
    name = account.name
    copy = warehouse.read_copy_path(account.db_path)
    if not copy.exists():
        return AccountState(
            name,
            MISSING,
            f"{copy} is missing but its warehouse {account.db_path} exists: its next load "
            "publishes a read copy",
        )
    problem = _attach_copy(con, name, str(copy.resolve()))
    return problem or AccountState(name, OK if account.db_path.exists() else NOT_LOADED)


def _attach_copy(con: duckdb.DuckDBPyConnection, name: str, copy: str) -> AccountState | None:
    """Attach `copy` as account `name`'s; why not, when it does not open or is the copy of
    another account's warehouse (then it is not left attached)."""
    try:
        con.execute(_attach_sql(name, copy))
    except duckdb.Error as exc:
        return AccountState(name, UNREADABLE, f"{copy}: {_first_line(exc)}")
    try:
        found = con.execute(
            f"select account from {alias(name)}.main.warehouse_account where id = 1"
        ).fetchall()
    except duckdb.Error:  # a copy of a version before stamps, or an empty stand-in
        found = []
    if found and found[0][0] != name:
        con.execute(f"detach {alias(name)}")
        return AccountState(name, FOREIGN, f"{copy} is a copy of account {found[0][0]}'s warehouse")
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(exc).__name__


def ensure_read_copies(accounts: Sequence[Account]) -> list[str]:
    """Give every account without a read copy an empty one (the warehouse's schema in the
    account's zone, no rows); returns their names. Made next to its place and linked there,
    which fails when a copy exists: a read copy a load just published is never replaced.
    Meant for accounts never loaded: the read copy of a loaded account that is missing is
    no empty one (the catalog tells it is missing)."""
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


def _create_views(
    con: duckdb.DuckDBPyConnection, attached: list[str], *, temporary: bool = False
) -> int:
    """For each relation any account has, a view over every account that has it (in the
    session only, over the catalog's own, when `temporary`)."""
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
        con.execute(f'create {"temp " if temporary else ""}view "{relation}" as {union}')
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


def _create_accounts_table(
    con: duckdb.DuckDBPyConnection, accounts: Sequence[Account], states: dict[str, AccountState]
) -> None:
    con.execute(
        "create table catalog_accounts (account varchar primary key, base_url varchar, "
        "tz varchar, read_copy varchar, raw_dir varchar, status varchar, detail varchar)"
    )
    for account in accounts:
        copy = warehouse.read_copy_path(account.db_path).resolve()
        state = states[account.name]
        con.execute(
            "insert into catalog_accounts values (?, ?, ?, ?, ?, ?, ?)",
            [
                account.name,
                account.base_url,
                account.tz,
                str(copy),
                str(account.raw_dir.resolve()),
                state.status,
                state.detail or None,
            ],
        )
    comments = {
        "": "Every account of the accounts file and the read copy the catalog attaches (an "
        "empty one until the account first loads), with what the catalog shows of it. How "
        "fresh each is: select account, max(finished_at) from load_runs group by account.",
        "account": "The account (its name in the accounts file).",
        "base_url": "Its PBX API.",
        "tz": "Its zone: its local days, hours and weeks.",
        "read_copy": "The read copy the catalog attaches (<root>/<account>/vats.read.duckdb).",
        "raw_dir": "Its raw archive folder, which raw_history reads.",
        "status": f"{OK!r}: its rows are in every view; {NOT_LOADED!r}: it never loaded (an "
        f"empty read copy stands in); {MISSING!r}, {UNREADABLE!r}, {FOREIGN!r}: left out of "
        "every view (its rows are not shown, which is not zero rows) until its next load "
        "publishes a good read copy.",
        "detail": "Why an account is left out, when it is.",
    }
    for column, text in comments.items():
        target = "table catalog_accounts" if not column else f"column catalog_accounts.{column}"
        con.execute(f"comment on {target} is {_literal(text)}")


def _write_script(catalog: Path, attach_lines: list[str]) -> Path:
    script = script_path(catalog)
    tmp = script.with_name(f".{script.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    header = (
        f"{SCRIPT_HEADER}{catalog.name}:\n"
        f"--   duckdb -readonly -init {script} {catalog}\n"
        "-- Written by vats-etl when the accounts change; do not edit.\n"
    )
    tmp.write_text(header + "\n".join(attach_lines) + "\n", "utf-8")
    os.replace(tmp, script)
    return script


def _log_left_out(state: AccountState) -> None:
    log.warning("catalog: account %s left out: %s: %s", state.account, state.status, state.detail)


def account_states(path: Path | str) -> list[AccountState]:
    """What the catalog at `path` shows of each account, as its build found them."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = _accounts_of(con)
    return [AccountState(account, status, detail) for account, _, _, status, detail in rows]


@contextlib.contextmanager
def connect(
    path: Path | str, *, warn: Callable[[AccountState], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog in a session that cannot write, every shown account's read copy attached:
    ``with connect("data/catalog.duckdb") as con: con.sql(...)``.

    Each account left out (by the build, or because its read copy no longer opens or is now
    another account's) is told to `warn` (else logged); the views then cover the accounts
    that answer. The session is
    locked as the module says: read-only files, no external access but reading the raw
    archive folders, no setting changed from here on."""
    path = Path(path)
    if not path.exists():
        raise errors.VatsError(f"no catalog at {path}: run `vats-etl catalog` first")
    told = warn or _log_left_out
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("set timezone = 'UTC'")
        rows = _accounts_of(con)
        attached: list[str] = []
        for account, copy, _, status, detail in rows:
            if status not in SHOWN:
                told(AccountState(account, status, detail))
                continue
            problem = _attach_copy(con, account, copy)
            if problem is not None:
                told(problem)
                continue
            attached.append(account)
        if len(attached) < sum(1 for row in rows if row[3] in SHOWN):
            # the views name every account the build attached: over those that answer now
            _create_views(con, attached, temporary=True)
        _lock(con, [Path(raw) for _, _, raw, _, _ in rows])
        yield con
    finally:
        con.close()


def _accounts_of(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str, str]]:
    """catalog_accounts: account, read copy, raw archive folder, status, detail."""
    try:
        return con.execute(
            "select account, read_copy, raw_dir, status, coalesce(detail, '') "
            "from catalog_accounts order by account"
        ).fetchall()
    except duckdb.BinderException:  # a catalog built by a version that showed every account
        rows = con.execute("select account, read_copy from catalog_accounts order by account")
        return [
            (account, copy, str(Path(copy).parent / "raw" / f"account={account}"), OK, "")
            for account, copy in rows.fetchall()
        ]


def _lock(con: duckdb.DuckDBPyConnection, raw_dirs: Sequence[Path]) -> None:
    """From here on the session reads what is attached and the accounts' raw archive
    folders only, and keeps its settings (see the module's text).

    The catalog's own ``raw_history`` globs every folder under the root, which a session
    without external access may not list: the same macro, in the session, names each
    account's folder instead (those with pages of that kind; for a kind no account has, the
    first's pattern, so the error says no file matches, as before)."""
    patterns = {
        kind: [f"{raw}/{kind}/json/date=*/*.json.zst" for raw in raw_dirs if _has_pages(raw / kind)]
        or [f"{raw_dirs[0]}/{kind}/json/date=*/*.json.zst"]
        for kind in ("external", "internal")
        if raw_dirs
    }
    if patterns:
        cases = " ".join(
            f"when {_literal(kind)} then [{', '.join(map(_literal, found))}]"
            for kind, found in patterns.items()
        )
        con.execute(
            f"create temp macro raw_history(kind) as table select r.* from read_json("
            f"case kind {cases} end, hive_partitioning = true, union_by_name = true, "
            "filename = 'archive_file') as r where r.uid is not null"
        )
    allowed = ", ".join(_literal(f"{raw}/") for raw in raw_dirs)
    con.execute(f"set allowed_directories = [{allowed}]")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def _has_pages(folder: Path) -> bool:
    try:
        return next(folder.glob("json/date=*/*.json.zst"), None) is not None
    except OSError:
        return False


def _reads_only(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> bool:
    """A statement that only reads: a select (describe, show, summarize, pivot ...), or an
    explain of one."""
    if statement.type in READ_STATEMENTS:
        return True
    if statement.type != duckdb.StatementType.EXPLAIN:
        return False
    try:
        inner = con.extract_statements(_EXPLAIN.sub("", statement.query, count=1))
    except duckdb.Error:
        return False
    return len(inner) == 1 and inner[0].type in READ_STATEMENTS


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run `sql` (one or more read statements) on a :func:`connect`-ed session; the last
    one's result. Anything else (copy, attach, set, pragma, create, install, ...) is refused
    before it runs, in one line naming it."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise errors.VatsError(_first_line(exc)) from None
    if not statements:
        raise errors.QueryRefused("the query is empty")
    for statement in statements:
        if not _reads_only(con, statement):
            kind = str(statement.type).rsplit(".", 1)[-1]
            raise errors.QueryRefused(
                f"the catalog only reads: {kind} is refused (it would write or change the "
                "session); to save results to a file, copy them in a duckdb session of your "
                "own (docs/scale.md)"
            )
    try:
        return con.sql(sql)
    except duckdb.Error as exc:
        raise errors.VatsError(_first_line(exc)) from None
