"""``python -m vats_etl.emulator``: the `vats-etl emulator` command on its own — the same
options, defaults and output (its first line names the base URL), for a shell or a
benchmark that wants the emulator in a process of its own. Serves until Ctrl-C or SIGTERM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> NoReturn:
    # Imported here, not by the emulator package: the CLI imports the emulator, not the
    # other way round.
    from vats_etl.cli import run_cli
    from vats_etl.cli.commands.services import emulator

    run_cli(argv, command=emulator, prog_name="python -m vats_etl.emulator")


if __name__ == "__main__":
    main()
