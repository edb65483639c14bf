"""Many accounts on Prefect workers (issue 14): prints figures, asserts nothing.

    .venv/bin/python -m bench.accounts_bench [--accounts 20] [--days 30] [--limit 2]

A real `prefect server start`, `vats-etl deploy` into a process work pool, and one emulator
per account (its own seed and zone, in this process, every day pre-rendered so the figures
are the flows', not the emulator's). Then, from empty warehouses each time:

1. the backfill deployment of every account (DAYS days) run by ONE worker (`--limit` runs at
   once), wall time from triggering to the last completion;
2. the same with TWO workers (each `--limit`): wall time and the ratio to one worker;
3. the daily deployment of every account on the two workers;
4. per run, from Prefect's state history: worker pickup to running (process start, imports,
   flow engine) and running to completed; the same accounts' loads done directly in this
   process (no Prefect, no process) give the per-account overhead of a run;
5. storage per account (warehouse, read copy, raw archive) and API requests per run.

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

from tests.test_serve import clean_env, prefect_server, stop
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


def phases(client: Any, runs: list[Any]) -> tuple[list[float], list[float]]:
    """Per run: worker pickup (Pending) to Running, and Running to Completed, in seconds."""
    pickup, body = [], []
    for run in runs:
        at = {s.type.value: s.timestamp for s in client.read_flow_run_states(run.id)}
        pickup.append((at["RUNNING"] - at["PENDING"]).total_seconds())
        body.append((at["COMPLETED"] - at["RUNNING"]).total_seconds())
    return pickup, body


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
    parser.add_argument("--limit", type=int, default=2, help="runs at once per worker")
    parser.add_argument("--rate", type=float, default=20.0, help="API requests/s per account")
    args = parser.parse_args()
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    now = datetime.now(UTC).replace(microsecond=0)
    print(f"{args.accounts} accounts x {args.days} days, {args.agents} agents each; "
          f"workers run {args.limit} at once; {os.cpu_count()} CPUs")  # fmt: skip
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
                backfills = {d.name: d for d in found if d.entrypoint == "flows.backfill.backfill"}
                dailies = {d.name: d for d in found if d.entrypoint == "flows.daily.daily"}
                results = {}
                for n_workers in (1, 2):
                    shutil.rmtree(accounts.root, ignore_errors=True)
                    accounts.catalog.unlink(missing_ok=True)
                    requests = sum(s.stats.requests for s in servers)
                    workers = start_workers(n_workers, args.limit, worker_env, tmp)
                    time.sleep(3)  # let the workers register and poll
                    wall, runs = trigger_and_wait(client, backfills, window, 1800)
                    pickup, body = phases(client, runs)
                    requests = sum(s.stats.requests for s in servers) - requests
                    results[n_workers] = (wall, pickup, body, requests)
                    print(f"backfill, {n_workers} worker(s): {wall:6.1f} s wall "
                          f"({args.accounts / wall * 60:.1f} accounts/min)")  # fmt: skip
                    if n_workers == 2:
                        daily_wall, daily_runs = trigger_and_wait(client, dailies, {}, 1800)
                        daily_pickup, daily_body = phases(client, daily_runs)
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
    pickup, body, requests = results[2][1], results[2][2], results[2][3]
    run_s = [p + b for p, b in zip(pickup, body, strict=True)]
    print(f"per backfill run (2 workers): pickup->running {statistics.mean(pickup):.1f} s, "
          f"running->completed {statistics.mean(body):.1f} s (mean); "
          f"the same load in-process {direct:.2f} s")  # fmt: skip
    print(f"per-account overhead of a run: {statistics.mean(run_s) - direct:.1f} s "
          f"(process start, Prefect, preflight, rate limit, read copy, catalog)")  # fmt: skip
    print(f"daily, 2 workers: {daily_wall:.1f} s wall; per run pickup->running "
          f"{statistics.mean(daily_pickup):.1f} s, running->completed "
          f"{statistics.mean(daily_body):.1f} s")  # fmt: skip
    print(f"API requests per backfill run: {requests / args.accounts:.0f} "
          f"({args.days} days x 2 kinds, directory not included)")  # fmt: skip
    sizes = {name: du(accounts.get(name).home) for name in accounts.names}
    raw = {name: du(accounts.get(name).raw_dir) for name in accounts.names}
    mean_size, mean_raw = statistics.mean(sizes.values()), statistics.mean(raw.values())
    catalog_bytes = accounts.catalog.stat().st_size if accounts.catalog.exists() else 0
    print(f"storage per account after backfill + daily ({args.days + 2} days, {args.agents} "
          f"agents): {mean_size / 2**20:.1f} MiB, of which raw archive {mean_raw / 2**20:.1f} MiB"
          f"; catalog of {args.accounts} accounts: {catalog_bytes / 2**10:.0f} KiB")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
