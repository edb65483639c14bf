"""`vats-etl serve` against a real Prefect server on loopback: the daily load, the weekly email
and the call-back digest registered with their cron and time zone, and a triggered run of the
daily deployment loads from the emulator (over a socket) and rebuilds the dashboards."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.support.processes import clean_env, prefect_server, stop
from vats_etl.dashboards import plotly_file
from vats_etl.emulator import Emulator, EmulatorServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(170)]

API_KEY = "serve-test-key-0123456789"
TZ = "Asia/Yekaterinburg"


def test_serve_registers_schedules_and_runs_daily(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    routing = tmp_path / "routing.toml"
    routing.write_text('[departments]\n"Отдел продаж" = "head@example.ru"\n', "utf-8")
    emu = Emulator(seed=3, agents=8, profile="clean")
    (tmp_path / "server").mkdir()
    with (
        EmulatorServer(emu, api_key=API_KEY) as emulator,
        prefect_server(tmp_path / "server") as api,
    ):
        env = clean_env(
            PREFECT_API_URL=api,
            PREFECT_HOME=str(tmp_path / "client"),
            PREFECT_RUNNER_POLL_FREQUENCY="2",
            VATS_BASE_URL=emulator.base_url,
            VATS_API_KEY=API_KEY,
            VATS_DB=str(tmp_path / "data" / "vats.duckdb"),
            VATS_RAW_DIR=str(tmp_path / "data" / "raw"),
            VATS_DASHBOARDS_DIR=str(tmp_path / "dashboards"),
            VATS_TZ=TZ,
            VATS_DIGEST_CRON="30 8 * * 1-5",  # the digest's schedule is configurable too
        )
        serve_log = (tmp_path / "serve.log").open("w")
        serve = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from vats_etl.cli import run_cli; run_cli()",
                "--env-file",
                "/dev/null",
                "serve",
                "--daily-cron",
                "15 6 * * *",
                "--routing",
                str(routing),
            ],
            env=env,
            cwd=tmp_path,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
                deadline = time.monotonic() + 60
                while True:
                    found = {d.name: d for d in client.read_deployments()}
                    if {"daily", "weekly-email", "callback-digest"} <= set(found):
                        break
                    assert serve.poll() is None, (tmp_path / "serve.log").read_text()
                    assert time.monotonic() < deadline, "deployments never appeared"
                    time.sleep(0.5)
                daily, weekly = found["daily"], found["weekly-email"]
                crons = {
                    name: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]  # type: ignore[union-attr]
                    for name, d in found.items()
                }
                assert crons == {
                    "daily": [("15 6 * * *", TZ)],
                    "weekly-email": [("0 8 * * 1", TZ)],
                    "callback-digest": [("30 8 * * 1-5", TZ)],  # working days, VATS_TZ
                }
                assert weekly.parameters == {"routing": str(routing)}
                digest = found["callback-digest"]
                assert digest.parameters == {"routing": str(routing)}
                assert digest.entrypoint == "vats_etl.flows.digest.callback_digest_flow"
                assert daily.entrypoint == "vats_etl.flows.daily.daily"

                run = client.create_flow_run_from_deployment(daily.id)
                deadline = time.monotonic() + 100
                while True:
                    state = client.read_flow_run(run.id).state
                    if state is not None and state.is_final():
                        break
                    assert serve.poll() is None, (tmp_path / "serve.log").read_text()
                    assert time.monotonic() < deadline, f"daily run still {state}"
                    time.sleep(1)
                assert state.is_completed(), (state, (tmp_path / "serve.log").read_text())
        finally:
            stop(serve)
            serve_log.close()
    assert "serving vats-daily/daily (15 6 * * *)" in (tmp_path / "serve.log").read_text()
    read_copy = tmp_path / "data" / "vats.read.duckdb"
    with duckdb.connect(str(read_copy), read_only=True) as con:
        assert con.execute("select count(*) from calls").fetchall()[0][0] > 0
        assert con.execute("select tz from kpi_settings").fetchall() == [(TZ,)]
    written = sorted(p.name for p in (tmp_path / "dashboards").iterdir())
    assert written == sorted(
        ["missed-calls.csv", "missed-calls.html", "overview.html", "ratings.html", plotly_file()]
    )
