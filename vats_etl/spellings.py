"""How the platform spells what we store canonically: one table for every reader.

The spec is one dialect; the platform's real answers, as public clients in production read
them, are another (docs/architecture.md, "Raw formats"). History rows (``parse.py``,
vectorised) and webhooks (``webhook/``, per request) must agree on what a spelling means, so
both read these tables::

    direction  in, incoming → in;  out, outgoing → out           (any case; else unknown)
               a call's direction may come in `direction` (the spec) and in `type` (the
               platform): see call_direction for which one decides
    status     lower-cased; noanswer, no_answer → missed; not_available → notavailable;
               not_allowed → notallowed; not_found → notfound; any other value is kept
               lower-cased as delivered: an unexpected status never drops a call
    login      "ivanov@acme.megapbx.ru" → "ivanov" (the domain is not part of a login)
    missedStatus  `missedStatus` or `missedstatus`, a whole number as an integer or as text
               ("3", 3, "3.0") → 3; anything else is no verdict (None). Public integrations
               read 2 on an outgoing call as a call-back to a missed client and 3 or 4 on a
               missed call as still open (their reading: the values are not documented)

Internal history keeps ``noanswer`` (its own canonical status): the status aliases are for
external calls and webhooks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DIRECTION_SPELLINGS: Final = {"in": "in", "incoming": "in", "out": "out", "outgoing": "out"}

EXTERNAL_STATUSES: Final = (
    "success",
    "missed",
    "cancel",
    "busy",
    "notavailable",
    "notallowed",
    "notfound",
)
STATUS_SPELLINGS: Final = {
    "noanswer": "missed",
    "no_answer": "missed",
    "not_available": "notavailable",
    "not_allowed": "notallowed",
    "not_found": "notfound",
}


def direction(value: str | None) -> str | None:
    """Canonical direction of a delivered spelling, or None when it is not one we know."""
    if value is None:
        return None
    return DIRECTION_SPELLINGS.get(value.strip().lower())


@dataclass(frozen=True)
class CallDirection:
    """What a call's two direction fields say together: ``direction`` is ``in``, ``out`` or
    None (neither field names a direction we know), ``note`` is why it is worth a look."""

    direction: str | None
    note: str | None = None


# Notes of call_direction, counted per chunk in load_notes (the data_quality view).
FROM_TYPE: Final = "direction_from_type"
TYPE_DISAGREES: Final = "direction_type_disagree"
UNKNOWN_DIRECTION_FROM_TYPE: Final = "direction_unknown_from_type"


def call_direction(direction_field: str | None, type_field: str | None) -> CallDirection:
    """The direction of a call delivered with these `direction` and `type` values.

    The rule, for history rows and webhooks alike: the first of `direction`, then `type`,
    that is a known spelling decides. So `direction` wins when both are known (a
    disagreement is noted), and `type` decides when `direction` is absent, empty or an
    unexpected word (noted too: the word does not vanish unseen in a call that loads). When
    neither is known the direction is None: the history parser then rejects the row naming
    the delivered word (quarantine), a webhook keeps the call without a direction."""
    said, typed = direction(direction_field), direction(type_field)
    if said is not None:
        disagrees = typed is not None and typed != said
        return CallDirection(said, TYPE_DISAGREES if disagrees else None)
    if typed is not None:
        given = direction_field is not None and direction_field.strip() != ""
        return CallDirection(typed, UNKNOWN_DIRECTION_FROM_TYPE if given else FROM_TYPE)
    return CallDirection(None)


def status(value: str | None) -> str | None:
    """Canonical external status; unknown spellings come back lower-cased, never dropped."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if not lowered:
        return None
    return STATUS_SPELLINGS.get(lowered, lowered)


def login(value: str | None) -> str | None:
    """The login part of ``login@domain`` (or the value itself); None when nothing is left."""
    if value is None:
        return None
    local_part = value.split("@", 1)[0].strip()
    return local_part or None


# The PBX's own verdict on a call (history rows and webhooks), in the spellings seen.
MISSED_STATUS_KEYS: Final = ("missedStatus", "missedstatus")
MISSED_STATUS_CALLBACK: Final = 2
MISSED_STATUS_OPEN: Final = (3, 4)


def missed_status(fields: Mapping[str, object]) -> int | None:
    """The `missedStatus` of a call delivered with these fields (either spelling; the first
    that holds a whole number decides), or None when there is none or it is not a number."""
    for key in MISSED_STATUS_KEYS:
        value = _whole(fields.get(key))
        if value is not None:
            return value
    return None


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if -(2**15) <= value < 2**15 else None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return _whole(int(value))
    return None
