"""The emulator's Python face: the company, the ground truth and the bytes the server sends.

History is served newest first (as the spec's example) and cut at the emulator clock: only
calls that started before ``clock()`` exist yet. A response holds at most ``limit`` rows
(default and maximum ``page_cap``), so a busy window really is truncated — the newest rows
are kept, and clients must split the window.

``dialect`` chooses how the API speaks: ``spec`` (the letter of the spec) or ``platform``
(what the platform's real answers look like: see render.py and docs/emulator.md). It changes
only the representation: the ground truth is the same in both. ``missing_endpoints`` are
endpoints the account does not offer (404): by default ``domain`` for ``spec`` (its letter
predates it), ``sims`` for ``platform``. ``not_implemented`` are history formats the account
answers 501 Not Implemented on; ``recordings_keep_days`` how long the PBX keeps recordings
(older ones answer 410).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from vats_etl.emulator import recordings, render
from vats_etl.emulator.cache import Lru
from vats_etl.emulator.calls import Array, CallModel
from vats_etl.emulator.directory import Directory, Timeline
from vats_etl.emulator.render import Marks, Style
from vats_etl.emulator.rng import DAY_SLOTS, MAKECALL_BASE, UidScrambler, day_number
from vats_etl.emulator.verdicts import Verdicts
from vats_etl.history import HistoryFormat, HistoryKind
from vats_etl.periods import Window, day_window, local_date

MAX_AGENTS = 1000  # keeps a day's calls inside its uid slots
OPTIONAL_ENDPOINTS = ("sims", "blacklist", "telnums", "domain")  # what an account may lack
# The spec's letter predates GET /domain; the platform's accounts often lack SIMs.
DEFAULT_MISSING: dict[str, tuple[str, ...]] = {"spec": ("domain",), "platform": ("sims",)}
# History formats an account may answer 501 Not Implemented on (one was seen doing so).
UNIMPLEMENTABLE = ("history/json", "history/csv")
_TYPE_CODES: dict[HistoryKind, dict[str, int]] = {
    "external": {"in": 0, "missed": 1, "out": 2},
    "internal": {"success": 0, "noanswer": 1},
}


@dataclass(frozen=True)
class DayRows:
    """A local day's rows as served, newest first, with what filtering needs.

    JSON rows stay dicts: orjson encodes a list of them ~10x faster than one by one."""

    start: Array  # int64 UTC epoch seconds
    type_code: Array  # see _TYPE_CODES
    items: list[Any]  # dicts (JSON) or encoded lines (CSV)
    # which missedStatus values the rows carry (they change as calls close misses)
    version: int | None = None

    @property
    def weight(self) -> int:
        """Approximate memory held, for the cache budget."""
        if self.items and isinstance(self.items[0], bytes):
            return sum(len(item) for item in self.items) + 40 * len(self.items)
        return 1200 * len(self.items)


class Emulator:
    """A synthetic company on a virtual PBX, deterministic from ``seed``."""

    def __init__(
        self,
        seed: int = 42,
        agents: int = 200,
        profile: str = "realistic",
        tz: str = "Europe/Moscow",
        page_cap: int = 5000,
        list_cap: int = 100,
        malformed_rate: float = 0.0,
        csv_shape: int | str = 10,
        clock: Callable[[], datetime] | None = None,
        cache_mb: int = 512,
        dialect: str = "spec",
        missing_endpoints: tuple[str, ...] | None = None,
        not_implemented: tuple[str, ...] = (),
        recordings_keep_days: int = recordings.KEEP_DAYS,
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        if not 5 <= agents <= MAX_AGENTS:
            raise ValueError(f"agents must be between 5 and {MAX_AGENTS}, got {agents}")
        if profile not in render.PROFILES:
            raise ValueError(f"profile must be one of {render.PROFILES}, got {profile!r}")
        if csv_shape not in render.CSV_SHAPES:
            raise ValueError(f"csv_shape must be one of {render.CSV_SHAPES}, got {csv_shape!r}")
        if page_cap < 1 or list_cap < 1:
            raise ValueError("page_cap and list_cap must be at least 1")
        if not 0.0 <= malformed_rate <= 1.0:
            raise ValueError("malformed_rate must be within [0, 1]")
        if dialect not in render.DIALECTS:
            raise ValueError(f"dialect must be one of {render.DIALECTS}, got {dialect!r}")
        missing = DEFAULT_MISSING[dialect] if missing_endpoints is None else missing_endpoints
        if not set(missing) <= set(OPTIONAL_ENDPOINTS):
            raise ValueError(f"missing_endpoints must be among {OPTIONAL_ENDPOINTS}")
        if not set(not_implemented) <= set(UNIMPLEMENTABLE):
            raise ValueError(f"not_implemented must be among {UNIMPLEMENTABLE}")
        if recordings_keep_days < 0:
            raise ValueError("recordings_keep_days must be at least 0")
        self.seed = seed
        self.agents = agents
        self.profile = profile
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.page_cap = page_cap
        self.list_cap = list_cap
        self.malformed_rate = malformed_rate
        self.csv_shape = csv_shape
        self.dialect = dialect
        self.missing_endpoints = tuple(missing)
        self.not_implemented = tuple(not_implemented)
        self.recordings_keep_days = recordings_keep_days
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.style = Style(seed, profile == "realistic", csv_shape, malformed_rate, dialect)
        self.uids = UidScrambler(seed)
        self.model = CallModel(seed, agents, self.zone, Timeline(seed, agents))
        self.verdicts = Verdicts(self.model, self.uids)
        # Rendered rows and bodies; a benchmark that pre-renders a long range needs more.
        budget = cache_mb << 20
        self._rows: Lru[DayRows] = Lru(4096, max_weight=budget, weigh=lambda r: r.weight)
        self._bodies: Lru[bytes] = Lru(4096, max_weight=budget, weigh=len)
        self._responses: Lru[tuple[bytes, int]] = Lru(
            1024, max_weight=256 << 20, weigh=lambda r: len(r[0])
        )
        self._makecalls = itertools.count()
        self._makecall_lock = threading.Lock()

    # time ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return local_date(self.now(), self.zone)

    def local_days(self, window: Window) -> list[date]:
        """The local days a window touches, oldest first."""
        if window.end <= window.start:
            return []
        first = local_date(window.start, self.zone)
        last = local_date(window.end - timedelta(microseconds=1), self.zone)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    # directory ----------------------------------------------------------------------------

    def directory(self, as_of: datetime) -> Directory:
        """The company as the API shows it at ``as_of`` (changes take effect at local midnight)."""
        return self.model.directory(local_date(as_of, self.zone))

    # ground truth -------------------------------------------------------------------------

    def external_calls(self, window: Window) -> list[dict[str, Any]]:
        """Canonical external rows that started in ``window`` before ``clock()``, oldest first."""
        rows: list[dict[str, Any]] = []
        now = self.now()
        for day in self.local_days(window):
            batch = self.model.day(day)
            marks = self._marks("external", day, len(batch))
            truth = render.external_truth(
                batch,
                self.model.directory(day),
                self.uids,
                marks,
                self.style,
                self.verdicts.statuses(day, now).tolist(),
            )
            rows.extend(r for r in truth if self._served(window, r["started_at"]))
        return rows

    def internal_calls(self, window: Window) -> list[dict[str, Any]]:
        """Canonical internal rows that started in ``window`` before ``clock()``, oldest first."""
        rows: list[dict[str, Any]] = []
        for day in self.local_days(window):
            batch = self.model.internal(day)
            marks = self._marks("internal", day, len(batch))
            truth = render.internal_truth(
                batch, self.model.directory(day), self.uids, marks, self.style
            )
            rows.extend(r for r in truth if self._served(window, r["started_at"]))
        return rows

    def _served(self, window: Window, started: datetime) -> bool:
        return window.contains(started) and started < self.now()

    def _marks(self, kind: HistoryKind, day: date, n: int) -> Marks:
        return Marks.draw(self.style, day, kind, n)

    # what the server sends ----------------------------------------------------------------

    def render_history(
        self,
        kind: HistoryKind,
        fmt: HistoryFormat,
        window: Window,
        type_filter: str = "all",
        limit: int | None = None,
    ) -> bytes:
        return self.history(kind, fmt, window, type_filter, limit)[0]

    def history(
        self,
        kind: HistoryKind,
        fmt: HistoryFormat,
        window: Window,
        type_filter: str = "all",
        limit: int | None = None,
    ) -> tuple[bytes, int]:
        """The response body for a history request, and how many rows it holds."""
        cap = self.page_cap if limit is None else min(limit, self.page_cap)
        cutoff = min(window.end, self.now())
        if cutoff < window.end:
            return self._assemble(kind, fmt, window, cutoff, type_filter, cap)
        # A window wholly in the past never changes (but for the verdicts it carries): keep
        # its body.
        versions = tuple(self._version(kind, fmt, day) for day in self.local_days(window))
        key = (kind, fmt, window.start, window.end, type_filter, cap, versions)
        found = self._responses.get(key)
        if found is None:
            found = self._assemble(kind, fmt, window, cutoff, type_filter, cap)
            self._responses.put(key, found)
        return found

    def _assemble(
        self,
        kind: HistoryKind,
        fmt: HistoryFormat,
        window: Window,
        cutoff: datetime,
        type_filter: str,
        cap: int,
    ) -> tuple[bytes, int]:
        pieces: list[bytes] = []
        count = 0
        for day in reversed(self.local_days(window)):
            if count >= cap:
                break
            bounds = day_window(day, self.zone)
            if bounds.start >= cutoff:
                continue
            rows = self.day_rows(kind, fmt, day)
            whole = window.start <= bounds.start and bounds.end <= cutoff and type_filter == "all"
            if whole and count + len(rows.items) <= cap:
                pieces.append(self._whole_day(kind, fmt, day, rows))
                count += len(rows.items)
                continue
            chosen = _select(rows, max(window.start, bounds.start), min(cutoff, bounds.end))
            if type_filter != "all":
                code = _TYPE_CODES[kind][type_filter]
                chosen = chosen[rows.type_code[chosen] == code]
            chosen = chosen[: cap - count]
            pieces.append(_join(fmt, [rows.items[i] for i in chosen.tolist()]))
            count += len(chosen)
        if fmt == "json":
            if not count and self.dialect == "platform":
                return b"null", 0  # how the platform answers an empty window
            return b"[" + b",".join(p for p in pieces if p) + b"]", count
        return b"".join(pieces), count

    def _whole_day(self, kind: HistoryKind, fmt: HistoryFormat, day: date, rows: DayRows) -> bytes:
        key = (kind, fmt, day, rows.version)
        return self._bodies.get_or_make(key, lambda: _join(fmt, rows.items))

    def day_rows(self, kind: HistoryKind, fmt: HistoryFormat, day: date) -> DayRows:
        statuses = self._statuses(kind, fmt, day)
        version = _version_of(statuses)
        return self._rows.get_or_make(
            (kind, fmt, day, version), lambda: self._render_day(kind, fmt, day, statuses)
        )

    def _statuses(self, kind: HistoryKind, fmt: HistoryFormat, day: date) -> Array | None:
        """The day's missedStatus values as of now, when its rows carry them (the platform's
        JSON history), else None."""
        if kind != "external" or fmt != "json" or not self.style.platform:
            return None
        return self.verdicts.statuses(day, self.now())

    def _version(self, kind: HistoryKind, fmt: HistoryFormat, day: date) -> int | None:
        return _version_of(self._statuses(kind, fmt, day))

    def _render_day(
        self, kind: HistoryKind, fmt: HistoryFormat, day: date, statuses: Array | None
    ) -> DayRows:
        directory = self.model.directory(day)
        items: list[Any]
        if kind == "external":
            batch = self.model.day(day)
            marks = self._marks(kind, day, len(batch))
            uids = self.uids.uids(batch.ordinal)
            types = render.external_type_codes(batch)
            starts = batch.start
            if fmt == "json":
                verdicts = None if statuses is None else statuses.tolist()
                items = render.external_json(batch, directory, uids, marks, self.style, verdicts)
            else:
                items = render.external_csv(batch, directory, uids, marks, self.style)
        else:
            internal = self.model.internal(day)
            marks = self._marks(kind, day, len(internal))
            uids = self.uids.uids(internal.ordinal)
            types = internal.status
            starts = internal.start
            if fmt == "json":
                items = render.internal_json(internal, directory, uids, marks, self.style)
            else:
                items = render.internal_csv(internal, directory, uids, marks, self.style)
        version = _version_of(statuses)
        return DayRows(
            start=starts[::-1], type_code=types[::-1], items=items[::-1], version=version
        )

    def prerender(self, first_day: date, last_day: date) -> None:
        """Render every history body of these days ahead (benchmarks serve from the cache)."""
        day = first_day
        while day <= last_day:
            for kind in ("external", "internal"):
                for fmt in ("json", "csv"):
                    self._whole_day(kind, fmt, day, self.day_rows(kind, fmt, day))
            day += timedelta(days=1)

    # recordings ---------------------------------------------------------------------------

    def recording(self, uid: str, recorded_on: date) -> tuple[recordings.Fate, bytes]:
        """Whether call ``uid``'s recording (of UTC date ``recorded_on``) is served today, and
        its bytes when it is."""
        fate = recordings.fate(
            self.seed, uid, recorded_on, self.today(), keep_days=self.recordings_keep_days
        )
        return fate, recordings.audio(self.seed, uid) if fate == "ok" else b""

    def domain_timezone(self) -> dict[str, Any]:
        """``GET /domain``'s zone: its name and its current offset from UTC in minutes."""
        offset = self.now().astimezone(self.zone).utcoffset() or timedelta(0)
        return {"name": self.tz, "offset": int(offset.total_seconds() // 60)}

    # makecall -----------------------------------------------------------------------------

    def makecall(self) -> str:
        """A fresh uid for a call started through ``POST /makecall`` (not added to history)."""
        with self._makecall_lock:
            n = next(self._makecalls) % (DAY_SLOTS - MAKECALL_BASE)
        return self.uids.uid(day_number(self.today()) * DAY_SLOTS + MAKECALL_BASE + n)


def _version_of(statuses: Array | None) -> int | None:
    return None if statuses is None else hash(statuses.tobytes())


def _select(rows: DayRows, start: datetime, end: datetime) -> Array:
    """Indexes of rows with ``start <= started < end`` (rows are newest first)."""
    lo, hi = start.timestamp(), end.timestamp()
    return np.flatnonzero((rows.start >= lo) & (rows.start < hi))


def _join(fmt: HistoryFormat, items: list[Any]) -> bytes:
    """JSON objects joined by commas (brackets are added once per body); CSV lines as-is."""
    return orjson.dumps(items)[1:-1] if fmt == "json" else b"".join(items)
