"""How a local day's calls look on the wire, and what they mean (the ground truth).

Quirks (profile ``realistic``) change only the representation — letter case of statuses,
compact timestamps, ``""``/``null``/missing for empty fields, numbers as strings, CRLF — so
a row normalised per docs/architecture.md equals its truth row. So does the dialect:
``spec`` is the letter of the spec, ``platform`` what the platform's real answers look like
(``type`` for ``direction``, ``noanswer``/``not_available``, ``login@domain``, other ``start``
forms, absent optional keys, keys the spec does not know, CSV ``account`` naming a target or
a department). Malformed rows (at ``malformed_rate``) are deliberately broken and flagged
``malformed`` in the truth; ``unknown_status`` is the exception: a not-answered call served
with status ``transferred_away``, which loads as delivered (its truth row says so).

Every decision is drawn per local day and kind from ``(seed, day)`` over the day's rows in
a fixed order, so a row looks the same whatever window or format it is requested in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from vats_etl.emulator.calls import (
    DESTINATIONS,
    INTERNAL_STATUSES,
    KINDS,
    NO_TIME,
    STATUSES,
    SUCCESS,
    Array,
    Batch,
    InternalBatch,
)
from vats_etl.emulator.directory import Directory
from vats_etl.emulator.rng import Purpose, UidScrambler, day_number, generator

PROFILES = ("realistic", "clean")
DIALECTS = ("spec", "platform")
CSV_SHAPES: tuple[int | str, ...] = (8, 9, "9r", 10)
EXTERNAL_TYPES = ("all", "in", "missed", "out")
INTERNAL_TYPES = ("all", "success", "noanswer")
MALFORMED_KINDS = ("bad_date", "negative_duration", "negative_wait", "unknown_status", "no_uid")
_TITLE = {
    "success": "Success", "missed": "Missed", "cancel": "Cancel", "busy": "Busy",
    "notavailable": "NotAvailable", "notallowed": "NotAllowed", "notfound": "NotFound",
    "noanswer": "NoAnswer",
}  # fmt: skip
_KIND_CODE = {"external": 0, "internal": 1}
UNKNOWN_STATUS = "transferred_away"
# The platform's other spellings of canonical statuses (spellings.STATUS_SPELLINGS).
_PLATFORM_ALIAS = {"missed": "noanswer", "notavailable": "not_available"}
# What the platform's CSV `account` says for a call no employee took, by destination.
_CSV_TARGET = {"ivr": "ivr", "vm": "voicemail"}


@dataclass(frozen=True)
class Style:
    seed: int
    realistic: bool
    csv_shape: int | str
    malformed_rate: float
    dialect: str = "spec"

    @property
    def platform(self) -> bool:
        return self.dialect == "platform"


@dataclass(frozen=True)
class Marks:
    """Per-row representation decisions for one local day and kind, oldest row first."""

    status_case: list[int]  # 0 lower, 1 Title, 2 UPPER
    compact_start: list[bool]
    empty_style: list[int]  # 0 "", 1 null, 2 key missing
    numbers_as_text: list[bool]
    account_only: list[bool]  # login given as `account` with `user` empty
    login_at_domain: list[bool]  # internal CSV writes `login@domain`
    malformed: list[bool]
    malformed_kind: list[int]  # index into MALFORMED_KINDS
    # platform dialect only (drawn in every dialect, so the marks above never change):
    status_alias: list[bool]  # missed → noanswer, notavailable → not_available
    user_at_domain: list[bool]  # `user` (or CSV `account`) as login@domain
    start_form: list[int]  # 0 as above, 1 "YYYY-mm-dd HH:MM:SS", 2 ISO with +03:00
    missed_status_lower: list[bool]  # the key spelled `missedstatus`

    @staticmethod
    def draw(style: Style, day: date, kind: str, n: int) -> Marks:
        rng = generator(style.seed, Purpose.QUIRKS, max(0, day_number(day)), _KIND_CODE[kind])
        bad = generator(style.seed, Purpose.MALFORMED, max(0, day_number(day)), _KIND_CODE[kind])
        # rows 0-5 are the same as with (6, n) (the quirks predate dialects), 0-8 as with (9, n)
        u = rng.random((10, n))
        quirky = style.realistic
        platform = style.platform
        return Marks(
            status_case=(np.where(u[0] < 0.7, 0, np.where(u[0] < 0.9, 1, 2)) * quirky).tolist(),
            compact_start=((u[1] < 0.15) & quirky).tolist(),
            empty_style=(np.where(u[2] < 0.6, 0, np.where(u[2] < 0.85, 1, 2)) * quirky).tolist(),
            numbers_as_text=((u[3] < 0.1) & quirky).tolist(),
            account_only=((u[4] < 0.05) & quirky).tolist(),
            login_at_domain=((u[5] < 0.3) & quirky).tolist(),
            malformed=(bad.random(n) < style.malformed_rate).tolist(),
            malformed_kind=bad.integers(0, len(MALFORMED_KINDS), n).tolist(),
            status_alias=((u[6] < 0.5) & platform).tolist(),
            user_at_domain=((u[7] < 0.3) & platform).tolist(),
            start_form=(np.where(u[8] < 0.1, 1, np.where(u[8] < 0.2, 2, 0)) * platform).tolist(),
            missed_status_lower=((u[9] < 0.1) & platform).tolist(),
        )

    def starts(self, iso: list[str]) -> list[str]:
        """Each row's ``start`` as served: ISO, compact, or (platform) the other forms."""
        return [
            _start_text(t, c, form)
            for t, c, form in zip(iso, self.compact_start, self.start_form, strict=True)
        ]

    def oddities(self, not_answered: list[bool]) -> tuple[list[bool], list[bool]]:
        """Per row: (served broken beyond loading, served with UNKNOWN_STATUS). An unknown
        status is given only to a call that was not answered, so that what every format says
        about it stays true (CSV `type` cannot carry a status, and says "missed"/"out")."""
        unknown = MALFORMED_KINDS.index("unknown_status")
        broken, odd = [], []
        for bad, kind, open_call in zip(
            self.malformed, self.malformed_kind, not_answered, strict=True
        ):
            is_status = bad and kind == unknown
            broken.append(bad and not is_status)
            odd.append(is_status and open_call)
        return broken, odd


def _start_text(iso: str, compact: bool, form: int) -> str:
    if form == 1:
        return f"{iso[:10]} {iso[11:19]}"
    if form == 2:  # the same instant in Moscow time, offset written out
        local = datetime.fromisoformat(iso[:19]) + _MOSCOW
        return local.strftime("%Y-%m-%dT%H:%M:%S+03:00")
    return _compact(iso) if compact else iso


_MOSCOW = timedelta(hours=3)


def _status_text(status: str, case: int) -> str:
    """A status as served in letter case ``case`` (0 lower, 1 Title, 2 UPPER)."""
    if case == 1:
        return _TITLE.get(status, status)
    return status.upper() if case == 2 else status


# (letter case, status index) → status as served; _ALIASED: the platform's other spellings
_EXTERNAL_STATUS = [[_status_text(s, case) for s in STATUSES] for case in range(3)]
_ALIASED_STATUS = [
    [_status_text(_PLATFORM_ALIAS.get(s, s), case) for s in STATUSES] for case in range(3)
]
_INTERNAL_STATUS = [[_status_text(s, case) for s in INTERNAL_STATUSES] for case in range(3)]


def _iso(starts: Array) -> list[str]:
    text = np.datetime_as_string(starts.astype("datetime64[s]"), unit="s")
    return [f"{t}Z" for t in text.tolist()]


def _compact(iso: str) -> str:
    return iso.replace("-", "").replace(":", "")


def record_url(host: str, iso_start: str, uid: str, platform: bool = False) -> str:
    """Where the recording lives; the folder is the call's UTC date. The platform links to
    its v2 recordings API (``/api/v2/call-records/record/<date>/<uuid>/<name>.mp3``, fetched
    with the X-API-KEY header, as public integrations do); the spec's letter to a plain path."""
    if not platform:
        return f"https://{host}/records/{iso_start[:10]}/{uid}.mp3"
    stamp = iso_start[:19].replace("-", "_").replace("T", "-").replace(":", "_")
    return f"https://{host}{RECORDS_V2}{iso_start[:10]}/{record_uuid(uid)}/{uid}_{stamp}.mp3"


RECORDS_V2 = "/api/v2/call-records/record/"


def record_uuid(uid: str) -> str:
    """The uuid of a call's recording in a v2 link: hashed, but ending with the (10-digit)
    uid, so the server finds the call again (``uid_of_record_uuid``)."""
    digest = hashlib.blake2b(uid.encode(), digest_size=8).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{uid[:3]}-{uid[3:].rjust(12, '0')}"


def uid_of_record_uuid(value: str) -> str | None:
    """The call uid a v2 recording uuid stands for, or None when it is not one of ours."""
    parts = value.split("-")
    if len(parts) != 5 or len(parts[3]) != 4 or len(parts[4]) != 12:
        return None
    uid = parts[3][1:] + parts[4][-7:]
    return uid if uid.isdigit() and record_uuid(uid) == value else None


def pbx_host(directory: Directory) -> str:
    """``romashka.ru`` → ``romashka.megapbx.ru``: where the recordings live."""
    return directory.domain.removesuffix(".ru") + ".megapbx.ru"


def external_type_codes(batch: Batch) -> Array:
    """CSV ``type`` and the ``type`` filter: 0 in (answered), 1 missed, 2 out."""
    return np.where(batch.inbound, np.where(batch.status == SUCCESS, 0, 1), 2).astype(np.int8)


def _has_record(batch: Batch) -> Array:
    voicemail = batch.destination == DESTINATIONS.index("vm")
    return np.asarray(((batch.status == SUCCESS) & (batch.duration > 0)) | voicemail)


# --- external --------------------------------------------------------------------------------


def _empty(row: dict[str, Any], key: str, style: int) -> None:
    """An empty optional field: ``""``, ``null`` or absent."""
    if style == 0:
        row[key] = ""
    elif style == 1:
        row[key] = None
    else:
        row.pop(key, None)


_OPTIONAL = ("destination", "user", "user_name", "group_name", "record", "rating")


def _numbers(values: list[int], as_text: list[bool]) -> list[int | str]:
    return [str(v) if t else v for v, t in zip(values, as_text, strict=True)]


def _not_answered(batch: Batch) -> list[bool]:
    return (batch.status != SUCCESS).tolist()  # type: ignore[no-any-return]


def external_json(
    batch: Batch,
    directory: Directory,
    uids: list[str],
    marks: Marks,
    style: Style,
    verdicts: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The day's rows as JSON objects; ``verdicts`` (the platform's only): each row's
    missedStatus (verdicts.py), 0 for none."""
    names, group_names = directory.names, directory.group_names
    host = pbx_host(directory)
    iso = _iso(batch.start)
    logins = batch.login.tolist()
    ratings = batch.rating.tolist()
    inbound = batch.inbound.tolist()
    records = [
        record_url(host, t, uid, style.platform) if r else ""
        for t, uid, r in zip(iso, uids, _has_record(batch).tolist(), strict=True)
    ]
    spelled = [_ALIASED_STATUS if alias else _EXTERNAL_STATUS for alias in marks.status_alias]
    statuses = [
        table[case][s]
        for table, case, s in zip(spelled, marks.status_case, batch.status.tolist(), strict=True)
    ]
    as_text = marks.numbers_as_text
    rating_values = [
        (str(r) if t else r) if r else None for r, t in zip(ratings, as_text, strict=True)
    ]
    direction_key = "type" if style.platform else "direction"
    rows = [
        {
            "uid": uid,
            direction_key: "in" if is_in else "out",
            "status": status,
            "client": client,
            "account": login,
            "diversion": via,
            "destination": DESTINATIONS[dest],
            "user": login,
            "user_name": names.get(login, ""),
            "group_name": group_names.get(group, ""),
            "start": start,
            "wait": wait,
            "duration": duration,
            "record": record,
            "rating": rating,
        }
        for uid, is_in, status, client, login, via, dest, group, start, wait, duration, record,
        rating in zip(
            uids, inbound, statuses, batch.client.tolist(), logins,
            batch.diversion.tolist(), batch.destination.tolist(), batch.group.tolist(),
            marks.starts(iso), _numbers(batch.wait.tolist(), as_text),
            _numbers(batch.duration.tolist(), as_text), records, rating_values, strict=True,
        )
    ]  # fmt: skip
    if style.realistic or style.platform:
        for row, login, empty, account_only in zip(
            rows, logins, marks.empty_style, marks.account_only, strict=True
        ):
            # The platform leaves out what it has nothing for, and knows no `account`.
            empty = 2 if style.platform else empty
            if login and account_only:
                row["user"] = ""
            elif empty == 2:
                del row["account"]  # most real documents do not carry `account`
            for key in _OPTIONAL:
                if not row[key]:
                    _empty(row, key, empty)
            if not login and "account" in row:
                _empty(row, "account", empty)
    if style.platform:
        # a voicemail message keeps its length: the generator gives those misses a duration
        talked = ((batch.status == SUCCESS) | (batch.duration > 0)).tolist()
        _platform_extras(rows, logins, talked, marks, directory.domain, verdicts)
    broken, odd = marks.oddities(_not_answered(batch))
    for i in (i for i, bad in enumerate(broken) if bad):
        _break_json(rows[i], MALFORMED_KINDS[marks.malformed_kind[i]])
    for i in (i for i, unknown in enumerate(odd) if unknown):
        rows[i]["status"] = UNKNOWN_STATUS
    return rows


def _platform_extras(
    rows: list[dict[str, Any]],
    logins: list[str],
    talked: list[bool],
    marks: Marks,
    domain: str,
    verdicts: list[int] | None,
) -> None:
    """What the platform adds and leaves out: logins with their domain, `duration` only on
    answered calls (and voicemail messages), and the PBX's missedStatus (its key in either
    spelling, sometimes as text)."""
    for i, (row, login, lasted) in enumerate(zip(rows, logins, talked, strict=True)):
        if login and marks.user_at_domain[i]:
            key = "user" if row.get("user") else "account"
            row[key] = f"{login}@{domain}"
        if not lasted:
            del row["duration"]
        verdict = verdicts[i] if verdicts is not None else 0
        if verdict:
            key = "missedstatus" if marks.missed_status_lower[i] else "missedStatus"
            row[key] = str(verdict) if marks.numbers_as_text[i] else verdict


def _break_json(row: dict[str, Any], kind: str) -> None:
    if kind == "bad_date":
        row["start"] = "2024-13-45T25:61:00Z"
    elif kind == "negative_duration":
        row["duration"] = -abs(int(row.get("duration", 0))) - 1
    elif kind == "negative_wait":
        row["wait"] = -abs(int(row["wait"])) - 1
    else:  # no_uid (unknown_status is not a break: see Marks.oddities)
        del row["uid"]


def external_csv(
    batch: Batch, directory: Directory, uids: list[str], marks: Marks, style: Style
) -> list[bytes]:
    host = pbx_host(directory)
    types = ("in", "missed", "out")
    type_code = external_type_codes(batch).tolist()
    recorded = _has_record(batch).tolist()
    iso = _iso(batch.start)
    served_start = marks.starts(iso)
    shape = style.csv_shape
    with_account = shape in (9, 10)
    with_rating = shape in ("9r", 10)
    eol = "\r\n" if style.realistic else "\n"
    broken, _ = marks.oddities(_not_answered(batch))  # CSV `type` is right for odd statuses
    accounts = batch.login.tolist()
    if style.platform:
        accounts = _csv_accounts(batch, directory, marks)
    lines = []
    for i, (uid, code, client, via, account, wait, dur, rating) in enumerate(
        zip(
            uids,
            type_code,
            batch.client.tolist(),
            batch.diversion.tolist(),
            accounts,
            batch.wait.tolist(),
            batch.duration.tolist(),
            batch.rating.tolist(),
            strict=True,
        )
    ):
        fields = [
            uid,
            types[code],
            client,
            via,
            served_start[i],
            str(wait),
            str(dur),
            record_url(host, iso[i], uid, style.platform) if recorded[i] else "",
        ]
        if broken[i]:
            _break_csv(fields, MALFORMED_KINDS[marks.malformed_kind[i]])
        if with_account:
            fields.insert(3, _csv_field(account))
        if with_rating:
            fields.append(str(rating) if rating else "")
        lines.append((",".join(fields) + eol).encode())
    return lines


def _csv_accounts(batch: Batch, directory: Directory, marks: Marks) -> list[str]:
    """The platform's CSV `account`: the employee (sometimes login@domain), else where the
    call went — "ivr", "voicemail" or the department's name."""
    accounts = []
    for login, dest, group, at_domain in zip(
        batch.login.tolist(),
        batch.destination.tolist(),
        batch.group.tolist(),
        marks.user_at_domain,
        strict=True,
    ):
        destination = DESTINATIONS[dest]
        if login:
            accounts.append(f"{login}@{directory.domain}" if at_domain else login)
        elif destination in _CSV_TARGET:
            accounts.append(_CSV_TARGET[destination])
        elif destination == "group" and group:
            accounts.append(directory.group_names.get(group, ""))
        else:
            accounts.append("")
    return accounts


def _csv_field(value: str) -> str:
    """RFC 4180 quoting for a value that needs it (department names may hold commas)."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _break_csv(fields: list[str], kind: str) -> None:
    """Corrupt a CSV record in place. External (``uid,type,client,via,start,wait,duration,
    record``, before `account` is inserted) and internal (``uid,status,from,to,start,wait,
    duration,record``) records keep these fields at the same indexes."""
    if kind == "bad_date":
        fields[4] = "2024-13-45T25:61:00Z"
    elif kind == "negative_duration":
        fields[6] = str(-abs(int(fields[6])) - 1)
    elif kind == "negative_wait":
        fields[5] = str(-abs(int(fields[5])) - 1)
    else:  # no_uid
        fields[0] = ""


def external_truth(
    batch: Batch,
    directory: Directory,
    scrambler: UidScrambler,
    marks: Marks,
    style: Style,
    verdicts: list[int],
) -> list[dict[str, Any]]:
    """Canonical rows (docs/architecture.md) plus what the generator intended for misses,
    and the PBX's verdict on each call (``missed_status``, verdicts.py) — which the JSON of
    the platform carries (``pbx_missed_status``: null in the spec's letter)."""
    names, group_names = directory.names, directory.group_names
    host = pbx_host(directory)
    recorded = _has_record(batch).tolist()
    uids = scrambler.uids(batch.ordinal)
    iso = _iso(batch.start)
    broken, odd = marks.oddities(_not_answered(batch))
    rows = []
    for i in range(len(batch)):
        login = str(batch.login[i])
        group = str(batch.group[i])
        started = int(batch.start[i])
        rating = int(batch.rating[i])
        kind = int(batch.kind[i])
        origin = int(batch.origin[i])
        rows.append(
            {
                "uid": uids[i],
                "direction": "in" if batch.inbound[i] else "out",
                "status": UNKNOWN_STATUS if odd[i] else STATUSES[int(batch.status[i])],
                "client": str(batch.client[i]),
                "diversion": str(batch.diversion[i]) or None,
                "destination": DESTINATIONS[int(batch.destination[i])] or None,
                "user_login": login or None,
                "user_name": names.get(login) if login else None,
                "group_name": group_names.get(group) if group else None,
                "started_at": datetime.fromtimestamp(started, UTC),
                "wait_s": int(batch.wait[i]),
                "duration_s": int(batch.duration[i]),
                "record_url": (
                    record_url(host, iso[i], uids[i], style.platform) if recorded[i] else None
                ),
                "rating": rating or None,
                "pbx_missed_status": (verdicts[i] or None) if style.platform else None,
                "missed_status": verdicts[i] or None,
                "malformed": broken[i],
                "malformed_kind": _kind_of(marks, i) if broken[i] or odd[i] else None,
                "kind": KINDS[kind],
                "followup_of": scrambler.uid(origin) if origin >= 0 else None,
                "callback_at": _instant(int(batch.callback_at[i])),
                "callback_attempts": int(batch.callback_attempts[i]),
                "callback_success_at": _instant(int(batch.callback_success_at[i])),
                "client_again_at": _instant(int(batch.client_again_at[i])),
            }
        )
    return rows


def _kind_of(marks: Marks, i: int) -> str:
    return MALFORMED_KINDS[marks.malformed_kind[i]]


def _instant(epoch: int) -> datetime | None:
    return None if epoch == NO_TIME else datetime.fromtimestamp(epoch, UTC)


# --- internal --------------------------------------------------------------------------------

_NOANSWER = INTERNAL_STATUSES.index("noanswer")


def _internal_not_answered(batch: InternalBatch) -> list[bool]:
    return (batch.status == _NOANSWER).tolist()  # type: ignore[no-any-return]


def _internal_login(login: str, domain: str, style: Style) -> str:
    """The platform writes internal parties as login@domain (the spec's CSV example too)."""
    return f"{login}@{domain}" if style.platform and login else login


def internal_json(
    batch: InternalBatch, directory: Directory, uids: list[str], marks: Marks, style: Style
) -> list[dict[str, Any]]:
    names = directory.names
    host = pbx_host(directory)
    iso = _iso(batch.start)
    served_start = marks.starts(iso)
    broken, odd = marks.oddities(_internal_not_answered(batch))
    rows = []
    for i, (uid, status, caller, callee, wait, dur, recorded) in enumerate(
        zip(
            uids,
            batch.status.tolist(),
            batch.caller.tolist(),
            batch.callee.tolist(),
            batch.wait.tolist(),
            batch.duration.tolist(),
            batch.recorded.tolist(),
            strict=True,
        )
    ):
        as_text = marks.numbers_as_text[i]
        row: dict[str, Any] = {
            "uid": uid,
            "status": UNKNOWN_STATUS if odd[i] else _INTERNAL_STATUS[marks.status_case[i]][status],
            "from": _internal_login(caller, directory.domain, style),
            "to": _internal_login(callee, directory.domain, style),
            "from_name": names.get(caller, ""),
            "to_name": names.get(callee, ""),
            "start": served_start[i],
            "wait": str(wait) if as_text else wait,
            "duration": str(dur) if as_text else dur,
            "record": record_url(host, iso[i], uid, style.platform) if recorded else "",
        }
        if style.realistic or style.platform:
            empty = 2 if style.platform else marks.empty_style[i]
            for key in ("from_name", "to_name", "record"):
                if not row[key]:
                    _empty(row, key, empty)
        if broken[i]:
            _break_json(row, MALFORMED_KINDS[marks.malformed_kind[i]])
        rows.append(row)
    return rows


def internal_csv(
    batch: InternalBatch, directory: Directory, uids: list[str], marks: Marks, style: Style
) -> list[bytes]:
    host = pbx_host(directory)
    iso = _iso(batch.start)
    served_start = marks.starts(iso)
    eol = "\r\n" if style.realistic else "\n"
    broken, odd = marks.oddities(_internal_not_answered(batch))
    lines = []
    for i, (uid, status, caller, callee, wait, dur, recorded) in enumerate(
        zip(
            uids,
            batch.status.tolist(),
            batch.caller.tolist(),
            batch.callee.tolist(),
            batch.wait.tolist(),
            batch.duration.tolist(),
            batch.recorded.tolist(),
            strict=True,
        )
    ):
        at_domain = style.platform or marks.login_at_domain[i]
        fields = [
            uid,
            UNKNOWN_STATUS if odd[i] else _INTERNAL_STATUS[marks.status_case[i]][status],
            f"{caller}@{directory.domain}" if at_domain else caller,
            f"{callee}@{directory.domain}" if at_domain else callee,
            served_start[i],
            str(wait),
            str(dur),
            record_url(host, iso[i], uid, style.platform) if recorded else "",
        ]
        if broken[i]:
            _break_csv(fields, MALFORMED_KINDS[marks.malformed_kind[i]])
        lines.append((",".join(fields) + eol).encode())
    return lines


def internal_truth(
    batch: InternalBatch,
    directory: Directory,
    scrambler: UidScrambler,
    marks: Marks,
    style: Style,
) -> list[dict[str, Any]]:
    names = directory.names
    host = pbx_host(directory)
    uids = scrambler.uids(batch.ordinal)
    iso = _iso(batch.start)
    broken, odd = marks.oddities(_internal_not_answered(batch))
    rows = []
    for i in range(len(batch)):
        started = int(batch.start[i])
        caller, callee = str(batch.caller[i]), str(batch.callee[i])
        rows.append(
            {
                "uid": uids[i],
                "status": UNKNOWN_STATUS if odd[i] else INTERNAL_STATUSES[int(batch.status[i])],
                "from_login": caller,
                "to_login": callee,
                "from_name": names.get(caller),
                "to_name": names.get(callee),
                "started_at": datetime.fromtimestamp(started, UTC),
                "wait_s": int(batch.wait[i]),
                "duration_s": int(batch.duration[i]),
                "record_url": (
                    record_url(host, iso[i], uids[i], style.platform) if batch.recorded[i] else None
                ),
                "malformed": broken[i],
                "malformed_kind": _kind_of(marks, i) if broken[i] or odd[i] else None,
            }
        )
    return rows
