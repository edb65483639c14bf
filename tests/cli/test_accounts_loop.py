"""--all-accounts: the command runs once per account, in the file's order; each account's
exit code is collected, the worst is the process's (failed 1 over partial 3 over ok 0); an
exception of one account is that account's failure, in one line naming it, and the next
accounts still run. Usage errors and Ctrl-C end the loop.

A command added for the test answers, per account, what the test tells it to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from tests.cli.support import added, vats, write_accounts
from vats_etl.cli.context import Context, pass_context
from vats_etl.emulator import Emulator, EmulatorServer

NOWHERE = "http://127.0.0.1:9/crmapi/v1"  # the fake command never calls it


@click.command("answer")
@click.option("--as", "answers", multiple=True, help="NAME=WHAT: a code, raise, leak, usage, stop")
@pass_context
def answer(ctx: Context, answers: tuple[str, ...]) -> int:
    """Answer per account what --as says: an exit code, or raise."""
    told = dict(a.split("=", 1) for a in answers)
    click.echo(f"ran {ctx.account}")
    what = told.get(ctx.account or "", "0")
    if what == "raise":
        raise ValueError(f"no such thing in {ctx.account}")
    if what == "leak":  # a message we did not write, with the account's key in it
        key = ctx.account_settings(ctx.account or "").api_key
        raise ValueError(f"refused {key.reveal() if key else ''} here")
    if what == "unicode":  # what encoding a header holding the key would raise
        key = ctx.account_settings(ctx.account or "").api_key
        text = key.reveal() if key else ""
        raise UnicodeEncodeError("ascii", text, len(text) - 1, len(text), "not in range(128)")
    if what == "usage":
        raise click.BadParameter("not for this one", param_hint="--as")
    if what == "stop":
        raise KeyboardInterrupt
    return int(what)


@pytest.fixture
def three(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An accounts file of alpha, beta, gamma, and the `answer` command."""
    path = write_accounts(tmp_path, {"alpha": NOWHERE, "beta": NOWHERE, "gamma": NOWHERE})
    with added(answer):
        yield {"VATS_ACCOUNTS": str(path)}


@pytest.mark.parametrize(
    ("answers", "code", "told"),
    [
        ({"alpha": 3, "beta": 1, "gamma": 0}, 1, "alpha partial, beta failed, gamma ok"),
        ({"alpha": 1, "beta": 3, "gamma": 3}, 1, "alpha failed, beta partial, gamma partial"),
        ({"alpha": 3, "beta": 0, "gamma": 0}, 3, "alpha partial, beta ok, gamma ok"),
        ({"alpha": 0, "beta": 0, "gamma": 3}, 3, "alpha ok, beta ok, gamma partial"),
        ({"alpha": 0, "beta": 0, "gamma": 0}, 0, "alpha ok, beta ok, gamma ok"),
        ({"alpha": 0, "beta": 2, "gamma": 0}, 1, "alpha ok, beta failed, gamma ok"),
    ],
)
def test_the_exit_code_is_the_worst_of_the_accounts(answers, code, told, three):
    options = [f"--as={name}={answer}" for name, answer in answers.items()]
    ran = vats("--all-accounts", "answer", *options, env=three)
    assert ran.code == code, ran.stderr
    assert ran.stdout.splitlines() == ["ran alpha", "ran beta", "ran gamma"]
    assert ran.stderr.splitlines()[-1] == f"accounts: {told}"
    assert [line for line in ran.stderr.splitlines() if line.startswith("== ")] == [
        "== account alpha",
        "== account beta",
        "== account gamma",
    ]


def test_an_unexpected_exception_is_that_accounts_failure_in_one_line(three):
    ran = vats("--all-accounts", "answer", "--as=beta=raise", "--as=gamma=3", env=three)
    assert ran.code == 1
    assert ran.error_lines() == ["error: account beta: ValueError: no such thing in beta"]
    assert "Traceback" not in ran.stderr
    assert ran.stdout.splitlines() == ["ran alpha", "ran beta", "ran gamma"]  # gamma still ran
    assert ran.stderr.splitlines()[-1] == "accounts: alpha ok, beta failed, gamma partial"


def test_a_secret_in_an_unexpected_message_is_masked(three):
    env = {**three, "BETA_KEY": "beta-key-0123456789abcdef"}
    ran = vats("--all-accounts", "answer", "--as=beta=leak", env=env)
    assert ran.error_lines() == ["error: account beta: ValueError: refused ******** here"]
    assert "beta-key-0123456789abcdef" not in ran.stderr + ran.stdout


def test_a_unicode_error_is_told_without_the_text_it_could_not_encode(three):
    env = {**three, "BETA_KEY": "beta-key-0123456789ключ"}
    ran = vats("--all-accounts", "answer", "--as=beta=unicode", env=env)
    assert ran.error_lines() == [
        "error: account beta: UnicodeEncodeError: a character ascii cannot encode "
        "(not in range(128))"
    ]
    assert "beta-key" not in ran.stderr + ran.stdout
    assert ran.stderr.splitlines()[-1] == "accounts: alpha ok, beta failed, gamma ok"


def test_verbose_shows_the_accounts_traceback_before_its_line(three):
    ran = vats("-v", "--all-accounts", "answer", "--as=alpha=raise", env=three)
    assert ran.code == 1
    lines = ran.stderr.splitlines()
    error = lines.index("error: account alpha: ValueError: no such thing in alpha")
    assert "Traceback (most recent call last):" in lines[:error]
    assert ran.stdout.splitlines() == ["ran alpha", "ran beta", "ran gamma"]


def test_a_usage_error_ends_the_loop_with_exit_2(three):
    ran = vats("--all-accounts", "answer", "--as=alpha=usage", env=three)
    assert ran.code == 2
    assert ran.stdout.splitlines() == ["ran alpha"]  # the command line is wrong for every one
    assert ran.error_lines() == [
        "error: Invalid value for --as: not for this one (see vats-etl answer --help)"
    ]


def test_ctrl_c_stops_every_account(three):
    ran = vats("--all-accounts", "answer", "--as=alpha=stop", env=three)
    assert ran.code == 130
    assert ran.stdout.splitlines() == ["ran alpha"]
    assert "accounts:" not in ran.stderr


def test_one_account_runs_as_a_single_command(three):
    """--account: no loop, the command's own code is the process's."""
    ran = vats("--account", "beta", "answer", "--as=beta=3", env=three)
    assert (ran.code, ran.stdout) == (3, "ran beta\n")
    assert ran.stderr == ""


def now() -> datetime:
    return datetime(2024, 6, 10, 12, tzinfo=UTC)


@pytest.fixture
def emulators() -> Iterator[dict[str, EmulatorServer]]:
    servers = {
        name: EmulatorServer(Emulator(seed=seed, agents=8, clock=now), api_key=f"{name}-key")
        for name, seed in (("alpha", 31), ("beta", 32), ("gamma", 33))
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def test_a_key_that_cannot_be_sent_fails_its_account_alone(emulators, tmp_path):
    """beta's key has a Cyrillic letter, which no HTTP header can carry: it is refused
    before any request, in one line that names beta and its variable, never the key; alpha
    before it and gamma after it are checked."""
    accounts = write_accounts(tmp_path, {n: s.base_url for n, s in emulators.items()})
    key = "beta-kлюч-0123456789"
    env = {
        "VATS_ACCOUNTS": str(accounts),
        "ALPHA_KEY": "alpha-key",
        "BETA_KEY": key,
        "GAMMA_KEY": "gamma-key",
    }
    ran = vats("--all-accounts", "check", env=env)
    assert ran.code == 1, ran.stderr
    [error] = ran.error_lines()
    assert error == (
        "error: account beta: BETA_KEY holds a character an HTTP header cannot carry (a line "
        "break, a control character or a non-ASCII letter): check its value"
    )
    assert "Traceback" not in ran.stderr
    assert key not in ran.stderr + ran.stdout and "л" not in error
    assert ran.stderr.splitlines()[-1] == "accounts: alpha ok, beta failed, gamma ok"
    checked = [line.split()[1] for line in ran.stdout.splitlines()]
    assert checked == [emulators["alpha"].base_url, emulators["gamma"].base_url]
