"""Who is calling: the ``contacts`` table, its CSV import, and the in-memory contact index.

The PBX asks ``contact`` on every new inbound call and waits for the answer before it
routes the call, so the receiver answers from memory: :class:`ContactIndex` maps a phone
key to the contact's name (table ``contacts``) and its responsible employee — the
``contacts.responsible`` an analyst set, else the last employee who had a successful call
with that number (table ``calls``). The applier rebuilds the index from the warehouse
every ``refresh_s`` seconds (one short read) and updates it from each applied batch of
history webhooks in between, so a contact request never touches DuckDB.

Phone keys: digits only; an 11-digit number starting with 8 becomes 7… (Russian trunk
prefix), so ``+7 (910) 123-45-67``, ``8 910 123 45 67`` and ``79101234567`` meet.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from vats_etl.errors import VatsError

_NOT_DIGIT: Final = re.compile(r"\D+")
# The same rule in SQL, for keys computed inside DuckDB.
PHONE_KEY_SQL: Final = (
    "(case when length(regexp_replace({col}, '[^0-9]', '', 'g')) = 11 "
    "and starts_with(regexp_replace({col}, '[^0-9]', '', 'g'), '8') "
    "then '7' || substr(regexp_replace({col}, '[^0-9]', '', 'g'), 2) "
    "else regexp_replace({col}, '[^0-9]', '', 'g') end)"
)
NAME_COLUMNS: Final = ("contact_name", "name", "contact")
PHONE_COLUMNS: Final = ("phone", "number", "telephone", "tel")


def phone_key(text: str | None) -> str | None:
    if not text:
        return None
    digits = _NOT_DIGIT.sub("", text)
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits or None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None
    responsible: str | None


class ContactIndex:
    """Phone → ``{"contact_name", "responsible"}``; read by the event loop, written by one
    applier thread (dict reads and item assignments are atomic under the GIL; a refresh
    swaps whole dicts)."""

    def __init__(self) -> None:
        self._contacts: dict[str, Contact] = {}
        self._last_success: dict[str, tuple[int, str]] = {}  # key -> (started_at µs, login)
        self._lock = threading.Lock()  # serialises writers only
        self.loaded = False

    def lookup(self, phone: str) -> dict[str, str]:
        key = phone_key(phone)
        if key is None:
            return {}
        answer: dict[str, str] = {}
        contact = self._contacts.get(key)
        if contact is not None and contact.name:
            answer["contact_name"] = contact.name
        responsible = contact.responsible if contact is not None else None
        if not responsible:
            last = self._last_success.get(key)
            responsible = last[1] if last is not None else None
        if responsible:
            answer["responsible"] = responsible
        return answer

    def __len__(self) -> int:
        return len(self._contacts.keys() | self._last_success.keys())

    def refresh(self, con: duckdb.DuckDBPyConnection) -> None:
        """Rebuild from the warehouse (contacts table + last successful call per client)."""
        contacts = {
            key: Contact(name, responsible)
            for key, name, responsible in con.execute(
                f"select {PHONE_KEY_SQL.format(col='phone')}, contact_name, responsible "
                "from contacts"
            ).fetchall()
            if key
        }
        key_sql = PHONE_KEY_SQL.format(col="client")
        last = {
            key: (int(micros), login)
            for key, login, micros in con.execute(
                f"select {key_sql} as phone_key, arg_max(user_login, started_at), "
                "epoch_us(max(started_at)) from calls "
                "where status = 'success' and client is not null and user_login is not null "
                "and started_at is not null group by phone_key"
            ).fetchall()
            if key
        }
        with self._lock:
            self._contacts, self._last_success = contacts, last
            self.loaded = True

    def note_success(self, calls: Iterable[tuple[str | None, str | None, int | None]]) -> None:
        """Update from applied history rows ``(client, user_login, started_at µs)`` that
        were successful calls; the later call wins."""
        with self._lock:
            table = self._last_success
            for client, login, started in calls:
                key = phone_key(client)
                if key is None or not login or started is None:
                    continue
                known = table.get(key)
                if known is None or started >= known[0]:
                    table[key] = (started, login)


# -- CSV import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    skipped: int
    total: int


def read_contacts_csv(
    data: bytes, *, source: str = "CSV"
) -> tuple[list[tuple[str, str | None, str | None]], int]:
    """CSV bytes (with a header: phone, contact_name, optional responsible; ``,`` or ``;``,
    UTF-8 with or without BOM) → ``(phone key, name, responsible)`` rows and rows skipped
    for having no usable phone. Later rows of a phone win."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VatsError(f"{source} is not UTF-8 text (byte {exc.start})") from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise VatsError(f"{source} is empty: expected a header with phone,contact_name") from None
    except csv.Error as exc:
        raise VatsError(f"{source} cannot be read as CSV ({exc})") from None
    phone_at = _column(header, PHONE_COLUMNS)
    name_at = _column(header, NAME_COLUMNS)
    if phone_at is None or name_at is None:
        raise VatsError(
            f"{source}: header must name a phone and a contact_name column, got {header}"
        )
    responsible_at = _column(header, ("responsible", "manager"))
    rows: dict[str, tuple[str, str | None, str | None]] = {}
    skipped = 0
    try:
        for record in reader:
            if not any(value.strip() for value in record):
                continue
            key = phone_key(_cell(record, phone_at))
            if key is None:
                skipped += 1
                continue
            rows[key] = (key, _cell(record, name_at), _cell(record, responsible_at))
    except csv.Error as exc:
        raise VatsError(f"{source} line {reader.line_num}: {exc}") from None
    return list(rows.values()), skipped


def _column(header: list[str], names: Iterable[str]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _cell(record: list[str], index: int | None) -> str | None:
    if index is None or index >= len(record):
        return None
    value = record[index].strip()
    return value or None


def import_contacts(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    imported_at: datetime,
    replace: bool = False,
) -> ImportResult:
    """Upsert the contacts of a CSV file by phone (``replace``: the file becomes the table)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VatsError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows, skipped = read_contacts_csv(data, source=str(path))
    con.execute("begin")
    try:
        if replace:
            con.execute("delete from contacts")
        frame = pl.DataFrame(
            rows,
            schema={"phone": pl.String, "contact_name": pl.String, "responsible": pl.String},
            orient="row",
        ).with_columns(
            imported_at=pl.lit(imported_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
        )
        con.register("incoming_contacts", frame)
        try:
            con.execute(
                "insert into contacts by name select * from incoming_contacts "
                "on conflict (phone) do update set contact_name = excluded.contact_name, "
                "responsible = excluded.responsible, imported_at = excluded.imported_at"
            )
        finally:
            con.unregister("incoming_contacts")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    (total,) = con.execute("select count(*) from contacts").fetchall()[0]
    return ImportResult(len(rows), skipped, int(total))
