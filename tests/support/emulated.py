"""Fixtures for end-to-end tests: an emulator served over a real loopback socket and the
settings that point the pipeline at it, with a temporary warehouse and archive."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vats_etl import pipeline, warehouse
from vats_etl.client import PbxClient, RetryPolicy
from vats_etl.config import Settings, load_settings
from vats_etl.emulator import Emulator, EmulatorServer, Faults
from vats_etl.periods import Window, day_window

MSK = ZoneInfo("Europe/Moscow")
# The emulator's "now": Monday 10 June 2024, 15:00 in Moscow. The loaded days are long settled.
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
API_KEY = "integration-key-0123456789"
FIRST, LAST = date(2024, 6, 3), date(2024, 6, 7)
# Truth tests run in both dialects; everything else in the platform's (what a real PBX sends).
DIALECTS = ("platform", "spec")
FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05, total_s=10)


def clock() -> datetime:
    return NOW


def span(first: date, last: date) -> Window:
    return Window(day_window(first, MSK).start, day_window(last, MSK).end)


def make_settings(url: str, tmp: Path, **more: object) -> Settings:
    values = {
        "base_url": url,
        "api_key": API_KEY,
        "db_path": tmp / "vats.duckdb",
        "raw_dir": tmp / "raw",
        "tz": "Europe/Moscow",
        "db_lock_timeout_s": 5.0,
        **more,
    }
    return load_settings(values, environ={}, env_file=None)


@contextmanager
def served(emu: Emulator, faults: str = "") -> Iterator[EmulatorServer]:
    with EmulatorServer(emu, api_key=API_KEY, faults=Faults.parse(faults)) as server:
        yield server


def load(
    settings: Settings,
    first: date = FIRST,
    last: date = LAST,
    fmts: tuple[str, ...] = ("json",),
    **options: object,
) -> pipeline.RunSummary:
    chunks = pipeline.plan(first, last, settings.zone, fmts=fmts)  # type: ignore[arg-type]
    with PbxClient(
        settings.base_url or "",
        settings.api_key,
        retry=FAST_RETRY,  # type: ignore[arg-type]
        page_limit=settings.page_limit,
    ) as client:
        return pipeline.run(settings, chunks, client=client, now=clock, **options)  # type: ignore[arg-type]


def checksums(db: Path) -> dict[str, tuple[int, str]]:
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        return {t: warehouse.table_checksum(con, t) for t in ("calls", "internal_calls")}


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with warehouse.connect(db, company=warehouse.Company("Europe/Moscow")) as con:
        return con.execute(sql).fetchall()


def company(dialect: str = "platform", **options: object) -> Emulator:
    """A realistic small company (30 agents), fixed clock, speaking ``dialect``."""
    values: dict[str, object] = {"seed": 5, "agents": 30, "profile": "realistic", **options}
    return Emulator(dialect=dialect, clock=clock, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def emu() -> Emulator:
    """The company in the platform's dialect (truth tests override it with both dialects)."""
    return company()


@pytest.fixture(scope="session")
def server(emu: Emulator) -> Iterator[EmulatorServer]:
    with served(emu) as srv:
        yield srv


@pytest.fixture
def settings(server: EmulatorServer, tmp_path: Path) -> Settings:
    return make_settings(server.base_url, tmp_path)


SettingsFactory = Callable[..., Settings]


# -- the CLI as users run it -----------------------------------------------------------------


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The session's test Prefect API: CLI processes given it start no server of their own."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url and url.startswith("http://127.0.0.1")
    return str(url)


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


def environment(tmp: Path, url: str, prefect_url: str | None = None, **more: str) -> dict[str, str]:
    own = dict(
        VATS_BASE_URL=url,
        VATS_API_KEY=API_KEY,
        VATS_DB=str(tmp / "vats.duckdb"),
        VATS_RAW_DIR=str(tmp / "raw"),
        VATS_TZ="Europe/Moscow",
    )
    return base_environment(prefect_url, **{**own, **more})
