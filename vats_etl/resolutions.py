"""Clients reached outside the PBX: `vats-etl resolve PHONE --note TEXT` records one in
`manual_resolutions` (sql/manual_resolutions.sql).

The views do the rest: every miss of the client before the resolution that nobody had
talked to the client about becomes ``resolved_manually`` (missed_calls.outcome, never a
callback), so the client leaves the call-back worklist, the lists and the digest until it
misses again. Recording writes the warehouse (a writer connection, which waits for another
writer like any command) and then publishes the read copy, which the reports read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from vats_etl import errors, warehouse
from vats_etl.config import Settings


@dataclass(frozen=True)
class Resolution:
    client: str
    resolved_at: datetime  # UTC
    note: str | None
    closed: int  # the client's misses that were pending or lost and are resolved now


def client_number(text: str) -> str:
    """A phone number as calls.client spells it: digits only, a Russian number in its
    11-digit form starting with 7 (``+7 (900) 123-45-67`` and ``8 900 123 45 67`` are
    ``79001234567``)."""
    if not re.fullmatch(r"\s*\+?[\d\s()\-]+\s*", text):
        raise errors.ConfigError(f"not a phone number: {text!r} (digits, +, spaces, dashes)")
    digits = re.sub(r"\D", "", text)
    if len(digits) < 5 or len(digits) > 15:
        raise errors.ConfigError(f"not a phone number: {text!r} (5 to 15 digits)")
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    return digits


def resolve(
    settings: Settings, phone: str, note: str | None = None, *, now: datetime | None = None
) -> Resolution:
    """Record that the client `phone` was reached outside the PBX now, then publish the read
    copy. A number the warehouse has no call of is refused (a typo would resolve nobody)."""
    client = client_number(phone)
    resolved_at = (now or datetime.now(UTC)).astimezone(UTC)
    text = note.strip() if note and note.strip() else None
    with warehouse.connect(
        settings.db_path,
        company=warehouse.Company.from_settings(settings),
        timeout_s=settings.db_lock_timeout_s,
    ) as con:
        known = con.execute("select count(*) from calls where client = ?", [client]).fetchall()
        if not known[0][0]:
            raise errors.VatsError(
                f"no calls of {client} in {settings.db_path}: nothing to resolve "
                "(the number as the calls have it, e.g. 79001234567)"
            )
        open_misses = (
            "select count(*) from missed_calls where client = ? "
            "and outcome in ('pending', 'lost') and started_at <= ?"
        )
        before = con.execute(open_misses, [client, resolved_at]).fetchall()[0][0]
        con.execute(
            "insert into manual_resolutions (client, resolved_at, note) values (?, ?, ?)",
            [client, resolved_at, text],
        )
    warehouse.publish_read_copy(settings.db_path, timeout_s=settings.db_lock_timeout_s)
    return Resolution(client, resolved_at, text, int(before))
