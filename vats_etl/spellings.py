"""How the platform spells what we store canonically: one table for every reader.

The spec is one dialect; the platform's real answers are another (DESIGN.md, "The API as it
really behaves"). History rows (``parse.py``, vectorised) and webhooks (``webhook/``, per
request) must agree on what a spelling means, so both read these tables::

    direction  in, incoming → in;  out, outgoing → out           (any case; else unknown)
    status     lower-cased; noanswer, no_answer → missed; not_available → notavailable;
               not_allowed → notallowed; not_found → notfound; any other value is kept
               lower-cased as delivered: an unexpected status never drops a call
    login      "ivanov@acme.megapbx.ru" → "ivanov" (the domain is not part of a login)

Internal history keeps ``noanswer`` (its own canonical status): the status aliases are for
external calls and webhooks.
"""

from __future__ import annotations

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
