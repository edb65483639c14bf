"""Options several commands share are read one way everywhere: a week that does not exist,
days out of order, --week with --from, a cron expression that is not one — each a usage
error (exit 2) in one line naming the option, before anything runs (no accounts file, no
warehouse, no API is needed to see it)."""

from __future__ import annotations

import inspect
from datetime import date

import click
import pytest

from tests.cli.support import vats
from vats_etl import schedules
from vats_etl.cli import main, options

WEEK_COMMANDS = ["report", "email-weekly", "group-report", "group-email"]


@pytest.mark.parametrize("command", WEEK_COMMANDS)
@pytest.mark.parametrize(
    ("week", "said"),
    [
        ("2026-W60", "2026 has no ISO week 60"),
        ("47", "week must look like 2026-W47, got '47'"),
    ],
)
def test_a_week_that_does_not_exist_is_a_usage_error(command, week, said):
    ran = vats(command, "--week", week)
    assert ran.code == 2, ran.stderr
    assert ran.error_lines() == [
        f"error: Invalid value for '--week': {said} (see vats-etl {command} --help)"
    ]
    assert ran.stdout == ""


@pytest.mark.parametrize("command", WEEK_COMMANDS)
def test_every_week_option_is_the_same_type(command):
    [week] = [p for p in main.commands[command].params if p.name == "week"]
    assert week.type is options.WEEK


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("report", "--week", "2026-W10", "--from", "2026-03-02"), "give either --week or"),
        (("group-report", "--week", "2026-W10", "--to", "2026-03-02"), "give either --week or"),
        (("report", "--from", "2026-03-02"), "--from and --to go together"),
        (("group-report", "--to", "2026-03-02"), "--from and --to go together"),
        (("report", "--from", "2026-03-09", "--to", "2026-03-02"), "--to is before --from"),
        (("group-report", "--from", "2026-03-09", "--to", "2026-03-02"), "--to is before"),
        (("backfill", "--from", "2026-03-09", "--to", "2026-03-02"), "--to is before --from"),
        (("replay", "--from", "2026-03-09", "--to", "2026-03-02"), "--to is before --from"),
        (("group-report", "--from", "2026-02-30", "--to", "2026-03-02"), "'2026-02-30' does"),
    ],
)
def test_days_and_weeks_are_checked_alike(args, said, tmp_path):
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.a]\nbase_url = "http://127.0.0.1:9/crmapi/v1"\nkey_env = "A_KEY"\n'
        'tz = "Europe/Moscow"\n',
        "utf-8",
    )
    env = {"VATS_DB": str(tmp_path / "x.db")}
    if args[0].startswith("group-"):  # the others are one account's commands
        env["VATS_ACCOUNTS"] = str(accounts)
    ran = vats(*args, env=env)
    assert ran.code == 2, ran.stderr
    [error] = ran.error_lines()
    assert said in error and f"(see vats-etl {args[0]} --help)" in error
    assert not (tmp_path / "x.db").exists()


def test_the_period_of_week_or_days_or_the_default():
    from vats_etl.reports import Period

    default = Period(date(2026, 1, 1), date(2026, 1, 7))
    week = Period.week("2026-W10")
    assert options.chosen_period(None, None, week, lambda: default) == week
    assert options.chosen_period(None, None, None, lambda: default) == default
    days = options.chosen_period(date(2026, 3, 2), date(2026, 3, 2), None, lambda: default)
    assert days == Period(date(2026, 3, 2), date(2026, 3, 2))


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--daily-cron", "61 6 * * *"),
        ("serve", "--weekly-cron", "every monday"),
        ("deploy", "--daily-cron", "61 6 * * *"),
        ("deploy", "--weekly-cron", "0 8 * *"),
    ],
)
def test_a_cron_that_is_not_one_is_a_usage_error(args):
    ran = vats(*args)
    assert ran.code == 2, ran.stderr
    [error] = ran.error_lines()
    assert error.startswith(f"error: Invalid value for {args[1]}: Invalid cron string")


def test_a_cron_from_the_environment_is_checked_too():
    ran = vats("serve", env={schedules.DAILY_CRON_VAR: "61 6 * * *"})
    assert ran.code == 2 and "--daily-cron" in ran.stderr
    ran = vats("serve", env={schedules.DIGEST_CRON_VAR: "0 25 * * 1-5"})
    assert ran.code == 2 and "--digest-cron" in ran.stderr


@pytest.mark.parametrize("command", ["serve", "deploy"])
def test_the_schedules_default_to_what_the_flows_deploy(command):
    """One pair of defaults: the commands' options, `serve`'s and `deploy`'s flows."""
    from vats_etl.flows.deploy import deploy
    from vats_etl.flows.serve import deployments

    names = ("daily_cron", "weekly_cron", "digest_cron")
    defaults = {
        p.name: p.default
        for p in main.commands[command].params
        if isinstance(p, click.Option) and p.name in names
    }
    assert defaults == {
        "daily_cron": schedules.DAILY_CRON,
        "weekly_cron": schedules.WEEKLY_CRON,
        "digest_cron": schedules.DIGEST_CRON,
    }
    assert schedules.DIGEST_CRON == "0 9 * * 1-5"  # working days at 09:00
    for flow_side in (deployments, deploy):
        parameters = inspect.signature(flow_side).parameters
        for name in names:
            assert parameters[name].default == defaults[name], name
