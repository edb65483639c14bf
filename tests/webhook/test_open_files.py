"""Running out of file descriptors: with the open-files limit at 1024 (systemd's default
when a unit sets no LimitNOFILE) and 1,100 idle TCP connections held open, a legitimate
webhook is stored (or answered 503) — never 200-and-dropped — and once the idle clients go
the receiver is healthy again without a restart. Before, the writer thread died on "Too many
open files" and the receiver went on answering 200 while writing nothing."""

from __future__ import annotations

import resource
import signal
import socket
import time

import httpx
import pytest

from tests.webhook.support import address, cli_receiver, history, query

# a receiver in a process of its own
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LIMIT = 1024
IDLE = 1100


def limit_open_files() -> None:  # in the child, before exec: soft and hard, like ulimit -n
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.fixture
def enough_descriptors_here():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 200:
        pytest.fail(f"this test needs {IDLE + 200} open files in the test process (hard {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE + 200), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_idle_flood_at_1024_open_files_loses_nothing_and_heals(
    tmp_path, enough_descriptors_here
):
    acked: list[str] = []
    answers: dict[int, int] = {}
    with cli_receiver(tmp_path, preexec_fn=limit_open_files) as (proc, url):
        health_url = url.rstrip("/") + "/health"
        idle = []
        try:
            for _ in range(IDLE):
                idle.append(socket.create_connection(address(url), timeout=10))
            time.sleep(1.0)  # let the receiver accept what it will
            with httpx.Client(timeout=10) as client:
                for i in range(20):
                    uid = f"FD-{i}"
                    try:
                        status = client.post(url, json=history(uid)).status_code
                    except httpx.HTTPError:
                        status = 0  # no answer: allowed, as long as nothing is acknowledged
                    answers[status] = answers.get(status, 0) + 1
                    if status == 200:
                        acked.append(uid)
                    assert status in (200, 503, 0)
        finally:
            for sock in idle:
                sock.close()
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 30
            while client.get(health_url).json()["status"] != "ok":
                assert time.monotonic() < deadline, client.get(health_url).text
                time.sleep(0.2)
            assert client.post(url, json=history("AFTER")).status_code == 200
        acked.append("AFTER")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert answers.get(200, 0) > 0, answers  # the PBX got through the flood
    stored = {row[0] for row in query(tmp_path / "vats.duckdb", "select uid from calls")}
    assert set(acked) <= stored, f"acknowledged but not stored: {set(acked) - stored}"
    assert "Traceback" not in stderr and len(stderr.splitlines()) < 10, stderr
    assert "idle connections closed for new ones" in stderr  # the budget was what held
