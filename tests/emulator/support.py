"""Helpers of the emulator's conformance tests: its fixed "now" and key, and the canonical
mapping of served rows. The ``normalise_*`` helpers implement docs/architecture.md's
canonical mapping independently of the parser, so "served rows normalise to the truth" is
checked against the contract itself.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from vats_etl.periods import Window, day_window

MSK = ZoneInfo("Europe/Moscow")
# Wednesday 5 June 2024, 15:00 in Moscow: the emulator's "now" in these tests.
NOW = datetime(2024, 6, 5, 12, 0, tzinfo=UTC)
API_KEY = "test-key"
CANONICAL_EXTERNAL = (
    "uid", "direction", "status", "client", "diversion", "destination", "user_login",
    "user_name", "group_name", "started_at", "wait_s", "duration_s", "record_url", "rating",
)  # fmt: skip
CANONICAL_INTERNAL = (
    "uid", "status", "from_login", "to_login", "from_name", "to_name", "started_at",
    "wait_s", "duration_s", "record_url",
)  # fmt: skip


def fixed_clock() -> datetime:
    return NOW


def day(d: date) -> Window:
    return day_window(d, MSK)


# --- canonical mapping, straight from docs/architecture.md -------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    text = _text(value)
    return None if text is None else int(text)


def parse_start(value: str) -> datetime:
    """Compact ``20240521T085922Z``, else ISO 8601 (``Z``, an offset, or none = UTC; ``T`` or
    a space), as docs/architecture.md lists them."""
    text = value.strip()
    if "-" not in text:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if len(text) < 19:
        raise ValueError(f"no time of day in {text!r}")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _lower(value: Any) -> str | None:
    text = _text(value)
    return text.lower() if text else None


DIRECTIONS = {"in": "in", "incoming": "in", "out": "out", "outgoing": "out"}
STATUS_ALIASES = {"noanswer": "missed", "not_available": "notavailable"}


def _login(value: Any) -> str | None:
    text = _text(value)
    return text.split("@")[0] if text else None


def normalise_external(row: dict[str, Any]) -> dict[str, Any]:
    """Both dialects: `direction` or the platform's `type`, its status spellings, logins with
    their domain, no `duration` on a call not answered (0 s); the emulator never puts a
    target or a department in JSON `account`."""
    direction = _lower(row.get("direction")) or _lower(row.get("type"))
    status = STATUS_ALIASES.get(_lower(row.get("status")) or "", _lower(row.get("status")))
    duration = _int(row.get("duration"))
    if duration is None and status not in (None, "success"):
        duration = 0
    return {
        "uid": _text(row.get("uid")),
        "direction": DIRECTIONS.get(direction or "", direction),
        "status": status,
        "client": _text(row.get("client")),
        "diversion": _text(row.get("diversion")),
        "destination": _lower(row.get("destination")),
        "user_login": _login(row.get("user")) or _login(row.get("account")),
        "user_name": _text(row.get("user_name")),
        "group_name": _text(row.get("group_name")),
        "started_at": parse_start(row["start"]),
        "wait_s": _int(row.get("wait")),
        "duration_s": duration,
        "record_url": _text(row.get("record")),
        "rating": _int(row.get("rating")),
    }


def missed_status(row: dict[str, Any]) -> int | None:
    """The PBX's verdict a served JSON row carries: `missedStatus` or `missedstatus`, a whole
    number or its text (docs/architecture.md)."""
    for key in ("missedStatus", "missedstatus"):
        value = _int(row.get(key))
        if value is not None:
            return value
    return None


def normalise_internal(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": _text(row.get("uid")),
        "status": _lower(row.get("status")),
        "from_login": _login(row.get("from")),
        "to_login": _login(row.get("to")),
        "from_name": _text(row.get("from_name")),
        "to_name": _text(row.get("to_name")),
        "started_at": parse_start(row["start"]),
        "wait_s": _int(row.get("wait")),
        "duration_s": _int(row.get("duration")),
        "record_url": _text(row.get("record")),
    }


def canonical(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: row[c] for c in columns}


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
