"""Processes a test starts and stops: `vats-etl` as the console script runs it, the
environment it is given, a free loopback port, and a real `prefect server start`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def vats(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, **popen: object
) -> subprocess.CompletedProcess[str]:
    """`vats-etl ARGS` in a process of its own, exactly as the console script runs."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **popen,
    )


def base_environment(prefect_url: str | None = None, **more: str) -> dict[str, str]:
    """This process's environment without any VATS_/PREFECT_ setting, quiet and quick to fail,
    then `more`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATS_", "PREFECT_"))}
    env.update(
        VATS_DB_LOCK_TIMEOUT="5",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    if prefect_url:
        env["PREFECT_API_URL"] = prefect_url
    env.update(more)
    return env


def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**more: str) -> dict[str, str]:
    """This process's environment without any VATS_, PREFECT_ or SMTP_ setting and with
    Prefect's analytics off, then `more`: for processes that talk to a Prefect server the
    test started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATS_", "PREFECT_", "SMTP_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", **more)
    return env


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group we started, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real `prefect server start` on a free loopback port, its database and log under
    `home`; yields its API URL. For tests that must see a server of their own (every
    deployment on it is theirs)."""
    port = free_port()
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    prefect = Path(sys.executable).with_name("prefect")
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"prefect server did not start: {(home / 'server.log').read_text()}"
                )
            time.sleep(0.3)
        yield url
    finally:
        stop(proc)
        log.close()
