"""`vats-etl demo` (what `make demo` runs) in both dialects: every call of the backfilled days
is loaded, value for value, and the daily KPIs equal an independent computation from the
emulator's ground truth."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.support.emulated import DIALECTS, environment
from tests.support.kpi_truth import (
    NO_DEPARTMENT,
    hours,
    kpis,
    repeat_callers,
    segment,
    truth_misses,
)
from tests.support.processes import vats
from vats_etl.emulator import Emulator
from vats_etl.periods import Window, local_midnight

pytestmark = pytest.mark.slow

MSK = ZoneInfo("Europe/Moscow")
DAYS, AGENTS, SEED = 12, 15, 7
COLUMNS = (
    "uid", "direction", "status", "client", "diversion", "destination", "user_login",
    "user_name", "group_name", "started_at", "wait_s", "duration_s", "record_url", "rating",
)  # fmt: skip


def select(db: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        rel = con.execute(sql)
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_demo_loads_every_call_and_the_kpis_equal_the_truth(
    dialect: str, tmp_path: Path, prefect_api_url: str
) -> None:
    db = tmp_path / "demo.duckdb"
    env = environment(tmp_path, "unused", prefect_api_url)
    args = ["--db", str(db), "--raw-dir", str(tmp_path / "raw"), "demo"]
    args += ["--days", str(DAYS), "--agents", str(AGENTS), "--seed", str(SEED)]
    result = vats(*args, "--dialect", dialect, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"{dialect} dialect" in result.stderr
    if dialect == "platform":
        assert "sims skipped: GET sims: 404 Not Found" in result.stderr

    # The backfilled days are complete: compare them whole (the demo's own "first" and
    # "last", as its load_runs say: the test may cross midnight after the demo ran).
    (span,) = select(db, "select min(day) as first, max(day) as last from load_runs")
    first: date = span["first"]
    last: date = span["last"] - timedelta(days=1)  # the daily's today is still open
    assert (last - first).days == DAYS - 1
    window = Window(local_midnight(first, MSK), local_midnight(last + timedelta(days=1), MSK))
    emu = Emulator(seed=SEED, agents=AGENTS, profile="realistic", dialect=dialect)
    truth = sorted(
        ({c: r[c] for c in COLUMNS} for r in emu.external_calls(window) if not r["malformed"]),
        key=lambda r: r["uid"],
    )
    loaded = select(
        db,
        f"select {', '.join(COLUMNS)} from calls where started_at >= '{window.start}' "
        f"and started_at < '{window.end}' order by uid",
    )
    assert len(loaded) == len(truth) > 2000
    assert loaded == truth  # every call, value for value
    assert select(db, "select count(*) as n from quarantine") == [{"n": 0}]

    # KPIs of the days whose every input is loaded: recoveries look 24 h ahead and repeat
    # callers 7 days. Outcomes are judged at the data cut-off (the latest loaded call, from
    # the daily's "today so far"), so the truth they are computed from reaches just as far.
    (cutoff,) = select(db, "select max(started_at) as at from calls")
    loaded_window = Window(window.start, cutoff["at"] + timedelta(microseconds=1))
    everything = [r for r in emu.external_calls(loaded_window) if not r["malformed"]]
    settled = last - timedelta(days=8)
    misses, repeat = truth_misses(everything), repeat_callers(everything)
    # the departments as the demo's one snapshot saw them (its first versions hold since
    # -infinity): a call's own group, else its employee's department then
    (snapshot,) = select(db, "select max(valid_from) as at from group_members_history")
    directory = emu.directory(snapshot["at"])

    def department(row: dict[str, Any]) -> str:
        if row["group_name"]:
            return str(row["group_name"])
        user = directory.user(row["user_login"]) if row["user_login"] else None
        if user is not None and user.group_id:
            return str(directory.group_names[user.group_id])
        return NO_DEPARTMENT

    by_day: dict[tuple[date, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in truth:
        day = row["started_at"].astimezone(MSK).date()
        if row["direction"] == "in" and day <= settled:
            by_day[(day, hours(row), segment(hours(row), department(row)))].append(row)
    expected = {key: kpis(day_rows, misses, repeat) for key, day_rows in by_day.items()}
    names = ", ".join(next(iter(expected.values())))
    got = {
        (r.pop("local_date"), r.pop("hours"), r.pop("segment")): r
        for r in select(
            db,
            f"select local_date, hours, segment, {names} from kpi_daily where is_total "
            f"and local_date <= '{settled}'",
        )
    }
    assert set(got) == set(expected) and len(got) >= 3
    for key, want in expected.items():
        assert {k for k, v in got[key].items() if v is None} == {
            k for k, v in want.items() if v is None
        }, key
        numbers = {k: v for k, v in want.items() if v is not None}
        assert {k: got[key][k] for k in numbers} == pytest.approx(numbers, rel=1e-9), key
