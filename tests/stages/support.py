"""Call-history bodies the parse, schema and load tests share: the spec's own examples, and
hypothesis strategies that draw canonical rows and render them every way the platform is
known to write them (JSON in both dialects, every CSV layout, internal history)."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from vats_etl.parse import ACCOUNT_TARGETS, EXTERNAL_CSV_LAYOUTS

# --- recorded bodies ------------------------------------------------------------------------

# Spec 4.2 example, with the braces the seed's text lost.
SPEC_EXTERNAL_JSON = """[
  {
    "uid": "3934307521",
    "direction": "in",
    "status": "missed",
    "client": "79008003396",
    "destination": "group",
    "user": "",
    "user_name": "",
    "group_name": "Отдел продаж",
    "diversion": "79001112233",
    "start": "2022-01-20T08:59:22Z",
    "wait": 13,
    "duration": 0,
    "record": ""
  },
  {
    "uid": "1755936870",
    "direction": "in",
    "status": "success",
    "client": "79008003396",
    "user": "admin",
    "user_name": "Администратор",
    "group_name": "",
    "diversion": "79001112233",
    "start": "2022-01-20T08:58:42Z",
    "wait": 5,
    "duration": 23,
    "record": ""
  }
]""".encode()

SPEC_INTERNAL_JSON = b"""[
  {"uid": "3934307521", "status": "noanswer", "from": "admin", "to": "manager",
   "from_name": "admin", "to_name": "Ivan", "start": "2022-01-20T08:59:22Z",
   "wait": 13, "duration": 0, "record": ""},
  {"uid": "1755936870", "status": "success", "from": "admin", "to": "manager",
   "to_name": "lvan", "start": "2022-01-20T08:58:42Z", "wait": 5, "duration": 23,
   "record": ""}
]"""


# --- generated bodies -------------------------------------------------------------------------

# Text the way it looks after normalisation: no blank ends (they would be stripped), but
# Cyrillic, punctuation that CSV must quote (, " \n) and inner spaces are all fair game.
TEXT_CHARS = string.ascii_letters + string.digits + "АБВабвгдёЖжЩщЯя-_.:/?=&,\"'@#№"
clean_text = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.sampled_from(TEXT_CHARS),
    st.text(alphabet=TEXT_CHARS + " \n", max_size=12),
    st.sampled_from(TEXT_CHARS),
) | st.sampled_from(TEXT_CHARS)
login_text = st.text(alphabet=string.ascii_lowercase + string.digits + "._-", min_size=1)
# A login in `account` must not read as a target word (ivr, fax, ...): those are destinations.
account_login = login_text.filter(lambda value: value not in ACCOUNT_TARGETS)
department = st.sampled_from(["Отдел продаж", "Sales Dept", "Поддержка 24/7", "Склад"])
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)
).map(lambda dt: dt.replace(microsecond=0, tzinfo=UTC))
seconds = st.integers(min_value=-10, max_value=2**31 - 1)
EXTERNAL_STATUSES = ["success", "missed", "cancel", "busy", "notavailable", "notallowed"]
DIRECTION_SPELLINGS = {"in": ["in", "incoming"], "out": ["out", "outgoing"]}
STATUS_SPELLINGS = {
    "missed": ["missed", "noanswer", "no_answer"],
    "notavailable": ["notavailable", "not_available"],
    "notallowed": ["notallowed", "not_allowed"],
}
DESTINATIONS = ["user", "group", "telnum", "ivr", "onduty", "offtime", "hello", "vm", "am"]


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def render_case(draw: st.DrawFn, value: str) -> str:
    return draw(st.sampled_from([value, value.upper(), value.capitalize()]))


def render_time(draw: st.DrawFn, value: datetime) -> str:
    """Every form the platform is known to write a start in (all the same instant)."""
    form = draw(st.sampled_from(["Z", "compact", "offset", "space", "T-naive", "fraction"]))
    if form == "offset":
        hours = draw(st.integers(min_value=-12, max_value=14))
        zone = timezone(timedelta(hours=hours))
        return value.astimezone(zone).isoformat()  # 2022-01-20T11:59:22+03:00
    fmt = {
        "Z": "%Y-%m-%dT%H:%M:%SZ",
        "compact": "%Y%m%dT%H%M%SZ",
        "space": "%Y-%m-%d %H:%M:%S",
        "T-naive": "%Y-%m-%dT%H:%M:%S",
        "fraction": "%Y-%m-%dT%H:%M:%S.000Z",
    }[form]
    return value.strftime(fmt)


def render_login(draw: st.DrawFn, login: str) -> str:
    return login + draw(st.sampled_from(["", "", "@acme.megapbx.ru", "@pbx.example.by"]))


def render_number(draw: st.DrawFn, value: int) -> Any:
    return draw(st.sampled_from([value, str(value), f"{value}.0", float(value)]))


MISSING = object()


def render_json_null(draw: st.DrawFn) -> Any:
    return draw(st.sampled_from([MISSING, None, "", "   "]))


@st.composite
def external_json_case(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(canonical row, JSON object that should parse to it), in either dialect."""
    row = {
        "uid": draw(maybe(clean_text)),
        "direction": draw(maybe(st.sampled_from(["in", "out"]))),
        "status": draw(maybe(st.sampled_from([*EXTERNAL_STATUSES, "transferred", "voicemail"]))),
        "client": draw(maybe(clean_text)),
        "diversion": draw(maybe(clean_text)),
        "destination": draw(maybe(st.sampled_from(DESTINATIONS))),
        "user_login": draw(maybe(account_login)),
        "user_name": draw(maybe(clean_text)),
        "group_name": draw(maybe(clean_text)),
        "started_at": draw(maybe(timestamps)),
        "wait_s": draw(maybe(seconds)),
        "duration_s": draw(maybe(seconds)),
        "record_url": draw(maybe(clean_text)),
        "rating": draw(maybe(st.integers(min_value=-128, max_value=127))),
        "pbx_missed_status": draw(maybe(st.integers(min_value=-(2**15), max_value=2**15 - 1))),
        "source": "api_json",
    }
    obj: dict[str, Any] = {}
    renderers: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "uid": ("uid", lambda v: v),
        "direction": (
            draw(st.sampled_from(["direction", "type"])),
            lambda v: render_case(draw, draw(st.sampled_from(DIRECTION_SPELLINGS[v]))),
        ),
        "status": (
            "status",
            lambda v: render_case(draw, draw(st.sampled_from(STATUS_SPELLINGS.get(v, [v])))),
        ),
        "client": ("client", lambda v: v),
        "diversion": ("diversion", lambda v: v),
        "destination": ("destination", lambda v: render_case(draw, v)),
        "user_name": ("user_name", lambda v: v),
        "group_name": ("group_name", lambda v: v),
        "started_at": ("start", lambda v: render_time(draw, v)),
        "wait_s": ("wait", lambda v: render_number(draw, v)),
        "duration_s": ("duration", lambda v: render_number(draw, v)),
        "record_url": ("record", lambda v: v),
        "rating": ("rating", lambda v: render_number(draw, v)),
        "pbx_missed_status": (
            draw(st.sampled_from(["missedStatus", "missedstatus"])),
            lambda v: render_number(draw, v),
        ),
    }
    for column, (field, render) in renderers.items():
        value = row[column]
        obj[field] = render_json_null(draw) if value is None else render(value)
    login = row["user_login"]
    if login is not None and draw(st.booleans()):
        # user empty → account
        obj["user"], obj["account"] = render_json_null(draw), render_login(draw, login)
    elif login is None and draw(st.booleans()):
        # account names where the call went: a target (→ destination) or a department
        obj["user"] = render_json_null(draw)
        obj["account"] = draw(st.sampled_from(list(ACCOUNT_TARGETS)) | department)
        if obj["account"] in ACCOUNT_TARGETS:
            row["destination"] = row["destination"] or ACCOUNT_TARGETS[obj["account"]]
        else:
            row["group_name"] = row["group_name"] or obj["account"]
    else:
        obj["user"], obj["account"] = (
            (render_json_null(draw) if login is None else render_login(draw, login)),
            (render_json_null(draw)),
        )
    if "direction" in obj and "type" not in obj and draw(st.booleans()):
        obj["type"] = render_json_null(draw)  # the other field present but empty
    if draw(st.booleans()):
        obj["some_new_field"] = {"nested": ["ignored"]}
    if row["pbx_missed_status"] is None and draw(st.booleans()):
        # a verdict that is no whole number is no verdict (the call loads all the same)
        obj["missedStatus"] = draw(st.sampled_from(["noanswer", "", None, "3.5", True]))
    if row["duration_s"] is None and row["status"] not in (None, "success"):
        row["duration_s"] = 0  # a call not answered without a duration talked for 0 s
    keys = draw(st.permutations(list(obj)))
    return row, {key: obj[key] for key in keys if obj[key] is not MISSING}


CSV_KINDS: dict[
    str, Callable[[int | None], tuple[str, str]]
] = {  # CSV type → (direction, status) it stands for, given duration > 0 or not
    "in": lambda duration: ("in", "success"),
    "missed": lambda duration: ("in", "missed"),
    "out": lambda duration: ("out", "success" if duration and duration > 0 else "missed"),
}


def csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\r\n') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def external_csv_case(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], bytes]:
    """(shape, canonical rows, CSV bytes). Only what CSV can carry: no names, no destination,
    direction/status as CSV `type`; started_at always present (it tells 9-column shapes
    apart)."""
    shape = draw(st.sampled_from(list(EXTERNAL_CSV_LAYOUTS)))
    layout = EXTERNAL_CSV_LAYOUTS[shape]
    canonical, lines = [], []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        csv_type = draw(st.sampled_from(list(CSV_KINDS)))
        duration = draw(maybe(seconds))
        direction, status = CSV_KINDS[csv_type](duration)
        row = {
            "uid": draw(clean_text),
            "direction": direction,
            "status": status,
            "client": draw(maybe(clean_text)),
            "diversion": draw(maybe(clean_text)),
            "destination": None,
            "user_login": draw(maybe(account_login)) if "account" in layout else None,
            "user_name": None,
            "group_name": None,
            "started_at": draw(timestamps),
            "wait_s": draw(maybe(seconds)),
            "duration_s": duration,
            "record_url": draw(maybe(clean_text)),
            "rating": draw(maybe(st.integers(1, 5))) if "rating" in layout else None,
            "pbx_missed_status": None,
            "source": "api_csv",
        }
        account = None if row["user_login"] is None else render_login(draw, row["user_login"])
        if account is None and "account" in layout and draw(st.booleans()):
            account = draw(st.sampled_from(list(ACCOUNT_TARGETS)) | department)
            if account in ACCOUNT_TARGETS:
                row["destination"] = ACCOUNT_TARGETS[account]
            else:
                row["group_name"] = account
        values = {
            "uid": row["uid"],
            "type": render_case(draw, csv_type),
            "client": row["client"],
            "account": account
            if account is None
            else render_case(draw, account)
            if account in ACCOUNT_TARGETS
            else account,
            "via": row["diversion"],
            "start": render_time(draw, row["started_at"]),
            "wait": None if row["wait_s"] is None else str(render_number(draw, row["wait_s"])),
            "duration": None if duration is None else str(render_number(draw, duration)),
            "record": row["record_url"],
            "rating": None if row["rating"] is None else str(row["rating"]),
        }
        blank = st.sampled_from(["", '""', "  "])
        lines.append(
            ",".join(
                draw(blank) if values[field] is None else csv_field(values[field])
                for field in layout
            )
        )
        canonical.append(row)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    body = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return shape, canonical, body.encode()


@st.composite
def internal_case(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], bytes]:
    """(format, canonical rows, body) for internal history, JSON or CSV (8 columns)."""
    fmt = draw(st.sampled_from(["json", "csv"]))
    canonical, objects, lines = [], [], []
    for _ in range(draw(st.integers(min_value=0 if fmt == "json" else 1, max_value=5))):
        row = {
            "uid": draw(clean_text),
            "status": draw(st.sampled_from(["success", "noanswer", "missed", "cancel", "busy"])),
            "from_login": draw(maybe(login_text)),
            "to_login": draw(maybe(login_text)),
            "from_name": draw(maybe(clean_text)) if fmt == "json" else None,
            "to_name": draw(maybe(clean_text)) if fmt == "json" else None,
            "started_at": draw(timestamps),
            "wait_s": draw(maybe(seconds)),
            "duration_s": draw(maybe(seconds)),
            "record_url": draw(maybe(clean_text)),
        }
        domain = draw(st.sampled_from(["", "@domain", "@acme.megapbx.ru"]))
        values: dict[str, Any] = {
            "uid": row["uid"],
            "status": render_case(draw, row["status"]),
            "from": None if row["from_login"] is None else row["from_login"] + domain,
            "to": None if row["to_login"] is None else row["to_login"] + domain,
            "from_name": row["from_name"],
            "to_name": row["to_name"],
            "start": render_time(draw, row["started_at"]),
            "wait": None if row["wait_s"] is None else render_number(draw, row["wait_s"]),
            "duration": None
            if row["duration_s"] is None
            else render_number(draw, row["duration_s"]),
            "record": row["record_url"],
        }
        canonical.append(row)
        objects.append({k: v for k, v in values.items() if v is not None})
        lines.append(
            ",".join(
                "" if values[f] is None else csv_field(str(values[f]))
                for f in ("uid", "status", "from", "to", "start", "wait", "duration", "record")
            )
        )
    body = orjson.dumps(objects) if fmt == "json" else ("\r\n".join(lines) + "\r\n").encode()
    return fmt, canonical, body
