"""Helpers for the command line's tests: `vats-etl` run in this process the way the console
script runs it, an accounts file, and a command added to the group for one test."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

# What the group's set-up may set in the environment; restored after each in-process run.
_SET_UP_VARIABLES = (
    "PREFECT_SERVER_ANALYTICS_ENABLED",
    "DO_NOT_TRACK",
    "PREFECT_LOGGING_LEVEL",
    "PREFECT_LOGGING_TO_API_ENABLED",
)


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def vats(*args: str, env: Mapping[str, str] | None = None) -> Ran:
    """`vats-etl --env-file /dev/null ARGS` in this process, as the console script runs it
    (run_cli: one-line errors, the exit code), with no VATS_ variable but those of `env`."""
    from click.testing import CliRunner

    from vats_etl.cli import run_cli

    isolated: dict[str, str | None] = {k: None for k in os.environ if k.startswith("VATS_")}
    isolated.update({k: os.environ.get(k) for k in _SET_UP_VARIABLES})
    isolated.update(env or {})
    with CliRunner().isolation(env=isolated) as (out, err, _):
        try:
            run_cli(["--env-file", "/dev/null", *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            raise AssertionError("run_cli returned without an exit code")
    return Ran(code, out.getvalue().decode(), err.getvalue().decode())


def write_accounts(folder: Path, base_urls: Mapping[str, str]) -> Path:
    """An accounts file of these accounts, in this order; NAME's key is in NAME_KEY."""
    text = "".join(
        f'[accounts.{name}]\nbase_url = "{url}"\nkey_env = "{name.upper()}_KEY"\n'
        'tz = "Europe/Moscow"\n'
        for name, url in base_urls.items()
    )
    path = folder / "accounts.toml"
    path.write_text(text, "utf-8")
    return path


@contextlib.contextmanager
def added(command: click.Command) -> Iterator[click.Command]:
    """`command` is a command of `vats-etl` while the block runs."""
    from vats_etl.cli import main

    assert command.name is not None and command.name not in main.commands
    main.add_command(command)
    try:
        yield command
    finally:
        main.commands.pop(command.name)
