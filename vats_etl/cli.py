"""The `vats-etl` command: a thin shell over the library and the flows."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="vats-etl")
def main() -> None:
    """vats-etl: call-history ETL and analytics for cloud virtual PBX (ВАТС)."""
