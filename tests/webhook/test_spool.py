"""The write-ahead spool: group commit, reading to the durable end, lines of any size, torn
tails, rotation, release after commit, exclusive use, a failed write that must not corrupt
later lines, and what the receiver's health reads (lag, stalled and failed writes)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from vats_etl.errors import WebhookError
from vats_etl.webhook import spool as spool_module
from vats_etl.webhook.spool import Position, Spool, SpoolFull, list_segments, segment_name


class Commits:
    """Collects what the writer thread reports, and lets a test wait for it."""

    def __init__(self) -> None:
        self.done: list[object] = []
        self.errors: list[OSError] = []
        self.cond = threading.Condition()

    def __call__(self, waiters: list[object], error: OSError | None) -> None:
        with self.cond:
            if error is None:
                self.done.extend(waiters)
            else:
                self.errors.append(error)
                self.done.extend(waiters)
            self.cond.notify_all()

    def wait(self, count: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.done) >= count, timeout=10)


def line(i: int) -> bytes:
    return b'{"k":"event","at":%d,"d":{}}\n' % i


def read_all(
    spool: Spool, start: Position | None = None
) -> tuple[list[bytes], Position, list[int]]:
    chunk = spool.read(start or spool.first_position(), max_lines=10**6)
    return chunk.lines, chunk.end, chunk.finished


@pytest.fixture
def commits() -> Commits:
    return Commits()


@pytest.fixture
def spool(tmp_path: Path, commits: Commits):
    s = Spool(tmp_path / "spool", commits)
    s.open()
    yield s
    s.close()
    s.unlock()


def test_lines_are_durable_and_readable_in_order(spool, commits):
    for i in range(100):
        spool.submit(line(i), i)
    commits.wait(100)
    assert commits.done == list(range(100))
    lines, end, finished = read_all(spool)
    assert lines == [line(i) for i in range(100)]
    assert finished == []  # the active segment is never finished
    assert read_all(spool, end)[0] == []


def test_group_commit_shares_fsyncs_between_concurrent_submitters(spool, commits):
    def submitter(base: int) -> None:
        for i in range(200):
            spool.submit(line(base + i), base + i)

    threads = [threading.Thread(target=submitter, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    commits.wait(1600)
    assert spool.commits < 1600  # many submissions shared one fsync
    assert sorted(read_all(spool)[0]) == sorted(
        line(k * 1000 + i) for k in range(8) for i in range(200)
    )


def test_reopening_seals_old_segments_and_skips_a_torn_tail(tmp_path, commits):
    directory = tmp_path / "spool"
    first = Spool(directory, commits)
    first.open()
    for i in range(3):
        first.submit(line(i), i)
    commits.wait(3)
    first.close()
    first.unlock()
    (old,) = list_segments(directory)
    with open(directory / segment_name(old), "ab") as fh:
        fh.write(b'{"k":"event","at":99,"d"')  # a crash in the middle of a write

    second = Spool(directory, commits)
    second.open()
    try:
        second.submit(line(3), 3)
        commits.wait(4)
        chunk = second.read(second.first_position(), max_lines=100)
        assert chunk.lines == [line(0), line(1), line(2), line(3)]
        assert chunk.finished == [old] and chunk.torn == 1
        second.release(chunk.finished)
        assert not (directory / segment_name(old)).exists()
        assert read_all(second, chunk.end)[0] == []
    finally:
        second.close()
        second.unlock()


def test_max_lines_and_resuming_across_segments(tmp_path, commits):
    s = Spool(tmp_path / "spool", commits, segment_max_bytes=200)  # rotate every few lines
    s.open()
    try:
        for i in range(50):
            s.submit(line(i), i)
            commits.wait(i + 1)  # one line per fsync, so segments fill up and rotate
        assert len(list_segments(s.directory)) > 5
        got: list[bytes] = []
        pos = s.first_position()
        released: list[int] = []
        while True:
            chunk = s.read(pos, max_lines=7)
            if not chunk.lines and not chunk.finished:
                break
            got.extend(chunk.lines)
            released.extend(chunk.finished)
            s.release(chunk.finished)
            pos = chunk.end
        assert got == [line(i) for i in range(50)]
        assert set(list_segments(s.directory)) == {s._active}  # only the live one remains
    finally:
        s.close()
        s.unlock()


def test_idle_rotation_lets_applied_segments_go(tmp_path, commits):
    s = Spool(tmp_path / "spool", commits, segment_max_age_s=0.05)
    s.open()
    try:
        s.submit(line(1), 1)
        commits.wait(1)
        assert s.wait_for_data(Position(0, 0), timeout=1)
        threading.Event().wait(0.3)  # idle: the writer rotates by age
        chunk = s.read(s.first_position(), max_lines=10)
        assert chunk.lines == [line(1)] and len(chunk.finished) == 1
        s.release(chunk.finished)
        assert s.backlog_bytes() == 0
    finally:
        s.close()
        s.unlock()


def test_one_receiver_per_directory(spool, commits):
    other = Spool(spool.directory, commits)
    with pytest.raises(WebhookError, match="in use by another webhook receiver"):
        other.open()


def test_spool_full_is_refused(tmp_path, commits):
    s = Spool(tmp_path / "spool", commits, max_bytes=100)
    s.open()
    try:
        s.submit(line(1), 1)
        commits.wait(1)
        with pytest.raises(SpoolFull):
            for i in range(10):
                s.submit(line(i), i)
    finally:
        s.close()
        s.unlock()


def sized(size: int) -> bytes:
    """A spool line of exactly `size` bytes, its newline included."""
    return b"x" * (size - 1) + b"\n"


def test_a_line_that_would_pass_the_limit_is_refused(tmp_path, commits):
    """max_bytes=100: a 60-byte line is taken, another 60 bytes would make 120: refused, and
    nothing of it is written."""
    s = Spool(tmp_path / "spool", commits, max_bytes=100)
    s.open()
    try:
        s.submit(sized(60), 1)
        assert not s.full  # room for 40 bytes more
        with pytest.raises(SpoolFull):
            s.submit(sized(60), 2)
        assert s.full  # what the next webhook would get, for /health to say
        commits.wait(1)
        assert commits.done == [1] and s.backlog_bytes() == 60
        assert read_all(s)[0] == [sized(60)]
    finally:
        s.close()
        s.unlock()


def test_a_full_spool_has_room_again_once_the_applier_releases(tmp_path, commits):
    s = Spool(tmp_path / "spool", commits, max_bytes=100, segment_max_age_s=0.05)
    s.open()
    try:
        s.submit(sized(60), 1)
        commits.wait(1)
        with pytest.raises(SpoolFull):
            s.submit(sized(60), 2)
        deadline = time.monotonic() + 10
        while not (chunk := s.read(s.first_position(), max_lines=10)).finished:
            assert time.monotonic() < deadline, "the segment was never sealed"
            time.sleep(0.02)
        assert s.full  # sealed, not yet applied: still no room
        s.release(chunk.finished)
        assert not s.full and s.backlog_bytes() == 0
        s.submit(sized(60), 3)
        commits.wait(2)
    finally:
        s.close()
        s.unlock()


def test_the_limit_itself_is_room_enough(tmp_path, commits):
    """Exactly max_bytes of unapplied lines are kept; one byte more is not."""
    s = Spool(tmp_path / "spool", commits, max_bytes=100)
    s.open()
    try:
        s.submit(sized(60), 1)
        commits.wait(1)
        s.submit(sized(40), 2)  # 100 bytes: full, not over
        commits.wait(2)
        with pytest.raises(SpoolFull):
            s.submit(sized(1), 3)
        assert commits.done == [1, 2] and s.backlog_bytes() == 100
    finally:
        s.close()
        s.unlock()


def test_failed_write_is_cut_back_and_later_lines_stay_intact(tmp_path, commits, monkeypatch):
    s = Spool(tmp_path / "spool", commits)
    s.open()
    try:
        s.submit(line(1), 1)
        commits.wait(1)
        real_fdatasync = os.fdatasync
        calls = {"n": 0}

        def failing_fdatasync(fd: int) -> None:
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError(28, "No space left on device")
            real_fdatasync(fd)

        monkeypatch.setattr(spool_module.os, "fdatasync", failing_fdatasync)
        s.submit(line(2), 2)  # written, but its fsync fails: refused, cut back
        commits.wait(2)
        assert len(commits.errors) == 1
        s.submit(line(3), 3)
        commits.wait(3)
        assert len(commits.errors) == 1
        lines, _, _ = read_all(s)
        assert lines == [line(1), line(3)]  # the refused line is gone, line 3 intact
    finally:
        s.close()
        s.unlock()


def test_close_commits_what_is_queued_and_drops_an_empty_segment(tmp_path, commits):
    s = Spool(tmp_path / "spool", commits)
    s.open()
    s.close()
    s.unlock()
    assert list_segments(tmp_path / "spool") == []


def test_a_line_longer_than_the_read_buffer_comes_back_whole(tmp_path, commits):
    """The reader once read 16 MiB at most; a longer line gave an empty batch and the
    applier believed it was caught up. Now no line is ever cut or skipped."""
    s = Spool(tmp_path / "spool", commits)
    s.open()
    try:
        long_line = b'{"k":"event","at":1,"d":{"x":"' + b"y" * 5000 + b'"}}\n'
        for i, data in enumerate([line(0), long_line, line(2)]):
            s.submit(data, i)
        commits.wait(3)
        got: list[bytes] = []
        pos = s.first_position()
        for _ in range(10):
            chunk = s.read(pos, max_lines=100, max_bytes=64)  # far less than the long line
            got.extend(chunk.lines)
            pos = chunk.end
        assert got == [line(0), long_line, line(2)]
        whole = s.read(s.first_position(), max_lines=100, max_bytes=len(line(0)) + 10)
        assert whole.lines == [line(0)]  # a short limit still returns whole lines only
    finally:
        s.close()
        s.unlock()


def test_a_torn_tail_longer_than_the_read_buffer_is_skipped_not_read_forever(tmp_path, commits):
    directory = tmp_path / "spool"
    first = Spool(directory, commits)
    first.open()
    first.submit(line(0), 0)
    commits.wait(1)
    first.close()
    first.unlock()
    (old,) = list_segments(directory)
    with open(directory / segment_name(old), "ab") as fh:
        fh.write(b"x" * 10_000)  # unterminated: a crash in the middle of a long line
    second = Spool(directory, commits)
    second.open()
    try:
        chunk = second.read(second.first_position(), max_lines=100, max_bytes=100)
        assert chunk.lines == [line(0)] and chunk.finished == []  # cut short at 100 bytes
        rest = second.read(chunk.end, max_lines=100, max_bytes=100)
        assert rest.lines == [] and rest.finished == [old] and rest.torn == 1
    finally:
        second.close()
        second.unlock()


def test_the_lag_is_the_commit_time_of_the_oldest_unapplied_record(tmp_path, commits):
    s = Spool(tmp_path / "spool", commits)
    s.open()
    try:
        assert s.oldest_unapplied(s.first_position()) is None
        before = time.monotonic()
        s.submit(line(1), 1)
        commits.wait(1)
        first_commit = s.oldest_unapplied(s.first_position())
        assert first_commit is not None and before <= first_commit <= time.monotonic()
        time.sleep(0.15)  # beyond the grain: the next commit gets an entry of its own
        s.submit(line(2), 2)
        commits.wait(2)
        middle = s.read(s.first_position(), max_lines=1).end  # the first line applied
        second_commit = s.oldest_unapplied(middle)
        assert second_commit is not None and second_commit >= first_commit + 0.1
        assert s.oldest_unapplied(s.read(middle, max_lines=10).end) is None  # caught up
    finally:
        s.close()
        s.unlock()


def test_records_left_by_an_earlier_run_count_as_unapplied_from_the_start(tmp_path, commits):
    first = Spool(tmp_path / "spool", commits)
    first.open()
    first.submit(line(1), 1)
    commits.wait(1)
    first.close()
    first.unlock()
    second = Spool(tmp_path / "spool", commits)
    before = time.monotonic()
    second.open()
    try:
        oldest = second.oldest_unapplied(second.first_position())
        assert oldest is not None and oldest >= before
    finally:
        second.close()
        second.unlock()


def test_a_stalled_write_and_a_failed_one_are_visible(tmp_path, commits, monkeypatch):
    s = Spool(tmp_path / "spool", commits)
    s.open()
    release = threading.Event()
    real = os.fdatasync
    try:
        assert s.stalled_s() == 0.0 and s.write_error is None

        def stalled(fd: int) -> None:
            release.wait(10)
            real(fd)

        monkeypatch.setattr(spool_module.os, "fdatasync", stalled)
        s.submit(line(1), 1)
        time.sleep(0.3)
        assert s.stalled_s() >= 0.25
        release.set()
        commits.wait(1)
        assert s.stalled_s() == 0.0

        def failing(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(spool_module.os, "fdatasync", failing)
        s.submit(line(2), 2)
        commits.wait(2)
        assert s.write_error == "Input/output error"
        monkeypatch.setattr(spool_module.os, "fdatasync", real)
        s.submit(line(3), 3)
        commits.wait(3)
        assert s.write_error is None
        assert read_all(s)[0] == [line(1), line(3)]
    finally:
        release.set()
        s.close()
        s.unlock()


def test_a_stalled_write_counts_from_the_submit_not_from_a_late_writer(
    tmp_path, commits, monkeypatch
):
    """A request waits commit_timeout_s from its submit; when a busy machine starts the
    writer thread late, the stall must already count that wait, or a second request right
    after the first one's 503 is queued behind a disk known to stall."""
    s = Spool(tmp_path / "spool", commits)
    s.open()
    release = threading.Event()
    real_fdatasync, real_write = os.fdatasync, Spool._write

    def stalled(fd: int) -> None:
        release.wait(10)
        real_fdatasync(fd)

    def late_writer(self: Spool, *args: object) -> object:
        time.sleep(0.4)  # the thread got the batch, the CPU went elsewhere
        return real_write(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(spool_module.os, "fdatasync", stalled)
    monkeypatch.setattr(Spool, "_write", late_writer)
    try:
        submitted = time.monotonic()
        s.submit(line(1), 1)
        time.sleep(0.6)
        assert s.stalled_s() >= time.monotonic() - submitted - 0.05  # ~0.6 s, not ~0.2 s
    finally:
        release.set()
        commits.wait(1)
        s.close()
        s.unlock()
