"""The KPIs computed independently of the warehouse, in plain Python, from the emulator's
ground-truth rows (its calls as `calls` would hold them): each missed call's recovery and
outcome, repeat callers, working hours, and a day's KPI row. The truth tests compare the
views with these; docs/analyst-queries.sql, split into its statements, is here too."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from vats_etl.emulator import Emulator

MSK = ZoneInfo("Europe/Moscow")
W = timedelta(seconds=86_400)
T_SHORT, N_SL = 5, 20
REPEAT = timedelta(days=7)
NO_DEPARTMENT = "Без отдела"


@dataclass
class Miss:
    uid: str
    recovery: str | None
    recovered_at: datetime | None
    time_to_recovery_s: int | None
    callback_attempts: int
    lost_contact_id: str
    next_contact_at: datetime | None
    outcome: str


def order(row: dict[str, Any]) -> tuple[datetime, str]:
    return (row["started_at"], row["uid"])


def is_short(row: dict[str, Any]) -> bool:
    return row["status"] != "success" and row["wait_s"] is not None and row["wait_s"] < T_SHORT


def is_miss(row: dict[str, Any]) -> bool:
    return row["direction"] == "in" and row["status"] != "success" and not is_short(row)


def is_callback(row: dict[str, Any]) -> bool:
    return row["direction"] == "out" and row["status"] == "success" and (row["duration_s"] or 0) > 0


def is_answered_inbound(row: dict[str, Any]) -> bool:
    return row["direction"] == "in" and row["status"] == "success"


def outcome(
    recovery: str | None, contact: datetime | None, deadline: datetime, cutoff: datetime
) -> str:
    if recovery is not None:
        return "recovered"
    if contact is not None:
        return "recovered_late"
    return "pending" if deadline >= cutoff else "lost"


def truth_misses(rows: list[dict[str, Any]]) -> dict[str, Miss]:
    """The definitions: callback = outgoing call to the client, success, duration > 0, within W;
    client called again = the client's inbound call within W answered; the first of the two
    recovers; misses of one client collapse into one lost contact until they talk. The
    outcome as of the cut-off (the latest call): recovered within W (its end included),
    recovered late (the first conversation after W), pending (W not over), lost."""
    cutoff = max(r["started_at"] for r in rows)
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["client"] is not None:
            by_client[row["client"]].append(row)
    found: dict[str, Miss] = {}
    for client_rows in by_client.values():
        client_rows.sort(key=order)
        lost_contact: str | None = None
        for i, row in enumerate(client_rows):
            if is_callback(row) or is_answered_inbound(row):
                lost_contact = None
            if not is_miss(row):
                continue
            lost_contact = lost_contact or row["uid"]
            deadline = row["started_at"] + W
            later = [r for r in client_rows[i + 1 :] if r["started_at"] <= deadline]
            recovering = next((r for r in later if is_callback(r) or is_answered_inbound(r)), None)
            contact = next(
                (
                    r["started_at"]
                    for r in client_rows[i + 1 :]
                    if is_callback(r) or is_answered_inbound(r)
                ),
                None,
            )
            if recovering is None:
                recovery, at, attempts_until = None, None, len(later)
            else:
                recovery = "callback" if is_callback(recovering) else "client_called_again"
                at = recovering["started_at"]
                attempts_until = later.index(recovering) + 1
            attempts = sum(r["direction"] == "out" for r in later[:attempts_until])
            found[row["uid"]] = Miss(
                row["uid"],
                recovery,
                at,
                None if at is None else int((at - row["started_at"]).total_seconds()),
                attempts,
                lost_contact,
                contact,
                outcome(recovery, contact, deadline, cutoff),
            )
    for row in rows:  # misses of unknown numbers are their own contact, never recovered
        if is_miss(row) and row["client"] is None:
            deadline = row["started_at"] + W
            found[row["uid"]] = Miss(
                row["uid"], None, None, None, 0, row["uid"], None,
                outcome(None, None, deadline, cutoff),
            )  # fmt: skip
    return found


def repeat_callers(rows: list[dict[str, Any]]) -> set[str]:
    inbound: dict[str, list[datetime]] = defaultdict(list)
    for row in rows:
        if row["direction"] == "in" and row["client"] is not None:
            inbound[row["client"]].append(row["started_at"])
    repeat = set()
    for row in rows:
        if row["direction"] != "in" or row["client"] is None:
            continue
        others = inbound[row["client"]]
        if sum(abs(t - row["started_at"]) <= REPEAT for t in others) >= 2:
            repeat.add(row["uid"])
    return repeat


def hours(row: dict[str, Any]) -> str:
    """The default schedule (Monday to Friday, 09:00-18:00 in Moscow), the PBX's verdict
    first."""
    if row["destination"] in ("offtime", "onduty"):
        return "after_hours"
    local = row["started_at"].astimezone(MSK)
    working = local.isoweekday() <= 5 and 9 <= local.hour < 18
    return "in_hours" if working else "after_hours"


def segment(hours_of_call: str, department_of_call: str) -> str:
    """inbound_calls.segment: after hours, else in working hours without a department
    (unrouted), else the headline in_hours."""
    if hours_of_call == "after_hours":
        return "after_hours"
    return "unrouted" if department_of_call == NO_DEPARTMENT else "in_hours"


def department(emu: Emulator, row: dict[str, Any]) -> str:
    if row["group_name"]:
        return str(row["group_name"])
    directory = emu.directory(row["started_at"])
    user = directory.user(row["user_login"]) if row["user_login"] else None
    if user is not None and user.group_id:
        return directory.group_names[user.group_id]
    return NO_DEPARTMENT


def p(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q * 100)) if values else None


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def kpis(rows: list[dict[str, Any]], misses: dict[str, Miss], repeat: set[str]) -> dict[str, Any]:
    answered = [r for r in rows if r["status"] == "success"]
    short = [r for r in rows if is_short(r)]
    missed = [misses[r["uid"]] for r in rows if is_miss(r)]
    callbacks = [float(m.time_to_recovery_s or 0) for m in missed if m.recovery == "callback"]
    not_short = len(rows) - len(short)
    rated = [r["rating"] for r in rows if r["rating"] is not None]
    return {
        "offered": len(rows),
        "short_abandons": len(short),
        "answered": len(answered),
        "missed": len(missed),
        "answer_rate": len(answered) / not_short if not_short else None,
        "service_level": (
            sum(r["wait_s"] is not None and r["wait_s"] <= N_SL for r in answered) / not_short
            if not_short
            else None
        ),
        "asa_s": mean([r["wait_s"] for r in answered]),
        "asa_p90_s": p([r["wait_s"] for r in answered], 0.9),
        "talk_mean_s": mean([r["duration_s"] for r in answered]),
        "talk_median_s": p([r["duration_s"] for r in answered], 0.5),
        "recovered_callback": sum(m.recovery == "callback" for m in missed),
        "recovered_client": sum(m.recovery == "client_called_again" for m in missed),
        "not_called_back": sum(m.outcome in ("recovered_late", "lost") for m in missed),
        "recovered_late": sum(m.outcome == "recovered_late" for m in missed),
        "lost": sum(m.outcome == "lost" for m in missed),
        "pending": sum(m.outcome == "pending" for m in missed),
        "callback_median_s": p(callbacks, 0.5),
        "callback_p90_s": p(callbacks, 0.9),
        "lost_contacts": sum(m.lost_contact_id == m.uid for m in missed),
        "repeat_caller_share": sum(r["uid"] in repeat for r in rows) / len(rows),
        "rated_calls": len(rated),
        "rating_mean": mean(rated),
    }


ANALYST_QUERIES = Path(__file__).resolve().parents[2] / "docs" / "analyst-queries.sql"


def analyst_queries() -> list[str]:
    text = ANALYST_QUERIES.read_text("utf-8")
    statements = [s.strip() for s in text.split(";\n")]
    return [
        s for s in statements if s and not all(line.startswith("--") for line in s.splitlines())
    ]
