"""`vats-etl demo`: the main job end to end against the built-in emulator.

The emulator runs in-process on a free loopback port with a fresh random key and a few
injected faults (so the retries are exercised); the demo's database and archive live under
`data/demo/` unless `--db`/`--raw-dir` say otherwise, so a real warehouse is never touched.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from vats_etl.config import Secret, Settings
from vats_etl.emulator import Emulator, EmulatorServer, Faults

DEMO_DB = Path("data/demo/vats.duckdb")
DEMO_RAW = Path("data/demo/raw")
DEMO_FAULTS = "error=0.02,429=0.01,drop=0.01"


@dataclass(frozen=True)
class Example:
    title: str
    sql: str


EXAMPLES = (
    Example(
        "Answer rate and service level by day (all departments), last 7 days",
        "select local_date, offered, answered, missed, not_called_back,"
        " round(100 * answer_rate, 1) as answer_pct,"
        " round(100 * service_level, 1) as sl20_pct, round(asa_s, 1) as asa_s"
        " from kpi_daily where is_total order by local_date desc limit 7",
    ),
    Example(
        "Clients we missed and never called back (oldest first)",
        "select client, started_at, department, reason from missed_calls"
        " where recovery is null and recovery_deadline_at < now()"
        " order by started_at limit 5",
    ),
    Example(
        "Employees ranked by client ratings (Wilson lower bound of CSAT, minimum sample)",
        "select rating_rank, user_name, rated_calls, round(rating_mean, 2) as rating_mean,"
        " round(100 * csat_wilson_lower, 1) as csat_lower_pct"
        " from rating_by_employee where is_ranked order by rating_rank limit 5",
    ),
)


@contextlib.contextmanager
def emulator(
    *, seed: int, agents: int, faults: str = DEMO_FAULTS, dialect: str = "platform"
) -> Iterator[tuple[str, Secret]]:
    """Serve a synthetic company on 127.0.0.1 speaking ``dialect`` (the platform's, unless
    told otherwise: what a real PBX sends); yields (base URL, API key)."""
    key = secrets.token_urlsafe(24)
    emu = Emulator(seed=seed, agents=agents, profile="realistic", dialect=dialect)
    with EmulatorServer(emu, api_key=key, faults=Faults.parse(faults), port=0) as server:
        yield server.base_url, Secret(key)


def demo_settings(
    settings: Settings, base_url: str, api_key: Secret, explicit: set[str]
) -> Settings:
    """Point the settings at the emulator and, unless given explicitly, at data/demo/."""
    changes: dict[str, object] = {"base_url": base_url, "api_key": api_key}
    if "db_path" not in explicit:
        changes["db_path"] = DEMO_DB
    if "raw_dir" not in explicit:
        changes["raw_dir"] = DEMO_RAW
    return settings.replace(**changes)


def run_examples(db_path: Path) -> list[tuple[Example, list[str], list[tuple[object, ...]]]]:
    """Run the example queries read-only; returns (example, column names, rows)."""
    results = []
    with duckdb.connect(str(db_path), read_only=True) as con:
        for example in EXAMPLES:
            relation = con.sql(example.sql)
            results.append((example, list(relation.columns), relation.fetchall()))
    return results
