"""Every command and every option says what it is for, and `python -m vats_etl.emulator`
is `vats-etl emulator`: the same options, defaults and help."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

from tests.cli.support import vats
from vats_etl.cli import main

COMMANDS = sorted(main.commands)


def test_the_group_lists_every_command():
    assert set(COMMANDS) == {
        "accounts", "backfill", "catalog", "check", "contacts-import", "daily", "demo",
        "deploy", "email-daily", "email-weekly", "emulator", "group-email", "group-report",
        "recordings", "replay", "report", "resolve", "serve", "snapshot", "webhook",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["vats-etl", *COMMANDS])
def test_every_command_and_option_has_help_text(name):
    command = main if name == "vats-etl" else main.commands[name]
    assert command.help and len(command.help.split()) >= 5, f"{name} lacks documentation"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help and param.help.strip(), f"{name} {param.opts[0]} lacks help"
        if isinstance(param, click.Argument):  # arguments have no help: the command tells
            assert param.human_readable_name in command.help, f"{name} {param.name}"


def all_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from all_commands(command, f"{prefix}{name} ")


def test_every_command_has_help_text():
    commands = dict(all_commands(main))
    expected = {"backfill", "daily", "replay", "check", "demo", "emulator"}
    assert expected <= set(commands)
    for name, command in commands.items():
        assert command.help and len(command.help.strip()) > 20, f"{name} lacks documentation"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help or param.name in {"help"} or param.show_default or param.type, (
                    name
                )


@pytest.mark.parametrize("name", COMMANDS)
def test_help_of_every_command_is_one_screen_of_text(name):
    ran = vats(name, "--help")
    assert ran.code == 0 and ran.stdout.startswith(f"Usage: vats-etl {name} [OPTIONS]")
    short = vats(name, "-h")
    assert short == ran


def help_text(*command: str) -> str:
    ran = subprocess.run(
        [sys.executable, *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def options_of(text: str) -> list[str]:
    return re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", text, flags=re.MULTILINE)


@pytest.mark.slow
def test_the_module_entry_is_the_emulator_command():
    module = help_text("-m", "vats_etl.emulator")
    command = help_text("-c", "from vats_etl.cli import run_cli; run_cli()", "emulator")
    assert options_of(module) == options_of(command)
    assert {"--api-key", "--missing", "--dialect", "--page-cap", "--cache-mb"} <= set(
        options_of(module)
    )
    # the same text, defaults included, under its own name
    assert module.replace("python -m vats_etl.emulator", "vats-etl emulator") == command


@pytest.mark.slow
def test_the_module_entry_has_no_key_of_its_own(tmp_path):
    """No built-in key: without --api-key or VATS_API_KEY it does not start (exit 2)."""
    ran = subprocess.run(
        [sys.executable, "-m", "vats_etl.emulator", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert ran.returncode == 2
    assert ran.stderr == (
        "error: Invalid value for --api-key: give --api-key or set VATS_API_KEY "
        "(see python -m vats_etl.emulator --help)\n"
    )


@pytest.mark.slow
def test_the_module_entry_takes_its_key_from_the_environment(tmp_path):
    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "vats_etl.emulator", "--port", "0", "--agents", "8"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "VATS_API_KEY": "key-from-the-environment"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("emulator listening on http://127.0.0.1:"), line
        url = line.split()[3]
        headers = {"X-API-KEY": "key-from-the-environment"}
        assert httpx.get(f"{url}/users", headers=headers, timeout=10).status_code == 200
        secret = {"X-API-KEY": "secret"}  # what the module entry once accepted by default
        assert httpx.get(f"{url}/users", headers=secret, timeout=10).status_code == 401
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
