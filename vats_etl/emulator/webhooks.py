"""The PBX's side of spec section 2: POSTs to a CRM URL as calls happen.

For each external call: ``contact`` (inbound, at the start), ``event`` (INCOMING or
OUTGOING at the start; ACCEPTED when answered; COMPLETED or CANCELLED at the end),
``history`` after the end and ``rating`` (rated calls, after the history — or before it,
for some calls, when ``reorder`` is on). Bodies are JSON or form-encoded and carry
``crm_token``. With ``duplicate_rate`` a command is sent twice. Which commands are
duplicated or reordered is a hash of ``(seed, callid, command)``: reproducible.

Two dialects, the same calls (the ground truth does not depend on the dialect):

* ``spec``: the letter of spec section 2 — statuses ``Success``/``Missed``/..., plain
  logins, every field present (``""`` when empty), events with ``direction``, no ``wait``;
* ``platform`` (default): what the platform sends as public integrations read it — users
  as ``login@pbx-domain``, statuses lower-case with ``noanswer`` for a missed call, the
  history's ``wait``, numbers as strings, empty optional fields left out, events without
  ``direction``, and now and then a command no CRM asked for (``cmd=webhook`` with
  ``type=sipregs_error``, a SIP registration failure) that must be answered 200.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from vats_etl.emulator.core import Emulator
from vats_etl.emulator.render import DIALECTS, pbx_host
from vats_etl.emulator.rng import unit_hash
from vats_etl.emulator.verdicts import CALLBACK, OPEN
from vats_etl.periods import Window, format_api

FORMATS = ("json", "form")
SPEC_STATUS = {
    "success": "Success", "missed": "Missed", "cancel": "Cancel", "busy": "Busy",
    "notavailable": "NotAvailable", "notallowed": "NotAllowed", "notfound": "NotFound",
}  # fmt: skip
PLATFORM_STATUS = {**{status: status for status in SPEC_STATUS}, "missed": "noanswer"}
NOTICE_RATE = 0.02  # platform: share of calls with a sipregs_error notice at their start
# A call's last command is due at most this long after it starts (1 h talk + wait + rating).
_LONGEST_CALL = timedelta(hours=2)
_RATING_DELAY_S = 30


@dataclass(frozen=True, order=True)
class Command:
    """One POST: due at ``due`` (UTC epoch seconds); ``seq`` keeps a call's order."""

    due: float
    seq: int
    payload: dict[str, Any] = field(compare=False)


@dataclass
class PushResult:
    sent: int = 0
    duplicates: int = 0
    failed: int = 0
    by_cmd: Counter[str] = field(default_factory=Counter)

    def add(self, other: PushResult) -> None:
        self.sent += other.sent
        self.duplicates += other.duplicates
        self.failed += other.failed
        self.by_cmd.update(other.by_cmd)


class WebhookPusher:
    def __init__(
        self,
        emu: Emulator,
        crm_url: str,
        crm_token: str,
        fmt: str = "json",
        duplicate_rate: float = 0.0,
        reorder: bool = False,
        seed: int = 0,
        client: httpx.Client | None = None,
        timeout_s: float = 5.0,
        dialect: str = "platform",
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, got {dialect!r}")
        self.dialect = dialect
        self.emu = emu
        self.crm_url = crm_url
        self._token = crm_token
        self.fmt = fmt
        self.duplicate_rate = duplicate_rate
        self.reorder = reorder
        self.seed = seed
        self._client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookPusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # what to send --------------------------------------------------------------------------

    def commands(self, window: Window) -> list[Command]:
        """Every command for the external calls that started in ``window``, in sending order."""
        found: list[Command] = []
        for row in self.emu.external_calls(window):
            found.extend(self._call_commands(row, len(found)))
        return sorted(found)

    def _call_commands(self, row: dict[str, Any], seq: int) -> list[Command]:
        started: datetime = row["started_at"]
        start = started.timestamp()
        answered = row["status"] == "success"
        end = start + row["wait_s"] + (row["duration_s"] if answered else 0)
        inbound = row["direction"] == "in"
        platform = self.dialect == "platform"
        login = row["user_login"] or ""
        directory = self.emu.directory(started)
        user = directory.user(login) if login else None
        shown_login = f"{login}@{pbx_host(directory)}" if platform and login else login
        who = {
            "user": shown_login,
            "ext": user.ext if user else "",
            "telnum": user.telnum if user else "",
            "groupRealName": row["group_name"] or "",
        }
        call = {"phone": row["client"], "callid": row["uid"]}
        event = {"cmd": "event", **call, "diversion": row["diversion"] or "", **who}
        if not platform:
            event["direction"] = row["direction"]
        steps: list[tuple[float, dict[str, Any]]] = []
        if platform and unit_hash(self.seed, "notice", row["uid"]) < NOTICE_RATE:
            notice = {"cmd": "webhook", "type": "sipregs_error", "user": shown_login}
            steps.append((start, notice))
        if inbound:
            steps.append((start, {"cmd": "contact", **call, "diversion": row["diversion"] or ""}))
        steps.append((start, {**event, "type": "INCOMING" if inbound else "OUTGOING"}))
        if answered:
            steps.append((start + row["wait_s"], {**event, "type": "ACCEPTED"}))
        steps.append((end, {**event, "type": "COMPLETED" if answered else "CANCELLED"}))
        history = {
            "cmd": "history",
            "type": row["direction"],
            **who,
            **call,
            "diversion": row["diversion"] or "",
            "start": format_api(started),
            "duration": row["duration_s"],
            "link": row["record_url"] or "",
            "status": SPEC_STATUS[row["status"]],
        }
        if platform:
            history["status"] = PLATFORM_STATUS[row["status"]]
            history["duration"] = str(row["duration_s"])
            history["wait"] = str(row["wait_s"])
            if row["missed_status"]:  # when the call ends, a miss of it is still open
                verdict = CALLBACK if row["missed_status"] == CALLBACK else OPEN
                history["missedStatus"] = str(verdict)
        if row["rating"]:
            history["rating"] = row["rating"]
        steps.append((end + 1, history))
        if row["rating"]:
            rating = {"cmd": "rating", **call, "rating": row["rating"], "user": shown_login}
            rating["ext"] = who["ext"]
            early = self.reorder and unit_hash(self.seed, "reorder", row["uid"]) < 0.5
            steps.append((end if early else end + _RATING_DELAY_S, rating))
        if platform:  # optional fields the platform leaves out when empty
            steps = [(due, {k: v for k, v in body.items() if v != ""}) for due, body in steps]
        return [
            Command(due, seq + i, {**payload, "crm_token": self._token})
            for i, (due, payload) in enumerate(steps)
        ]

    # sending -------------------------------------------------------------------------------

    def _post(self, command: Command, result: PushResult) -> None:
        payload = command.payload
        copies = 1
        if (
            self.duplicate_rate
            and unit_hash(
                self.seed,
                "duplicate",
                payload.get("callid", payload.get("user")),
                payload["cmd"],
                payload.get("type"),
            )
            < self.duplicate_rate
        ):
            copies = 2
        for copy in range(copies):
            try:
                if self.fmt == "json":
                    response = self._client.post(self.crm_url, json=payload)
                else:
                    form = {k: str(v) for k, v in payload.items()}
                    response = self._client.post(self.crm_url, data=form)
                ok = response.status_code < 400
            except httpx.HTTPError:
                ok = False
            if not ok:
                result.failed += 1
                continue
            result.sent += 1
            result.by_cmd[payload["cmd"]] += 1
            result.duplicates += copy

    def push_window(self, window: Window) -> PushResult:
        """POST every command of the calls that started in ``window`` (as fast as possible)."""
        result = PushResult()
        for command in self.commands(window):
            self._post(command, result)
        return result

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> PushResult:
        """Push commands as they fall due by the emulator clock, until ``stop`` is set."""
        total = PushResult()
        cursor = self.emu.now()
        while not stop.wait(poll_s):
            now = self.emu.now()
            if now <= cursor:
                continue
            due_from, due_to = cursor.timestamp(), now.timestamp()
            for command in self.commands(Window(cursor - _LONGEST_CALL, now)):
                if due_from <= command.due < due_to:
                    self._post(command, total)
            cursor = now
        return total
