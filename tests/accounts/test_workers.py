"""Many PBX accounts on Prefect's own machinery, end to end.

A real `prefect server start`, a process work pool made by `vats-etl deploy`, two
`prefect worker start` processes and three emulators (different seeds, zones and dialects:
the platform's answers and the letter of the spec) on loopback sockets. Every account gets
a backfill and then a daily run through its deployments; each good account's warehouse
ends equal to its emulator's truth and the catalog answers across accounts. Two broken
accounts — a wrong key, an unreachable host — fail their own runs at once with a message
naming them, and nothing else notices. No key reaches Prefect: not its database, its logs
or the workers' output.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest

from tests.support.emulated import EXTERNAL_COLUMNS, canonical_frame
from tests.support.processes import clean_env, free_port, prefect_server, stop
from vats_etl import catalog, warehouse
from vats_etl.accounts import load_accounts
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.periods import Window, day_window

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# The emulators' clock stands still, so "the truth" cannot move while the workers load.
FROZEN = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
POOL = "vats-accounts-test"


@dataclass(frozen=True)
class Company:
    name: str
    seed: int
    tz: str
    key: str
    dialect: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def today(self) -> date:
        return FROZEN.astimezone(self.zone).date()

    @property
    def env(self) -> str:
        return f"{self.name.upper()}_VATS_KEY"


GOOD = (
    Company("alpha", 11, "Europe/Moscow", "alpha-key-0123456789abcdef", "platform"),
    Company("beta", 12, "Asia/Vladivostok", "beta-key-0123456789abcdef", "spec"),
    Company("gamma", 13, "Europe/Kaliningrad", "gamma-key-0123456789abcdef", "platform"),
)
WRONG_KEY = "badkey-wrong-value-0123456789"


def accounts_toml(urls: dict[str, str], closed_port: int) -> str:
    lines = ["api_rate_limit = 20", ""]
    for c in GOOD:
        lines += [
            f"[accounts.{c.name}]",
            f'base_url = "{urls[c.name]}"',
            f'key_env = "{c.env}"',
            f'tz = "{c.tz}"',
            "",
        ]
    lines += [
        "[accounts.badkey]",  # alpha's PBX, but a key it rejects
        f'base_url = "{urls["alpha"]}"',
        'key_env = "BADKEY_VATS_KEY"',
        'tz = "Europe/Moscow"',
        "",
        "[accounts.nohost]",  # nothing listens there
        f'base_url = "http://127.0.0.1:{closed_port}/crmapi/v1"',
        'key_env = "NOHOST_VATS_KEY"',
        'tz = "Europe/Moscow"',
    ]
    return "\n".join(lines) + "\n"


def truth(emu: Emulator, company: Company) -> tuple[pl.DataFrame, int]:
    window = Window(day_window(company.today - timedelta(days=3), company.zone).start, FROZEN)
    return canonical_frame(emu.external_calls(window)), len(emu.internal_calls(window))


def loaded(read_copy: Path) -> tuple[pl.DataFrame, int, list[tuple[Any, ...]]]:
    with duckdb.connect(str(read_copy), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        frame = con.sql(f"select {', '.join(EXTERNAL_COLUMNS)} from calls order by uid").pl()
        internal = con.execute("select count(*) from internal_calls").fetchall()[0][0]
        statuses = con.execute(  # history chunks; the directory's missing endpoints (the
            # platform has no SIMs) are `skipped` rows of their own
            "select distinct status from load_runs where kind in ('external', 'internal')"
        ).fetchall()
    frame = frame.with_columns(pl.col("started_at").dt.convert_time_zone("UTC"))
    return frame, int(internal), statuses


def wait_final(
    client: Any, runs: dict[str, Any], deadline_s: float, logs: list[Path]
) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while True:
        states = {name: client.read_flow_run(run.id).state for name, run in runs.items()}
        if all(s is not None and s.is_final() for s in states.values()):
            return states
        if time.monotonic() > deadline:
            tails = "\n".join(p.read_text()[-3000:] for p in logs)
            raise AssertionError(f"runs not final: {states}\n{tails}")
        time.sleep(1)


def test_two_workers_load_every_account_and_isolate_the_broken_ones(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter
    from prefect.settings import PREFECT_API_URL, temporary_settings

    emulators = {
        c.name: Emulator(seed=c.seed, agents=8, tz=c.tz, dialect=c.dialect, clock=lambda: FROZEN)
        for c in GOOD
    }
    servers = {c.name: EmulatorServer(emulators[c.name], api_key=c.key) for c in GOOD}
    accounts_file = tmp_path / "etc" / "accounts.toml"
    accounts_file.parent.mkdir()
    (tmp_path / "server").mkdir()
    workers: list[subprocess.Popen[Any]] = []
    worker_logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    try:
        urls = {name: server.start().base_url for name, server in servers.items()}
        accounts_file.write_text(accounts_toml(urls, free_port()), "utf-8")
        with prefect_server(tmp_path / "server") as api:
            keys = {c.env: c.key for c in GOOD} | {"BADKEY_VATS_KEY": WRONG_KEY}
            keys["NOHOST_VATS_KEY"] = "nohost-key-0123456789abcdef"
            base = clean_env(PREFECT_API_URL=api, VATS_ACCOUNTS=str(accounts_file))

            # deploy needs no key: only names travel to Prefect
            deployed = subprocess.run(
                [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()",
                 "--env-file", "/dev/null", "deploy", "--pool", POOL, "--pool-limit", "4"],
                env=base | {"PREFECT_HOME": str(tmp_path / "deployer")},
                cwd=tmp_path, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            assert "vats-backfill/gamma" in deployed.stdout

            for n, log_path in enumerate(worker_logs, 1):
                workers.append(
                    subprocess.Popen(
                        [str(Path(sys.executable).with_name("prefect")), "worker", "start",
                         "--pool", POOL, "--limit", "2", "--name", f"worker-{n}"],
                        env=base | keys | {
                            "PREFECT_HOME": str(tmp_path / f"worker-{n}"),
                            "PREFECT_WORKER_QUERY_SECONDS": "1",
                            "PREFECT_LOGGING_LEVEL": "INFO",
                        },
                        cwd="/", stdout=log_path.open("w"), stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip

            with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
                found = {(d.name, d.entrypoint): d for d in client.read_deployments()}
                names = {"alpha", "beta", "gamma", "badkey", "nohost"}
                assert {n for n, _ in found} == names
                daily_dep = {
                    n: d for (n, e), d in found.items() if e == "vats_etl.flows.daily.daily"
                }
                backfill_dep = {
                    n: d for (n, e), d in found.items() if e == "vats_etl.flows.backfill.backfill"
                }
                weekly_dep = {
                    n: d
                    for (n, e), d in found.items()
                    if e == "vats_etl.flows.weekly.weekly_email_flow"
                }
                assert set(daily_dep) == set(backfill_dep) == set(weekly_dep) == names
                # schedules in each account's own zone; the backfill runs on demand only
                assert [
                    (s.schedule.cron, s.schedule.timezone) for s in daily_dep["beta"].schedules
                ] == [  # type: ignore[union-attr]
                    ("0 6 * * *", "Asia/Vladivostok")
                ]
                assert [s.schedule.timezone for s in weekly_dep["gamma"].schedules] == [  # type: ignore[union-attr]
                    "Europe/Kaliningrad"
                ]
                assert backfill_dep["alpha"].schedules == []
                assert all(d.parameters == {"account": n} for (n, _), d in found.items())
                assert client.read_work_pool(POOL).type == "process"
                assert client.read_work_pool(POOL).concurrency_limit == 4
                limit = client.read_global_concurrency_limit_by_name("vats-api-alpha")
                assert (limit.limit, limit.slot_decay_per_second) == (20, 20.0)

                companies = {c.name: c for c in GOOD}
                first = {
                    n: (companies[n].today if n in companies else FROZEN.date()) - timedelta(days=3)
                    for n in names
                }
                backfills = {
                    n: client.create_flow_run_from_deployment(
                        backfill_dep[n].id,
                        parameters={
                            "date_from": first[n].isoformat(),
                            "date_to": (first[n] + timedelta(days=1)).isoformat(),
                        },
                    )
                    for n in sorted(names)
                }
                states = wait_final(client, backfills, 300, worker_logs)
                dailies = {
                    n: client.create_flow_run_from_deployment(daily_dep[n].id)
                    for n in sorted(names)
                }
                states |= {
                    f"daily-{n}": s
                    for n, s in wait_final(client, dailies, 300, worker_logs).items()
                }
                runs = {**backfills, **{f"daily-{n}": r for n, r in dailies.items()}}

                for key, state in states.items():
                    account = key.removeprefix("daily-")
                    if account in companies:
                        assert state.is_completed(), (key, state)
                        continue
                    assert state.is_failed(), (key, state)
                    message = state.message or ""
                    assert f"account {account}:" in message, message
                    if account == "badkey":  # named by its own variable, the key never shown
                        assert "401 Invalid token" in message and "BADKEY_VATS_KEY" in message
                    else:
                        assert "gave up" in message and "connection error" in message

                # how long the broken accounts held a worker: the preflight call fails fast
                for account in ("badkey", "nohost"):
                    run = client.read_flow_run(runs[account].id)
                    assert run.total_run_time < timedelta(seconds=60), (account, run.total_run_time)

                texts = [str(client.read_flow_run(r.id).parameters) for r in runs.values()]
                texts += [str(d.parameters) + str(d.job_variables) for d in found.values()]
                texts += [log.message for log in client.read_logs(LogFilter(), limit=200)]
                texts += [str(s.message) for s in states.values()]

            # both workers took runs: any number of them share the pool
            took = {
                p.name: len(re.findall(r"submitting flow run", p.read_text())) for p in worker_logs
            }
            assert all(n > 0 for n in took.values()), took
    finally:
        for proc in workers:
            stop(proc)
        for server in servers.values():
            server.stop()

    # no key anywhere Prefect keeps or shows things
    everything = "\n".join(texts) + "".join(p.read_text() for p in worker_logs)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "server").rglob("*") if p.is_file())
    for secret in [c.key for c in GOOD] + [WRONG_KEY, "nohost-key-0123456789abcdef"]:
        assert secret not in everything
        assert secret.encode() not in stored

    accounts = load_accounts(accounts_file)
    for company in GOOD:
        account = accounts.get(company.name)
        expected, internal = truth(emulators[company.name], company)
        frame, loaded_internal, statuses = loaded(warehouse.read_copy_path(account.db_path))
        assert expected.height > 100
        assert frame.equals(expected), company.name
        assert loaded_internal == internal
        assert statuses == [("ok",)]
        assert account.db_path.parent == accounts.root / company.name
        assert (account.dashboards_dir / "overview.html").exists()
    assert not accounts.get("badkey").db_path.exists()  # failed before opening anything
    assert not accounts.get("nohost").db_path.exists()

    # the catalog, kept current by the runs themselves, answers across accounts
    with catalog.connect(accounts.catalog) as con:
        per_account = dict(con.execute("select account, count(*) from calls group by 1").fetchall())
        kpi_accounts = {
            r[0] for r in con.execute("select distinct account from kpi_daily").fetchall()
        }
        raw = dict(
            con.execute(
                "select account, count(distinct uid) from raw_history('external') group by 1"
            ).fetchall()
        )
        listed = [
            r[0] for r in con.execute("select account from catalog_accounts order by 1").fetchall()
        ]
        loads = dict(
            con.execute("select account, max(finished_at) from load_runs group by 1").fetchall()
        )
        built_at = con.execute("select built_at from catalog_state").fetchall()[0][0]
    expected_counts = {c.name: truth(emulators[c.name], c)[0].height for c in GOOD}
    assert per_account == expected_counts
    assert raw == expected_counts  # the raw archives, one table, Hive key `account`
    assert kpi_accounts == set(expected_counts)
    # built by deploy with every account (an empty copy for those not loaded yet), so the
    # runs only checked it: an account's first load does not change the catalog
    assert listed == ["alpha", "badkey", "beta", "gamma", "nohost"]
    assert set(loads) == set(expected_counts)  # the broken accounts never loaded anything
    assert all(built_at < finished for finished in loads.values())
