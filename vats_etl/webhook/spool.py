"""The write-ahead spool: every accepted webhook is on disk (fsync) before it is answered.

Layout: a directory of append-only *segments* ``000000000042.spool`` (numbered in order) and
a ``spool.lock`` that one receiver holds (``flock``; the kernel drops it when the process
dies, even on ``kill -9``). A segment is JSON lines, one :class:`~.payloads.Record` per line,
``crm_token`` already stripped. Only the newest segment (the *active* one) is written to;
the others are *sealed*. A receiver never appends to a segment a previous process wrote:
on start it seals what it finds and opens a new one, so a line torn by a crash can only be
the very last bytes of a sealed segment — that line was never acknowledged, and readers
skip an unterminated tail.

Group commit: request handlers call :meth:`Spool.submit` with their line and a waiter; one
writer thread takes everything submitted so far, writes it with one ``write`` and makes it
durable with one ``fdatasync``, then hands the whole group of waiters to ``on_commit``. While
it syncs, new lines queue up for the next group, so under load one fsync serves hundreds of
requests. A failed write is cut back (``ftruncate``) to the last durable byte and the segment
is sealed, so a half-written line can never merge with a later acknowledged one.

Readers (the applier) use :meth:`read` from a :class:`Position` up to the durable end (a
line of any size comes back whole) and, once a batch is committed to DuckDB,
:meth:`release` the segments they have finished: only then are the files deleted. Segments
rotate by size or age (also when idle), so applied data does not linger.

Health: :meth:`oldest_unapplied` tells when the oldest record beyond a reader's position was
committed (the spool lag), :attr:`write_error` the last write's failure (cleared by the next
success), :meth:`stalled_s` how long the lines of the write in progress have been waiting to
be durable.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vats_etl.errors import WebhookError

log = logging.getLogger(__name__)

SUFFIX: Final = ".spool"
LOCK_NAME: Final = "spool.lock"
FAILED_NAME: Final = "failed.jsonl"
LAG_GRAIN_S: Final = 0.1  # commits this close together share one entry of the commit log

OnCommit = Callable[[list[object], OSError | None], None]


class SpoolFull(WebhookError):
    """The spool holds more unapplied bytes than allowed (the database is unavailable)."""


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the spool: segment number and byte offset (always at a line start)."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """What one :meth:`Spool.read` returns, for the applier to commit in one transaction:
    the complete lines read, the position reading stopped at, and the segments read to
    their end (to release once the batch is committed)."""

    lines: list[bytes]
    end: Position
    finished: list[int]
    torn: int  # unterminated tails skipped (left by a crash mid-write)


def segment_name(seq: int) -> str:
    return f"{seq:012d}{SUFFIX}"


def list_segments(directory: Path) -> list[int]:
    found = []
    for path in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(ValueError):
            found.append(int(path.stem))
    return sorted(found)


def _read_whole_lines(path: Path, offset: int, limit: int, max_bytes: int) -> bytes:
    """Bytes of ``path`` from ``offset``: ``max_bytes`` of them, or as many more as it takes
    to end a line (up to ``limit``), so a line longer than ``max_bytes`` is read whole."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        parts = [fh.read(min(limit - offset, max_bytes))]
        read = len(parts[0])
        while b"\n" not in parts[-1] and offset + read < limit:
            more = fh.read(min(limit - offset - read, max_bytes))
            if not more:
                break
            parts.append(more)
            read += len(more)
    return b"".join(parts)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """One receiver's spool directory: group-committed appends, reads, and releases."""

    def __init__(
        self,
        directory: Path,
        on_commit: OnCommit,
        *,
        segment_max_bytes: int = 4 << 20,
        segment_max_age_s: float = 2.0,
        max_bytes: int = 1 << 30,
    ) -> None:
        self.directory = directory
        self._on_commit = on_commit
        self._segment_max_bytes = segment_max_bytes
        self._segment_max_age_s = segment_max_age_s
        self._max_bytes = max_bytes
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._queue: list[bytes] = []
        self._waiters: list[object] = []
        self._queued_bytes = 0
        self._queued_since: float | None = None  # when the oldest queued line was submitted
        self._stopping = False
        self._closed = False
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._active: int | None = None  # None once closed: every segment is sealed
        self._durable = 0  # bytes of the active segment that are on disk
        self._opened_at = 0.0
        self._segments: dict[int, int] = {}  # seq -> size (active: durable size)
        self._data_ready = threading.Condition(self._mutex)
        self._thread: threading.Thread | None = None
        # (end of a committed group, monotonic time of the first commit it stands for)
        self._commit_log: deque[tuple[Position, float]] = deque()
        # a write + fdatasync is in progress: when the oldest line it holds was submitted
        self._writing_since: float | None = None
        self._rotate_failing = False
        self._refused_for_room = False  # a line did not fit, and no room was freed since
        self.write_error: str | None = None  # the last write failed (cleared on success)
        self.commits = 0  # fsyncs done (for stats: requests / commits = group size)

    # -- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, seal what a previous process left, start a new segment."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise WebhookError(f"cannot use spool directory {self.directory}: {exc}") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock_fd)
            raise WebhookError(
                f"spool directory {self.directory} is in use by another webhook receiver"
            ) from None
        self._lock_fd = lock_fd
        opened = time.monotonic()
        for seq in list_segments(self.directory):
            size = (self.directory / segment_name(seq)).stat().st_size
            self._segments[seq] = size
            if size:  # left by an earlier run: unapplied, as far as we know, since now
                self._commit_log.append((Position(seq, size), opened))
        try:
            self._start_segment(max(self._segments, default=0) + 1)
        except OSError as exc:
            self.unlock()
            raise WebhookError(
                f"cannot create a spool segment in {self.directory}: {exc}"
            ) from None
        self._thread = threading.Thread(target=self._run, name="webhook-spool", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Commit what is queued, seal the active segment and stop the writer. The directory
        stays locked until :meth:`unlock`, so the applier can finish reading it."""
        with self._cond:
            if self._closed:
                return
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._active is not None and self._segments.get(self._active) == 0:
                self._delete(self._active)
            self._active = None
            self._closed = True
            self._data_ready.notify_all()

    def unlock(self) -> None:
        """Let another receiver use the directory (after :meth:`close` and the last apply)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    # -- writing -------------------------------------------------------------------------

    def submit(self, line: bytes, waiter: object) -> None:
        """Queue one newline-terminated line; ``on_commit`` gets ``waiter`` once it is durable.

        Thread-safe and non-blocking. Raises :class:`SpoolFull` when too much is unapplied.
        """
        with self._cond:
            if self._stopping:
                raise WebhookError("the spool is closing")
            if self.backlog_bytes() + len(line) > self._max_bytes:
                self._refused_for_room = True
                raise SpoolFull(f"spool {self.directory} holds more than {self._max_bytes} bytes")
            self._queue.append(line)
            self._waiters.append(waiter)
            self._queued_bytes += len(line)
            if len(self._queue) == 1:
                self._queued_since = time.monotonic()
                self._cond.notify()

    def backlog_bytes(self) -> int:
        """Bytes on disk not yet released by the applier, plus bytes queued."""
        return sum(self._segments.values()) + self._queued_bytes

    @property
    def full(self) -> bool:
        """No room for more: the limit is reached, or a line was refused for want of room
        and the applier has freed none since. The backlog alone can be under the limit while
        every webhook is refused (each would pass it), and health must say so."""
        with self._cond:
            return self._refused_for_room or self.backlog_bytes() >= self._max_bytes

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    if not self._cond.wait(timeout=self._segment_max_age_s):
                        self._maybe_rotate()
                lines, waiters = self._queue, self._waiters
                self._queue, self._waiters, self._queued_bytes = [], [], 0
                since, self._queued_since = self._queued_since, None
                if not lines and self._stopping:
                    return
            error = self._write(b"".join(lines), since if since is not None else time.monotonic())
            self._on_commit(waiters, error)

    def _write(self, data: bytes, since: float) -> OSError | None:
        """Append and fdatasync (outside the lock); on failure cut back and seal. `since`:
        when the oldest of these lines was submitted."""
        fd = self._fd
        # Counted from the submit, not from now: a request waits commit_timeout_s from its
        # submit, so when it is answered 503 the write must already count as stalled that
        # long, however late a busy machine let this thread start writing.
        self._writing_since = since
        try:
            if fd is None:
                raise OSError("no spool segment is open")
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fdatasync(fd)
        except OSError as exc:
            if self.write_error is None:  # once per failure spell, not once per group
                log.error("spool write failed (%s); requests are answered 503 until it works", exc)
            self.write_error = exc.strerror or str(exc)
            with self._cond:
                self._recover_after_failure()
            return exc
        finally:
            self._writing_since = None
        if self.write_error is not None:
            log.warning("spool writes work again")
            self.write_error = None
        with self._cond:
            assert self._active is not None
            self._durable += len(data)
            self._segments[self._active] = self._durable
            self.commits += 1
            self._note_commit(Position(self._active, self._durable))
            self._maybe_rotate()
            self._data_ready.notify_all()
        return None

    def _note_commit(self, end: Position) -> None:
        now = time.monotonic()
        if self._commit_log and now - self._commit_log[-1][1] < LAG_GRAIN_S:
            self._commit_log[-1] = (end, self._commit_log[-1][1])  # lag overstated < grain
        else:
            self._commit_log.append((end, now))

    def oldest_unapplied(self, applied: Position) -> float | None:
        """Monotonic time the oldest record beyond ``applied`` was committed (None: none)."""
        with self._cond:
            log_ = self._commit_log
            while log_ and log_[0][0] <= applied:
                log_.popleft()
            return log_[0][1] if log_ else None

    def stalled_s(self) -> float:
        """Seconds the oldest line of the write in progress has been waiting to be durable
        (0: no write is in progress)."""
        since = self._writing_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def _recover_after_failure(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._durable)
                os.fdatasync(self._fd)
        with contextlib.suppress(OSError):
            self._seal_and_start()

    def _maybe_rotate(self) -> None:
        if self._active is None or self._durable == 0:
            return
        age = time.monotonic() - self._opened_at
        if self._durable >= self._segment_max_bytes or age >= self._segment_max_age_s:
            try:
                self._seal_and_start()
            except OSError as exc:
                if not self._rotate_failing:  # once per failure spell: it is retried per commit
                    log.warning("cannot rotate spool segment (%s); will retry", exc)
                self._rotate_failing = True
            else:
                self._rotate_failing = False

    def _seal_and_start(self) -> None:
        assert self._active is not None
        old_fd, seq = self._fd, self._active
        self._start_segment(seq + 1)
        if old_fd is not None:
            os.close(old_fd)

    def _start_segment(self, seq: int) -> None:
        path = self.directory / segment_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)  # the new file's name must survive a power loss too
        self._fd, self._active, self._durable = fd, seq, 0
        self._segments[seq] = 0
        self._opened_at = time.monotonic()

    # -- reading -------------------------------------------------------------------------

    def first_position(self) -> Position:
        with self._cond:
            return Position(min(self._segments, default=0), 0)

    def wait_for_data(self, after: Position, timeout: float) -> bool:
        """Block until something durable lies beyond ``after`` (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._has_data(after):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return self._has_data(after)
                self._data_ready.wait(remaining)
            return True

    def _has_data(self, after: Position) -> bool:
        for seq, size in self._segments.items():
            if seq > after.segment and (size > 0 or seq != self._active):
                return True
            if seq == after.segment and size > after.offset:
                return True
        return False

    def read(self, start: Position, *, max_lines: int, max_bytes: int = 16 << 20) -> SpoolBatch:
        """Complete lines from ``start`` up to the durable end: at most ``max_lines``, and
        about ``max_bytes`` — more when one line is longer (a line is never cut)."""
        with self._cond:
            sizes = dict(self._segments)
            active = self._active
        lines: list[bytes] = []
        finished: list[int] = []
        torn = 0
        pos = start
        for seq in sorted(s for s in sizes if s >= start.segment):
            offset = start.offset if seq == start.segment else 0
            sealed = seq != active
            path = self.directory / segment_name(seq)
            limit = sizes[seq]
            if sealed:
                try:
                    limit = path.stat().st_size
                except FileNotFoundError:
                    limit = 0
            data = _read_whole_lines(path, offset, limit, max_bytes) if limit > offset else b""
            complete = data[: data.rfind(b"\n") + 1]
            room = max_lines - len(lines)
            taken = [line + b"\n" for line in complete.split(b"\n")[:-1][:room]]
            lines.extend(taken)
            pos = Position(seq, offset + sum(map(len, taken)))
            if len(lines) >= max_lines or offset + len(data) < limit or not sealed:
                return SpoolBatch(lines, pos, finished, torn)  # full, cut short, or the live end
            if pos.offset < limit:
                torn += 1
                log.warning(
                    "spool segment %s ends with %d bytes of an unfinished line (a crash "
                    "mid-write; that request was never acknowledged): skipped",
                    segment_name(seq),
                    limit - pos.offset,
                )
            finished.append(seq)
            pos = Position(seq + 1, 0)
        return SpoolBatch(lines, pos, finished, torn)

    def release(self, segments: list[int]) -> None:
        """Delete finished sealed segments (their records are committed to the warehouse)."""
        with self._cond:
            for seq in segments:
                if seq != self._active and seq in self._segments:
                    self._delete(seq)
                    self._refused_for_room = False

    def _delete(self, seq: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / segment_name(seq)).unlink()
        self._segments.pop(seq, None)

    def record_failure(self, line: bytes) -> None:
        """Keep a record the warehouse refused (dead letter) so it is not retried forever."""
        with open(self.directory / FAILED_NAME, "ab") as fh:
            fh.write(line if line.endswith(b"\n") else line + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
