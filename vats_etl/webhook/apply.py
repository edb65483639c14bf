"""Spooled webhooks → DuckDB in micro-batches, on one background thread.

The applier reads the spool from its cursor up to the durable end (at most
``max_records`` lines), opens the warehouse (``warehouse.connect`` waits while another
process — a backfill, the daily flow — holds it), writes the whole batch in one transaction,
commits, closes, and only then moves its cursor and lets the spool delete the segments it
finished. Then it sleeps ``interval_s`` (not when a backlog remains) so the database is free
most of the time. A crash anywhere leaves the cursor's records in the spool; the next start
reads from the first segment again and applying is idempotent:

* ``history`` and ``rating`` rows are merged per uid in spool order (later non-null values
  win) and go through :func:`vats_etl.warehouse.upsert` with source ``webhook``: re-applying
  the same values changes nothing; the rank ``api_json > webhook > api_csv`` and the
  coalescing merge reconcile them with batch loads in any order, and a rating that arrives
  before its history makes a row (uid, client, user_login, rating) that the history fills in;
* ``event`` rows (and ``other`` commands, kept as delivered) are inserted by ``event_hash``;
  a hash already stored is ignored.

A batch the database refuses for a reason other than the lock is retried record by record;
records that fail on their own are set aside in ``failed.jsonl`` in the spool (logged), so
one poison record cannot stall the stream. When every record fails, the cause is taken to
be the database (disk full, broken file): nothing is set aside and the batch is retried
with backoff.

The thread never dies and never fails silently: any exception of a pass (reading the spool,
opening the warehouse, applying, even a panic inside a library) is caught, logged once per
failure spell with its cause, and the pass is retried with backoff. Meanwhile
:attr:`Applier.failing` is set, and the receiver answers new webhooks 503 (the PBX retries)
until a pass succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from vats_etl import errors, warehouse
from vats_etl.webhook.contacts import ContactIndex
from vats_etl.webhook.payloads import Record, Value
from vats_etl.webhook.spool import Position, Spool, SpoolBatch

log = logging.getLogger(__name__)

UTC_MICROS: Final = pl.Datetime("us", "UTC")
CALL_COLUMNS: Final[dict[str, pl.DataType]] = {
    "uid": pl.String(),
    "direction": pl.String(),
    "status": pl.String(),
    "client": pl.String(),
    "diversion": pl.String(),
    "user_login": pl.String(),
    "group_name": pl.String(),
    "started_at": pl.Int64(),
    "wait_s": pl.Int32(),
    "duration_s": pl.Int32(),
    "record_url": pl.String(),
    "rating": pl.Int8(),
    "pbx_missed_status": pl.Int16(),
}
EVENT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "event_hash": pl.String(),
    "callid": pl.String(),
    "type": pl.String(),
    "direction": pl.String(),
    "client": pl.String(),
    "diversion": pl.String(),
    "user_login": pl.String(),
    "ext": pl.String(),
    "telnum": pl.String(),
    "group_name": pl.String(),
    "cmd": pl.String(),
    "payload": pl.String(),
}
GIVE_UP_AFTER: Final = 5  # attempts at a batch that fails as a whole before isolating it


@dataclass(frozen=True, slots=True)
class BatchResult:
    calls: int
    events: int


def calls_frame(records: Sequence[Record]) -> pl.DataFrame:
    """history + rating records → one ``calls`` row per uid (later non-null values win)."""
    merged: dict[str, dict[str, Value]] = {}
    for record in records:
        if record.kind not in ("history", "rating"):
            continue
        uid = record.data["uid"]
        assert isinstance(uid, str)
        row = merged.setdefault(uid, {})
        for name, value in record.data.items():
            if value is not None:
                row[name] = value
    columns = {name: [row.get(name) for row in merged.values()] for name in CALL_COLUMNS}
    return pl.DataFrame(columns, schema=CALL_COLUMNS).with_columns(
        pl.col("started_at").cast(UTC_MICROS), source=pl.lit("webhook")
    )


def events_frame(records: Sequence[Record], loaded_at: datetime) -> pl.DataFrame:
    """event and other records → ``webhook_events`` rows, first delivery of each hash kept."""
    rows: dict[str, Record] = {}
    for record in records:
        if record.kind in ("event", "other"):
            key = record.data["event_hash"]
            assert isinstance(key, str)
            rows.setdefault(key, record)
    columns = {name: [r.data.get(name) for r in rows.values()] for name in EVENT_COLUMNS}
    columns["cmd"] = [r.data["cmd"] if r.kind == "other" else "event" for r in rows.values()]
    return pl.DataFrame(columns, schema=EVENT_COLUMNS).with_columns(
        received_at=pl.Series([r.received_at_us for r in rows.values()], dtype=pl.Int64).cast(
            UTC_MICROS
        ),
        loaded_at=pl.lit(loaded_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC"),
    )


def apply_batch(
    con: duckdb.DuckDBPyConnection, records: Sequence[Record], loaded_at: datetime
) -> BatchResult:
    """Write ``records`` in one transaction (idempotent; see the module docstring)."""
    calls = calls_frame(records)
    events = events_frame(records, loaded_at)
    con.execute("begin")
    try:
        n_calls = warehouse.upsert(con, "calls", calls, loaded_at)
        if not events.is_empty():
            con.register("incoming_events", events)
            try:
                con.execute(
                    "insert into webhook_events by name select * from incoming_events "
                    "on conflict (event_hash) do nothing"
                )
            finally:
                con.unregister("incoming_events")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return BatchResult(n_calls, events.height)


def successful_calls(records: Sequence[Record]) -> list[tuple[str | None, str | None, int | None]]:
    found: list[tuple[str | None, str | None, int | None]] = []
    for record in records:
        data = record.data
        if record.kind == "history" and data.get("status") == "success":
            client, login, started = data.get("client"), data.get("user_login"), data["started_at"]
            found.append(
                (
                    client if isinstance(client, str) else None,
                    login if isinstance(login, str) else None,
                    started if isinstance(started, int) else None,
                )
            )
    return found


@dataclass
class ApplierStats:
    applied: int = 0  # records committed to the warehouse (re-applied ones count again)
    batches: int = 0
    failed_records: int = 0  # set aside in failed.jsonl
    torn_tails: int = 0
    busy_waits: int = 0
    failed_passes: int = 0  # passes that raised (retried with backoff)
    last_batch_ms: float = 0.0
    max_batch_ms: float = 0.0
    last_error: str | None = None
    batch_ms: list[float] = field(default_factory=list)


class Applier:
    """The background thread that drains the spool into the warehouse."""

    def __init__(
        self,
        spool: Spool,
        db_path: Path,
        company: warehouse.Company,
        index: ContactIndex,
        *,
        interval_s: float = 0.5,
        max_records: int = 5000,
        lock_timeout_s: float = 5.0,
        refresh_s: float = 60.0,
    ) -> None:
        self._spool = spool
        self._db_path = db_path
        self._company = company  # the zone and KPI values the warehouse keeps (its first write)
        self._index = index
        self._interval_s = interval_s
        self._max_records = max_records
        self._lock_timeout_s = lock_timeout_s
        self._refresh_s = refresh_s
        self._stop = threading.Event()
        self._drain_deadline = float("inf")
        self._schema_ready = False
        self._last_refresh = float("-inf")
        self._attempts = 0  # failed attempts at the current batch (poison isolation)
        self._failures = 0  # consecutive failed passes (backoff)
        self._failing_since = 0.0
        self._logged_failure: type[BaseException] | None = None
        self._busy_since: float | None = None
        self._cursor = Position(0, 0)
        self._caught_up = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = ApplierStats()
        self.failing = False  # the last pass raised: new webhooks get 503 until one succeeds
        self.waiting_for_warehouse = False  # another process holds the DuckDB file
        self.last_applied_at: datetime | None = None  # wall clock of the last commit

    @property
    def cursor(self) -> Position:
        """Where applying stands: everything before it is in the warehouse."""
        return self._cursor

    def start(self) -> None:
        self._cursor = self._spool.first_position()
        self._thread = threading.Thread(target=self._run, name="webhook-apply", daemon=True)
        self._thread.start()

    def stop(self, drain_timeout_s: float = 10.0) -> bool:
        """Apply what is spooled (for at most ``drain_timeout_s``), then stop. True when
        nothing was left behind (what is left is applied at the next start)."""
        self._drain_deadline = time.monotonic() + drain_timeout_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self._caught_up.is_set()

    def prepare(self, timeout_s: float) -> None:
        """Create the schema and load the contact index (the receiver tries this once, for
        at most ``timeout_s``, before it listens; when the warehouse is busy the thread does
        it as soon as it can)."""
        with warehouse.connect(self._db_path, company=self._company, timeout_s=timeout_s) as con:
            self._schema_ready = True
            self._refresh(con)

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stop.is_set() and time.monotonic() >= self._drain_deadline):
            try:
                finished = self._pass()
            except errors.DatabaseBusy as exc:
                self._waited(exc)
                self._pause(0.2)
            except BaseException as exc:  # the writer must never die: retry whatever it was
                self._failed(exc)
                self._pause(min(0.2 * 2 ** min(self._failures, 5), 5.0))
            else:
                self._succeeded()
                if finished:
                    return

    def _pass(self) -> bool:
        """Apply the next batch, or wait for one. True when stopping and caught up."""
        batch = self._spool.read(self._cursor, max_lines=self._max_records)
        if not batch.lines and not batch.finished:
            self._caught_up.set()
            if self._stop.is_set():
                return True
            if self._refresh_due():
                self._refresh_only()
            self._spool.wait_for_data(self._cursor, timeout=min(1.0, self._refresh_s))
            return False
        self._caught_up.clear()
        self._apply(batch)
        self._cursor = batch.end
        self._spool.release(batch.finished)
        if len(batch.lines) < self._max_records and not self._stop.is_set():
            self._stop.wait(self._interval_s)
        return False

    def _waited(self, exc: errors.DatabaseBusy) -> None:
        self.stats.busy_waits += 1
        self.stats.last_error = str(exc)
        self.waiting_for_warehouse = True
        now = time.monotonic()
        if self._busy_since is None or now - self._busy_since > 60:
            log.warning("webhook applier waits for the warehouse: %s", exc)
            self._busy_since = now

    def _failed(self, exc: BaseException) -> None:
        cause = describe(exc)
        self.stats.failed_passes += 1
        self.stats.last_error = cause
        self._failures += 1
        if not self.failing:
            self._failing_since = time.monotonic()
        self.failing = True
        if self._logged_failure is not type(exc):  # once per cause, not once per retry
            self._logged_failure = type(exc)
            expected = isinstance(exc, duckdb.Error | errors.VatsError | OSError)
            log.error(
                "webhook applier failed; retrying with backoff, new webhooks get 503 until it "
                "works: %s",
                cause,
                exc_info=None if expected else exc,  # an unexpected one: its traceback, once
            )

    def _succeeded(self) -> None:
        if self.failing:
            log.warning(
                "webhook applier works again after %d failed attempts in %.0f s",
                self._failures,
                time.monotonic() - self._failing_since,
            )
        self.failing = self.waiting_for_warehouse = False
        self._failures = 0
        self._logged_failure = None
        self._busy_since = None

    def _pause(self, seconds: float) -> None:
        if not self._stop.is_set():
            self._stop.wait(seconds)
        else:  # draining: retry until the deadline, but do not spin
            time.sleep(max(0.0, min(seconds, self._drain_deadline - time.monotonic())))

    def _refresh_due(self) -> bool:
        return time.monotonic() - self._last_refresh >= self._refresh_s

    def _company_to_keep(self) -> warehouse.Company | None:
        """The company until the schema is in place and its settings written; then None:
        the warehouse is opened as it is (a batch every half second need not check)."""
        return None if self._schema_ready else self._company

    def _connect_timeout(self) -> float:
        remaining = self._drain_deadline - time.monotonic()
        return max(0.1, min(self._lock_timeout_s, remaining))

    def _refresh_only(self) -> None:
        with warehouse.connect(
            self._db_path, company=self._company_to_keep(), timeout_s=self._connect_timeout()
        ) as con:
            self._schema_ready = True
            self._refresh(con)

    def _refresh(self, con: duckdb.DuckDBPyConnection) -> None:
        self._index.refresh(con)
        self._last_refresh = time.monotonic()

    def _apply(self, batch: SpoolBatch) -> None:
        records, bad = _decode(batch.lines)
        started = time.perf_counter()
        with warehouse.connect(
            self._db_path, company=self._company_to_keep(), timeout_s=self._connect_timeout()
        ) as con:
            self._schema_ready = True
            loaded_at = datetime.now(UTC)
            try:
                if records:
                    apply_batch(con, [r for _, r in records], loaded_at)
            except duckdb.Error as exc:
                self._attempts += 1
                if self._attempts < GIVE_UP_AFTER:
                    raise
                self._isolate(con, records, loaded_at, exc)
            self._attempts = 0
            self._index.note_success(successful_calls([r for _, r in records]))
            if self._refresh_due():
                self._refresh(con)
        for line, reason in bad:
            log.error("spool line cannot be read (%s): set aside in failed.jsonl", reason)
            self._spool.record_failure(line)
            self.stats.failed_records += 1
        self.stats.torn_tails += batch.torn
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.stats.applied += len(records)
        self.stats.batches += 1
        self.last_applied_at = datetime.now(UTC)
        self.stats.last_batch_ms = elapsed_ms
        self.stats.max_batch_ms = max(self.stats.max_batch_ms, elapsed_ms)
        self.stats.batch_ms.append(elapsed_ms)
        del self.stats.batch_ms[:-1000]

    def _isolate(
        self,
        con: duckdb.DuckDBPyConnection,
        records: list[tuple[bytes, Record]],
        loaded_at: datetime,
        batch_error: duckdb.Error,
    ) -> None:
        """Apply one by one; set aside the records that fail, unless all of them do."""
        failures: list[tuple[bytes, duckdb.Error]] = []
        for line, record in records:
            try:
                apply_batch(con, [record], loaded_at)
            except duckdb.Error as exc:
                failures.append((line, exc))
        if failures and len(failures) == len(records):
            raise batch_error
        for line, error in failures:
            log.error("webhook record refused by the warehouse, set aside: %s", error)
            self._spool.record_failure(line)
            self.stats.failed_records += 1


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters); never raises."""
    try:
        text = str(exc).strip()
    except Exception:
        text = ""
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__


def _decode(lines: list[bytes]) -> tuple[list[tuple[bytes, Record]], list[tuple[bytes, str]]]:
    good: list[tuple[bytes, Record]] = []
    bad: list[tuple[bytes, str]] = []
    for line in lines:
        try:
            good.append((line, Record.from_json(line)))
        except (ValueError, KeyError, TypeError) as exc:
            bad.append((line, f"{type(exc).__name__}: {exc}"))
    return good, bad
