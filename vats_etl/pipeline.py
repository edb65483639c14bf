"""History loading: plan chunks, then fetch → archive → parse → validate → upsert each one.

A *chunk* (:class:`LoadChunk`) is one local day of one kind (external/internal) in one
format (json/csv). Worker threads fetch chunks (splitting full windows, archiving every body
before parsing it), parse and validate them; the calling thread writes finished chunks in
plan order, several chunks per transaction, each chunk together with its `load_runs` row —
so a crash at any point leaves only whole chunks behind, and a re-run completes the rest. At
most `concurrency` chunks are in flight, which bounds memory whatever the length of the range.

Re-run policy: loading is idempotent (upsert by uid), so any window can be re-read at any
time. A resumed backfill skips chunks already loaded *settled* — fetched at least
:data:`SETTLE` after their window ended, when the PBX has nothing more to add — unless
``force``; everything else is fetched again. ``daily`` starts at the first day that is not
settled (at most :data:`DAILY_MAX_DAYS` back), so a missed day is caught up, not lost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from vats_etl import archive, errors, periods, warehouse
from vats_etl.client import HISTORY_PATHS, PbxClient, Response
from vats_etl.config import Settings
from vats_etl.history import HISTORY_KINDS, HistoryFormat, HistoryKind
from vats_etl.parse import Parsed, RawPage, normalise, parse_history, read_history
from vats_etl.periods import Window
from vats_etl.schemas import validate

log = logging.getLogger(__name__)

SETTLE = timedelta(hours=6)
DAILY_MAX_DAYS = 31
TABLES: dict[str, str] = {"external": "calls", "internal": "internal_calls"}
# Write a transaction once this many rows are waiting (fewer, larger upserts are faster).
BATCH_ROWS = 150_000
BATCH_SECONDS = 2.0
# Most chunks processed ahead of the writer (see _in_order).
MAX_AHEAD = 64
# Fetchers wait on the network; parsing and validating need a core each. More of those at
# once than there are cores only thrash (polars already runs its own thread pool).
CPU_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
# DuckDB's memory while writing batches (its default, 80 % of RAM, lets its cache grow
# with the table).
WRITER_MEMORY_LIMIT = "256MB"
# Longest a run keeps the DuckDB file to itself before letting other writers in.
HOLD_S = 5.0


@dataclass(frozen=True)
class LoadChunk:
    """A planned unit of a load: one local day of one history kind in one format (its window
    in UTC), written in one piece with its `load_runs` row."""

    kind: HistoryKind
    fmt: HistoryFormat
    window: Window
    day: date

    def __str__(self) -> str:
        return f"{self.kind}/{self.fmt} {self.day.isoformat()} ({self.window})"

    def as_format(self, fmt: HistoryFormat) -> LoadChunk:
        return dataclasses.replace(self, fmt=fmt)


# A history format an account answers these for is one it does not have (a 501 was seen on
# history/json): not a hiccup to retry, nor a failure — the other format is loaded instead.
LACKING_FORMAT_STATUSES = frozenset({404, 405, 501})
OTHER_FORMAT: dict[str, HistoryFormat] = {"json": "csv", "csv": "json"}


@dataclass(frozen=True)
class FormatFallback:
    """The account lacks `kind` history in `lacking` (the API answered `error`): `used` is
    loaded instead, in this run and the next ones (the warehouse remembers it)."""

    kind: str
    lacking: str
    used: str
    error: str

    def message(self) -> str:
        path = HISTORY_PATHS[(self.kind, self.lacking)]
        return (
            f"{path} is not offered by this account ({self.error.rsplit(': ', 1)[-1]}): "
            f"{self.kind} history is loaded as {self.used} from now on"
        )


class FormatSwitch:
    """The history formats the account lacks, learned while a run goes (shared by its
    fetch threads): a chunk planned in a lacking format is fetched in the other one."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], FormatFallback] = {}
        self._lock = threading.Lock()

    def chunk_to_fetch(self, chunk: LoadChunk) -> LoadChunk:
        with self._lock:
            known = self._known.get((chunk.kind, chunk.fmt))
        return chunk if known is None else chunk.as_format(cast(HistoryFormat, known.used))

    def learn(self, fallback: FormatFallback) -> bool:
        """Remember `fallback`; True the first time (the run says so once)."""
        with self._lock:
            key = (fallback.kind, fallback.lacking)
            if key in self._known:
                return False
            self._known[key] = fallback
            return True


@dataclass
class LoadChunkResult:
    """A processed chunk: its rows (when it worked) and everything `load_runs` records."""

    chunk: LoadChunk
    chunk_id: str
    started_at: datetime
    good: pl.DataFrame | None = None
    rejected: pl.DataFrame | None = None
    rows_received: int = 0
    rows_loaded: int = 0
    pages: int = 0
    requests: int = 0
    fetched_at: datetime | None = None
    error: str | None = None
    fetch_s: float = 0.0
    parse_s: float = 0.0
    validate_s: float = 0.0
    load_s: float = 0.0
    finished_at: datetime | None = None
    # What parsing normalised on the way (parse.Parsed.notes), for the data_quality view.
    notes: Counter[str] = field(default_factory=Counter)
    # The HTTP status of an API error that failed the chunk (a lacking format answers 501...)
    error_status: int | None = None
    # The chunk the plan asked for, when another format was fetched (`chunk`) in its place
    planned_as: LoadChunk | None = None
    # Why another format was fetched; `first_fallback`: this chunk found it out in this run
    fallback: FormatFallback | None = None
    first_fallback: bool = False

    @property
    def planned(self) -> LoadChunk:
        return self.planned_as or self.chunk

    @property
    def rows_quarantined(self) -> int:
        return 0 if self.rejected is None else self.rejected.height

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        return "partial" if self.rows_quarantined else "ok"

    def fallback_run(self, run_id: str) -> warehouse.LoadRun | None:
        """The `load_runs` row (status skipped) of the format this chunk tried first and
        the account lacks, when it was loaded in the other one."""
        if self.fallback is None or self.planned_as is None:
            return None
        planned = self.planned_as
        if planned.fmt == self.chunk.fmt:
            return None  # the switch was known before the chunk was fetched
        return warehouse.LoadRun(
            chunk_id=f"{self.chunk_id}-{planned.fmt}",
            run_id=run_id,
            kind=planned.kind,
            format=planned.fmt,
            window_start=planned.window.start,
            window_end=planned.window.end,
            day=planned.day,
            status="skipped",
            rows_received=0,
            rows_loaded=0,
            rows_quarantined=0,
            pages=0,
            requests=1,
            error=self.fallback.message(),
            fetched_at=None,
            started_at=self.started_at,
            finished_at=self.finished_at or datetime.now(UTC),
            fetch_s=None,
            parse_s=None,
            validate_s=None,
            load_s=None,
        )

    def load_run(self, run_id: str) -> warehouse.LoadRun:
        return warehouse.LoadRun(
            chunk_id=self.chunk_id,
            run_id=run_id,
            kind=self.chunk.kind,
            format=self.chunk.fmt,
            window_start=self.chunk.window.start,
            window_end=self.chunk.window.end,
            day=self.chunk.day,
            status=self.status,
            rows_received=self.rows_received,
            rows_loaded=self.rows_loaded,
            rows_quarantined=self.rows_quarantined,
            pages=self.pages,
            requests=self.requests,
            error=self.error,
            fetched_at=self.fetched_at,
            started_at=self.started_at,
            finished_at=self.finished_at or datetime.now(UTC),
            fetch_s=self.fetch_s,
            parse_s=self.parse_s,
            validate_s=self.validate_s,
            load_s=self.load_s,
        )


@dataclass
class KindTotals:
    chunks: int = 0
    failed: int = 0
    rows_received: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    skipped: int = 0
    totals: dict[str, KindTotals] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    # what the user should know although nothing failed (an endpoint the account lacks)
    warnings: list[str] = field(default_factory=list)

    def add(self, result: LoadChunkResult) -> None:
        if result.fallback is not None and result.first_fallback:
            self.warnings.append(result.fallback.message())
        totals = self.totals.setdefault(result.chunk.kind, KindTotals())
        totals.chunks += 1
        totals.rows_received += result.rows_received
        totals.rows_loaded += result.rows_loaded
        totals.rows_quarantined += result.rows_quarantined
        if result.error is not None:
            totals.failed += 1
            self.failures.append((str(result.chunk), result.error))

    def merge(self, other: RunSummary) -> None:
        """Fold the totals of a part of this run (e.g. one month) into this summary."""
        for kind, t in other.totals.items():
            mine = self.totals.setdefault(kind, KindTotals())
            mine.chunks += t.chunks
            mine.failed += t.failed
            mine.rows_received += t.rows_received
            mine.rows_loaded += t.rows_loaded
            mine.rows_quarantined += t.rows_quarantined
        self.failures.extend(other.failures)
        self.warnings.extend(other.warnings)

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.totals.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.totals.values())

    @property
    def status(self) -> str:
        """ok, partial (rows quarantined, everything else loaded) or failed (a chunk failed)."""
        if self.failures:
            return "failed"
        return "partial" if self.rows_quarantined else "ok"

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()


LoadChunkHook = Callable[[LoadChunkResult], None]
Item = TypeVar("Item")
ChunkKey = tuple[str, str, datetime, datetime]  # kind, format, window start, window end


def new_run_id() -> str:
    return uuid.uuid4().hex


# -- planning (pure) --------------------------------------------------------------------------


def plan(
    first: date,
    last: date,
    zone: ZoneInfo,
    kinds: Sequence[HistoryKind] = HISTORY_KINDS,
    fmts: Sequence[HistoryFormat] = ("json",),
    *,
    lacking: Mapping[tuple[str, str], str] | None = None,
) -> list[LoadChunk]:
    """Day chunks, oldest first; for one day, every kind and format. `lacking` maps a
    (kind, format) the account does not offer to the format loaded instead
    (warehouse.format_fallbacks: what earlier runs found out)."""
    instead = lacking or {}
    chunks: dict[LoadChunk, None] = {}  # json and csv asked of an account with one: one chunk
    for window in periods.days(first, last, zone):
        day = periods.local_date(window.start, zone)
        for kind in kinds:
            for fmt in fmts:
                chunks[
                    LoadChunk(kind, cast(HistoryFormat, instead.get((kind, fmt), fmt)), window, day)
                ] = None
    return list(chunks)


def settled_keys(con: duckdb.DuckDBPyConnection) -> set[ChunkKey]:
    """Chunks loaded after their window had settled: a resumed backfill skips them."""
    rows = con.execute(
        "select kind, format, window_start, window_end from load_runs "
        "where status in ('ok', 'partial') and fetched_at >= window_end + ?",
        [SETTLE],
    ).fetchall()
    return {(k, f, s.astimezone(UTC), e.astimezone(UTC)) for k, f, s, e in rows}


def without_settled(
    chunks: Sequence[LoadChunk], settled: set[tuple[str, str, datetime, datetime]]
) -> list[LoadChunk]:
    return [c for c in chunks if (c.kind, c.fmt, c.window.start, c.window.end) not in settled]


def daily_range(
    con: duckdb.DuckDBPyConnection, now: datetime, zone: ZoneInfo, kinds: Sequence[HistoryKind]
) -> tuple[date, date]:
    """From the first unsettled day (yesterday at the latest) to today."""
    today = periods.local_date(now, zone)
    first = today - timedelta(days=1)
    floor = today - timedelta(days=DAILY_MAX_DAYS)
    settled = settled_keys(con)
    day = first
    while day > floor:
        previous = day - timedelta(days=1)
        window = periods.day_window(previous, zone)
        if all(
            any((k, f, window.start, window.end) in settled for f in ("json", "csv")) for k in kinds
        ):
            break
        day = previous
    return day, today


# -- one chunk (runs in a worker thread) ------------------------------------------------------


class Density:
    """Where to cut a day before fetching it, learned from the kind's recent days.

    A day of a large company holds more rows than one response may carry, and calls bunch
    up in working hours, so halving a day blindly wastes full responses that only get split.
    Instead we cut at the quantiles of the busiest of the last week's days, aiming at
    `target` of the limit per piece (margin for a busier day). Shared by the fetch threads;
    a stale read costs at most one extra request.
    """

    def __init__(self, limit: int, target: float = 0.5, memory: int = 7) -> None:
        self.limit = limit
        self.target = target
        self._recent: dict[str, deque[tuple[int, list[float]]]] = {}
        self._memory = memory
        self._lock = threading.Lock()

    def pieces(self, kind: str, window: Window) -> list[Window]:
        with self._lock:
            recent = list(self._recent.get(kind, ()))
        if not recent:
            return [window]
        rows, offsets = max(recent, key=lambda item: item[0])
        parts = math.ceil(rows / (self.target * self.limit))
        if parts <= 1:
            return [window]
        cuts = sorted({int(offsets[len(offsets) * i // parts]) for i in range(1, parts)})
        bounds = [window.start]
        bounds += [window.start + timedelta(seconds=c) for c in cuts if 0 < c < window.seconds]
        bounds.append(window.end)
        return [Window(a, b) for a, b in itertools.pairwise(bounds)]

    def learn(self, kind: str, window: Window, frames: Sequence[pl.DataFrame]) -> None:
        started = pl.concat([f.get_column("started_at") for f in frames]).drop_nulls()
        offsets = (started - window.start).dt.total_seconds().sort().to_list()
        with self._lock:
            recent = self._recent.setdefault(kind, deque(maxlen=self._memory))
            recent.append((len(offsets), offsets))


def process_chunk(
    client: PbxClient,
    chunk: LoadChunk,
    *,
    raw_dir: Path,
    zone: ZoneInfo,
    now: Callable[[], datetime],
    density: Density | None = None,
    formats: FormatSwitch | None = None,
) -> LoadChunkResult:
    """:func:`fetch_chunk`, in the format the account offers: with `formats`, a chunk whose
    format the account lacks (404/405/501 on its history path) is fetched in the other one,
    and the switch learned, once that one loads."""

    def fetch(one: LoadChunk) -> LoadChunkResult:
        return fetch_chunk(client, one, raw_dir=raw_dir, zone=zone, now=now, density=density)

    if formats is None:
        return fetch(chunk)
    fetched = formats.chunk_to_fetch(chunk)
    result = fetch(fetched)
    result.planned_as = chunk if fetched != chunk else None
    if result.error_status not in LACKING_FORMAT_STATUSES or fetched != chunk:
        return result
    other = chunk.as_format(OTHER_FORMAT[chunk.fmt])
    retry = fetch(other)
    if retry.error is not None:  # neither format: not a format the account lacks
        result.error = f"{result.error}; as {other.fmt}: {retry.error}"
        return result
    retry.planned_as = chunk
    retry.fallback = FormatFallback(chunk.kind, chunk.fmt, other.fmt, result.error or "")
    retry.first_fallback = formats.learn(retry.fallback)
    retry.requests += result.requests
    return retry


def fetch_chunk(
    client: PbxClient,
    chunk: LoadChunk,
    *,
    raw_dir: Path,
    zone: ZoneInfo,
    now: Callable[[], datetime],
    density: Density | None = None,
) -> LoadChunkResult:
    """Fetch (splitting full windows), archive, parse and validate one chunk.

    Each body is archived and read (its shape checked, its rows counted) as it arrives; the
    day's pages are then normalised and validated together, because a polars query costs
    milliseconds of planning whatever its size. Expected failures (API errors, unknown
    shapes) end up in `result.error`; the chunk is then reported and the others carry on.
    """
    result = LoadChunkResult(chunk, uuid.uuid4().hex, started_at=datetime.now(UTC))
    raw_pages: list[RawPage] = []

    def archive_and_read(window: Window, response: Response) -> RawPage:
        result.requests += 1
        result.fetch_s += response.elapsed_s
        archive.store(
            raw_dir, chunk.kind, chunk.fmt, window, response.body, response.fetched_at, zone
        )
        with CPU_SLOTS:
            started = time.perf_counter()
            try:
                return read_history(chunk.kind, chunk.fmt, response.body)
            except errors.UnknownShape as exc:
                raise errors.UnknownShape(f"{chunk.kind}/{chunk.fmt} {window}: {exc}") from None
            finally:
                result.parse_s += time.perf_counter() - started

    try:
        pieces = density.pieces(chunk.kind, chunk.window) if density else None
        pages = client.history(
            chunk.kind, chunk.fmt, chunk.window, decode=archive_and_read, pieces=pieces
        )
        for page in pages:
            raw_pages.append(page.decoded)
            result.pages += 1
            result.fetched_at = page.fetched_at
        with CPU_SLOTS:
            started = time.perf_counter()
            parsed = normalise(raw_pages)
            result.parse_s += time.perf_counter() - started
            if density:
                density.learn(chunk.kind, chunk.window, [p.frame for p in parsed])
            apply_validation(result, parsed, now())
    except errors.ArchiveError:
        raise  # the archive cannot be written (disk full, ...): no chunk can load, stop the run
    except errors.VatsError as exc:
        result.error = str(exc)
        result.error_status = exc.status if isinstance(exc, errors.ApiError) else None
        result.good = result.rejected = None
    result.finished_at = datetime.now(UTC)
    return result


def apply_validation(result: LoadChunkResult, pages: Sequence[Parsed], now: datetime) -> None:
    started = time.perf_counter()
    goods: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    for parsed in pages:
        result.rows_received += len(parsed)
        result.notes.update(parsed.notes)
        checked = validate(result.chunk.kind, parsed, now)
        goods.append(checked.good)
        if not checked.rejected.is_empty():
            rejects.append(checked.rejected)
    result.good = pl.concat(goods) if goods else None
    result.rejected = pl.concat(rejects) if rejects else None
    result.validate_s += time.perf_counter() - started


# -- writing (the calling thread) -------------------------------------------------------------


def write_batch(
    con: duckdb.DuckDBPyConnection, results: Sequence[LoadChunkResult], run_id: str
) -> None:
    """One transaction: rows, quarantined rows and `load_runs` rows of several chunks."""
    started = time.perf_counter()
    loaded_at = datetime.now(UTC)
    with warehouse.transaction(con):
        for kind, table in TABLES.items():
            frames = [r.good for r in results if r.chunk.kind == kind and r.good is not None]
            if frames:
                warehouse.upsert(con, table, pl.concat(frames, how="vertical_relaxed"), loaded_at)
        for r in results:
            r.rows_loaded = 0 if r.good is None else r.good.height
            if r.rejected is not None:
                warehouse.quarantine(
                    con,
                    r.rejected,
                    kind=r.chunk.kind,
                    fmt=r.chunk.fmt,
                    chunk_id=r.chunk_id,
                    seen_at=loaded_at,
                )
        elapsed = time.perf_counter() - started
        rows = sum(r.rows_received for r in results) or 1
        for r in results:
            r.load_s = elapsed * r.rows_received / rows
        fallbacks = [run for r in results if (run := r.fallback_run(run_id)) is not None]
        warehouse.record_load_runs(con, [r.load_run(run_id) for r in results] + fallbacks)
        warehouse.record_format_fallbacks(
            con,
            [
                (r.fallback.kind, r.fallback.lacking, r.fallback.used, r.fallback.error)
                for r in results
                if r.fallback is not None and r.first_fallback
            ],
            loaded_at,
        )
        warehouse.record_load_notes(
            con, [(r.chunk_id, note, rows) for r in results for note, rows in r.notes.items()]
        )


def run(
    settings: Settings,
    chunks: Sequence[LoadChunk],
    *,
    client: PbxClient,
    run_id: str | None = None,
    concurrency: int = 4,
    on_chunk: LoadChunkHook | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    stop: threading.Event | None = None,
) -> RunSummary:
    """Process `chunks` with `concurrency` fetchers and write them in plan order."""
    summary = RunSummary(run_id or new_run_id(), started_at=datetime.now(UTC))
    zone = settings.zone

    density = Density(client.page_limit)
    formats = FormatSwitch()

    def work(chunk: LoadChunk) -> LoadChunkResult:
        return process_chunk(
            client,
            chunk,
            raw_dir=settings.raw_dir,
            zone=zone,
            now=now,
            density=density,
            formats=formats,
        )

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch") as pool:
        results = _in_order(
            pool, work, chunks, ahead=concurrency * 2, rows_ahead=BATCH_ROWS, stop=stop
        )
        try:
            _write_all(settings, results, summary, on_chunk)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # the run is over: fetch nothing more
            raise
    summary.finished_at = datetime.now(UTC)
    return summary


def begin(
    settings: Settings,
    first: date,
    last: date,
    *,
    client: PbxClient,
    kinds: Sequence[HistoryKind] = HISTORY_KINDS,
    fmts: Sequence[HistoryFormat] = ("json",),
    concurrency: int = 4,
    force: bool = False,
    on_chunk: LoadChunkHook | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Load:
    """Plan a backfill (without the chunks already loaded settled, unless `force`; in the
    formats the account offers) and start loading it in the background. The load owns
    `client` and closes it."""
    with warehouse.connect(
        settings.db_path,
        company=warehouse.Company.from_settings(settings),
        timeout_s=settings.db_lock_timeout_s,
    ) as con:
        lacking = warehouse.format_fallbacks(con)  # formats earlier runs found missing
        chunks = plan(first, last, settings.zone, kinds, fmts, lacking=lacking)
        planned = len(chunks)
        if not force:
            chunks = without_settled(chunks, settled_keys(con))
    load = Load(
        settings, chunks, client=client, concurrency=concurrency, on_chunk=on_chunk, now=now
    )
    load.summary.skipped = planned - len(chunks)
    return load.start()


class Load:
    """:func:`run` in a background thread, followed part by part.

    A backfill is one pipeline over its whole range — the fetchers and the writer never
    wait for a part (a month) to drain before the next begins — while its flow reports
    progress per month: :meth:`wait` returns once every chunk of a part is written. An
    error that stops the run (the archive or the warehouse cannot be written, the
    warehouse stays busy) is raised by every later :meth:`wait` and by :meth:`join`; a
    failed chunk is no such error, it is in the summaries.
    """

    def __init__(
        self,
        settings: Settings,
        chunks: Sequence[LoadChunk],
        *,
        client: PbxClient,
        concurrency: int = 4,
        on_chunk: LoadChunkHook | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.chunks = list(chunks)
        self.summary = RunSummary(new_run_id(), started_at=datetime.now(UTC))
        self._client = client
        self._concurrency = concurrency
        self._on_chunk = on_chunk
        self._now = now
        self._written: dict[LoadChunk, RunSummary] = {}
        self._error: BaseException | None = None
        self._finished = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with self._client:
                done = run(
                    self.settings,
                    self.chunks,
                    client=self._client,
                    run_id=self.summary.run_id,
                    concurrency=self._concurrency,
                    on_chunk=self._note,
                    now=self._now,
                    stop=self._stop,
                )
            self.summary.merge(done)
            self.summary.finished_at = done.finished_at
        except BaseException as exc:
            self._error = exc
        finally:
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def _note(self, result: LoadChunkResult) -> None:
        part = RunSummary(self.summary.run_id, result.started_at, result.finished_at)
        part.add(result)
        with self._changed:
            self._written[result.planned] = part
            self._changed.notify_all()
        if self._on_chunk is not None:
            self._on_chunk(result)

    def wait(self, chunks: Sequence[LoadChunk]) -> RunSummary:
        """The summary of `chunks` once each is written."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._finished or all(c in self._written for c in chunks)
            )
            if self._error is not None:
                raise self._error
            if not all(c in self._written for c in chunks):
                raise errors.VatsError("the load was stopped before these chunks were written")
            parts = [self._written[c] for c in chunks]
        summary = RunSummary(self.summary.run_id, started_at=self.summary.started_at)
        for part in parts:
            summary.merge(part)
        summary.finished_at = max((p.finished_at for p in parts if p.finished_at), default=None)
        return summary

    def stop(self) -> None:
        """Fetch nothing more; the chunks in flight are still written."""
        self._stop.set()

    def join(self) -> RunSummary:
        """The whole run's summary once it has ended."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.summary

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *exc: object) -> None:
        """Leaving early (an error in the caller) stops the load and waits for it."""
        self.stop()
        self._thread.join()


def _in_order(
    pool: ThreadPoolExecutor,
    work: Callable[[Item], LoadChunkResult],
    items: Iterable[Item],
    *,
    ahead: int,
    rows_ahead: int = 0,
    stop: threading.Event | None = None,
) -> Iterator[LoadChunkResult]:
    """Results in submission order, with `ahead` items submitted but not consumed — more
    when `rows_ahead` rows (at the rows per item seen so far) need more items, up to
    :data:`MAX_AHEAD`. Keeping about a batch of rows ahead lets the fetchers work on while
    the caller writes the previous batch, and bounds memory by rows, not by days."""
    queue: deque[Future[LoadChunkResult]] = deque()
    todo = iter(items)
    consumed = consumed_rows = 0

    def wanted() -> int:
        if not consumed or not rows_ahead:
            return ahead
        rows_per_item = max(1.0, consumed_rows / consumed)
        return max(ahead, min(MAX_AHEAD, int(rows_ahead / rows_per_item)))

    def top_up() -> None:
        if len(queue) >= wanted() or (stop is not None and stop.is_set()):
            return
        for item in todo:
            queue.append(pool.submit(work, item))
            if len(queue) >= wanted():
                return

    top_up()
    while queue:
        result = queue.popleft().result()
        consumed += 1
        consumed_rows += result.rows_received
        top_up()
        yield result


class _Writer:
    """The warehouse connection of a run, reopened at least every :data:`HOLD_S` seconds.

    Opening (and the checkpoint on closing) costs a fraction of a second, so consecutive
    batches share a connection; letting go regularly gives the webhook receiver and other
    writers their turn during a long backfill.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack: contextlib.ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = 0.0

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._stack = contextlib.ExitStack()
            self._con = self._stack.enter_context(
                warehouse.connect(
                    self.settings.db_path,
                    company=warehouse.Company.from_settings(self.settings),
                    timeout_s=self.settings.db_lock_timeout_s,
                )
            )
            self._con.execute(f"set memory_limit = '{WRITER_MEMORY_LIMIT}'")
            self._opened = time.monotonic()
        return self._con

    def release_if_held(self, seconds: float) -> None:
        if self._con is not None and time.monotonic() - self._opened >= seconds:
            self.close()

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._con = None, None


def _write_all(
    settings: Settings,
    results: Iterable[LoadChunkResult],
    summary: RunSummary,
    on_chunk: LoadChunkHook | None,
) -> None:
    waiting: list[LoadChunkResult] = []
    waiting_rows = 0
    last_write = time.monotonic()
    writer = _Writer(settings)

    def flush() -> None:
        nonlocal waiting, waiting_rows, last_write
        if not waiting:
            return
        write_batch(writer.connection(), waiting, summary.run_id)
        writer.release_if_held(HOLD_S)
        for r in waiting:
            summary.add(r)
            if on_chunk is not None:
                on_chunk(r)
            r.good = r.rejected = None  # free the rows
        waiting, waiting_rows, last_write = [], 0, time.monotonic()

    try:
        for result in results:
            waiting.append(result)
            waiting_rows += result.rows_received
            if waiting_rows >= BATCH_ROWS or time.monotonic() - last_write >= BATCH_SECONDS:
                flush()
        flush()
    finally:
        writer.close()


# -- replay from the raw archive --------------------------------------------------------------


def archived_pages(
    raw_dir: Path,
    first: date | None,
    last: date | None,
    kinds: Sequence[HistoryKind] = HISTORY_KINDS,
) -> list[archive.ArchivedPage]:
    """Every archived history page in the range, in the order it was first received."""
    found = [
        page
        for kind in kinds
        for fmt in ("json", "csv")
        for page in archive.pages(raw_dir, kind, fmt, first, last)
    ]
    return sorted(found)


def replay_page(page: archive.ArchivedPage, zone: ZoneInfo, now: datetime) -> LoadChunkResult:
    """Parse and validate one archived page exactly as if it had just been fetched."""
    day = periods.local_date(page.window.start, zone)
    chunk = LoadChunk(cast(HistoryKind, page.kind), cast(HistoryFormat, page.fmt), page.window, day)
    result = LoadChunkResult(chunk, uuid.uuid4().hex, started_at=datetime.now(UTC))
    result.pages = 1
    result.fetched_at = page.fetched_at
    try:
        started = time.perf_counter()
        parsed = parse_history(chunk.kind, chunk.fmt, page.read())
        result.parse_s = time.perf_counter() - started
        apply_validation(result, [parsed], now)
    except errors.VatsError as exc:
        result.error = f"{page.path}: {exc}"
        result.good = result.rejected = None
    result.finished_at = datetime.now(UTC)
    return result


def replay(
    settings: Settings,
    first: date | None = None,
    last: date | None = None,
    *,
    kinds: Sequence[HistoryKind] = HISTORY_KINDS,
    run_id: str | None = None,
    on_chunk: LoadChunkHook | None = None,
    concurrency: int = 2,
) -> RunSummary:
    """Rebuild history tables from the raw archive: no API calls, same tables."""
    pages = archived_pages(settings.raw_dir, first, last, kinds)
    if not pages:
        raise errors.ArchiveError(f"no archived history pages under {settings.raw_dir}")
    summary = RunSummary(run_id or new_run_id(), started_at=datetime.now(UTC))
    now = datetime.now(UTC)
    zone = settings.zone

    def work(page: archive.ArchivedPage) -> LoadChunkResult:
        return replay_page(page, zone, now)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="replay") as pool:
        results = _in_order(pool, work, pages, ahead=concurrency * 2)
        _write_all(settings, results, summary, on_chunk)
    summary.finished_at = datetime.now(UTC)
    return summary
