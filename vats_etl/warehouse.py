"""The DuckDB warehouse: schema from `sql/`, idempotent upserts, load bookkeeping, locking.

Every table, view and macro lives in `sql/<relation>.sql`. A writer applies them
idempotently (`create ... if not exists` / `create or replace`) when the warehouse is not up
to date with them: `schema_state` records the digest of the sql/ it was last brought to.

Concurrency (DuckDB allows one writer *process*): writers open the file only for as long as
a batch takes and retry while another process holds it, failing with :class:`DatabaseBusy`
after ``db_lock_timeout_s``. Analysts should open the **read copy** that every job publishes
after it finishes (``<db>.read.duckdb``, see :func:`publish_read_copy`): holding it open never
blocks a flow, and a flow replacing it never breaks an open session (the old file stays
readable until the session reconnects).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path

import duckdb
import polars as pl

from vats_etl import errors
from vats_etl.config import Settings

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# Sources ranked for merging calls: a higher-ranked row's values win, gaps are filled.
SOURCE_RANK = {"api_json": 3, "webhook": 2, "api_csv": 1}
_LOCK_MESSAGE = re.compile(r"lock", re.IGNORECASE)
_HOLDER = re.compile(r"\(PID (\d+)\)")


def relations(sql_dir: Path = SQL_DIR) -> dict[str, str]:
    """Relation name -> its SQL, one file per relation."""
    return {path.stem: path.read_text("utf-8") for path in sorted(sql_dir.glob("*.sql"))}


def ensure_schema(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> None:
    """Create every table and view. Views may depend on each other: apply in rounds until
    everything exists, so no manifest of dependencies has to be kept by hand. A view may
    also need a column that a later file adds to an older warehouse's table (a binder
    error): it is retried in the next round too."""
    pending = relations(sql_dir)
    while pending:
        failed: dict[str, str] = {}
        last_error: dict[str, str] = {}
        for name, sql in pending.items():
            try:
                con.execute(sql)
            except (duckdb.CatalogException, duckdb.BinderException) as exc:
                failed[name] = sql
                last_error[name] = str(exc).splitlines()[0]
        if len(failed) == len(pending):
            detail = "; ".join(f"{n}: {e}" for n, e in last_error.items())
            raise errors.VatsError(f"cannot create relations from {sql_dir}: {detail}")
        pending = failed


_schema_ready: set[tuple[str, str]] = set()


def _sql_digest(wanted: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(wanted.items())).encode()).hexdigest()


def sql_digest() -> str:
    """Digest of sql/: changes with any table, view or macro."""
    return _sql_digest(relations())


def _ensure_schema_once(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Apply sql/ when this file is not up to date with it, checked once per process and file.

    Applying costs ~0.25 s, a check ~0.02 s: every CLI command and flow connects as a writer,
    and a daily run is a few seconds in all."""
    wanted = relations()
    digest = _sql_digest(wanted)
    key = (str(path.resolve()), digest)
    if key in _schema_ready:
        return
    if not _schema_is_current(con, wanted, digest):
        drop_derived_caches(con)
        ensure_schema(con)
        con.execute(
            "insert or replace into schema_state (id, sql_digest, applied_at) values (1, ?, now())",
            [digest],
        )
    _schema_ready.add(key)


def drop_derived_caches(con: duckdb.DuckDBPyConnection) -> None:
    """Forget what another version of sql/ cached: its columns or its definitions may differ
    (`create table if not exists` keeps an old table as it was). The tables are made again
    empty, the views compute live until the next refresh rebuilds the cache in full."""
    for table in _CACHE_TABLES:
        con.execute(f"drop table if exists {table}")
    with contextlib.suppress(duckdb.CatalogException):
        con.execute("delete from view_caches")


def _schema_is_current(con: duckdb.DuckDBPyConnection, wanted: dict[str, str], digest: str) -> bool:
    """The digest recorded by the last writer matches, and every relation still exists."""
    try:
        recorded = con.execute("select sql_digest from schema_state where id = 1").fetchall()
    except duckdb.CatalogException:
        return False
    if recorded != [(digest,)]:
        return False
    present = {
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() union all "
            "select view_name from duckdb_views() where not internal union all "
            "select function_name from duckdb_functions() "
            "where function_type in ('macro', 'table_macro') and not internal"
        ).fetchall()
    }
    return wanted.keys() <= present


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back when it raises (best
    effort: a commit that failed, e.g. on a full disk, leaves nothing to roll back, and the
    failure itself is what the caller must see)."""
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise


def schema_is_current(path: Path, *, timeout_s: float = 60.0) -> bool:
    """Whether the file (a warehouse or its read copy) was last brought to this version's sql/."""
    with connect(path, read_only=True, timeout_s=timeout_s) as con:
        wanted = relations()
        return _schema_is_current(con, wanted, _sql_digest(wanted))


def _is_lock_error(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.IOException) and bool(_LOCK_MESSAGE.search(str(exc)))


@contextlib.contextmanager
def connect(
    path: Path,
    *,
    read_only: bool = False,
    timeout_s: float = 60.0,
    schema: bool = True,
    tz: str | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting up to `timeout_s` while another process holds it.

    A writer also keeps `kpi_settings.tz` equal to `tz` (default: VATS_TZ as the running
    command sees it) and the values of VATS_KPI_SETTINGS, when that file is set."""
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.WarehouseError(
                f"cannot create {path}: {path.parent}: {exc.strerror or exc}"
            ) from None
    elif not path.exists():
        raise errors.VatsError(f"no warehouse at {path}: run a backfill first")
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise errors.WarehouseError(f"cannot open {path}: {_one_line(exc)}") from None
            if time.monotonic() + delay > deadline:
                holder = _HOLDER.search(str(exc))
                who = f"process {holder.group(1)}" if holder else "another process"
                raise errors.DatabaseBusy(
                    f"{path} is held by {who} for more than {timeout_s:.0f}s; close that "
                    f"session (analysts: open {read_copy_path(path).name} instead) or raise "
                    f"VATS_DB_LOCK_TIMEOUT"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        con.execute("set timezone = 'UTC'")
        if schema and not read_only:
            _ensure_schema_once(con, path)
            company = _company_settings()
            kpi = read_kpi_file(company.kpi_file) if company and company.kpi_file else {}
            sync_kpi_settings(con, tz or (company.tz if company else None), kpi)
        yield con
    except STORAGE_ERRORS as exc:
        raise errors.WarehouseError(f"{path}: {_one_line(exc)}") from None
    finally:
        with contextlib.suppress(*STORAGE_ERRORS):  # closing an invalidated database fails too
            con.close()


# What the file or the disk under it did (corrupt, truncated, unwritable, full), as opposed
# to what a query did wrong: these end a command with one line, not a traceback.
STORAGE_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.SerializationException,
    duckdb.PermissionException,
)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _company_settings() -> Settings | None:
    """The settings of the running command (CLI flags and .env included), if they load."""
    from vats_etl import runtime  # lazy: runtime imports the pipeline, which imports us

    try:
        return runtime.current().settings
    except errors.ConfigError:
        return None


# What a KPI settings file (VATS_KPI_SETTINGS, or an account's kpi_settings) may set.
KPI_FILE_SECONDS = (
    "short_abandon_s",
    "service_level_s",
    "recovery_window_s",
    "min_rating_sample",
    "repeat_window_s",
)
KPI_FILE_HOURS = ("work_start", "work_end")
KPI_FILE_KEYS = (*KPI_FILE_SECONDS, "work_days", *KPI_FILE_HOURS)
_CLOCK = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?|24:00(:00)?)$")


def read_kpi_file(path: Path) -> dict[str, object]:
    """A TOML file of kpi_settings values, e.g. ``recovery_window_s = 172800``,
    ``work_days = [1, 2, 3, 4, 5, 6]``, ``work_end = "20:00"``: the way to set W, T_short, N
    or the working hours for a warehouse nobody edits by hand (every account of an accounts
    file). Writers apply it on every connection; keys it does not name are left alone."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise errors.ConfigError(f"cannot read KPI settings {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"KPI settings {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KPI_FILE_KEYS))
    if unknown:
        raise errors.ConfigError(
            f"KPI settings {path}: unknown {', '.join(unknown)}; known: {', '.join(KPI_FILE_KEYS)}"
        )
    found: dict[str, object] = {}
    for key, value in data.items():
        if key in KPI_FILE_HOURS:
            text = value.isoformat() if isinstance(value, dt_time) else value
            ok = isinstance(text, str) and _CLOCK.match(text) is not None
            why = 'a time of day, e.g. 09:00 or "18:30"'
        elif key == "work_days":
            text = value
            ok = isinstance(value, list) and all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in value
            )
            why = "a list of weekdays, 1 = Monday .. 7 = Sunday"
        else:
            text = value
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            why = "a whole number >= 0"
        if not ok:
            raise errors.ConfigError(f"KPI settings {path}: {key} must be {why}, got {value!r}")
        found[key] = sorted(set(text)) if key == "work_days" else text
    return found


def sync_kpi_settings(
    con: duckdb.DuckDBPyConnection, tz: str | None, values: Mapping[str, object] | None = None
) -> None:
    """Keep the one `kpi_settings` row (sql/kpi_settings.sql creates it with defaults), write
    `tz` and the `values` of a KPI settings file; analysts' own values of every other
    parameter (W, T_short, N, ...) are never touched. Nothing is written when nothing
    differs, so the outcome cache stays valid."""
    con.execute("insert into kpi_settings (id) values (1) on conflict do nothing")
    wanted: dict[str, object] = dict(values or {})
    if tz:
        wanted["tz"] = tz
    for column, value in wanted.items():  # names from KPI_FILE_KEYS and "tz" only
        con.execute(
            f"update kpi_settings set {column} = ? where id = 1 and {column} is distinct from ?",
            [value, value],
        )


# The analyst cache (sql/view_caches.sql): inbound_outcomes serves inbound_outcomes_cache only
# while view_caches matches kpi_settings and calls' fingerprint (row count, latest loaded_at),
# so a stale cache is never wrong, only unused.
_CACHE_PARAMS = ("short_abandon_s", "service_level_s", "recovery_window_s", "repeat_window_s")
_CACHE_TABLES = ("inbound_outcomes_cache", "inbound_outcomes_inputs")
# Above this share of calls changed, recomputing everything is the cheaper refresh.
FULL_REFRESH_SHARE = 0.2


def refresh_outcomes_cache(con: duckdb.DuckDBPyConnection) -> str | None:
    """Refresh inbound_outcomes_cache if stale, in one transaction: "incremental", "full", or
    None (it was fresh).

    Incremental when only calls changed (kpi_settings did not). A call's outcome depends
    only on its own client's calls: later ones up to max(W, repeat window) ahead and the next
    conversation at any distance (next_contact_at), earlier ones back a repeat window and back
    to the client's last conversation (lost contacts). So for each client a changed call
    belongs to, or belonged to (inbound_outcomes_inputs keeps the old client and start), the
    outcomes of its calls from `zone_start` (the earliest change, old or new start, minus
    max(W, repeat window), or the client's last conversation before the change if earlier)
    are recomputed from its calls since `context_start` (its last conversation a repeat
    window before zone_start). A daily load on a year of calls recomputes ~40,000 calls
    instead of two million (0.2–0.3 s, not 2.4).

    The cache never holds `outcome` (pending / lost depend on the data cut-off, which moves
    with every load): the view inbound_outcomes derives it when read.
    """
    existing = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
    if not {"view_caches", "inbound_outcomes_cache", "inbound_outcomes_inputs"} <= existing:
        return None
    params = ", ".join(f"ks.{p}" for p in _CACHE_PARAMS)
    with transaction(con):
        state = con.execute(
            f"select {params}, (select count(*) from calls), "
            "(select max(loaded_at) from calls) from kpi_settings as ks limit 1"
        ).fetchall()[0]
        cached = con.execute(
            f"select {', '.join(_CACHE_PARAMS)}, calls_rows, calls_loaded_at "
            "from view_caches where relation = 'inbound_outcomes'"
        ).fetchall()
        if cached and tuple(cached[0]) == tuple(state):
            return None  # the cache is current: nothing written
        mode = "full"
        if cached and tuple(cached[0][: len(_CACHE_PARAMS)]) == tuple(state[: len(_CACHE_PARAMS)]):
            mode = _refresh_outcomes_incrementally(con, cached[0], state)
        if mode == "full":
            con.execute("delete from inbound_outcomes_cache")
            con.execute(
                "insert into inbound_outcomes_cache by name select o.* exclude (client, "
                "started_at) from inbound_outcomes_of(calls, kpi_settings) as o"
            )
            con.execute("delete from inbound_outcomes_inputs")
            con.execute(
                "insert into inbound_outcomes_inputs select uid, client, started_at from calls"
            )
        con.execute("delete from view_caches where relation = 'inbound_outcomes'")
        con.execute(
            f"insert into view_caches ({', '.join(_CACHE_PARAMS)}, relation, calls_rows, "
            "calls_loaded_at, refreshed_at) values (?, ?, ?, ?, 'inbound_outcomes', ?, ?, now())",
            list(state),
        )
    return mode


def _refresh_outcomes_incrementally(
    con: duckdb.DuckDBPyConnection, cached: tuple[object, ...], state: tuple[object, ...]
) -> str:
    """Recompute the outcomes a change of calls can touch; "full" when that is not safe
    (calls changed without their loaded_at moving, inputs not recorded) or not cheaper
    (much of calls changed)."""
    params = len(_CACHE_PARAMS)
    cached_rows, since = cached[params], cached[params + 1]
    calls_rows = state[params]
    assert isinstance(cached_rows, int) and isinstance(calls_rows, int)
    inputs = con.execute("select count(*) from inbound_outcomes_inputs").fetchall()[0][0]
    if since is None or inputs != cached_rows:
        return "full"
    con.execute(
        "create or replace temp table outcome_changes as "
        "select c.uid, c.client, c.started_at, i.client as old_client, "
        "i.started_at as old_started_at, i.uid is null as is_new "
        "from calls as c left join inbound_outcomes_inputs as i on i.uid = c.uid "
        "where c.loaded_at > ?",
        [since],
    )
    changed, new = con.execute(
        "select count(*), count(*) filter (where is_new) from outcome_changes"
    ).fetchall()[0]
    if new != calls_rows - cached_rows or changed > FULL_REFRESH_SHARE * calls_rows:
        return "full"
    con.execute(_OUTCOME_SCOPE_SQL)
    con.execute(
        "create or replace temp table outcome_input as "
        "select c.* from calls as c "
        "inner join outcome_scope as s on s.client = c.client "
        "and c.started_at >= s.context_start "
        "union all "
        "select c.* from calls as c "
        "where c.client is null and c.uid in (select ch.uid from outcome_changes as ch)"
    )
    con.execute(
        "delete from inbound_outcomes_cache where uid in (select uid from outcome_changes) "
        "or uid in (select c.uid from calls as c inner join outcome_scope as s "
        "on s.client = c.client and c.started_at >= s.zone_start)"
    )
    con.execute(
        "insert into inbound_outcomes_cache by name "
        "select o.* exclude (client, started_at) "
        "from inbound_outcomes_of(outcome_input, kpi_settings) as o "
        "left join outcome_scope as s on s.client = o.client "
        "where o.started_at >= s.zone_start "
        "or (o.client is null and o.uid in (select ch.uid from outcome_changes as ch))"
    )
    con.execute(
        "delete from inbound_outcomes_inputs where uid in (select uid from outcome_changes)"
    )
    con.execute(
        "insert into inbound_outcomes_inputs select uid, client, started_at from outcome_changes"
    )
    for table in ("outcome_changes", "outcome_scope", "outcome_input"):
        con.execute(f"drop table {table}")
    return "incremental"


# Per client touched by a change: from when its outcomes may differ (zone_start), and from
# which of its calls they must be recomputed (context_start). zone_start reaches back
# max(W, repeat window) before the earliest change, and further, to the client's last
# conversation before it: every miss since then may take the change as its next contact
# (next_contact_at looks arbitrarily far ahead). context_start is the last conversation
# before zone_start - repeat window, so lost contacts and repeat callers see what they need.
_OUTCOME_SCOPE_SQL = """
create or replace temp table outcome_scope as
with reach as (
    select
        to_seconds(greatest(ks.recovery_window_s, ks.repeat_window_s)) as ahead,
        to_seconds(ks.repeat_window_s) as back
    from kpi_settings as ks
    limit 1
),

touched as (
    select ch.client, ch.started_at from outcome_changes as ch
    union all
    select ch.old_client, ch.old_started_at from outcome_changes as ch
),

changes as (
    select
        t.client,
        min(t.started_at) as changed_from
    from touched as t
    where t.client is not null and t.started_at is not null
    group by t.client
),

talks as (
    -- one pass over the touched clients' calls: their conversations before the change
    select
        ch.client,
        any_value(ch.changed_from) as changed_from,
        coalesce(
            list(c.started_at order by c.started_at) filter (
                where c.started_at < ch.changed_from
                and (
                    is_answered_call(c.direction, c.status)
                    or is_callback_call(c.direction, c.status, c.duration_s)
                )
            ),
            []
        ) as talked_at
    from changes as ch
    inner join calls as c on c.client = ch.client
    group by ch.client
),

zones as (
    select
        t.client,
        t.talked_at,
        least(
            t.changed_from - r.ahead,
            coalesce(t.talked_at[-1], '-infinity'::timestamptz)
        ) as zone_start,
        r.back
    from talks as t
    cross join reach as r
)

select
    z.client,
    z.zone_start,
    coalesce(
        list_max(list_filter(z.talked_at, lambda x: x < z.zone_start - z.back)),
        '-infinity'::timestamptz
    ) as context_start
from zones as z
"""


def read_copy_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.read{path.suffix}")


def publish_read_copy(
    path: Path, *, timeout_s: float = 60.0, upgrade_tz: str | None = None
) -> Path:
    """Atomically replace `<db>.read.duckdb` with a consistent copy of the warehouse.

    The copy is taken while holding the writer lock right after a checkpoint, so the file
    is complete without its WAL; the rename is atomic, and sessions that have the old copy
    open keep reading it. With `upgrade_tz` (the company's zone) the warehouse is first
    brought up to this version's sql/, for a reader that found an older one.
    """
    target = read_copy_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    upgrade = upgrade_tz is not None
    if upgrade:  # check the file again, whatever this process saw of it before
        _schema_ready.discard((str(path.resolve()), sql_digest()))
    try:
        with connect(path, timeout_s=timeout_s, schema=upgrade, tz=upgrade_tz) as con:
            refresh_outcomes_cache(con)
            con.execute("checkpoint")
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise errors.WarehouseError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return target


# -- upserts ---------------------------------------------------------------------------------


def _rank_sql(alias: str) -> str:
    cases = " ".join(f"when '{name}' then {rank}" for name, rank in SOURCE_RANK.items())
    return f"(case {alias}.source {cases} else 0 end)"


def upsert_sql(table: str, columns: Sequence[str], *, key: str = "uid", ranked: bool) -> str:
    """A MERGE that applies the rules of docs/architecture.md.

    Non-null values of the winning row win and its gaps are filled from the other; with
    `ranked`, the winner is the higher-ranked source (ties: the incoming row). A row is
    updated only when some value actually changes (then `loaded_at` moves), so re-running a
    load changes nothing. The key has no index: an ART index on millions of varchar uids
    halved bulk-load speed and grew with the table; uniqueness holds because every write
    goes through this MERGE with a batch already deduplicated by key (see :func:`upsert`).
    """
    values = [c for c in columns if c not in {key, "loaded_at", "source"}]
    new_wins = f"{_rank_sql('incoming')} >= {_rank_sql('current')}" if ranked else "true"

    def merged(col: str) -> str:
        return (
            f"case when {new_wins} then coalesce(incoming.{col}, current.{col}) "
            f"else coalesce(current.{col}, incoming.{col}) end"
        )

    assignments = [f"{col} = {merged(col)}" for col in values]
    changes = [f"({merged(col)}) is distinct from current.{col}" for col in values]
    if ranked:
        winner = f"case when {new_wins} then incoming.source else current.source end"
        assignments.append(f"source = {winner}")
        changes.append(f"({winner}) is distinct from current.source")
    assignments.append("loaded_at = incoming.loaded_at")
    return (
        f"merge into {table} as current using incoming on current.{key} = incoming.{key} "
        f"when matched and ({' or '.join(changes)}) then update set {', '.join(assignments)} "
        "when not matched then insert by name"
    )


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    loaded_at: datetime,
    *,
    key: str = "uid",
) -> int:
    """Merge `frame` into `table` by `key`; the last row of a key within the batch wins."""
    if frame.is_empty():
        return 0
    batch = frame.unique(subset=key, keep="last", maintain_order=True).with_columns(
        loaded_at=pl.lit(loaded_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    )
    con.register("incoming", batch)
    try:
        known = con.execute(
            f"select count(*) from incoming semi join {table} as current "
            f"on current.{key} = incoming.{key}"
        ).fetchall()[0][0]
        if known:
            con.execute(upsert_sql(table, batch.columns, key=key, ranked="source" in batch.columns))
        else:
            # A window loaded for the first time shares no key with the table: inserting is
            # what the MERGE would do, at a third of its cost (the check costs a tenth).
            con.execute(f"insert into {table} by name select * from incoming")
    finally:
        con.unregister("incoming")
    return batch.height


# -- bookkeeping -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRun:
    """One row of `load_runs` (field order = column order)."""

    chunk_id: str
    run_id: str
    kind: str
    format: str
    window_start: datetime
    window_end: datetime
    day: date | None
    status: str
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    pages: int
    requests: int
    error: str | None
    fetched_at: datetime | None
    started_at: datetime
    finished_at: datetime
    fetch_s: float | None
    parse_s: float | None
    validate_s: float | None
    load_s: float | None


LOAD_RUN_COLUMNS = [f.name for f in fields(LoadRun)]
_UTC = pl.Datetime("us", "UTC")
_LOAD_RUN_TYPES: dict[str, pl.DataType] = {
    **{c: pl.String() for c in ("chunk_id", "run_id", "kind", "format", "status", "error")},
    **{c: _UTC for c in ("window_start", "window_end", "fetched_at", "started_at", "finished_at")},
    **{c: pl.Int64() for c in ("rows_received", "rows_loaded", "rows_quarantined")},
    **{c: pl.Int64() for c in ("pages", "requests")},
    **{c: pl.Float64() for c in ("fetch_s", "parse_s", "validate_s", "load_s")},
    "day": pl.Date(),
}
LOAD_RUN_SCHEMA = {c: _LOAD_RUN_TYPES[c] for c in LOAD_RUN_COLUMNS}


def record_load_runs(con: duckdb.DuckDBPyConnection, runs: Sequence[LoadRun]) -> None:
    if not runs:
        return
    # One insert from a frame: executemany pays a round trip per row.
    frame = pl.DataFrame([astuple(run) for run in runs], schema=LOAD_RUN_SCHEMA, orient="row")
    con.register("incoming_runs", frame)
    try:
        con.execute("insert or replace into load_runs by name select * from incoming_runs")
    finally:
        con.unregister("incoming_runs")


def record_load_notes(
    con: duckdb.DuckDBPyConnection, notes: Sequence[tuple[str, str, int]]
) -> None:
    """(chunk_id, note, rows): what parsing normalised in each chunk (sql/load_notes.sql)."""
    if not notes:
        return
    frame = pl.DataFrame(
        notes, schema={"chunk_id": pl.String, "note": pl.String, "rows": pl.Int64}, orient="row"
    )
    con.register("incoming_notes", frame)
    try:
        con.execute("insert or replace into load_notes by name select * from incoming_notes")
    finally:
        con.unregister("incoming_notes")


def row_hash(kind: str, raw: str) -> str:
    return hashlib.md5(f"{kind}\x00{raw}".encode()).hexdigest()


def quarantine(
    con: duckdb.DuckDBPyConnection,
    rejected: pl.DataFrame,
    *,
    kind: str,
    fmt: str,
    chunk_id: str,
    seen_at: datetime,
) -> int:
    """Store rejected rows (columns raw, reasons, optional uid); one row per distinct raw row."""
    if rejected.is_empty():
        return 0
    rows = rejected.select(
        pl.col("raw")
        .map_elements(lambda raw: row_hash(kind, raw), return_dtype=pl.String)
        .alias("row_hash"),
        pl.lit(kind).alias("kind"),
        pl.lit(fmt).alias("format"),
        (pl.col("uid") if "uid" in rejected.columns else pl.lit(None, pl.String)).alias("uid"),
        pl.col("raw"),
        pl.col("reasons"),
        pl.lit(chunk_id).alias("chunk_id"),
        pl.lit(seen_at).dt.convert_time_zone("UTC").alias("first_seen_at"),
        pl.lit(seen_at).dt.convert_time_zone("UTC").alias("last_seen_at"),
    ).unique(subset="row_hash", keep="last", maintain_order=True)
    con.register("incoming", rows)
    try:
        con.execute(
            "insert into quarantine by name select * from incoming on conflict (row_hash) do "
            "update set reasons = excluded.reasons, chunk_id = excluded.chunk_id, "
            "last_seen_at = excluded.last_seen_at"
        )
    finally:
        con.unregister("incoming")
    return rows.height


def table_checksum(
    con: duckdb.DuckDBPyConnection, table: str, *, exclude: Sequence[str] = ("loaded_at",)
) -> tuple[int, str]:
    """(row count, order-independent hash of every row) — for re-run and replay checks."""
    cols = [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [table],
        ).fetchall()
        if row[0] not in exclude
    ]
    expr = (
        "md5(concat_ws('|', "
        + ", ".join(f"coalesce(cast({c} as varchar), '∅')" for c in cols)
        + "))"
    )
    count, total = con.execute(
        f"select count(*), coalesce(sum(hash({expr})::hugeint), 0) from {table}"
    ).fetchall()[0]
    return int(count), f"{int(total):x}"
