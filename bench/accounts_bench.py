"""Many PBX accounts on Prefect workers: prints figures, asserts nothing.

    .venv/bin/python -m bench.accounts_bench [--accounts 20] [--days 30] [--limit 1]

A real `prefect server start`, `vats-etl deploy` into a process work pool, and one emulator
per account (its own seed and zone, in this process, every day pre-rendered so the figures
are the flows', not the emulator's). Then, from empty warehouses each time:

1. the backfill deployment of every account (DAYS days) run by ONE worker (`--limit` runs at
   once), wall time from triggering to the last completion;
2. the same with TWO workers (each `--limit`): wall time and the ratio to one worker;
3. the daily deployment of every account on the two workers;
4. per-account overhead: three accounts' backfills one at a time on one worker (nothing else
   running), from Prefect's state history — worker pickup to running (process start,
   imports, flow engine) and running to completed — against the same loads done directly in
   this process (pipeline.run: no Prefect, no process, no read copy);
5. storage per account (warehouse, read copy, raw archive) and API requests per run.

The machine's load average is printed at the start and the end: other work on a shared
machine shows in every figure (compare within one run).

docs/scale.md extrapolates these figures to 1,000 accounts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.processes import clean_env, prefect_server, stop
from vats_etl import pipeline
from vats_etl.accounts import Accounts, load_accounts
from vats_etl.client import PbxClient
from vats_etl.config import Secret, load_settings
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.periods import day_window

ZONES = ("Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Kaliningrad")
POOL = "vats-bench"


def key_of(n: int) -> str:
    return f"bench-key-{n:03d}-0123456789"


def prerender(emu: Emulator, days: int, now: datetime) -> None:
    """Render every day the runs will ask for, as they will ask (one request per local day)."""
    today = now.astimezone(emu.zone).date()
    for back in range(days + 2):
        window = day_window(today - timedelta(days=back), emu.zone)
        for kind in ("external", "internal"):
            emu.history(kind, "json", window, "all", 5000)


def write_accounts(path: Path, urls: list[str], rate: float) -> Accounts:
    text = f"api_rate_limit = {rate}\n\n"
    for n, url in enumerate(urls):
        text += (
            f'[accounts.acc{n:03d}]\nbase_url = "{url}"\nkey_env = "ACC{n:03d}_KEY"\n'
            f'tz = "{ZONES[n % len(ZONES)]}"\n\n'
        )
    path.write_text(text, "utf-8")
    return load_accounts(path)


def trigger_and_wait(
    client: Any, deployments: dict[str, Any], parameters: dict[str, Any], timeout_s: float
) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    runs = [client.create_flow_run_from_deployment(d.id, parameters=parameters) for d in
            deployments.values()]  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while True:
        states = [client.read_flow_run(r.id).state for r in runs]
        if all(s is not None and s.is_final() for s in states):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"runs not done after {timeout_s:.0f} s: {states}")
        time.sleep(0.5)
    wall = time.perf_counter() - started
    failed = [s for s in states if s is not None and not s.is_completed()]
    if failed:
        raise SystemExit(f"{len(failed)} runs failed, first: {failed[0].message}")
    return wall, runs


def phases(client: Any, runs: list[Any]) -> list[tuple[float, float]]:
    """Per run: worker pickup (Pending) to Running, and Running to Completed, in seconds."""
    found = []
    for run in runs:
        at = {s.type.value: s.timestamp for s in client.read_flow_run_states(run.id)}
        found.append(
            (
                (at["RUNNING"] - at["PENDING"]).total_seconds(),
                (at["COMPLETED"] - at["RUNNING"]).total_seconds(),
            )
        )
    return found


def start_workers(n: int, limit: int, env: dict[str, str], home: Path) -> list[Any]:
    prefect = str(Path(sys.executable).with_name("prefect"))
    workers = []
    for i in range(n):
        log = (home / f"worker-{i}.log").open("w")
        workers.append(
            subprocess.Popen(
                [prefect, "worker", "start", "--pool", POOL, "--limit", str(limit),
                 "--name", f"bench-{i}"],
                env=env | {"PREFECT_HOME": str(home / f"worker-{i}")},
                stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True,
            )
        )  # fmt: skip
    return workers


def direct_load_s(accounts: Accounts, names: list[str], days: int, now: datetime) -> float:
    """The same backfill in this process: pipeline.run only (no Prefect, no subprocess)."""
    took = []
    for name in names:
        account = accounts.get(name)
        base = load_settings(environ={}, env_file=None)
        settings = accounts.settings(name, base, {account.key_env: key_of(int(name[3:]))})
        settings = settings.replace(
            db_path=account.home.parent / f"direct-{name}" / "vats.duckdb",
            raw_dir=account.home.parent / f"direct-{name}" / "raw",
        )
        today = now.astimezone(settings.zone).date()
        chunks = pipeline.plan(today - timedelta(days=days), today - timedelta(days=1),
                               settings.zone)  # fmt: skip
        started = time.perf_counter()
        with PbxClient(settings.base_url or "", settings.api_key or Secret("")) as client:
            summary = pipeline.run(settings, chunks, client=client)
        took.append(time.perf_counter() - started)
        assert summary.status == "ok", summary.failures
    return statistics.mean(took)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--limit", type=int, default=1, help="runs at once per worker")
    parser.add_argument("--rate", type=float, default=20.0, help="API requests/s per account")
    args = parser.parse_args()
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    now = datetime.now(UTC).replace(microsecond=0)
    print(f"{args.accounts} accounts x {args.days} days, {args.agents} agents each; "
          f"workers run {args.limit} at once; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="vats-accounts-bench-"))
    emulators = [
        Emulator(seed=500 + n, agents=args.agents, tz=ZONES[n % len(ZONES)], profile="clean",
                 clock=lambda: now)
        for n in range(args.accounts)
    ]  # fmt: skip
    started = time.perf_counter()
    for emu in emulators:
        prerender(emu, args.days, now)
    print(f"emulators pre-rendered in {time.perf_counter() - started:.1f} s")
    servers = [EmulatorServer(emu, api_key=key_of(n)).start() for n, emu in enumerate(emulators)]
    workers: list[Any] = []
    try:
        accounts = write_accounts(tmp / "accounts.toml", [s.base_url for s in servers], args.rate)
        (tmp / "server").mkdir()
        with prefect_server(tmp / "server") as api:
            env = clean_env(PREFECT_API_URL=api, VATS_ACCOUNTS=str(accounts.path))
            keys = {f"ACC{n:03d}_KEY": key_of(n) for n in range(args.accounts)}
            worker_env = env | keys | {"PREFECT_WORKER_QUERY_SECONDS": "1"}
            deployed = subprocess.run(
                [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()",
                 "--env-file", "/dev/null", "deploy", "--pool", POOL],
                env=env | {"PREFECT_HOME": str(tmp / "deployer")}, capture_output=True,
                text=True, check=True,
            )  # fmt: skip
            del deployed
            first = now.date() - timedelta(days=args.days + 1)
            window = {"date_from": first.isoformat(),
                      "date_to": (first + timedelta(days=args.days - 1)).isoformat()}  # fmt: skip
            with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
                found = client.read_deployments()
                entry = "vats_etl.flows.{0}.{0}"
                backfills = {d.name: d for d in found if d.entrypoint == entry.format("backfill")}
                dailies = {d.name: d for d in found if d.entrypoint == entry.format("daily")}
                results = {}
                for n_workers in (1, 2):
                    shutil.rmtree(accounts.root, ignore_errors=True)
                    accounts.catalog.unlink(missing_ok=True)
                    requests = sum(s.stats.requests for s in servers)
                    workers = start_workers(n_workers, args.limit, worker_env, tmp)
                    time.sleep(3)  # let the workers register and poll
                    wall, runs = trigger_and_wait(client, backfills, window, 1800)
                    requests = sum(s.stats.requests for s in servers) - requests
                    results[n_workers] = (wall, phases(client, runs), requests)
                    print(f"backfill, {n_workers} worker(s): {wall:6.1f} s wall "
                          f"({args.accounts / wall * 60:.1f} accounts/min)")  # fmt: skip
                    if n_workers == 2:
                        before = sum(s.stats.requests for s in servers)
                        daily_wall, daily_runs = trigger_and_wait(client, dailies, {}, 1800)
                        daily_requests = sum(s.stats.requests for s in servers) - before
                        daily = phases(client, daily_runs)
                        sizes = [du(accounts.get(n).home) for n in accounts.names]
                        raw = [du(accounts.get(n).raw_dir) for n in accounts.names]
                    for worker in workers:
                        stop(worker)
                    workers = []
                alone = []  # the overhead, measured with nothing else running
                workers = start_workers(1, 1, worker_env, tmp)
                time.sleep(3)
                for name in accounts.names[:3]:
                    shutil.rmtree(accounts.get(name).home, ignore_errors=True)
                    alone += phases(client, trigger_and_wait(client, {name: backfills[name]},
                                                             window, 600)[1])  # fmt: skip
                for worker in workers:
                    stop(worker)
                workers = []
        direct = direct_load_s(accounts, accounts.names[:3], args.days, now)
    finally:
        for worker in workers:
            stop(worker)
        for server in servers:
            server.stop()

    wall1, wall2 = results[1][0], results[2][0]
    print(f"ratio one worker / two workers: {wall1 / wall2:.2f}x")

    def mean(pairs: list[tuple[float, float]], i: int) -> float:
        return statistics.mean(p[i] for p in pairs)

    busy = results[2][1]
    print(f"per backfill run with 2 workers x {args.limit}: pickup->running "
          f"{mean(busy, 0):.1f} s, running->completed {mean(busy, 1):.1f} s (mean)")  # fmt: skip
    print(f"per daily run with 2 workers x {args.limit}: {daily_wall:.1f} s wall for all; pickup->"
          f"running {mean(daily, 0):.1f} s, running->completed {mean(daily, 1):.1f} s")  # fmt: skip
    total = mean(alone, 0) + mean(alone, 1)
    print(f"a backfill run alone: pickup->running {mean(alone, 0):.1f} s, running->completed "
          f"{mean(alone, 1):.1f} s; the same load in-process {direct:.2f} s; per-account "
          f"overhead of a run {total - direct:.1f} s")  # fmt: skip
    per_daily = daily_requests / args.accounts
    print(f"API requests per backfill run: {results[2][2] / args.accounts:.0f} "
          f"({args.days} days x 2 kinds + the preflight call); per daily run: {per_daily:.0f} "
          "(directory, 2 days x 2 kinds, preflight)")  # fmt: skip
    mean_size, mean_raw = statistics.mean(sizes), statistics.mean(raw)
    catalog_bytes = accounts.catalog.stat().st_size if accounts.catalog.exists() else 0
    print(f"storage per account after backfill + daily ({args.days + 2} days, {args.agents} "
          f"agents): {mean_size / 2**20:.1f} MiB, of which raw archive {mean_raw / 2**20:.1f} MiB"
          f"; catalog of {args.accounts} accounts: {catalog_bytes / 2**10:.0f} KiB")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
