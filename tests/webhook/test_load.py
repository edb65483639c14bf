"""A small run of bench/webhook_bench.py: a load generator process → a receiver process over
loopback; a few thousand requests, nothing lost. (Throughput and p99 figures come from the
full benchmark, not from this test.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.webhook.support import ROOT, child_env

# a load generator and a receiver, each a process
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.parametrize("mode", [[], ["--new-connections", "--format", "form"]])
def test_a_few_thousand_requests_from_another_process_lose_nothing(mode):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "webhook_bench.py"),
            "--requests",
            "3000",
            "--json",
            *mode,
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout)
    assert figures["ok"] and figures["requests"] == 3000
    assert figures["statuses"] == {"200": 3000}
    assert figures["calls_missing"] == figures["events_missing"] == figures["ratings_missing"] == 0
    assert figures["events_duplicated"] == 0 and figures["calls_acked"] > 500
