"""What a user waits for: `vats-etl backfill` timed as a subprocess, from its start to its
exit. Prints figures, asserts nothing.

    .venv/bin/python -m bench.cli_bench [--short 2] [--long 90] [--repeat 3] [--compare DIR]

1. Starts the emulator in its own process with every day of the range pre-rendered (served
   from memory over loopback), so the figures are the command's.
2. Runs `vats-etl backfill` as a user does, each into a new warehouse, timed from outside
   (process start to exit: Prefect's start-up, the closing publish and the exit included):
   first with a new Prefect home (Prefect creates its database), then `--repeat` rounds of
   one day (the fixed cost of a command), `--short` days and `--long` days, each round
   followed by DuckDB's own `read_json` of the long range's archived payloads.
3. The marginal rate of a round: extra rows / extra seconds between the short and the long
   range, the rate at which the command's time grows with the range (fixed costs cancel),
   and its ratio to `read_json`'s rate measured right after it (other work on a shared
   machine comes and goes: neighbours compare best). Then the best of the rounds.
4. All of it twice: without PREFECT_API_URL (each command starts Prefect's temporary
   server, as a new user runs it) and against a running `prefect server start` (as
   operators run it, docs/operations.md).

`--compare DIR` also runs the CLI of another source tree (e.g. `git archive` of an older
commit), each of its commands right after this tree's: before/after figures from one run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench.pipeline_bench import API_KEY, day_range, duckdb_read_json, start_emulator

SUMMARY = re.compile(r"([\d,]+) rows in ([\d.]+) s")


@dataclass(frozen=True)
class Timed:
    days: int
    rows: int
    wall_s: float
    summary_s: float
    exit_code: int


def environment(
    url: str, workdir: Path, prefect_home: Path, prefect_api_url: str | None, code: Path | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VATS_", "PREFECT_"))}
    env.update(
        VATS_BASE_URL=url,
        VATS_API_KEY=API_KEY,
        VATS_DB=str(workdir / "vats.duckdb"),
        VATS_RAW_DIR=str(workdir / "raw"),
        VATS_TZ="Europe/Moscow",
        VATS_DASHBOARDS_DIR=str(workdir / "dashboards"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_HOME=str(prefect_home),
    )
    if prefect_api_url:
        env["PREFECT_API_URL"] = prefect_api_url
    if code:  # another source tree's CLI (e.g. an older commit, for before/after figures)
        env["PYTHONPATH"] = str(code)
    return env


def backfill(
    url: str,
    first: date,
    last: date,
    workdir: Path,
    home: Path,
    prefect_api_url: str | None,
    code: Path | None = None,
) -> Timed:
    """One `vats-etl backfill` into a fresh warehouse, timed from outside."""
    vats_etl = Path(sys.executable).with_name("vats-etl")
    started = time.perf_counter()
    done = subprocess.run(
        [str(vats_etl), "backfill", "--from", first.isoformat(), "--to", last.isoformat()],
        env=environment(url, workdir, home, prefect_api_url, code),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    found = SUMMARY.search(done.stderr)
    if done.returncode != 0 or not found:
        lines = done.stderr.strip().splitlines() or [""]
        raise SystemExit(
            f"backfill {first}..{last} failed after {wall:.1f} s with exit code "
            f"{done.returncode}, {len(lines)} lines on stderr, the last: {lines[-1][:300]}"
        )
    rows = int(found.group(1).replace(",", ""))
    return Timed((last - first).days + 1, rows, wall, float(found.group(2)), done.returncode)


@dataclass(frozen=True)
class Round:
    one: Timed
    short: Timed
    long: Timed
    read_json_rows_per_s: float

    def __str__(self) -> str:
        rate = marginal(self.short, self.long)
        return (
            f"marginal rate {self.short.days} -> {self.long.days} days {rate:,.0f} rows/s, "
            f"read_json of the same payloads {self.read_json_rows_per_s:,.0f} rows/s: "
            f"{self.read_json_rows_per_s / rate:.2f}x"
        )


def show(label: str, timed: Timed) -> None:
    print(
        f"{label}: {timed.days} days, {timed.rows:,} rows: {timed.wall_s:.1f} s wall clock "
        f"(the command's summary said {timed.summary_s:.1f} s)"
    )


def marginal(short: Timed, long: Timed) -> float:
    return (long.rows - short.rows) / max(1e-9, long.wall_s - short.wall_s)


def running_prefect_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`prefect server start` on a free port, as an operator runs it (docs/operations.md)."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    prefect = Path(sys.executable).with_name("prefect")
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return proc, api
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("prefect server start did not answer within 180 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=2)
    parser.add_argument("--long", type=int, default=90)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per Prefect setting")
    parser.add_argument("--skip-running-server", action="store_true")
    parser.add_argument(
        "--compare", type=Path, help="another source tree: its CLI runs next to this one's"
    )
    args = parser.parse_args()
    trees: list[Path | None] = [None, args.compare] if args.compare else [None]
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    proc, url, startup = start_emulator(args.long, args.agents, args.seed)
    try:
        print(f"emulator: {args.agents} agents, {args.long} days pre-rendered in {startup:.1f} s")
        _, last = day_range(args.long)
        ranges = {"one": last, "short": last - timedelta(days=args.short - 1)}
        ranges["long"] = last - timedelta(days=args.long - 1)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)

            def name(tree: Path | None) -> str:
                return "this tree" if tree is None else str(tree)

            def series(label: str, api: str | None) -> None:
                """`--repeat` rounds of one day, the short and the long range, each into a new
                warehouse (with --compare, each tree's run right after the other's), then
                read_json of the long range's payloads: neighbours compare best on a machine
                where other work comes and goes."""
                print(f"{label}:")
                rounds: dict[Path | None, list[Round]] = {tree: [] for tree in trees}
                for i in range(args.repeat):
                    timed: dict[tuple[Path | None, str], Timed] = {}
                    for size, first in ranges.items():
                        for t, tree in enumerate(trees):
                            workdir = root / f"{label[:9]}-{size}{i}-{t}"
                            home = root / f"prefect-home-{t}"  # one per tree, as a user has
                            timed[tree, size] = backfill(url, first, last, workdir, home, api, tree)
                    reader = duckdb_read_json(root / f"{label[:9]}-long{i}-0" / "raw")
                    for tree in trees:
                        one, short, long = (timed[tree, size] for size in ranges)
                        rounds[tree].append(Round(one, short, long, reader["rows_per_s"]))
                        for run in (one, short, long):
                            show(f"  {name(tree)}: vats-etl backfill", run)
                        print(f"  {name(tree)}: {rounds[tree][-1]}")
                for tree in trees:
                    best = Round(
                        min((r.one for r in rounds[tree]), key=lambda t: t.wall_s),
                        min((r.short for r in rounds[tree]), key=lambda t: t.wall_s),
                        min((r.long for r in rounds[tree]), key=lambda t: t.wall_s),
                        max(r.read_json_rows_per_s for r in rounds[tree]),
                    )
                    print(
                        f"  {name(tree)}, best of {args.repeat}: one day {best.one.wall_s:.1f} s, "
                        f"{args.short} days {best.short.wall_s:.1f} s, {args.long} days "
                        f"{best.long.wall_s:.1f} s; {best}"
                    )

            # the first command with a new Prefect home also creates Prefect's database
            for t, tree in enumerate(trees):
                try:
                    home = root / f"prefect-home-{t}"
                    first = backfill(url, last, last, root / f"first-{t}", home, None, tree)
                    show(f"{name(tree)}: vats-etl backfill, a new Prefect home", first)
                except SystemExit as failed:  # a first start can time out on a busy machine
                    print(f"{name(tree)}: vats-etl backfill, a new Prefect home: {failed}")
            series("temporary Prefect server (no PREFECT_API_URL)", None)
            if args.skip_running_server:
                return
            server, api = running_prefect_server(root / "prefect-server")
            try:
                series(f"running Prefect server (PREFECT_API_URL={api})", api)
            finally:
                server.terminate()
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
