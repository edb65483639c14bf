"""``python -m vats_etl.emulator`` (the `vats-etl emulator` command on its own) serves until
SIGTERM and names its base URL in its first line."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

# the module entry, run as a process
pytestmark = pytest.mark.slow


@contextmanager
def module_entry(*options: str) -> Iterator[str]:
    """The emulator in its own process; yields its base URL, then stops it with SIGTERM
    (and checks that it exits cleanly)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vats_etl.emulator", "--port", "0", "--api-key", "k", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("emulator listening on "), line
        base_url = line.split()[3]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/crmapi/v1")
        yield base_url
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_module_entry_serves_and_stops_on_sigterm() -> None:
    with module_entry("--agents", "20", "--faults", "latency=1") as base_url:
        reply = httpx.get(base_url + "/users", headers={"X-API-KEY": "k"}, timeout=10)
        assert reply.status_code == 200 and reply.json()["info"]["total"] >= 18
        assert httpx.get(base_url + "/users", timeout=10).status_code == 401


def test_module_entry_speaks_the_dialect_and_lacks_what_it_is_told() -> None:
    options = ("--agents", "10", "--dialect", "spec", "--missing", "blacklist, telnums")
    with module_entry(*options) as base_url:
        status = {
            path: httpx.get(base_url + path, headers={"X-API-KEY": "k"}, timeout=10).status_code
            for path in ("/users", "/sims", "/telnums", "/blacklist/telnums")
        }
        assert status == {"/users": 200, "/sims": 200, "/telnums": 404, "/blacklist/telnums": 404}


def test_module_entry_speaks_the_platform_dialect_by_default() -> None:
    with module_entry("--agents", "10") as base_url:
        reply = httpx.get(base_url + "/sims", headers={"X-API-KEY": "k"}, timeout=10)
        assert reply.status_code == 404
