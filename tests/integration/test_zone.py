"""The PBX's zone (GET /domain) against the emulator over a real socket: the first run of a
new warehouse takes it when no zone is given and the warehouse remembers it; a zone given
that differs is said once; an account without the endpoint is fine; `check` reads it, in a
real `vats-etl` process."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.support.emulated import API_KEY, clock, load, served
from tests.support.processes import base_environment, vats
from vats_etl import warehouse, zones
from vats_etl.client import PbxClient
from vats_etl.config import Settings, load_settings
from vats_etl.emulator import Emulator

# the emulator over sockets, whole loads, Prefect: the full suite's, not the fast lane's
pytestmark = pytest.mark.slow

PBX_TZ = "Asia/Yekaterinburg"  # UTC+05:00, two hours east of Moscow
DAY = date(2024, 6, 7)


def yekaterinburg(dialect: str = "platform", **options: object) -> Emulator:
    return Emulator(seed=5, agents=20, tz=PBX_TZ, dialect=dialect, clock=clock, **options)  # type: ignore[arg-type]


def settings_of(url: str, tmp: Path, **more: object) -> Settings:
    values = {
        "base_url": url,
        "api_key": API_KEY,
        "db_path": tmp / "vats.duckdb",
        "raw_dir": tmp / "raw",
        "db_lock_timeout_s": 5.0,
        **more,
    }
    return load_settings(values, environ={}, env_file=None)


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Read as an analyst would: a writer would keep its own zone in kpi_settings."""
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def client_of(settings: Settings) -> PbxClient:
    return PbxClient(settings.base_url or "", settings.api_key)  # type: ignore[arg-type]


def test_no_zone_given_the_first_run_takes_the_pbx_zone(tmp_path: Path) -> None:
    with served(yekaterinburg()) as srv:
        settings = settings_of(srv.base_url, tmp_path)
        assert settings.tz_source is None and settings.tz == "Europe/Moscow"
        with client_of(settings) as client:
            settled = zones.settle_first_run(settings, client)
        assert settled.settings.tz == PBX_TZ and settled.warnings == ()
        assert settled.notes == (
            "zone: Asia/Yekaterinburg (UTC+05:00), the PBX's: no zone is given",
        )
        summary = load(settled.settings, DAY, DAY)
        assert summary.status == "ok"
        requests = srv.stats.requests
        # the next command of this warehouse is in the PBX's zone without asking again
        again = zones.with_remembered(settings_of(srv.base_url, tmp_path))
        assert again.tz == PBX_TZ
        with client_of(again) as client:
            assert zones.settle_first_run(again, client) == zones.Settled(again)
        assert srv.stats.requests == requests
    db = tmp_path / "vats.duckdb"
    assert query(db, "select tz from kpi_settings") == [(PBX_TZ,)]
    assert query(db, "select name, offset_min, usable_tz from pbx_timezone") == [
        (PBX_TZ, 300, PBX_TZ)
    ]
    # the day is cut at Yekaterinburg's midnight: 19:00 UTC the evening before
    assert query(db, "select distinct strftime(window_start, '%H:%M') from load_runs") == [
        ("19:00",)
    ]


def test_a_zone_given_that_differs_is_said_once_and_kept(tmp_path: Path) -> None:
    with served(yekaterinburg()) as srv:
        settings = settings_of(srv.base_url, tmp_path, tz="Europe/Moscow")
        with client_of(settings) as client:
            first = zones.settle_first_run(settings, client)
            assert first.settings.tz == "Europe/Moscow" and first.notes == ()
            assert first.warnings == (
                "the PBX runs in Asia/Yekaterinburg (UTC+05:00) but --tz says Europe/Moscow "
                "(UTC+03:00): days and working hours are cut in Europe/Moscow",
            )
            # the warehouse is no longer new: the next runs say nothing more
            assert zones.settle_first_run(settings, client).warnings == ()
        assert zones.with_remembered(settings).tz == "Europe/Moscow"  # what was given wins


@pytest.mark.parametrize("dialect", ["spec", "platform"])
def test_an_account_without_domain_is_fine_and_silent(dialect: str, tmp_path: Path) -> None:
    emu = yekaterinburg(dialect, missing_endpoints=("domain",))
    with served(emu) as srv:
        settings = settings_of(srv.base_url, tmp_path)
        with client_of(settings) as client:
            assert client.domain() is None
            assert zones.settle_first_run(settings, client) == zones.Settled(settings)
    assert not settings.db_path.exists()  # nothing to remember, nothing made


def test_check_reads_the_pbx_zone_in_one_line(tmp_path: Path) -> None:
    with served(yekaterinburg()) as srv:
        env = base_environment(
            VATS_BASE_URL=srv.base_url,
            VATS_API_KEY=API_KEY,
            VATS_DB=str(tmp_path / "vats.duckdb"),
            VATS_RAW_DIR=str(tmp_path / "raw"),
        )
        unset = vats("check", env=env)
        assert unset.returncode == 0, unset.stderr
        assert unset.stdout.splitlines()[1:] == [
            "zone: Asia/Yekaterinburg (UTC+05:00), the PBX's: no zone is given"
        ]
        assert not (tmp_path / "vats.duckdb").exists()  # check makes no warehouse

        given = vats("check", env={**env, "VATS_TZ": "Europe/Moscow"})
        assert given.returncode == 0
        assert given.stderr.splitlines() == [
            "warning: the PBX runs in Asia/Yekaterinburg (UTC+05:00) but VATS_TZ says "
            "Europe/Moscow (UTC+03:00): days and working hours are cut in Europe/Moscow"
        ]

        # an accounts file whose account names no tz: the PBX's zone, as for VATS_TZ unset
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(
            f'[accounts.ural]\nbase_url = "{srv.base_url}"\nkey_env = "URAL_KEY"\n', "utf-8"
        )
        env = base_environment(VATS_ACCOUNTS=str(accounts), URAL_KEY=API_KEY)
        account = vats("--account", "ural", "check", env={**env, "VATS_TZ": "Europe/Moscow"})
        assert account.returncode == 0, account.stderr
        assert "zone: Asia/Yekaterinburg (UTC+05:00), the PBX's" in account.stdout
        assert account.stderr == ""


def test_check_on_a_warehouse_remembers_a_new_zone_for_every_command(tmp_path: Path) -> None:
    """`check` reads the zone again (the PBX moved, or the warehouse predates /domain): the
    warehouse remembers it, and its read copy — which commands ask — says so at once."""
    with served(yekaterinburg()) as srv:
        settings = settings_of(srv.base_url, tmp_path)
        with client_of(settings) as client:
            first = zones.settle_first_run(settings, client).settings
        assert load(first, DAY, DAY).status == "ok"
        warehouse.publish_read_copy(first.db_path)
    omsk = Emulator(seed=5, agents=20, tz="Asia/Omsk", dialect="platform", clock=clock)
    with served(omsk) as srv:
        settings = settings_of(srv.base_url, tmp_path)
        assert zones.with_remembered(settings).tz == PBX_TZ
        with client_of(settings) as client:
            checked = zones.settle(settings, client, create=False)
        assert checked.settings.tz == "Asia/Omsk"
        assert zones.with_remembered(settings).tz == "Asia/Omsk"


def test_a_deployment_run_of_a_new_warehouse_takes_the_pbx_zone(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow run with nothing installed (what `serve` starts) builds its settings from the
    environment; with no VATS_TZ, its first run reads the PBX's zone like the CLI's does."""
    from vats_etl.flows.daily import daily

    with served(yekaterinburg()) as srv:
        for name, value in {
            "VATS_BASE_URL": srv.base_url,
            "VATS_API_KEY": API_KEY,
            "VATS_DB": str(tmp_path / "vats.duckdb"),
            "VATS_RAW_DIR": str(tmp_path / "raw"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("VATS_TZ", raising=False)
        monkeypatch.chdir(tmp_path)  # no .env of the checkout
        daily(kinds=("external",))
    db = tmp_path / "vats.duckdb"
    assert query(db, "select usable_tz from pbx_timezone") == [(PBX_TZ,)]
    assert query(db, "select tz from kpi_settings") == [(PBX_TZ,)]
