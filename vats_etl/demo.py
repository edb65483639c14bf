"""`vats-etl demo`: the main job end to end against the built-in emulator.

The emulator runs in-process on a free loopback port with a fresh random key and a few
injected faults (so the retries are exercised); the demo's database, archive and dashboards
live under `data/demo/` unless `--db`/`--raw-dir`/VATS_DASHBOARDS_DIR say otherwise, so a
real warehouse is never touched. It ends with where everything is and the next commands,
which work on the demo's data as printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from vats_etl.config import Secret, Settings
from vats_etl.emulator import Emulator, EmulatorServer, Faults

DEMO_DB = Path("data/demo/vats.duckdb")
DEMO_RAW = Path("data/demo/raw")
DEMO_DASHBOARDS = Path("data/demo/dashboards")
DEMO_EMAIL = Path("data/demo/weekly-email")
DEMO_DIGEST = Path("data/demo/daily-email")
DEMO_FAULTS = "error=0.02,429=0.01,drop=0.01"


@dataclass(frozen=True)
class Example:
    title: str
    sql: str


EXAMPLES = (
    Example(
        "The headline tiles by day (working hours, calls that reached a department), last 7 days",
        "select local_date, offered, answered, missed, not_called_back, pending,"
        " round(100 * answer_rate, 1) as answer_pct,"
        " round(100 * service_level, 1) as sl20_pct, round(asa_s, 1) as asa_s"
        " from kpi_daily where is_total and is_headline order by local_date desc limit 7",
    ),
    Example(
        "Whom to call back first: one row per client and department, in priority order",
        "select priority, client, department, status, misses, hours, first_missed_at"
        " from callback_worklist order by priority limit 5",
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


def run_examples(
    db_path: Path, tz: str
) -> list[tuple[Example, list[str], list[tuple[object, ...]]]]:
    """Run the example queries read-only, times shown in the company zone `tz`; returns
    (example, column names, rows)."""
    results = []
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute(f"set timezone = '{tz}'")  # TIMESTAMPTZ values come back in VATS_TZ
        for example in EXAMPLES:
            relation = con.sql(example.sql)
            results.append((example, list(relation.columns), relation.fetchall()))
    return results


@contextlib.contextmanager
def dashboards_under_demo() -> Iterator[Path]:
    """The daily run writes its dashboards to data/demo/dashboards (unless
    VATS_DASHBOARDS_DIR says otherwise), next to the demo's database."""
    chosen = os.environ.get("VATS_DASHBOARDS_DIR")
    if chosen:
        yield Path(chosen)
        return
    os.environ["VATS_DASHBOARDS_DIR"] = str(DEMO_DASHBOARDS)
    try:
        yield DEMO_DASHBOARDS
    finally:
        os.environ.pop("VATS_DASHBOARDS_DIR", None)


def _runnable(path: str, name: str) -> str:
    """How a person types `path` here: its bare name when that is what PATH finds, else
    relative to the working directory when inside it, else as it is (links not followed:
    a venv's python is a link to one without our packages)."""
    where = Path(path).absolute()
    found = shutil.which(name)
    if found and Path(found).absolute() == where:
        return name
    with contextlib.suppress(ValueError):
        return str(where.relative_to(Path.cwd().absolute()))
    return str(where)


def _python_c(code: str) -> str:
    """`-c "code"` with the code's single quotes as they are (readable), when the shell
    lets them be; shlex's quoting otherwise."""
    if re.search(r'["$`\\\n]', code.replace("\\'", "")):
        return f"-c {shlex.quote(code)}"
    return f'-c "{code}"'


def next_steps(settings: Settings, dashboards: Path, week: str) -> list[str]:
    """Commands that work on the demo's data as printed: dashboards for a week (in a folder
    of their own, next to the daily's, which they would otherwise replace), the weekly email
    and the morning's call-back digest without sending them, and a query on the read copy
    (times in VATS_TZ)."""
    script = Path(sys.argv[0])
    vats = _runnable(str(script), "vats-etl") if script.name == "vats-etl" else "vats-etl"
    python = _runnable(sys.executable, "python3")
    db = shlex.quote(str(settings.db_path))
    read_copy = str(settings.read_db_path).replace("\\", "\\\\").replace("'", "\\'")
    code = (
        f"import duckdb; con = duckdb.connect('{read_copy}', read_only=True); "
        f"con.execute('set timezone = \\'{settings.tz}\\''); "
        "con.sql('select priority, client, department, status, misses, first_missed_at "
        "from callback_worklist order by priority limit 10').show()"
    )
    weekly_pages = dashboards.with_name(f"{dashboards.name}-{week}")
    return [
        f"{vats} --db {db} report --week {week} --out {shlex.quote(str(weekly_pages))}",
        f"{vats} --db {db} email-weekly --dry-run --out {shlex.quote(str(DEMO_EMAIL))}",
        f"{vats} --db {db} email-daily --dry-run --out {shlex.quote(str(DEMO_DIGEST))}",
        f"{python} {_python_c(code)}",
    ]
