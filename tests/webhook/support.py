"""Helpers for the webhook receiver tests: configs, payloads, a CLI receiver in a child
process, a DuckDB lock held by another process, polling, and raw HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from vats_etl.config import Secret
from vats_etl.warehouse import Company
from vats_etl.webhook import ReceiverConfig

TOKEN = "whk-secret-7d1f0c9a"
ROOT = Path(__file__).resolve().parents[2]


def config(tmp: Path, **more: Any) -> ReceiverConfig:
    values: dict[str, Any] = {
        "db_path": tmp / "vats.duckdb",
        "token": Secret(TOKEN),
        "company": Company("Europe/Moscow"),
        "port": 0,
        "apply_interval_s": 0.05,
        "lock_timeout_s": 0.5,
        "drain_timeout_s": 5.0,
        **more,
    }
    return ReceiverConfig(**values)


def history(callid: str = "C-1", **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cmd": "history",
        "type": "in",
        "status": "SUCCESS",
        "phone": "79101234567",
        "diversion": "74957654321",
        "user": "ivanov",
        "groupRealName": "Продажи",
        "start": "20240610T091110Z",
        "duration": "124",
        "link": "https://rec.example/C-1.mp3",
        "callid": callid,
        "crm_token": TOKEN,
    }
    body.update(more)
    return body


def event(callid: str = "C-1", event_type: str = "INCOMING", **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cmd": "event",
        "type": event_type,
        "phone": "79101234567",
        "diversion": "74957654321",
        "user": "ivanov",
        "callid": callid,
        "crm_token": TOKEN,
    }
    body.update(more)
    return body


def rating(callid: str = "C-1", value: Any = 5, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cmd": "rating",
        "phone": "79101234567",
        "rating": value,
        "user": "ivanov",
        "ext": "701",
        "callid": callid,
        "crm_token": TOKEN,
    }
    body.update(more)
    return body


def contact(phone: str = "79101234567", **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": "contact", "phone": phone, "callid": "C-9", "crm_token": TOKEN}
    body.update(more)
    return body


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def spool_bytes(spool: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(spool.glob("*.spool")))


# -- child processes ---------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()", *args]


def child_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    env.update({"VATS_CRM_TOKEN": TOKEN, "VATS_DB_LOCK_TIMEOUT": "0.5", **more})
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextlib.contextmanager
def cli_receiver(
    tmp: Path,
    *extra: str,
    preexec_fn: Callable[[], None] | None = None,
    options: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``vats-etl [OPTIONS] webhook --port 0`` in a child process; yields (process, url).
    `env`: variables added to the child's environment."""
    proc = subprocess.Popen(
        cli("--db", str(tmp / "vats.duckdb"), *options, "webhook", "--port", "0", *extra),
        cwd=tmp,
        env=child_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"receiver did not start: {line!r} {err}")
        yield proc, line.split()[2]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


@contextlib.contextmanager
def db_held_by_another_process(db: Path) -> Iterator[None]:
    """Open ``db`` for writing in a child process (as a backfill would) until exit."""
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        "sys.stdin.read(); con.close()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


# -- raw HTTP ----------------------------------------------------------------------------------


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def raw(url: str, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection; everything the server sends until it closes
    (a server that keeps the connection open fails the test with a timeout)."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def request(body: bytes, *, path: str = "/", headers: str = "", version: str = "1.1") -> bytes:
    """A POST with a JSON body, Host and Content-Length, plus ``headers`` (CRLF-ended)."""
    return (
        f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body
