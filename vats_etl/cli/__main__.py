"""``python -m vats_etl.cli``: the same as the `vats-etl` console script."""

from vats_etl.cli import run_cli

if __name__ == "__main__":
    run_cli(prog_name="python -m vats_etl.cli")
