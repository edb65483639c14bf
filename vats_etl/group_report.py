"""Across accounts: the group overview dashboard and the group roll-up email.

For a set of accounts (a group of the accounts file, or all of them) and a period of local
days, each account's KPIs come from its own read copy through :class:`reports.Reader` — so
the definitions are exactly those of its own dashboards (the headline figures: calls in
working hours that reached a department), and each account's days are in its own zone.
Accounts are ranked worst first: most lost contacts (a client's misses before anyone
talks to them are one contact; it is lost when its window W ended before the account's data
cut-off with no conversation since: `unreached_contacts`), then the lowest service level.
The group's totals add the counts; its shares are weighted by what they are shares of (SL
and answer rate by calls offered without short abandons, ASA by calls answered).

Reading never writes: :func:`prepare_accounts` is the step before it that brings each
account's read copy up to this version (:func:`reports.prepare_read_copy`). An account that
never loaded a call (no read copy, or the catalog's empty one) or whose copy cannot be
prepared or read is listed with the reason, never dropped silently. The page is one
self-contained file without scripts; the email is inline-CSS tables, like the weekly email.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from vats_etl import dashboards, errors, reports, weekly_email
from vats_etl.config import Settings
from vats_etl.reports import KpiSettings, Period, Tile

# Counts that add up across accounts; shares and means are weighted (see `totals`).
COUNTS = (
    "offered",
    "short_abandons",
    "answered",
    "missed",
    "lost_contacts",
    "unreached_contacts",
    "not_called_back",
    "lost",
    "recovered_callback",
    "recovered_client",
)
TILES = (
    "offered",
    "answer_rate",
    "missed",
    "not_called_back",
    "unreached_contacts",
    "service_level",
)


@dataclass(frozen=True)
class AccountKpis:
    account: str
    tz: str
    kpis: dict[str, Any] | None  # None: could not be read (see problem)
    previous: dict[str, Any] | None
    cutoff: datetime | None  # the latest call loaded, in the account's zone
    problem: str | None = None
    rank: int | None = None

    @property
    def unreached_contacts(self) -> int:
        return int((self.kpis or {}).get("unreached_contacts") or 0)

    @property
    def service_level(self) -> float | None:
        value = (self.kpis or {}).get("service_level")
        return None if value is None else float(value)


@dataclass(frozen=True)
class GroupData:
    group: str  # the group's name, or "все аккаунты"
    period: Period
    accounts: tuple[AccountKpis, ...]  # ranked, then the unreadable ones
    totals: dict[str, Any]
    previous: dict[str, Any]
    generated_at: datetime

    @property
    def ranked(self) -> list[AccountKpis]:
        return [a for a in self.accounts if a.rank is not None]

    @property
    def problems(self) -> list[AccountKpis]:
        return [a for a in self.accounts if a.rank is None]

    @property
    def tiles(self) -> list[Tile]:
        return reports.tiles(TILES, KpiSettings(), self.totals, self.previous)


def read_account(settings: Settings, period: Period, now: datetime) -> AccountKpis:
    name = settings.account or "-"
    try:
        with reports.open_read(settings) as con:
            reader = reports.Reader(con, period, now=now)
            kpis, previous = reader.kpis()
            cutoff = reader.meta().cutoff
    except errors.VatsError as exc:
        return AccountKpis(name, settings.tz, None, None, None, str(exc))
    if cutoff is None:  # an empty read copy: the account never loaded a call
        return AccountKpis(name, settings.tz, None, None, None, "no calls loaded yet")
    return AccountKpis(name, settings.tz, kpis, previous, cutoff)


def prepare_account(settings: Settings) -> str | None:
    """Bring the account's read copy up to this version; why it could not be, or None."""
    try:
        reports.prepare_read_copy(settings)
    except errors.VatsError as exc:
        return str(exc)
    return None


def prepare_accounts(settings: Sequence[Settings], *, parallel: int = 4) -> dict[str, str]:
    """The step before :func:`read_group`: every account's read copy brought up to this
    version (a check, unless an older vats-etl wrote it). Returns the accounts that could
    not be prepared, with why: :func:`read_group` lists them with that reason."""
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(settings) or 1))) as pool:
        problems = list(pool.map(prepare_account, settings))
    return {s.account or "-": p for s, p in zip(settings, problems, strict=True) if p}


def rank(accounts: Sequence[AccountKpis]) -> list[AccountKpis]:
    """Worst first: most lost contacts, then the lowest service level (an account without
    calls has none and goes after those with one), then by name; unreadable ones last."""
    readable = [a for a in accounts if a.kpis is not None]
    readable.sort(
        key=lambda a: (
            -a.unreached_contacts,
            a.service_level is None,
            a.service_level if a.service_level is not None else 0.0,
            a.account,
        )
    )
    ranked = [
        AccountKpis(a.account, a.tz, a.kpis, a.previous, a.cutoff, None, n)
        for n, a in enumerate(readable, 1)
    ]
    return ranked + sorted((a for a in accounts if a.kpis is None), key=lambda a: a.account)


def _weighted(rows: Sequence[Mapping[str, Any]], key: str, weight: Callable[[Any], float]) -> Any:
    pairs = [(float(r[key]), weight(r)) for r in rows if r.get(key) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The group's KPIs from its accounts' KPIs."""
    found: dict[str, Any] = {k: sum(int(r.get(k) or 0) for r in rows) for k in COUNTS}

    def answerable(r: Mapping[str, Any]) -> float:
        return float(r.get("answerable") or 0)

    def answered(r: Mapping[str, Any]) -> float:
        return float(r.get("answered") or 0)

    found["service_level"] = _weighted(rows, "service_level", answerable)
    found["answer_rate"] = _weighted(rows, "answer_rate", answerable)
    found["asa_s"] = _weighted(rows, "asa_s", answered)
    return found


def read_group(
    settings: Sequence[Settings],
    period: Period,
    *,
    group: str,
    now: datetime | None = None,
    parallel: int = 4,
    unprepared: Mapping[str, str] | None = None,
) -> GroupData:
    """Every account's KPIs of `period` (each read-only from its read copy), ranked; the
    accounts of `unprepared` (see :func:`prepare_accounts`) are listed with its reason."""
    now = now or datetime.now(UTC)
    unprepared = unprepared or {}

    def read(s: Settings) -> AccountKpis:
        problem = unprepared.get(s.account or "-")
        if problem is not None:
            return AccountKpis(s.account or "-", s.tz, None, None, None, problem)
        return read_account(s, period, now)

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(settings) or 1))) as pool:
        found = list(pool.map(read, settings))
    ranked = rank(found)
    readable = [a for a in ranked if a.kpis is not None]
    return GroupData(
        group,
        period,
        tuple(ranked),
        totals([a.kpis for a in readable if a.kpis is not None]),
        totals([a.previous for a in readable if a.previous is not None]),
        now,
    )


# -- rendering ----------------------------------------------------------------------------------


def _context(data: GroupData) -> dict[str, Any]:
    worst = max((a.unreached_contacts for a in data.ranked), default=0)
    return {
        "data": data,
        "subject": subject(data),
        "tiles": data.tiles,
        "worst_lost": worst,
    }


def render_dashboard(data: GroupData) -> str:
    """The group overview: totals with the change to the period before, accounts ranked."""
    return dashboards.environment().get_template("group_overview.html").render(_context(data))


def subject(data: GroupData) -> str:
    t = data.totals
    return (
        f"{data.group}: {data.period.label()} — аккаунтов {len(data.accounts)}, "
        f"пропущено {dashboards.fmt_count(t['missed'])}, "
        f"потерянных обращений {dashboards.fmt_count(t['unreached_contacts'])}"
    )


def compose_email(data: GroupData, sender: str, recipients: Sequence[str]) -> weekly_email.Outgoing:
    """The roll-up across accounts as one message (HTML with inline CSS, plain text too),
    with the overview page attached."""
    env = dashboards.environment()
    context = _context(data)
    composed = weekly_email.Composed(
        context["subject"],
        env.get_template("group_email.html").render(context),
        env.get_template("group_email.txt").render(context),
        [(f"{file_stem(data.group)}.html", "html", render_dashboard(data).encode("utf-8"))],
        int(data.totals["missed"]),
        int(data.totals["not_called_back"]),
    )
    message: EmailMessage = weekly_email.to_message(
        composed, sender, recipients, now=data.generated_at
    )
    return weekly_email.Outgoing(
        "group", None, tuple(recipients), message, composed.missed, composed.not_called_back
    )


def file_stem(group: str | None) -> str:
    """``group-overview`` or ``group-overview-north``."""
    if not group:
        return "group-overview"
    slug = re.sub(r"[^\w]+", "-", group.lower()).strip("-_")
    return f"group-overview-{slug}" if slug else "group-overview"


def write_dashboard(out: Path, data: GroupData, group: str | None) -> Path:
    return dashboards.write_files(out, [(f"{file_stem(group)}.html", render_dashboard(data))])[0]
