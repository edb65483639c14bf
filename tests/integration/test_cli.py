"""The CLI as users run it: a real `vats-etl` process against the emulator over loopback.

Flow-running commands talk to the session's Prefect test server (PREFECT_API_URL), so no
process pays for a temporary server of its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.support.emulated import API_KEY, checksums, clock, environment, query, served
from tests.support.processes import vats
from vats_etl.emulator import Emulator

# every test runs `vats-etl` as a process
pytestmark = pytest.mark.slow

SECRET_MARKERS = (API_KEY,)


@pytest.mark.parametrize("command", ["backfill", "daily", "replay", "check", "demo", "emulator"])
def test_help_runs_for_every_command(command):
    result = vats(command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_check_succeeds_against_the_emulator(server, tmp_path):
    result = vats("check", env=environment(tmp_path, server.base_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ") and "users" in result.stdout


def test_rejected_key_is_one_line_without_traceback_or_key(server, tmp_path):
    env = environment(tmp_path, server.base_url, VATS_API_KEY="wrong-key-0987654321")
    result = vats("check", env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "Invalid token" in result.stderr and "wrong-key-0987654321" not in result.stderr


def test_unreachable_host_is_one_line(tmp_path):
    env = environment(tmp_path, "http://127.0.0.1:9/crmapi/v1")
    result = vats("check", env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "gave up" in result.stderr and "Traceback" not in result.stderr


def test_missing_configuration_is_named(tmp_path):
    env = environment(tmp_path, "")
    del env["VATS_BASE_URL"]
    result = vats("check", env=env)
    assert result.returncode == 1 and "VATS_BASE_URL" in result.stderr


def test_bad_dates_are_usage_errors(server, tmp_path):
    env = environment(tmp_path, server.base_url)
    result = vats("backfill", "--from", "2024-06-07", "--to", "2024-06-03", env=env)
    assert result.returncode == 2 and "--to" in result.stderr
    result = vats("backfill", "--from", "June 3", "--to", "2024-06-03", env=env)
    assert result.returncode == 2


def test_backfill_prints_a_summary_and_exits_0(server, tmp_path, prefect_api_url):
    env = environment(tmp_path, server.base_url, prefect_api_url)
    result = vats("backfill", "--from", "2024-06-03", "--to", "2024-06-04", env=env)
    assert result.returncode == 0, result.stderr
    assert "external" in result.stderr and "internal" in result.stderr and "rows/s" in result.stderr
    assert API_KEY not in result.stderr + result.stdout
    assert (tmp_path / "vats.read.duckdb").exists()  # the analysts' copy is published
    assert query(tmp_path / "vats.duckdb", "select count(distinct day) from load_runs") == [(2,)]


def test_the_summary_counts_the_whole_command(server, tmp_path, prefect_api_url):
    """Its seconds are the time the user waited: from the process's start (imports, checks,
    Prefect included) to the summary, not the load's alone — only the exit is left out."""
    env = environment(tmp_path, server.base_url, prefect_api_url)
    started = time.monotonic()
    result = vats("backfill", "--from", "2024-06-03", "--to", "2024-06-03", env=env)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    said = float(re.search(r"rows in ([\d.]+) s", result.stderr).group(1))  # type: ignore[union-attr]
    assert wall - 3 <= said <= wall + 0.05, (said, wall)


def test_tz_option_wins_over_the_environment_everywhere(server, tmp_path, prefect_api_url):
    """--tz reaches every step, the early checks and the load begun before the flow too."""
    env = environment(tmp_path, server.base_url, prefect_api_url)  # VATS_TZ=Europe/Moscow
    result = vats(
        "--tz", "Europe/Berlin", "backfill", "--from", "2024-06-03", "--to", "2024-06-03", env=env
    )
    assert result.returncode == 0, result.stderr
    import duckdb  # read-only: a writer here would set kpi_settings.tz to this process's zone

    with duckdb.connect(str(tmp_path / "vats.duckdb"), read_only=True) as con:
        assert con.sql("select tz from kpi_settings").fetchall() == [("Europe/Berlin",)]
        starts = con.sql(
            "select distinct strftime(window_start at time zone 'UTC', '%H:%M') from load_runs"
        ).fetchall()
    assert starts == [("22:00",)]  # midnight in Berlin (CEST), not 21:00 (Moscow)


def test_quarantined_rows_exit_3(tmp_path, prefect_api_url):
    emu = Emulator(seed=9, agents=20, profile="realistic", malformed_rate=0.05, clock=clock)
    with served(emu) as srv:
        env = environment(tmp_path, srv.base_url, prefect_api_url)
        result = vats("backfill", "--from", "2024-06-03", "--to", "2024-06-03", env=env)
    assert result.returncode == 3, result.stderr
    assert "quarantined" in result.stderr


def test_failed_chunk_exits_1_and_names_it(emu, tmp_path, prefect_api_url):
    with served(emu, faults="fail_day=2024-06-04") as srv:
        env = environment(tmp_path, srv.base_url, prefect_api_url)
        result = vats(
            "backfill", "--from", "2024-06-03", "--to", "2024-06-05", env=env, timeout=400
        )
    assert result.returncode == 1
    assert "2024-06-04" in result.stderr and "failed" in result.stderr
    days = query(tmp_path / "vats.duckdb", "select day from load_runs where status = 'ok'")
    assert {d for (d,) in days} == {date(2024, 6, 3), date(2024, 6, 5)}


def test_kill_9_mid_backfill_then_rerun_equals_a_clean_run(emu, tmp_path, prefect_api_url):
    """A crash at any point leaves whole chunks only; the next run completes the rest."""
    args = ("backfill", "--from", "2024-05-20", "--to", "2024-06-07", "--concurrency", "2")
    with served(emu, faults="latency=40") as srv:
        crashed = tmp_path / "crashed"
        env = environment(crashed, srv.base_url, prefect_api_url)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from vats_etl.cli import run_cli; run_cli()", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(list((crashed / "raw").rglob("*.zst"))) < 12:
            assert proc.poll() is None, "backfill ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        # Whatever the crash left is consistent: no duplicates, only whole chunks.
        partial = query(crashed / "vats.duckdb", "select count(*) - count(distinct uid) from calls")
        assert partial == [(0,)]
        rerun = vats(*args, env=env, timeout=400)
        assert rerun.returncode == 0, rerun.stderr
        clean = tmp_path / "clean"
        assert (
            vats(
                *args, env=environment(clean, srv.base_url, prefect_api_url), timeout=400
            ).returncode
            == 0
        )
    assert checksums(crashed / "vats.duckdb") == checksums(clean / "vats.duckdb")


def test_replay_command_rebuilds_from_the_archive(server, tmp_path, prefect_api_url):
    env = environment(tmp_path, server.base_url, prefect_api_url)
    assert vats("backfill", "--from", "2024-06-03", "--to", "2024-06-03", env=env).returncode == 0
    original = checksums(tmp_path / "vats.duckdb")
    rebuilt = dict(
        env, VATS_DB=str(tmp_path / "rebuilt.duckdb"), VATS_BASE_URL="http://127.0.0.1:9/crmapi/v1"
    )
    result = vats("replay", env=rebuilt)
    assert result.returncode == 0, result.stderr
    assert checksums(tmp_path / "rebuilt.duckdb") == original


@pytest.mark.parametrize(("dialect", "sims"), [(None, 404), ("spec", 200)])
def test_emulator_command_serves_until_terminated(dialect, sims, tmp_path):
    import httpx

    env = environment(tmp_path, "unused", VATS_API_KEY="emulator-key-123")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from vats_etl.cli import run_cli; run_cli()",
            "emulator",
            "--port",
            "0",
            "--agents",
            "10",
            "--faults",
            "latency=1",
            *(["--dialect", dialect] if dialect else []),  # the platform's by default
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("emulator listening on http://127.0.0.1:")
        url = line.split()[3]
        response = httpx.get(f"{url}/users", headers={"X-API-KEY": "emulator-key-123"})
        assert response.status_code == 200 and response.json()["info"]["total"] == 10
        assert httpx.get(f"{url}/users").status_code == 401
        assert (
            httpx.get(f"{url}/sims", headers={"X-API-KEY": "emulator-key-123"}).status_code == sims
        )
    finally:
        proc.terminate()
        proc.wait(10)
    assert "emulator-key-123" not in (proc.stderr.read() if proc.stderr else "")


def test_emulator_command_rejects_bad_faults(tmp_path):
    result = vats(
        "emulator", "--api-key", "k", "--faults", "error=2", env=environment(tmp_path, "")
    )
    assert result.returncode == 2 and "--faults" in result.stderr


def test_demo_ends_with_where_things_are_and_next_commands_that_work(tmp_path, prefect_api_url):
    """A newcomer's path: `vats-etl demo` (the console script, as `make demo` runs it) in an
    empty folder, then every command it prints, as printed, on the demo's data."""
    script = Path(sys.executable).with_name("vats-etl")
    env = environment(tmp_path, "unused", prefect_api_url)
    for name in ("VATS_BASE_URL", "VATS_API_KEY", "VATS_DB", "VATS_RAW_DIR"):
        env.pop(name)
    demo = subprocess.run(
        [str(script), "--env-file", "/dev/null", "demo", "--days", "3", "--agents", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    assert "+00:00" not in out and "+03:00" in out  # example times in VATS_TZ
    overview = tmp_path / "data/demo/dashboards/overview.html"
    assert f"dashboards (last 7 days): {overview.as_uri()}" in out
    assert overview.exists() and not (tmp_path / "dashboards").exists()
    commands = [
        line.strip() for line in out.split("next (times in Europe/Moscow):")[1].splitlines()
    ]
    commands = [c for c in commands if c]
    assert len(commands) == 4 and all(c.startswith(str(script.parent)) for c in commands)
    linked = overview.read_bytes()
    runs = [
        subprocess.run(
            ["bash", "-c", c], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120
        )
        for c in commands
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
    # the week's pages go to a folder of their own: the pages the demo linked stay as they were
    week = re.search(r"report --week (\S+) ", commands[0])
    assert week is not None
    assert (tmp_path / f"data/demo/dashboards-{week.group(1)}/overview.html").exists()
    assert f"dashboards-{week.group(1)}/overview.html" in runs[0].stdout
    assert overview.read_bytes() == linked
    assert list((tmp_path / "data/demo/weekly-email").glob("*.eml"))
    assert "dry run: " in runs[2].stderr and "data/demo/daily-email" in runs[2].stderr
    assert "first_missed_at" in runs[3].stdout and "+03" in runs[3].stdout
