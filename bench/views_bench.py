"""Time every analyst view over one year of a 200-agent company (~2M calls).

    .venv/bin/python -m bench.views_bench [--agents 200] [--days 365] [--db PATH] [--repeat 3]
                                          [--live]

The rows are generated directly (numpy/polars; no API round trip): calls with realistic
shapes (office-hours peaks, answered/missed mix, callbacks after misses, clients calling
again, ratings) and a directory history with weekly snapshots in which employees move
between departments. The warehouse is a DuckDB file built with the real schema
(``warehouse.ensure_schema``); each view is read completely (``select *`` into Arrow), and
the best of ``--repeat`` runs is printed. Target: every KPI view under 2 s.

Views read ``inbound_outcomes``, served from its cache once a writer has published the read
copy (as every flow does last). ``--live`` also times the KPI views with the cache
invalidated (what an analyst sees right after changing kpi_settings, until the next flow).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from vats_etl import warehouse

KPI_VIEWS = (
    "kpi_daily",
    "kpi_weekly",
    "kpi_by_employee_weekly",
    "kpi_by_number_weekly",
    "kpi_heatmap",
    "rating_by_employee",
    "low_ratings",
)
OTHER_VIEWS = (
    "missed_calls",
    "missed_by_employee",
    "data_cutoff",
    "ratings",
    "users",
    "groups",
    "telnums",
)
TARGET_S = 2.0
START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
DEPARTMENTS = 10
NUMBERS = 12


def _seconds(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    """Call start offsets (s) from START: office-hour peaks (Moscow = UTC+3), fewer weekends."""
    day = rng.integers(0, days, n)
    weekday = (day % 7).astype(np.int64)
    keep = rng.random(n) < np.where(weekday < 5, 1.0, 0.25)
    day = np.where(keep, day, rng.integers(0, days, n))
    hour_utc = np.clip(rng.normal(10.5, 3.0, n), 0, 23.99)  # 13:30 local peak
    return day * 86_400 + (hour_utc * 3600).astype(np.int64)


def build_calls(agents: int, days: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    per_day = 6_000 * agents / 200
    n_in = int(per_day * days * 0.70)
    n_out = int(per_day * days * 0.22)
    clients = np.array([f"79{n:09d}" for n in rng.integers(0, 10**9, 350_000)])
    logins = np.array([f"u{i:03d}" for i in range(agents)])
    numbers = np.array([f"7495{n:07d}" for n in range(1000000, 1000000 + NUMBERS)])
    group_names = np.array([f"Отдел {d + 1}" for d in range(DEPARTMENTS)])

    # inbound
    t_in = _seconds(rng, n_in, days)
    weights = rng.pareto(1.2, len(clients)) + 1  # most clients call rarely, a few a lot
    weights /= weights.sum()
    who_in = rng.choice(len(clients), n_in, p=weights)
    roll = rng.random(n_in)
    status_in = np.select(
        [roll < 0.82, roll < 0.90, roll < 0.96], ["success", "missed", "cancel"], "busy"
    )
    wait_in = np.minimum(rng.exponential(14, n_in), 600).astype(np.int32)
    dur_in = np.where(status_in == "success", rng.exponential(180, n_in), 0).astype(np.int32)
    agent_in = rng.integers(0, agents, n_in)
    dept_in = agent_in % DEPARTMENTS
    has_user = (status_in == "success") | (rng.random(n_in) < 0.5)
    rating = np.where(
        (status_in == "success") & (rng.random(n_in) < 0.2), rng.integers(1, 6, n_in), -1
    )
    dest = np.where(status_in == "success", "user", np.where(rng.random(n_in) < 0.1, "vm", "group"))

    # outbound: callbacks after misses (some late, some failing) plus ordinary calls
    missed_idx = np.flatnonzero(status_in != "success")
    cb_idx = missed_idx[rng.random(len(missed_idx)) < 0.65]
    t_cb = t_in[cb_idx] + rng.exponential(4 * 3600, len(cb_idx)).astype(np.int64) + 60
    n_other = max(n_out - len(cb_idx), 0)
    t_out = np.concatenate([t_cb, _seconds(rng, n_other, days)])
    who_out = np.concatenate([who_in[cb_idx], rng.choice(len(clients), n_other, p=weights)])
    agent_out = np.concatenate([agent_in[cb_idx], rng.integers(0, agents, n_other)])
    n_o = len(t_out)
    ok_out = rng.random(n_o) < 0.7
    dur_out = np.where(ok_out, rng.exponential(150, n_o), 0).astype(np.int32)
    wait_out = np.minimum(rng.exponential(10, n_o), 60).astype(np.int32)

    started = np.concatenate([t_in, t_out])
    n = len(started)
    frame = pl.DataFrame(
        {
            "uid": [f"c{i:08d}" for i in range(n)],
            "direction": np.concatenate([np.full(n_in, "in"), np.full(n_o, "out")]),
            "status": np.concatenate([status_in, np.where(ok_out, "success", "missed")]),
            "client": np.concatenate([clients[who_in], clients[who_out]]),
            "diversion": np.concatenate(
                [numbers[rng.integers(0, NUMBERS, n_in)], np.full(n_o, "")]
            ),
            "destination": np.concatenate([dest, np.full(n_o, "")]),
            "user_login": np.concatenate(
                [np.where(has_user, logins[agent_in], ""), logins[agent_out]]
            ),
            "group_name": np.concatenate([group_names[dept_in], np.full(n_o, "")]),
            "started_offset_s": started,
            "wait_s": np.concatenate([wait_in, wait_out]),
            "duration_s": np.concatenate([dur_in, dur_out]),
            "record_url": [f"https://rec.example/{i}.mp3" for i in range(n)],
            "rating": np.concatenate([rating, np.full(n_o, -1)]),
        },
        strict=False,
    )
    start_us = int(START.timestamp() * 1_000_000)
    text = ["diversion", "destination", "user_login", "group_name"]
    return frame.with_columns(
        *(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text),
        user_name=pl.lit(None, pl.String),
        started_at=(pl.col("started_offset_s") * 1_000_000 + start_us)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC"),
        rating=pl.when(pl.col("rating") > 0).then(pl.col("rating")).cast(pl.Int8),
        source=pl.lit("api_json"),
        loaded_at=pl.lit(START + timedelta(days=days)).dt.cast_time_unit("us"),
    ).drop("started_offset_s")


def build_directory(con: duckdb.DuckDBPyConnection, agents: int, days: int, seed: int = 7) -> None:
    """Weekly snapshots: each week a few employees move to another department."""
    rng = np.random.default_rng(seed + 1)
    weeks = days // 7 + 1
    dept = np.arange(agents) % DEPARTMENTS
    member_rows: list[tuple[str, str, int, bool, datetime, datetime | None]] = []
    since = [START] * agents
    for week in range(1, weeks):
        at = START + timedelta(weeks=week)
        for agent in rng.choice(agents, size=3, replace=False):
            member_rows.append((f"d{dept[agent]:02d}", f"u{agent:03d}", 0, True, since[agent], at))
            dept[agent] = (dept[agent] + rng.integers(1, DEPARTMENTS)) % DEPARTMENTS
            since[agent] = at
    for agent in range(agents):
        member_rows.append((f"d{dept[agent]:02d}", f"u{agent:03d}", 0, True, since[agent], None))
    members = pl.DataFrame(
        member_rows,
        schema=[
            "group_id",
            "user_login",
            "member_position",
            "is_calls_enabled",
            "valid_from",
            "valid_to",
        ],
        orient="row",
    ).with_columns(is_current=pl.col("valid_to").is_null(), attr_hash=pl.lit("x"))
    users = pl.DataFrame(
        {
            "user_login": [f"u{i:03d}" for i in range(agents)],
            "user_name": [f"Сотрудник {i}" for i in range(agents)],
            "position": "Менеджер",
            "ext": [str(700 + i) for i in range(agents)],
            "role": "user",
            "attr_hash": "x",
            "valid_from": START,
            "is_current": True,
        }
    )
    groups = pl.DataFrame(
        {
            "group_id": [f"d{d:02d}" for d in range(DEPARTMENTS)],
            "group_name": [f"Отдел {d + 1}" for d in range(DEPARTMENTS)],
            "attr_hash": "x",
            "valid_from": START,
            "is_current": True,
        }
    )
    for table, frame in (
        ("group_members_history", members),
        ("users_history", users),
        ("groups_history", groups),
    ):
        con.register("incoming", frame)
        con.execute(f"insert into {table} by name select * from incoming")
        con.unregister("incoming")


def build(path: Path, agents: int, days: int) -> int:
    calls = build_calls(agents, days)
    with warehouse.connect(path, company=warehouse.Company("Europe/Moscow")) as con:
        con.register("incoming", calls)
        con.execute("insert into calls by name select * from incoming")
        con.unregister("incoming")
        build_directory(con, agents, days)
    warehouse.publish_read_copy(path)  # what every flow does last: refresh caches, checkpoint
    return calls.height


def time_view(con: duckdb.DuckDBPyConnection, view: str, repeat: int) -> tuple[float, int]:
    best = float("inf")
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = con.sql(f"select * from {view}").arrow().read_all().num_rows
        best = min(best, time.perf_counter() - started)
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--db", type=Path, help="reuse/keep the DuckDB file here")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--live", action="store_true", help="also time without the cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        if not path.exists():
            started = time.perf_counter()
            n = build(path, args.agents, args.days)
            print(f"built {n:,} calls in {time.perf_counter() - started:.1f} s -> {path}")
        con = duckdb.connect(str(path), read_only=True)
        con.execute("set timezone = 'UTC'")
        total = con.sql("select count(*) from calls").fetchall()[0][0]
        threads = con.sql("select current_setting('threads')").fetchall()[0][0]
        print(f"{total:,} calls; duckdb {duckdb.__version__}; {threads} threads")
        print(f"{'view':<26}{'seconds':>9}{'rows':>10}")
        slow = []
        for view in (*KPI_VIEWS, *OTHER_VIEWS):
            seconds, rows = time_view(con, view, args.repeat)
            flag = "" if view not in KPI_VIEWS or seconds < TARGET_S else "  over target"
            if flag:
                slow.append(view)
            print(f"{view:<26}{seconds:>9.3f}{rows:>10,}{flag}")
        con.close()
        print("all KPI views under target" if not slow else f"over {TARGET_S} s: {', '.join(slow)}")
        if args.live:
            copy = Path(tmp) / "live.duckdb"
            shutil.copyfile(path, copy)
            con = duckdb.connect(str(copy))
            con.execute("set timezone = 'UTC'")
            con.execute("delete from view_caches")
            print("live, cache invalidated:")
            for view in KPI_VIEWS:
                seconds, rows = time_view(con, view, 1)
                print(f"{view:<26}{seconds:>9.3f}{rows:>10,}")
            con.close()


if __name__ == "__main__":
    main()
