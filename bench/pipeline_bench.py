"""End-to-end load benchmark (fetch, archive, parse, validate, upsert): prints figures,
asserts nothing.

    .venv/bin/python -m bench.pipeline_bench [--days 365] [--agents 200] [--profile]
        [--dialect spec|platform]

1. Starts the emulator in a subprocess with every day of the range pre-rendered, so the
   figures below are the pipeline's own, and measures the emulator's own rate (plain httpx
   fetch + orjson.loads, the "fetch and json.loads alone" baseline).
2. Runs the pipeline (fetch → archive → parse → validate → upsert) over the range in a fresh
   subprocess and reports rows/s and peak RSS (sampled); again for a 30-day range, to show
   RSS does not grow with the range.
3. Loads the same archived payloads with DuckDB's own `read_json` (the 3x yardstick).
4. Runs the daily flow on top of the year (Prefect's start-up excluded).
5. With the optional `bench` extra (dlt) installed, runs dlt side by side.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

API_KEY = "bench-key"
HERE = Path(__file__).resolve().parent


def start_emulator(
    days: int, agents: int, seed: int, dialect: str = "spec", *, prerender: bool = True
) -> tuple[subprocess.Popen[str], str, float]:
    """The emulator in a process of its own: (process, base URL, seconds to start). With
    `prerender`, the last `days` + 1 days are rendered before it listens."""
    warm = ["--prerender-days", str(days + 1), "--cache-mb", str(max(512, 16 * (days + 1)))]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vats_etl.emulator",
            "--port",
            "0",
            "--agents",
            str(agents),
            "--seed",
            str(seed),
            "--dialect",
            dialect,
            "--api-key",
            API_KEY,
            *(warm if prerender else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=emulator_environment(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("emulator listening on http"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {line.strip()!r}")
    return proc, emulator_url(line), time.perf_counter() - started


def emulator_environment() -> dict[str, str]:
    """The emulator's company in Moscow time, whatever VATS_TZ says here: the figures are
    computed for Moscow days."""
    return {**os.environ, "VATS_TZ": "Europe/Moscow"}


def emulator_url(line: str) -> str:
    """The base URL from the emulator's first line: `emulator listening on URL (...)`."""
    return line.split()[3]


def day_range(days: int) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    return today - timedelta(days=days), today - timedelta(days=1)


def emulator_rate(url: str, first: date, last: date) -> dict[str, float]:
    """Fetch + orjson.loads alone (the client splits full windows, nothing else happens)."""
    from vats_etl import periods
    from vats_etl.client import PbxClient
    from vats_etl.config import Secret

    zone = periods.ZoneInfo("Europe/Moscow")
    rows = 0
    nbytes = 0
    started = time.perf_counter()
    with PbxClient(url, Secret(API_KEY)) as client:
        for window in periods.days(first, last, zone):
            for kind in ("external", "internal"):
                for page in client.history(
                    kind,
                    "json",
                    window,
                    decode=lambda _w, r: orjson.loads(r.body),  # type: ignore[arg-type]
                ):
                    nbytes += len(page.body)
                    rows += len(page.decoded)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "mb": nbytes / 1e6}


def pipeline_child(args: argparse.Namespace) -> None:
    """Runs in a subprocess: one pipeline run, figures printed as one JSON line."""
    import psutil

    from vats_etl import pipeline, warehouse
    from vats_etl.client import PbxClient
    from vats_etl.config import load_settings

    settings = load_settings(
        {"base_url": args.url, "api_key": API_KEY, "db_path": args.db, "raw_dir": args.raw},
        env_file=None,
    )
    first, last = day_range(args.days)
    chunks = pipeline.plan(first, last, settings.zone)
    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    threading.Thread(target=sample, daemon=True).start()
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    with PbxClient(settings.base_url or "", settings.api_key, page_limit=5000) as client:  # type: ignore[arg-type]
        if profiler:
            profiler.enable()
        summary = pipeline.run(settings, chunks, client=client, concurrency=args.concurrency)
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - started
    done.set()
    with warehouse.connect(
        settings.db_path, company=warehouse.Company.from_settings(settings)
    ) as con:
        stages = con.execute(
            "select sum(fetch_s), sum(parse_s), sum(validate_s), sum(load_s), sum(requests),"
            " sum(pages) from load_runs"
        ).fetchall()[0]
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
        stats.print_stats(25)
    print(
        json.dumps(
            {
                "rows": summary.rows_loaded,
                "status": summary.status,
                "seconds": seconds,
                "rows_per_s": summary.rows_loaded / seconds,
                "peak_rss_mb": peak[0] / 2**20,
                "stage_seconds_summed_over_threads": {
                    "fetch": stages[0],
                    "parse": stages[1],
                    "validate": stages[2],
                    "load": stages[3],
                },
                "requests": stages[4],
                "pages": stages[5],
            }
        )
    )


def run_pipeline(url: str, days: int, workdir: Path, concurrency: int, profile: bool) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.pipeline_bench",
        "--child",
        "--url",
        url,
        "--days",
        str(days),
        "--db",
        str(workdir / "vats.duckdb"),
        "--raw",
        str(workdir / "raw"),
        "--concurrency",
        str(concurrency),
    ]
    if profile:
        cmd.append("--profile")
    out = subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def duckdb_read_json(raw: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    total = 0
    for kind in ("external", "internal"):
        pattern = str(raw / kind / "json" / "*" / "*.json.zst")
        con.execute(
            f"create table {kind} as select * from read_json('{pattern}', format='array', "
            "union_by_name=true, maximum_object_size=67108864)"
        )
        total += con.execute(f"select count(*) from {kind}").fetchall()[0][0]
    seconds = time.perf_counter() - started
    return {"rows": total, "seconds": seconds, "rows_per_s": total / seconds}


def daily_on_top(url: str, workdir: Path) -> dict[str, float]:
    """The daily flow on the loaded year; Prefect's server start-up is paid by a warm-up flow.

    First the read copy is published as the backfill flow does at its end (the analyst
    cache computed from scratch), so the daily finds what it finds in production."""
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect import flow

    from vats_etl import warehouse
    from vats_etl.config import load_settings
    from vats_etl.flows import runtime
    from vats_etl.flows.daily import daily

    started = time.perf_counter()
    warehouse.publish_read_copy(workdir / "vats.duckdb")
    publish = time.perf_counter() - started

    @flow
    def warm_up() -> None:
        return None

    started = time.perf_counter()
    warm_up()
    startup = time.perf_counter() - started
    settings = load_settings(
        {
            "base_url": url,
            "api_key": API_KEY,
            "db_path": workdir / "vats.duckdb",
            "raw_dir": workdir / "raw",
        },
        env_file=None,
    )
    seconds = []
    with runtime.using(runtime.Runtime(settings)):
        # The first daily after a backfill also takes the first directory snapshot; the
        # second is every other day's (the directory known, yesterday loaded).
        for _ in range(2):
            started = time.perf_counter()
            summary = daily()
            seconds.append(time.perf_counter() - started)
    return {
        "publish_s": publish,
        "prefect_startup_s": startup,
        "first_daily_s": seconds[0],
        "daily_s": seconds[1],
        "rows": summary.rows_loaded,
    }


def dlt_side_by_side(url: str, days: int, workdir: Path) -> dict[str, dict[str, float]] | None:
    """dlt's Arrow path over `days`, its default path over at most 14 (it is slow)."""
    try:
        import dlt  # noqa: F401
    except ImportError:
        return None
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "dlt_bench.py"),
            url,
            API_KEY,
            str(days),
            str(min(days, 14)),
            str(workdir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dialect",
        choices=("spec", "platform"),
        default="spec",
        help="what the emulator speaks (spec: the figures in docs/performance.md)",
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the warehouse and archive here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pipeline_child(args)
        return
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    proc, url, startup = start_emulator(args.days, args.agents, args.seed, args.dialect)
    try:
        print(
            f"emulator: {args.agents} agents, {args.dialect} dialect, {args.days} days"
            f" pre-rendered in {startup:.1f} s"
        )
        first, last = day_range(args.days)
        rate = emulator_rate(url, first, last)
        print(
            f"fetch + orjson.loads alone: {rate['rows']:,} rows, {rate['mb']:.0f} MB, "
            f"{rate['rows_per_s']:,.0f} rows/s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            workdir = args.keep or Path(tmp)
            result = run_pipeline(url, args.days, workdir, args.concurrency, args.profile)
            print(
                f"pipeline {args.days} days: {result['rows']:,} rows in {result['seconds']:.1f}"
                f" s = {result['rows_per_s']:,.0f} rows/s; peak RSS "
                f"{result['peak_rss_mb']:.0f} MiB; {result['requests']} requests for "
                f"{result['pages']} pages"
            )
            print(
                "  stage seconds (summed over threads):",
                result["stage_seconds_summed_over_threads"],
            )
            reader = duckdb_read_json(workdir / "raw")
            print(
                f"duckdb read_json of the archived JSON: {reader['rows']:,} rows in "
                f"{reader['seconds']:.1f} s = {reader['rows_per_s']:,.0f} rows/s "
                f"(pipeline is {reader['rows_per_s'] / result['rows_per_s']:.2f}x slower)"
            )
            daily = daily_on_top(url, workdir)
            print(
                f"backfill's closing publish (analyst cache from scratch): "
                f"{daily['publish_s']:.2f} s"
            )
            print(
                f"daily on top of {args.days} days: {daily['daily_s']:.2f} s; the first after "
                f"the backfill (first directory snapshot) {daily['first_daily_s']:.2f} s "
                f"({daily['rows']:,} rows; Prefect start-up {daily['prefect_startup_s']:.1f} s "
                "not included)"
            )
            for shorter in (30, 120):  # peak RSS should not grow with the range
                if shorter >= args.days:
                    continue
                with tempfile.TemporaryDirectory() as tmp_short:
                    small = run_pipeline(url, shorter, Path(tmp_short), args.concurrency, False)
                print(
                    f"pipeline {shorter} days: peak RSS {small['peak_rss_mb']:.0f} MiB "
                    f"({small['rows_per_s']:,.0f} rows/s)"
                )
            dlt = dlt_side_by_side(url, min(args.days, 120), workdir)
            if dlt is None:
                print("dlt: not installed (pip install -e '.[bench]' to compare)")
            else:
                for path, figures in dlt.items():
                    print(
                        f"dlt {path} path, merge on uid, {figures['days']} days: "
                        f"{figures['rows']:,} rows, {figures['rows_per_s']:,.0f} rows/s, "
                        f"peak RSS {figures['peak_rss_mb']:.0f} MiB"
                    )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
