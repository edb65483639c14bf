"""The emulated company the end-to-end tests load: its fixed clock, served over a real
loopback socket, settings that point the pipeline at it (a temporary warehouse and archive),
a load through the real pipeline, its truth as `calls` holds it, and the environment of a
`vats-etl` process pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from tests.support.processes import base_environment
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


EXTERNAL_COLUMNS = (
    "uid", "direction", "status", "client", "diversion", "destination", "user_login",
    "user_name", "group_name", "started_at", "wait_s", "duration_s", "record_url", "rating",
)  # fmt: skip


def canonical_frame(truth: list[dict[str, Any]]) -> pl.DataFrame:
    """The emulator's truth rows (malformed ones dropped) as `calls` holds them, by uid."""
    rows = [r for r in truth if not r["malformed"]]
    return pl.DataFrame(
        [{c: r[c] for c in EXTERNAL_COLUMNS} for r in rows],
        schema={
            **{c: pl.String for c in EXTERNAL_COLUMNS},
            "started_at": pl.Datetime("us", "UTC"),
            "wait_s": pl.Int32,
            "duration_s": pl.Int32,
            "rating": pl.Int8,
        },
    ).sort("uid")


# -- `vats-etl` as a process pointed at the emulator -----------------------------------------


def environment(tmp: Path, url: str, prefect_url: str | None = None, **more: str) -> dict[str, str]:
    """The environment of a `vats-etl` process loading from `url` with the emulator's key
    into a warehouse and archive under `tmp`; flows report to `prefect_url` when given."""
    own = dict(
        VATS_BASE_URL=url,
        VATS_API_KEY=API_KEY,
        VATS_DB=str(tmp / "vats.duckdb"),
        VATS_RAW_DIR=str(tmp / "raw"),
        VATS_TZ="Europe/Moscow",
    )
    return base_environment(prefect_url, **{**own, **more})
