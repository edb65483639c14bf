"""Many accounts from the command line: `--account`, `--all-accounts`, `accounts`, `catalog`,
and a flow run for an account on its own (the path a deployment's run takes).

Each account is an emulator of its own (seed, zone) over a real socket; flow-running
commands talk to the session's Prefect test server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.support.emulated import clock
from tests.support.processes import base_environment, vats
from vats_etl import catalog, errors, warehouse
from vats_etl.accounts import load_accounts
from vats_etl.emulator import Emulator, EmulatorServer
from vats_etl.flows import runtime

# vats-etl processes, flows on the session's Prefect server
pytestmark = pytest.mark.slow

KEYS = {"alpha": "alpha-key-0123456789abcdef", "beta": "beta-key-0123456789abcdef"}
ZONES = {"alpha": "Europe/Moscow", "beta": "Asia/Novosibirsk"}


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, EmulatorServer]]:
    servers = {
        name: EmulatorServer(
            Emulator(seed=seed, agents=8, tz=ZONES[name], dialect=dialect, clock=clock),
            api_key=KEYS[name],
        ).start()
        for name, seed, dialect in (("alpha", 21, "platform"), ("beta", 22, "spec"))
    }
    yield servers
    for server in servers.values():
        server.stop()


def write_accounts(tmp: Path, emulators: dict[str, EmulatorServer], **more: str) -> Path:
    text = "".join(
        f'[accounts.{name}]\nbase_url = "{server.base_url}"\nkey_env = "{name.upper()}_KEY"\n'
        f'tz = "{ZONES[name]}"\n{more.get(name, "")}\n'
        for name, server in emulators.items()
    )
    text += '[accounts.gamma]\nbase_url = "http://127.0.0.1:9/crmapi/v1"\nkey_env = "GAMMA_KEY"\n'
    text += 'tz = "Europe/Moscow"\n'
    path = tmp / "accounts.toml"
    path.write_text(text, "utf-8")
    return path


def env_for(accounts: Path, prefect_url: str | None = None, **more: str) -> dict[str, str]:
    own = dict(
        VATS_ACCOUNTS=str(accounts),
        ALPHA_KEY=KEYS["alpha"],
        BETA_KEY=KEYS["beta"],
    )
    return base_environment(prefect_url, **{**own, **more})


def uids(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] for r in con.execute("select uid from calls").fetchall()}


def truth_uids(server: EmulatorServer, first: date, last: date) -> set[str]:
    from vats_etl.periods import Window, day_window

    emu = server.emu
    window = Window(day_window(first, emu.zone).start, day_window(last, emu.zone).end)
    return {r["uid"] for r in emu.external_calls(window) if not r["malformed"]}


def test_all_accounts_loads_each_into_its_own_warehouse(emulators, prefect_api_url, tmp_path):
    kpi = tmp_path / "kpi-beta.toml"
    kpi.write_text("service_level_s = 45\n", "utf-8")
    accounts_file = write_accounts(tmp_path, emulators, beta=f'kpi_settings = "{kpi}"')
    env = env_for(accounts_file, prefect_api_url)
    result = vats(
        "--all-accounts", "backfill", "--from", "2024-06-03", "--to", "2024-06-04", env=env
    )
    # gamma has no key: it fails alone, the others load; the worst result is the exit code
    assert result.returncode == 1, result.stderr
    assert "== account alpha" in result.stderr and "== account beta" in result.stderr
    assert "error: account gamma: GAMMA_KEY is not set" in result.stderr
    assert "accounts: alpha ok, beta ok, gamma failed" in result.stderr
    accounts = load_accounts(accounts_file)
    for name, server in emulators.items():
        db = accounts.get(name).db_path
        assert uids(db) == truth_uids(server, date(2024, 6, 3), date(2024, 6, 4))
        assert list((accounts.get(name).raw_dir / "external" / "json").iterdir())
    alpha, beta = (uids(accounts.get(n).db_path) for n in ("alpha", "beta"))
    assert alpha and beta and not alpha & beta  # nothing of one account in the other's
    assert not (tmp_path / "data" / "vats.duckdb").exists()  # the single account untouched
    with duckdb.connect(str(accounts.get("beta").db_path), read_only=True) as con:
        assert con.execute("select tz, service_level_s from kpi_settings").fetchall() == [
            ("Asia/Novosibirsk", 45)
        ]
    # the runs refreshed the catalog: both accounts attached, answering across them
    with catalog.connect(accounts.catalog) as con:
        counts = dict(con.execute("select account, count(*) from calls group by 1").fetchall())
        days = con.execute(
            "select account, local_date from kpi_daily where is_total order by 1, 2"
        ).fetchall()
    assert counts == {"alpha": len(alpha), "beta": len(beta)}
    assert {a for a, _ in days} == {"alpha", "beta"}

    # one account again, by name: only its warehouse changes
    before = accounts.get("beta").db_path.stat().st_mtime_ns
    result = vats("--account", "alpha", "backfill", "--from", "2024-06-05", "--to", "2024-06-05",
                  env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert uids(accounts.get("alpha").db_path) == truth_uids(
        emulators["alpha"], date(2024, 6, 3), date(2024, 6, 5)
    )
    assert accounts.get("beta").db_path.stat().st_mtime_ns == before


def test_choosing_accounts_is_checked(emulators, tmp_path):
    accounts_file = write_accounts(tmp_path, emulators)
    env = env_for(accounts_file)
    result = vats("daily", env=env)
    assert result.returncode == 1
    assert "lists 3 accounts (alpha, beta, gamma): choose one with --account" in result.stderr
    result = vats("--account", "zeta", "check", env=env)
    assert result.returncode == 1 and "no account 'zeta'" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for args in (
        ("--all-accounts", "webhook"),
        ("--all-accounts", "serve"),
        ("--account", "alpha", "--all-accounts", "daily"),
        ("--all-accounts", "--db", "x.duckdb", "daily"),
    ):
        result = vats(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
    single = {k: v for k, v in env.items() if k != "VATS_ACCOUNTS"}
    result = vats("--account", "alpha", "check", env=single)
    assert result.returncode == 1 and "--account needs an accounts file" in result.stderr
    result = vats("--account", "beta", "check", env=env)
    assert result.returncode == 0 and result.stdout.startswith("ok: ")


def test_accounts_command_checks_every_account(emulators, tmp_path):
    accounts_file = write_accounts(tmp_path, emulators)
    env = env_for(accounts_file, BETA_KEY="wrong-key-0987654321", GAMMA_KEY="gamma-0123456789")
    result = vats("accounts", env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line[:2] == "│ "}
    assert "ok" in lines["alpha"] and "users" in lines["alpha"]
    assert "rejected key" in lines["beta"]
    assert "unreachable" in lines["gamma"]
    assert "1 ok, 1 rejected key, 1 unreachable" in result.stdout
    everything = result.stdout + result.stderr
    for secret in (*KEYS.values(), "wrong-key-0987654321", "gamma-0123456789"):
        assert secret not in everything
    assert "ALPHA_KEY" in everything and "BETA_KEY" in everything  # names, never values
    listed = vats("accounts", "--no-check", env=env_for(accounts_file))
    assert listed.returncode == 0 and "GAMMA_KEY (not set)" in listed.stdout


def test_an_analyst_holding_the_catalog_never_blocks_a_load(emulators, prefect_api_url, tmp_path):
    accounts_file = write_accounts(tmp_path, emulators)
    env = env_for(accounts_file, prefect_api_url)
    first = vats("--account", "alpha", "backfill", "--from", "2024-06-03", "--to", "2024-06-03",
                 env=env)  # fmt: skip
    assert first.returncode == 0, first.stderr
    accounts = load_accounts(accounts_file)
    holder = subprocess.Popen(  # an analyst's session: the catalog and alpha's copy attached
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from vats_etl import catalog\n"
         f"with catalog.connect(Path({str(accounts.catalog)!r})) as con:\n"
         "    print(con.execute('select count(*) from calls').fetchall()[0][0], flush=True)\n"
         "    sys.stdin.readline()\n"
         "    print(con.execute('select count(*) from calls').fetchall()[0][0], flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdin is not None
        held = int(holder.stdout.readline())
        started = time.monotonic()
        for args in (("--account", "alpha", "backfill", "--from", "2024-06-04", "--to",
                      "2024-06-04"), ("--account", "beta", "backfill", "--from", "2024-06-04",
                      "--to", "2024-06-04")):  # fmt: skip
            result = vats(*args, env=env)
            assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 120
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert int(holder.stdout.readline()) == held  # its session kept the old copies
    finally:
        holder.kill()
        holder.wait()
    with catalog.connect(accounts.catalog) as con:  # a new session sees the new data
        counts = dict(con.execute("select account, count(*) from calls group by 1").fetchall())
    assert counts["alpha"] > held and counts["beta"] > 0
    assert catalog.script_path(accounts.catalog).read_text().count("attach if not exists") == 3


def test_a_run_for_an_account_builds_its_settings_and_waits_for_its_rate_limit(
    emulators, prefect_api_url, tmp_path, monkeypatch
):
    """The path of a deployment's run: the flow gets only the account's name."""
    from prefect.client.orchestration import get_client

    from vats_etl.flows import accounts as account_flows
    from vats_etl.flows.accounts import api_limit_name
    from vats_etl.flows.backfill import backfill

    accounts_file = write_accounts(tmp_path, emulators)
    monkeypatch.setenv("VATS_ACCOUNTS", str(accounts_file))
    monkeypatch.setenv("ALPHA_KEY", KEYS["alpha"])
    monkeypatch.setenv("BETA_KEY", "wrong-key-0987654321")
    rate = 4.0
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(
            api_limit_name("alpha"), 1, slot_decay_per_second=rate
        )
    waited: list[float] = []
    real_throttle = account_flows.api_throttle

    def counted(account: str):  # type: ignore[no-untyped-def]
        wait = real_throttle(account)
        if wait is None:  # beta has no limit
            return None

        def counting() -> None:
            wait()
            waited.append(time.monotonic())

        return counting

    monkeypatch.setattr(account_flows, "api_throttle", counted)
    server = emulators["alpha"]
    requests_before = server.stats.requests
    started = time.monotonic()
    summary = backfill(date(2024, 6, 3), date(2024, 6, 6), account="alpha")
    elapsed = time.monotonic() - started
    requests = server.stats.requests - requests_before
    assert summary.status == "ok"
    assert requests >= 9  # the preflight call and 4 days x 2 kinds
    assert len(waited) == requests  # every request waited for the limit first
    # one slot, refilled `rate` times a second: the requests cannot have gone faster
    assert waited[-1] - waited[0] >= (requests - 1) / rate * 0.9
    assert elapsed >= (requests - 1) / rate * 0.9
    accounts = load_accounts(accounts_file)
    assert uids(accounts.get("alpha").db_path) == truth_uids(
        server, date(2024, 6, 3), date(2024, 6, 6)
    )
    assert runtime.installed() is None  # the account's Runtime lived only for the run
    with pytest.raises(errors.VatsError) as caught:  # a wrong key fails the run at once
        backfill(date(2024, 6, 3), date(2024, 6, 3), account="beta")
    assert str(caught.value) == (
        "account beta: GET users: 401 Invalid token: the PBX rejected BETA_KEY"
    )
    assert not accounts.get("beta").db_path.exists()
    with pytest.raises(errors.ConfigError, match="no account 'zeta'"):
        backfill(date(2024, 6, 3), date(2024, 6, 3), account="zeta")
    assert warehouse.read_copy_path(accounts.get("alpha").db_path).exists()
