"""The receiver never answers 200 for what it cannot keep, and never fails silently: over
HTTP, a 200 waits for the spool's fsync; a failing or stalled fsync, a full disk, an applier
that fails (disk full in DuckDB, no file descriptors, a library panic) or a warehouse locked
past the lag bound give 503 and /health says degraded; the failure is logged once; when it
passes, everything acknowledged reaches the warehouse. Also: a spool line of any size."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import httpx
import pytest
from polars.exceptions import PanicException

from tests.webhook.support import (
    TOKEN,
    config,
    db_held_by_another_process,
    history,
    query,
    spool_bytes,
    wait_until,
)
from vats_etl import warehouse
from vats_etl.webhook import Receiver, apply, serve_in_background
from vats_etl.webhook.spool import Spool

pytestmark = pytest.mark.timeout(120)


def health_url(receiver: Receiver) -> str:
    return receiver.url.rsplit("/", 1)[0] + "/health"


def health(client: httpx.Client, receiver: Receiver) -> tuple[int, dict[str, Any]]:
    response = client.get(health_url(receiver))
    return response.status_code, response.json()


def stored(db: Path) -> set[str]:
    return {row[0] for row in query(db, "select uid from calls")}


def test_health_says_ok_with_lag_and_last_apply_and_nothing_secret(tmp_path):
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        status, body = health(client, receiver)
        assert status == 200
        assert body == {
            "status": "ok",
            "accepting": True,
            "reasons": [],
            "spool_lag_s": 0.0,
            "spool_backlog_bytes": 0,
            "last_applied_at": None,
            "waiting_for_warehouse": False,
        }
        assert client.post(receiver.url, json=history()).status_code == 200
        wait_until(lambda: health(client, receiver)[1]["last_applied_at"] is not None)
        status, body = health(client, receiver)
        assert status == 200 and body["spool_lag_s"] == 0.0
        assert body["last_applied_at"].endswith("+00:00")
        text = client.get(health_url(receiver)).text
        assert TOKEN not in text and str(tmp_path) not in text and "duckdb" not in text
        assert client.post(health_url(receiver), json=history()).status_code == 405
        head = client.head(health_url(receiver))
        assert head.status_code == 200 and head.content == b""


def test_a_200_waits_for_the_spools_fsync(tmp_path, monkeypatch):
    """A build that answers before the commit fails this test."""
    real = os.fdatasync
    entered, release = threading.Event(), threading.Event()

    def slow_fdatasync(fd: int) -> None:
        entered.set()
        assert release.wait(30)
        real(fd)

    with serve_in_background(config(tmp_path, commit_timeout_s=30)) as receiver:
        monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
        with ThreadPoolExecutor(1) as pool, httpx.Client(timeout=40) as client:
            answer = pool.submit(client.post, receiver.url, json=history("W-1"))
            assert entered.wait(10)
            time.sleep(0.5)
            assert not answer.done()  # written, not yet durable: no answer yet
            assert receiver.applier_stats.applied == 0
            release.set()
            assert answer.result(timeout=10).status_code == 200
        monkeypatch.setattr(os, "fdatasync", real)
        wait_until(lambda: receiver.applier_stats.applied == 1, what="apply")
    assert stored(receiver.config.db_path) == {"W-1"}


@pytest.mark.parametrize("failing", ["fdatasync", "write"])
def test_a_spool_that_cannot_write_answers_503_and_stores_nothing(
    tmp_path, monkeypatch, failing, caplog
):
    """fsync fails (EIO) or the disk is full (ENOSPC on write): 503, nothing kept, /health
    degraded; the next write that works is a 200 again."""
    caplog.set_level(logging.WARNING)
    broken = threading.Event()
    real_fdatasync, real_write = os.fdatasync, os.write
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        spool = receiver._spool
        assert spool is not None

        def fdatasync(fd: int) -> None:
            if broken.is_set():
                raise OSError(errno.EIO, "Input/output error")
            real_fdatasync(fd)

        def write(fd: int, data: Any) -> int:
            if broken.is_set() and fd == spool._fd:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        monkeypatch.setattr(os, failing, fdatasync if failing == "fdatasync" else write)
        broken.set()
        for i in range(3):
            response = client.post(receiver.url, json=history(f"X-{i}"))
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "5"
            assert "retry later" in response.json()["error"]
        status, body = health(client, receiver)
        assert status == 503 and body["status"] == "degraded"
        assert body["reasons"] == ["the spool's last write failed"]
        assert spool_bytes(receiver.config.spool) == b""  # cut back: nothing of X-*
        broken.clear()
        assert client.post(receiver.url, json=history("OK-1")).status_code == 200
        assert health(client, receiver)[0] == 200
    assert stored(receiver.config.db_path) == {"OK-1"}
    spool_errors = [r for r in caplog.records if r.name == "vats_etl.webhook.spool"]
    assert [r.levelname for r in spool_errors] == ["ERROR", "WARNING"]  # failed; works again


def test_a_stalled_fsync_answers_503_and_stores_nothing_meanwhile(tmp_path, monkeypatch):
    real = os.fdatasync
    release = threading.Event()

    def stalled(fd: int) -> None:
        assert release.wait(30)
        real(fd)

    with (
        serve_in_background(config(tmp_path, commit_timeout_s=0.3)) as receiver,
        httpx.Client(timeout=10) as client,
    ):
        monkeypatch.setattr(os, "fdatasync", stalled)
        started = time.perf_counter()
        assert client.post(receiver.url, json=history("S-1")).status_code == 503
        assert time.perf_counter() - started >= 0.3  # waited for the commit, in vain
        spool = receiver._spool
        assert spool is not None
        assert client.post(receiver.url, json=history("S-2")).status_code == 503
        assert spool._queue == []  # known stalled: refused at once, never queued
        status, body = health(client, receiver)
        assert status == 503 and body["reasons"] == ["the spool's disk does not complete writes"]
        assert receiver.applier_stats.applied == 0
        release.set()
        monkeypatch.setattr(os, "fdatasync", real)
        wait_until(lambda: health(client, receiver)[0] == 200, what="healthy again")
        assert client.post(receiver.url, json=history("S-3")).status_code == 200
    calls = stored(receiver.config.db_path)
    # S-1 was written before the stall ended: it may be kept (a PBX retry is idempotent)
    assert "S-3" in calls and "S-2" not in calls and calls <= {"S-1", "S-3"}


def _disk_full(real: Any) -> Any:
    def apply_batch(*args: Any) -> Any:
        raise duckdb.IOException("IO Error: No space left on device")

    return apply_batch


def _panic(real: Any) -> Any:
    def calls_frame(*args: Any) -> Any:
        raise PanicException("called `Option::unwrap()` on a `None` value")

    return calls_frame


def _out_of_descriptors(real: Any) -> Any:
    def read(self: Spool, *args: Any, **kwargs: Any) -> Any:
        chunk = real(self, *args, **kwargs)
        if chunk.lines:  # fails where the open-files probe failed: reading the spool
            raise OSError(errno.EMFILE, "Too many open files")
        return chunk

    return read


FAILURES = {  # what fails, where, and the cause the one log line names
    "DuckDB disk full": (apply, "apply_batch", _disk_full, "No space left on device"),
    "library panic": (apply, "calls_frame", _panic, "PanicException"),
    "no file descriptors": (Spool, "read", _out_of_descriptors, "Too many open files"),
}


@pytest.mark.slow
@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_applier_is_logged_once_retried_and_new_webhooks_get_503(
    tmp_path, monkeypatch, caplog, failure
):
    owner, name, make, cause = FAILURES[failure]
    real = getattr(owner, name)
    caplog.set_level(logging.INFO)
    with serve_in_background(config(tmp_path)) as receiver, httpx.Client() as client:
        applier = receiver._applier
        assert applier is not None
        assert client.post(receiver.url, json=history("A-1")).status_code == 200
        wait_until(lambda: receiver.applier_stats.applied == 1, what="first apply")

        monkeypatch.setattr(owner, name, make(real))
        assert client.post(receiver.url, json=history("A-2")).status_code == 200  # durable
        wait_until(lambda: applier.failing, what="the failure")
        assert client.post(receiver.url, json=history("A-3")).status_code == 503
        status, body = health(client, receiver)
        assert status == 503 and not body["accepting"]
        assert body["reasons"] == ["the warehouse writer is failing (see the receiver's log)"]
        wait_until(lambda: receiver.applier_stats.failed_passes >= 3, what="retries")

        monkeypatch.setattr(owner, name, real)
        wait_until(lambda: health(client, receiver)[0] == 200, timeout=15, what="recovery")
        assert client.post(receiver.url, json=history("A-4")).status_code == 200
    assert stored(receiver.config.db_path) == {"A-1", "A-2", "A-4"}
    logged = [r for r in caplog.records if r.name == "vats_etl.webhook.apply"]
    errors_ = [r for r in logged if r.levelno >= logging.ERROR]
    assert len(errors_) == 1, [r.getMessage() for r in errors_]  # once, not once per retry
    assert cause in errors_[0].getMessage()
    assert sum("works again" in r.getMessage() for r in logged) == 1


@pytest.mark.slow
def test_a_locked_warehouse_past_the_lag_bound_gives_503_then_catches_up(tmp_path):
    db = tmp_path / "vats.duckdb"
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")):
        pass
    cfg = config(tmp_path, max_lag_s=1.0)
    with serve_in_background(cfg) as receiver, httpx.Client() as client:
        with db_held_by_another_process(db):
            assert client.post(receiver.url, json=history("L-1")).status_code == 200
            time.sleep(1.3)
            assert client.post(receiver.url, json=history("L-2")).status_code == 503
            status, body = health(client, receiver)
            assert status == 503 and body["spool_lag_s"] > 1.0
            assert body["reasons"] == ["the warehouse is more than 1 s behind"]
            assert body["waiting_for_warehouse"] is True
        wait_until(lambda: health(client, receiver)[0] == 200, timeout=20, what="catch-up")
        assert client.post(receiver.url, json=history("L-3")).status_code == 200
    assert stored(db) == {"L-1", "L-3"}


@pytest.mark.slow
def test_a_full_spool_answers_503_and_health_names_it(tmp_path):
    """The warehouse is locked (a long backfill) and the spool may hold 2,000 bytes: webhooks
    are taken until the next would not fit, then refused with 503, and /health says the
    spool is full. Once the warehouse is free, every webhook taken reaches it."""
    db = tmp_path / "vats.duckdb"  # the receiver creates it before it listens
    cfg = config(tmp_path, max_spool_bytes=2000, max_lag_s=600.0)
    taken: list[str] = []
    with serve_in_background(cfg) as receiver, httpx.Client() as client:
        with db_held_by_another_process(db):
            for i in range(40):
                response = client.post(receiver.url, json=history(f"F-{i}"))
                if response.status_code != 200:
                    break
                taken.append(f"F-{i}")
            assert response.status_code == 503, "the spool took 40 webhooks of 2,000 bytes"
            assert response.json()["error"].startswith("the spool is full")
            assert response.headers["retry-after"] == "5"
            assert 1 <= len(taken) < 40
            status, body = health(client, receiver)
            assert status == 503 and not body["accepting"]
            assert body["reasons"] == ["the spool is full"]
            assert 0 < body["spool_backlog_bytes"] <= 2000
            assert client.post(receiver.url, json=history("F-late")).status_code == 503
        wait_until(lambda: health(client, receiver)[0] == 200, timeout=30, what="room again")
        assert client.post(receiver.url, json=history("F-after")).status_code == 200
    assert stored(db) == {*taken, "F-after"}


@pytest.mark.slow
def test_a_spool_line_over_16_mib_is_applied_and_so_is_what_follows(tmp_path):
    """A form body of %01 escapes became a 30 MB spool line; the reader once
    stopped at 16 MiB, believed it was caught up, and later requests were never written."""
    big = urlencode(history("BIG", diversion="\x01" * 3_000_000)).encode()  # 9 MB of %01
    assert len(big) > 9_000_000
    with (
        serve_in_background(config(tmp_path, max_body_bytes=12 << 20)) as receiver,
        httpx.Client(timeout=60) as client,
    ):
        headers = {"content-type": "application/x-www-form-urlencoded"}
        assert client.post(receiver.url, content=big, headers=headers).status_code == 200
        assert max(p.stat().st_size for p in receiver.config.spool.glob("*.spool")) > 16 << 20
        for i in range(6):
            assert client.post(receiver.url, json=history(f"N-{i}")).status_code == 200
        wait_until(lambda: receiver.applier_stats.applied >= 7, timeout=60, what="apply")
    db = receiver.config.db_path
    assert stored(db) == {"BIG"} | {f"N-{i}" for i in range(6)}
    assert query(db, "select length(diversion) from calls where uid = 'BIG'") == [(3_000_000,)]
    assert receiver.drained
