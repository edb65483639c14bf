"""The client directory the webhook receiver answers `contact` requests from."""

from __future__ import annotations

from pathlib import Path

import click

from vats_etl.cli.context import Context, pass_context


@click.command("contacts-import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--replace", is_flag=True, help="The file becomes the whole table (default: merge).")
@pass_context
def contacts_import(ctx: Context, csv_file: Path, replace: bool) -> int:
    """Import the client directory the webhook receiver answers `contact` requests from.

    CSV_FILE has a header naming a phone and a contact_name (or name) column, optionally
    responsible (login, extension or number); ',' or ';' separated, UTF-8. Rows are merged
    by phone (digits only, 8XXXXXXXXXX counts as 7XXXXXXXXXX). A running receiver sees
    the change within a minute.
    """
    from datetime import UTC, datetime

    from vats_etl import warehouse
    from vats_etl.webhook import import_contacts

    settings = ctx.settings()
    with warehouse.connect(
        settings.db_path,
        company=warehouse.Company.from_settings(settings),
        timeout_s=settings.db_lock_timeout_s,
    ) as con:
        result = import_contacts(con, csv_file, imported_at=datetime.now(UTC), replace=replace)
    skipped = f"; {result.skipped:,} rows without a phone skipped" if result.skipped else ""
    click.echo(f"imported {result.rows:,} contacts{skipped}; {result.total:,} in the table")
    return 0
