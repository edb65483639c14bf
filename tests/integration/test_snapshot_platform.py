"""`vats-etl snapshot` against an account without SIMs and blacklist (the emulator in the
platform's dialect over a real socket): exit 0 with a warning per entity, and the versions
an earlier snapshot took of those entities stay open."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from vats_etl.emulator import Emulator, EmulatorServer

# vats-etl processes
pytestmark = pytest.mark.slow

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
KEY = "platform-snapshot-key-0123456789"


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    """The same company twice: as the spec has it, and on an account lacking sims and blacklist."""
    spec = Emulator(seed=3, agents=12, clock=lambda: NOW)
    platform = Emulator(
        seed=3,
        agents=12,
        dialect="platform",
        missing_endpoints=("sims", "blacklist"),
        clock=lambda: NOW,
    )
    with EmulatorServer(spec, api_key=KEY) as one, EmulatorServer(platform, api_key=KEY) as two:
        yield {"spec": one.base_url, "platform": two.base_url}


def test_snapshot_without_sims_and_blacklist_exits_0_and_keeps_their_versions(
    prefect_api_url: str, urls: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATS_", "PREFECT_"))}
    env.update(
        VATS_API_KEY=KEY,
        VATS_DB=str(tmp_path / "v.duckdb"),
        VATS_RAW_DIR=str(tmp_path / "raw"),
        PREFECT_API_URL=prefect_api_url,
        PREFECT_LOGGING_LEVEL="WARNING",
    )

    def snapshot(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()", "snapshot"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, "VATS_BASE_URL": url},
        )

    def count(sql: str) -> int:
        with duckdb.connect(str(tmp_path / "v.duckdb"), read_only=True) as con:
            return int(con.execute(sql).fetchall()[0][0])

    first = snapshot(urls["spec"])
    assert first.returncode == 0, first.stderr
    assert "skipped" not in first.stderr
    sims, blacklisted = (
        count("select count(*) from sims_history"),
        count("select count(*) from blacklist_history"),
    )
    assert sims > 0 and blacklisted > 0

    second = snapshot(urls["platform"])
    assert second.returncode == 0, second.stderr
    warnings = [line for line in second.stderr.splitlines() if " skipped: " in line]
    # no blacklist module: its numbers and the block-anonymous setting are both missing
    assert len(warnings) == 3
    assert any("block_anonymous skipped: GET blacklist/block-anonymous" in w for w in warnings)
    assert any("sims skipped: GET sims: 404 Not Found" in line for line in warnings)
    assert any(
        "blacklist skipped: GET blacklist/telnums: 404 Not Found" in line for line in warnings
    )
    assert "users_history" in second.stderr  # the rest of the snapshot was taken
    assert KEY not in second.stderr
    # the earlier versions stay open: a missing endpoint is not a deletion
    assert count("select count(*) from sims_history where is_current") == sims
    assert count("select count(*) from blacklist_history where is_current") == blacklisted
    assert count("select count(*) from sims_history where valid_to is not null") == 0
    assert count("select count(*) from load_runs where status = 'skipped'") == 3
    assert count("select count(*) from users_history where valid_to is not null") == 0
