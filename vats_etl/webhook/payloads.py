"""Webhook bodies (spec section 2) → validated, normalised records. Pure: no I/O, no clock.

``decode_body(content_type, body)`` turns a JSON object or an
``application/x-www-form-urlencoded`` body into a flat ``dict``; ``check_token`` compares the
``crm_token`` in constant time; ``to_record(fields, received_at_us)`` validates one command
and returns a :class:`Record` (``history``, ``rating``, ``event``, ``other``) or a
:class:`ContactQuery`. Anything wrong raises :class:`BadRequest` with an HTTP status and a
short reason that never contains the token.

Field mapping and normalisation (the spellings are :mod:`vats_etl.spellings`, shared with the
history parser, so a webhook and an API row of one call agree)::

    command  webhook field     →  column        rule
    history  callid               uid           text, required
             direction or type    direction     in/incoming → in, out/outgoing → out (any
                                                case); `direction` decides when it is a known
                                                spelling, else `type` (the history parser's
                                                rule: spellings.call_direction); neither
                                                known → null (kept, not refused)
             status               status        lower-cased; noanswer → missed, not_available
                                                → notavailable, ...; unknown kept as delivered
             start                started_at    YYYYmmddTHHMMSSZ, ISO 8601 (Z or offset) or
                                                YYYY-mm-dd HH:MM:SS (UTC) → UTC, required
             phone                client        text
             diversion            diversion     text
             user                 user_login    text; login@domain → login
             groupRealName        group_name    text
             wait                 wait_s        whole number ≥ 0, also as a string ("12")
             duration             duration_s    whole number ≥ 0, also as a string ("124")
             link                 record_url    text
             rating               rating        whole number 1-5, also as a string
             missedStatus or      pbx_missed_status  whole number, also as a string; anything
             missedstatus                       else is no verdict (null, never refused)
    rating   callid               uid           required
             rating               rating        1-5, required
             phone, user          client, user_login (login@domain → login)
    event    callid               callid        required
             type                 type          upper-cased, required (INCOMING ACCEPTED
                                                COMPLETED CANCELLED OUTGOING TRANSFERRED, or
                                                any other the platform sends, kept)
             direction            direction     as for history; optional
             phone, diversion, user, ext, telnum, groupRealName
    contact  phone                —             required; the answer comes from the contact index
    any other cmd (e.g. ``cmd=webhook&type=sipregs_error``): an ``other`` record — cmd, type,
             callid, phone, user as delivered (user: login) and every field but the token
             as JSON in ``payload``; stored, never refused (the PBX must not retry it)

"Text" means: a string (or a JSON number, kept as its digits), stripped, "" → missing.
JSON ``null`` is missing. Objects, arrays and booleans where text or a number belongs are a
400. Unknown fields are ignored. Only the fields without which a record means nothing are
required: a call that cannot be placed (no callid, no parseable start) is refused; any other
unexpected value is kept, never a reason to refuse a call.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

import orjson

from vats_etl import spellings

Command = Literal["history", "rating", "event", "other"]
Value = str | int | None

COMMANDS: Final = ("history", "event", "contact", "rating")
TOKEN_FIELD: Final = "crm_token"
MAX_FIELDS: Final = 200
_PREVIEW: Final = 40
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_INT32_MAX: Final = 2**31 - 1


class BadRequest(Exception):
    """A request we refuse: ``status`` (400, 401, 413, 415, ...) and a short ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """One accepted command as it is spooled and applied.

    ``data`` holds canonical column names with JSON-safe values (text, whole numbers, or
    ``None``); ``started_at`` is microseconds since the Unix epoch (UTC).
    """

    kind: Command
    received_at_us: int
    data: dict[str, Value]

    def to_json(self) -> bytes:
        """One spool line (newline included); orjson escapes newlines inside strings."""
        return orjson.dumps({"k": self.kind, "at": self.received_at_us, "d": self.data}) + b"\n"

    @staticmethod
    def from_json(line: bytes) -> Record:
        obj = orjson.loads(line)
        kind = obj["k"]
        if kind not in ("history", "rating", "event", "other") or not isinstance(obj["d"], dict):
            raise ValueError(f"not a spool record: kind {kind!r}")
        return Record(kind, int(obj["at"]), obj["d"])


@dataclass(frozen=True, slots=True)
class ContactQuery:
    phone: str
    callid: str | None


# -- bodies -----------------------------------------------------------------------------------


def decode_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    """A JSON object or a form body → a flat dict. No content type: sniff ``{``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return _decode_json(body)
    if media == "application/x-www-form-urlencoded":
        return _decode_form(body)
    if media in ("", "text/plain", "application/octet-stream"):
        if body.lstrip()[:1] == b"{":
            return _decode_json(body)
        return _decode_form(body)
    raise BadRequest(415, f"unsupported content type {_preview(media)}: send JSON or a form")


def _decode_json(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest(400, "body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadRequest(400, "JSON body must be an object")
    return obj


def _decode_form(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "form body is not UTF-8") from None
    if not text.strip():
        raise BadRequest(400, "empty body")
    try:
        pairs = parse_qsl(
            text.strip(),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise BadRequest(400, "form body is not UTF-8 after %-decoding") from None
    except ValueError:
        raise BadRequest(400, "body is neither a JSON object nor a form") from None
    return dict(pairs)


def check_token(fields: dict[str, Any], expected: bytes) -> None:
    """Constant-time comparison of ``crm_token``; 401 when missing or different."""
    token = fields.get(TOKEN_FIELD)
    given = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else b""
    # compare_digest takes as long for any wrong token of a given length; an empty or
    # missing token goes through the same comparison.
    if not hmac.compare_digest(given, expected) or not expected:
        raise BadRequest(401, "invalid crm_token")


# -- commands ---------------------------------------------------------------------------------


def command_of(fields: dict[str, Any]) -> str:
    """The command, lower-cased; one we do not know comes back as delivered (stripped)."""
    cmd = _text(fields, "cmd")
    if cmd is None:
        raise BadRequest(400, "cmd: missing")
    name = cmd.lower()
    return name if name in COMMANDS else cmd


def to_record(fields: dict[str, Any], received_at_us: int) -> Record | ContactQuery:
    """Validate and normalise one authenticated body (token already checked)."""
    cmd = command_of(fields)
    if cmd == "history":
        return Record("history", received_at_us, _history(fields))
    if cmd == "rating":
        return Record("rating", received_at_us, _rating(fields))
    if cmd == "event":
        return Record("event", received_at_us, _event(fields))
    if cmd == "contact":
        return ContactQuery(_required(fields, "phone"), _text(fields, "callid"))
    return Record("other", received_at_us, _other(cmd, fields))


def _history(f: dict[str, Any]) -> dict[str, Value]:
    return {
        "uid": _required(f, "callid"),
        "direction": spellings.call_direction(_text(f, "direction"), _text(f, "type")).direction,
        "status": spellings.status(_text(f, "status")),
        "client": _text(f, "phone"),
        "diversion": _text(f, "diversion"),
        "user_login": _login(f, "user"),
        "group_name": _text(f, "groupRealName"),
        "started_at": _timestamp(f, "start"),
        "wait_s": _whole(f, "wait", 0, _INT32_MAX),
        "duration_s": _whole(f, "duration", 0, _INT32_MAX),
        "record_url": _text(f, "link"),
        "rating": _whole(f, "rating", 1, 5),
        "pbx_missed_status": spellings.missed_status(f),
    }


def _rating(f: dict[str, Any]) -> dict[str, Value]:
    rating = _whole(f, "rating", 1, 5)
    if rating is None:
        raise BadRequest(400, "rating: missing")
    return {
        "uid": _required(f, "callid"),
        "client": _text(f, "phone"),
        "user_login": _login(f, "user"),
        "rating": rating,
    }


def _event(f: dict[str, Any]) -> dict[str, Value]:
    data: dict[str, Value] = {
        "callid": _required(f, "callid"),
        "type": _required(f, "type").upper(),
        "direction": _direction(f, "direction"),
        "client": _text(f, "phone"),
        "diversion": _text(f, "diversion"),
        "user_login": _login(f, "user"),
        "ext": _text(f, "ext"),
        "telnum": _text(f, "telnum"),
        "group_name": _text(f, "groupRealName"),
    }
    data["event_hash"] = event_hash(data)
    return data


def _other(cmd: str, f: dict[str, Any]) -> dict[str, Value]:
    """A command we do not model, kept as delivered (its fields' types are not checked:
    nothing is read from them but what ``webhook_events`` shows)."""
    delivered = {k: v for k, v in f.items() if k != TOKEN_FIELD}
    try:
        payload = orjson.dumps(delivered, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:  # an integer beyond 64 bits (a JSON body's become floats: not from HTTP)
        raise BadRequest(400, "payload: a value that JSON cannot carry") from None
    data: dict[str, Value] = {
        "cmd": cmd,
        "type": _loose_text(f, "type"),
        "callid": _loose_text(f, "callid"),
        "client": _loose_text(f, "phone"),
        "user_login": spellings.login(_loose_text(f, "user")),
        "payload": payload,
    }
    data["event_hash"] = event_hash(data)
    return data


def event_hash(data: dict[str, Value]) -> str:
    """Identity of an event's content: identical re-deliveries (JSON or form alike) share it."""
    content = {k: v for k, v in data.items() if k != "event_hash"}
    return hashlib.blake2b(
        orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


# -- fields -----------------------------------------------------------------------------------


def _text(f: dict[str, Any], name: str) -> str | None:
    value = f.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(400, f"{name}: expected text, got {_json_type(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest(400, f"{name}: expected text, got {value!r}")
        if value.is_integer():
            return str(int(value))
    return str(value)


def _required(f: dict[str, Any], name: str) -> str:
    text = _text(f, name)
    if text is None:
        raise BadRequest(400, f"{name}: missing")
    return text


def _loose_text(f: dict[str, Any], name: str) -> str | None:
    """Text when the field is text or a number; anything else is left to ``payload``."""
    try:
        return _text(f, name)
    except BadRequest:
        return None


def _direction(f: dict[str, Any], name: str) -> str | None:
    """in / out from any known spelling; an unknown one is None (the call is still kept)."""
    return spellings.direction(_text(f, name))


def _login(f: dict[str, Any], name: str) -> str | None:
    return spellings.login(_text(f, name))


def _whole(f: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = f.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: float | int
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(400, f"{name}: expected a number, got {_json_type(value)}")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise BadRequest(400, f"{name}: not a number: {_preview(value)}") from None
    else:
        number = value
    if isinstance(number, float):
        if not (math.isfinite(number) and number.is_integer()):
            raise BadRequest(400, f"{name}: not a whole number: {_preview(str(value))}")
        number = int(number)
    if not low <= number <= high:
        raise BadRequest(400, f"{name}: {number} is out of range {low}..{high}")
    return number


_FORMATS: Final = ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S")


def _timestamp(f: dict[str, Any], name: str) -> int:
    text = _required(f, name)
    parsed: datetime | None = None
    for fmt in _FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            if len(text) <= len("2024-06-10"):  # a date alone is not a call's start
                raise ValueError(text)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise BadRequest(
                400, f"{name}: expected YYYYmmddTHHMMSSZ, got {_preview(text)}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # the PBX speaks UTC
    try:
        return micros(parsed)
    except OverflowError:  # e.g. year 1 with a positive offset
        raise BadRequest(400, f"{name}: out of range: {_preview(text)}") from None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _preview(text: str) -> str:
    """Quoted, printable, short: safe to echo back in a 400 (never called on the token)."""
    one_line = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(one_line) > _PREVIEW:
        one_line = one_line[: _PREVIEW - 1] + "…"
    return f"'{one_line}'"


def micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
