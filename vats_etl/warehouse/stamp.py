"""Which account a warehouse belongs to: the one row of `warehouse_account`.

An account's writer stamps the warehouse with the account's name the first time it opens
it, and every writer compares the stamp with its own account before it writes anything
(not even the company's zone): a warehouse of account ``b`` is refused by the writers of
``a`` and by the single-account writer (no account), naming both. Paths alone cannot
promise this: a symlink, an option pointing elsewhere, a folder copied by hand.

A warehouse without a stamp — the single account's, or an account's written by a version
that did not stamp — is adopted by the first account writer that opens it. An account's
writer only ever opens ``<root>/<name>/vats.duckdb`` (the accounts file refuses two
accounts resolving to one folder, and ``--db``/``VATS_DB`` naming another file), so that is
the account's own warehouse from before stamps, or a single-account warehouse an operator
moved into the account's folder on purpose.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from vats_etl import errors


def owner(con: duckdb.DuckDBPyConnection) -> str | None:
    """The account the open warehouse belongs to; None when it names none."""
    try:
        found = con.execute("select account from warehouse_account where id = 1").fetchall()
    except duckdb.CatalogException:  # a warehouse of a version before stamps, or a new file
        return None
    return str(found[0][0]) if found else None


def refuse_another(path: Path, found: str | None, account: str | None) -> None:
    """Raise unless a writer for `account` (None: the single account) may write the
    warehouse at `path`, which belongs to `found`."""
    if found is None or found == account:
        return
    writer = f"account {account}" if account else "the single account (no --account)"
    raise errors.WrongWarehouse(
        f"{path} is the warehouse of account {found}, not of {writer}: refusing to write "
        f"into it (run with --account {found} to load that account)"
    )


def stamp(con: duckdb.DuckDBPyConnection, account: str) -> None:
    """Write `account` as the warehouse's owner, unless one is written already."""
    con.execute(
        "insert into warehouse_account (id, account, stamped_at) values (1, ?, now()) "
        "on conflict do nothing",
        [account],
    )
