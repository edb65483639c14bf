"""The accounts file: parsing, each account's settings, errors that name the problem, keys
that never show; the KPI settings file writers apply."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pytest

from vats_etl import errors, warehouse
from vats_etl.accounts import (
    DEFAULT_RATE_LIMIT,
    CheckResult,
    check_all,
    classify,
    explain,
    load_accounts,
    parse_accounts,
)
from vats_etl.config import Settings, load_settings

KEY = "acme-key-must-not-leak-0123456789"

GOOD = """
api_rate_limit = 3

[accounts.acme]
base_url = "acme.megapbx.ru"
key_env = "ACME_KEY"
tz = "Asia/Yekaterinburg"
email_routing = "routing/acme.toml"
kpi_settings = "/etc/vats/kpi-acme.toml"
report_to = "boss@acme.ru"
dashboard_url = "https://calls.acme.ru/"
crm_token_env = "ACME_CRM"
work_queue = "host-a"

[accounts.beta-2]
base_url = "https://beta.example.ru/crmapi/v1/"
key_env = "BETA_KEY"
tz = "Europe/Moscow"
api_rate_limit = 0.5

[groups]
north = ["acme", "beta-2", "acme"]
"""


def test_a_good_file_and_where_each_account_lives(tmp_path: Path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "etc" / "accounts.toml")
    folder = (tmp_path / "etc").resolve()
    assert accounts.names == ["acme", "beta-2"]
    assert accounts.root == folder / "data" / "accounts"  # next to the file, not the cwd
    assert accounts.catalog == folder / "data" / "catalog.duckdb"
    acme, beta = accounts.get("acme"), accounts.get("beta-2")
    assert acme.base_url == "https://acme.megapbx.ru/crmapi/v1"
    assert beta.base_url == "https://beta.example.ru/crmapi/v1"
    assert acme.db_path == folder / "data" / "accounts" / "acme" / "vats.duckdb"
    assert acme.raw_dir == folder / "data" / "accounts" / "acme" / "raw" / "account=acme"
    assert acme.dashboards_dir == folder / "data" / "accounts" / "acme" / "dashboards"
    assert acme.email_routing == folder / "routing" / "acme.toml"
    assert acme.kpi_settings == Path("/etc/vats/kpi-acme.toml")
    assert acme.report_to == ("boss@acme.ru",)
    assert (acme.api_rate_limit, beta.api_rate_limit) == (3.0, 0.5)
    assert (acme.work_queue, beta.work_queue) == ("host-a", None)
    assert [a.name for a in accounts.group("north")] == ["acme", "beta-2"]
    assert [a.name for a in accounts.group(None)] == ["acme", "beta-2"]


def test_root_and_catalog_can_be_placed(tmp_path: Path) -> None:
    text = 'root = "/srv/vats/acc"\ncatalog = "cat/all.duckdb"\n' + GOOD.split("\n", 2)[2]
    accounts = parse_accounts(text, tmp_path / "accounts.toml")
    assert accounts.root == Path("/srv/vats/acc")
    assert accounts.catalog == tmp_path.resolve() / "cat" / "all.duckdb"
    assert accounts.get("acme").api_rate_limit == DEFAULT_RATE_LIMIT


def test_account_settings_take_everything_the_account_sets(tmp_path: Path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    environ = {
        "ACME_KEY": KEY,
        "ACME_CRM": "crm-secret-token-000",
        "VATS_API_KEY": "the-single-account-key",
        "VATS_CRM_TOKEN": "the-single-account-token",
        "VATS_DB": "/single/vats.duckdb",
        "VATS_TZ": "Europe/Berlin",
        "SMTP_HOST": "smtp.example.ru",
        "REPORT_TO": "ops@example.ru",
    }
    base = load_settings(environ=environ, env_file=None)
    acme = accounts.settings("acme", base, environ)
    assert acme.account == "acme"
    assert acme.api_key is not None and acme.api_key.reveal() == KEY
    assert acme.crm_token is not None and acme.crm_token.reveal() == "crm-secret-token-000"
    assert acme.api_key_var == "ACME_KEY"
    assert acme.db_path == accounts.get("acme").db_path  # never the single account's file
    assert acme.raw_dir == accounts.get("acme").raw_dir
    assert acme.tz == "Asia/Yekaterinburg"
    assert acme.smtp_host == "smtp.example.ru"  # shared settings come through
    assert acme.report_to == ("boss@acme.ru",)
    assert acme.dashboard_url == "https://calls.acme.ru/"
    assert KEY not in repr(acme) and "crm-secret" not in repr(acme)
    beta = accounts.settings("beta-2", base, environ)
    assert beta.api_key is None  # BETA_KEY is not set: never the single account's key
    assert beta.crm_token is None  # no crm_token_env: never the single account's token
    assert beta.report_to == ("ops@example.ru",)
    with pytest.raises(errors.ConfigError, match=r"^BETA_KEY is not set$"):
        beta.require_api()


def test_an_account_without_tz_runs_in_the_pbx_zone(tmp_path: Path) -> None:
    """tz is optional: without it the account's zone is the PBX's (GET /domain, once read),
    as with VATS_TZ unset — never the worker's VATS_TZ, which is no account's."""
    text = ACCOUNT.replace('tz = "Europe/Moscow"\n', "")
    accounts = parse_accounts(text, tmp_path / "accounts.toml")
    assert accounts.get("acme").tz is None
    environ = {"VATS_TZ": "Asia/Omsk", "ACME_KEY": KEY}
    settings = accounts.settings("acme", load_settings(environ=environ, env_file=None), environ)
    assert settings.tz == "Europe/Moscow" and settings.tz_source is None
    given = parse_accounts(ACCOUNT, tmp_path / "accounts.toml")
    settings = given.settings("acme", load_settings(environ=environ, env_file=None), environ)
    assert settings.tz == "Europe/Moscow" and settings.tz_source == "tz of [accounts.acme]"


def test_unknown_account_and_group_list_the_known_ones(tmp_path: Path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    with pytest.raises(errors.ConfigError, match=r"no account 'gamma' .*acme, beta-2"):
        accounts.get("gamma")
    with pytest.raises(errors.ConfigError, match=r"no group 'south' .*north"):
        accounts.group("south")


ACCOUNT = (
    '[accounts.acme]\nbase_url = "acme.megapbx.ru"\nkey_env = "ACME_KEY"\ntz = "Europe/Moscow"\n'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no accounts"),
        ("[accounts", "not valid TOML"),
        (ACCOUNT + f'api_key = "{KEY}"\n', "keys never go in the accounts file"),
        (ACCOUNT.replace('"ACME_KEY"', f'"{KEY}"'), "must name an environment variable"),
        (ACCOUNT.replace("acme]", '"Acme Corp"]'), "must be a slug"),
        (ACCOUNT.replace("acme]", "-acme]"), "must be a slug"),
        (ACCOUNT + 'colour = "red"\n', "unknown colour"),
        (ACCOUNT.replace("Europe/Moscow", "Mars/Olympus"), "not a known time zone"),
        (ACCOUNT.replace('key_env = "ACME_KEY"\n', ""), "key_env is missing"),
        (ACCOUNT.replace('"acme.megapbx.ru"', '"ftp://acme"'), "base_url"),
        (ACCOUNT + "api_rate_limit = 0\n", "api_rate_limit must be a positive number"),
        (ACCOUNT + '[groups]\nnorth = ["acme", "zeta"]\n', "unknown accounts: zeta"),
        ("rooot = 'x'\n" + ACCOUNT, "unknown rooot"),
    ],
)
def test_bad_files_are_named_errors_that_never_echo_a_key(
    text: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(errors.ConfigError, match=message) as caught:
        parse_accounts(text, tmp_path / "accounts.toml")
    assert KEY not in str(caught.value)
    assert str(tmp_path / "accounts.toml") in str(caught.value)


def test_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="VATS_ACCOUNTS"):
        load_accounts(tmp_path / "nope.toml")


def test_checks_run_for_every_account_and_classify_failures(tmp_path: Path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    base = load_settings(environ={}, env_file=None)
    environ = {"ACME_KEY": KEY}
    settings = [accounts.settings(n, base, environ) for n in ("acme", "beta-2", "acme")]

    def call(s: Settings) -> int:
        if s.account == "acme" and s.api_key and s.api_key.reveal() == KEY:
            raise errors.InvalidToken("GET users: 401 Invalid token: the PBX rejected VATS_API_KEY")
        return 7

    results = check_all(settings, call)
    rejected = "GET users: 401 Invalid token: the PBX rejected ACME_KEY"
    assert results == [
        CheckResult("acme", "rejected key", rejected),
        CheckResult("beta-2", "no key", "BETA_KEY is not set"),
        CheckResult("acme", "rejected key", rejected),
    ]  # fmt: skip
    assert classify(errors.GaveUp("x")) == "unreachable"
    assert classify(errors.CrmDisabled("x")) == "rejected key"
    assert classify(errors.ServerError("x")) == "error"
    assert check_all([], call) == []


def test_checks_run_at_once(tmp_path: Path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    base = load_settings(environ={}, env_file=None)
    settings = [accounts.settings("acme", base, {"ACME_KEY": KEY})] * 8
    started = time.monotonic()
    results = check_all(settings, lambda s: time.sleep(0.4) or 1)  # type: ignore[func-returns-value]
    assert [r.status for r in results] == ["ok"] * 8
    assert time.monotonic() - started < 8 * 0.4 / 2  # one after another would take 3.2 s


def test_explain_names_the_account_and_its_key_variable(tmp_path: Path) -> None:
    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    acme = accounts.settings("acme", load_settings(environ={}, env_file=None), {})
    exc = errors.InvalidToken("GET users: 401 Invalid token: the PBX rejected VATS_API_KEY")
    assert explain(exc, acme) == (
        "account acme: GET users: 401 Invalid token: the PBX rejected ACME_KEY"
    )
    single = load_settings(environ={}, env_file=None)
    assert explain(exc, single) == str(exc)


# -- the KPI settings file ----------------------------------------------------------------------


def kpi_row(db: Path) -> tuple[object, ...]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "select tz, short_abandon_s, service_level_s, recovery_window_s from kpi_settings"
        ).fetchall()
    return tuple(row[0])


def test_writers_apply_the_kpi_file_and_leave_other_values_alone(tmp_path: Path) -> None:
    db = tmp_path / "vats.duckdb"
    kpi = tmp_path / "kpi.toml"
    kpi.write_text(
        "service_level_s = 30\nrecovery_window_s = 172800\nwork_days = [6, 1, 2, 3, 4, 5, 6]\n"
        'work_start = 08:30:00\nwork_end = "20:00"\nrecovery_window_basis = "working"\n',
        "utf-8",
    )
    with warehouse.connect(
        db, company=warehouse.Company("Asia/Omsk")
    ) as con:  # no file: the defaults
        con.execute("update kpi_settings set short_abandon_s = 7")  # an analyst's own value
    assert kpi_row(db) == ("Asia/Omsk", 7, 20, 86400)
    settings = load_settings(
        {"kpi_file": kpi, "tz": "Asia/Omsk", "db_path": db}, environ={}, env_file=None
    )
    with warehouse.connect(db, company=warehouse.Company.from_settings(settings)):
        pass
    assert kpi_row(db) == ("Asia/Omsk", 7, 30, 172800)
    with duckdb.connect(str(db), read_only=True) as con:
        hours = con.execute(
            "select work_days, work_start, work_end, recovery_window_basis from kpi_settings"
        ).fetchall()
    assert hours == [([1, 2, 3, 4, 5, 6], dt.time(8, 30), dt.time(20, 0), "working")]
    environ = {"VATS_KPI_SETTINGS": str(kpi)}
    assert load_settings(environ=environ, env_file=None).kpi_file == kpi


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("service_level = 30\n", "unknown service_level"),
        ("service_level_s = -1\n", "whole number >= 0"),
        ("service_level_s = '20'\n", "whole number >= 0"),
        ("service_level_s = true\n", "whole number >= 0"),
        ("service_level_s = \n", "not valid TOML"),
        ("work_days = [0, 1]\n", "list of weekdays"),
        ("work_days = 'Mon'\n", "list of weekdays"),
        ("work_start = '25:00'\n", "a time of day"),
        ("work_end = 18\n", "a time of day"),
        ("recovery_window_basis = 'business'\n", "calendar .* or working"),
    ],
)
def test_a_bad_kpi_file_fails_the_writer_clearly(text: str, message: str, tmp_path: Path) -> None:
    kpi = tmp_path / "kpi.toml"
    kpi.write_text(text, "utf-8")
    with pytest.raises(errors.ConfigError, match=message):
        warehouse.read_kpi_file(kpi)
    with pytest.raises(errors.ConfigError, match="cannot read KPI settings"):
        warehouse.read_kpi_file(tmp_path / "missing.toml")


def test_deployments_of_an_account_carry_only_its_name(tmp_path: Path) -> None:
    from vats_etl.flows.deploy import deployments_for

    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    made = deployments_for(
        accounts.get("acme"), pool="p", daily_cron="0 6 * * *", weekly_cron="0 8 * * 1"
    )
    assert [d.full_name for d in made] == [
        "vats-daily/acme", "vats-weekly-email/acme", "vats-callback-digest/acme",
        "vats-backfill/acme",
    ]  # fmt: skip
    assert {d.work_queue_name for d in made} == {"host-a"}
    assert all(d.parameters == {"account": "acme"} and d.job_variables == {} for d in made)
    assert [
        [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]  # type: ignore[union-attr]
        for d in made
    ] == [
        [("0 6 * * *", "Asia/Yekaterinburg")],
        [("0 8 * * 1", "Asia/Yekaterinburg")],
        [("0 9 * * 1-5", "Asia/Yekaterinburg")],  # working mornings in the account's zone
        [],
    ]
    # the flows are imported from the one installed package, whatever the worker's folder
    assert [d.entrypoint for d in made] == [
        "vats_etl.flows.daily.daily",
        "vats_etl.flows.weekly.weekly_email_flow",
        "vats_etl.flows.digest.callback_digest_flow",
        "vats_etl.flows.backfill.backfill",
    ]


@pytest.mark.slow
def test_deploy_moves_deployments_off_the_former_entry_points(
    prefect_harness: None, tmp_path: Path
) -> None:
    """Deployments registered by a version whose flows were a top-level package `flows`
    (entry point flows.daily.daily, which the package installs no more) are updated in place
    by the next deploy: same deployments, entry points in vats_etl.flows."""
    from prefect.client.orchestration import get_client

    from vats_etl.flows.deploy import deploy, deployments_for

    accounts = parse_accounts(GOOD, tmp_path / "accounts.toml")
    acme = accounts.get("acme")
    pool = f"entrypoints-{tmp_path.name}"[:50]
    deploy(accounts, [acme], pool=pool)
    for old in deployments_for(acme, pool=pool, daily_cron="0 6 * * *", weekly_cron="0 8 * * 1"):
        old.entrypoint = (old.entrypoint or "").removeprefix("vats_etl.")
        old.apply()

    def entrypoints() -> dict[str, str | None]:
        with get_client(sync_client=True) as client:
            flows = {f.id: f.name for f in client.read_flows()}
            return {
                f"{flows[d.flow_id]}/{d.name}": d.entrypoint
                for d in client.read_deployments()
                if d.work_pool_name == pool
            }

    assert entrypoints()["vats-daily/acme"] == "flows.daily.daily"
    deploy(accounts, [acme], pool=pool)
    assert entrypoints() == {
        "vats-daily/acme": "vats_etl.flows.daily.daily",
        "vats-weekly-email/acme": "vats_etl.flows.weekly.weekly_email_flow",
        "vats-callback-digest/acme": "vats_etl.flows.digest.callback_digest_flow",
        "vats-backfill/acme": "vats_etl.flows.backfill.backfill",
    }


def test_serve_for_one_account_names_its_deployments_after_it() -> None:
    from vats_etl.flows.serve import deployments

    made = deployments(tz="Asia/Omsk", routing="/etc/r.toml", account="acme")
    assert [d.full_name for d in made] == [
        "vats-daily/acme", "vats-weekly-email/acme", "vats-callback-digest/acme"
    ]  # fmt: skip
    assert [d.parameters for d in made] == [
        {"account": "acme"},
        {"routing": "/etc/r.toml", "account": "acme"},
        {"routing": "/etc/r.toml", "account": "acme"},
    ]
    single = deployments(tz="Asia/Omsk", digest_cron="0 10 * * 1-6")
    assert [d.full_name for d in single] == [
        "vats-daily/daily", "vats-weekly-email/weekly-email", "vats-callback-digest/callback-digest"
    ]  # fmt: skip
    assert [d.parameters for d in single] == [{}, {}, {}]
    assert [(s.schedule.cron, s.schedule.timezone) for s in single[2].schedules] == [  # type: ignore[union-attr]
        ("0 10 * * 1-6", "Asia/Omsk")
    ]


def test_requests_spend_the_rate_limit_s_slots_taken_a_few_at_a_time(monkeypatch) -> None:
    """Each acquisition is a round trip to Prefect: a run takes 5 slots (at most the limit's)
    and spends them on its next requests, from any fetch thread."""
    import threading
    from types import SimpleNamespace

    import prefect.client.orchestration
    import prefect.concurrency.sync

    from vats_etl.flows.accounts import api_throttle

    taken: list[tuple[str, int]] = []

    class Client:
        def __init__(self, slots: int) -> None:
            self.slots = slots

        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read_global_concurrency_limit_by_name(self, name: str) -> object:
            return SimpleNamespace(limit=self.slots)

    monkeypatch.setattr(
        prefect.concurrency.sync, "rate_limit", lambda name, occupy: taken.append((name, occupy))
    )
    for slots, requests, expected in ((10, 12, [5, 5, 5]), (2, 5, [2, 2, 2]), (1, 3, [1, 1, 1])):
        taken.clear()
        monkeypatch.setattr(
            prefect.client.orchestration, "get_client", lambda sync_client, s=slots: Client(s)
        )
        wait = api_throttle("acme")
        assert wait is not None
        threads = [threading.Thread(target=wait) for _ in range(requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [n for _, n in taken] == expected
        assert {name for name, _ in taken} == {"vats-api-acme"}
