"""The daily call-back digest: on a working morning, each department gets the clients to call
back today, and nothing when there are none.

Its rows are the call-back worklist's (sql/callback_worklist_of.sql) that are due
(sql/callback_due.sql): of the rows with a miss in the last ``days`` days, the lost ones and
the pending ones whose window ends by the end of the day; one row per client and
department, each miss as it was, in the worklist's priority order. A message lists at most
``cap`` rows, the first by priority (fewer when more would not fit in 100 KB; the whole list
is on the dashboards and in the worklist): a phone number is a ``tel:`` link, every time is
local (VATS_TZ), the HTML has inline styles only and one column, and a plain-text part says
the same.

Routing is the weekly email's (:func:`vats_etl.weekly_email.load_routing`): one message per
department of the routing file with due rows, and a roll-up of every department's rows to
REPORT_TO and the file's ``rollup`` addresses. Sending is the weekly email's too
(:func:`vats_etl.weekly_email.send`). On a company holiday (the table ``holidays``) nothing
is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from vats_etl import dashboards, errors, reports, weekly_email
from vats_etl.config import Settings
from vats_etl.reports.reader import localize_worklist
from vats_etl.weekly_email import Composed, Outgoing, Routing

CAP = 30  # rows in a message at most: the first by priority (the rest: the dashboards)
# Lost rows with a miss this many days back at most: Monday's digest still has Friday's;
# older ones stay in the worklist, the dashboards and the weekly email.
LOOKBACK_DAYS = 3
MAX_BYTES = 100_000  # a message, encoded: fewer rows go when more would not fit


@dataclass(frozen=True)
class Digest:
    """The due rows of one day, as of the data cut-off."""

    day: date
    since: date
    rows: pl.DataFrame  # callback_due, localized (reports.reader.localize_worklist)
    settings: reports.KpiSettings
    cutoff: datetime | None  # company zone
    generated_at: datetime  # company zone
    is_holiday: bool = False

    def of(self, department: str | None) -> pl.DataFrame:
        if department is None:
            return self.rows
        return self.rows.filter(pl.col("department") == department)


def read_digest(
    con: duckdb.DuckDBPyConnection, day: date, *, days: int = LOOKBACK_DAYS, now: datetime
) -> Digest:
    """The rows due on local `day` (lost ones with a miss since `days` days before it)."""
    settings = reports.read_kpi_settings(con)
    since = day - timedelta(days=days)
    frame: pl.DataFrame = con.sql("select * from callback_due(?, ?)", params=[day, since]).pl()
    cutoff = con.sql("select dc.cutoff_at from data_cutoff as dc").fetchall()[0][0]
    holiday = con.sql(
        "select count(*) from holidays as h where h.holiday_date = ? and h.department is null",
        params=[day],
    ).fetchall()[0][0]
    zone = settings.zone
    return Digest(
        day=day,
        since=since,
        rows=localize_worklist(frame, settings.tz),
        settings=settings,
        cutoff=None if cutoff is None else cutoff.astimezone(zone),
        generated_at=now.astimezone(zone),
        is_holiday=bool(holiday),
    )


def subject(day: date, department: str | None, rows: pl.DataFrame) -> str:
    """``Перезвонить сегодня · Отдел продаж · 07.12.2026: клиентов 5 (потеряны 3, окно
    истекает сегодня 2)``."""
    lost = rows.filter(pl.col("status") == "lost").height
    who = department or "все отделы"
    return (
        f"Перезвонить сегодня · {who} · {day:%d.%m.%Y}: клиентов {rows.height} "
        f"(потеряны {lost}, окно истекает сегодня {rows.height - lost})"
    )


def compose(
    digest: Digest,
    department: str | None,
    *,
    cap: int = CAP,
    dashboard_url: str | None = None,
) -> Composed | None:
    """The message of one department (or every department's, None) — None when it has no
    row due."""
    rows = digest.of(department)
    if rows.is_empty():
        return None
    title = subject(digest.day, department, rows)
    env = dashboards.environment()
    while True:
        context: dict[str, Any] = {
            "subject": title,
            "digest": digest,
            "department": department,
            "rows": rows.head(cap).to_dicts(),
            "total": rows.height,
            "lost": rows.filter(pl.col("status") == "lost").height,
            "dashboard_url": weekly_email.dashboard_link(dashboard_url),
        }
        composed = Composed(
            title,
            env.get_template("digest.html").render(context),
            env.get_template("digest.txt").render(context),
            [],
            rows.height,
            0,
        )
        # the bodies go base64-encoded (Cyrillic): a third more, plus the headers
        size = (len(composed.html.encode()) + len(composed.text.encode())) * 4 // 3 + 2_000
        if size < MAX_BYTES or cap <= 1:
            return composed
        cap = max(1, cap * 3 // 4)


def build_messages(
    digest: Digest,
    routing: Routing,
    *,
    sender: str,
    rollup_to: Sequence[str],
    cap: int = CAP,
    dashboard_url: str | None = None,
) -> tuple[list[Outgoing], list[str]]:
    """A message per department of the routing file with rows due, then the roll-up of
    every department's (when it has recipients); none at all on a company holiday.
    Returns the messages and warnings (departments with rows due that only the roll-up
    names)."""
    if digest.is_holiday:
        return [], [f"{digest.day:%d.%m.%Y} is a company holiday (holidays): nothing sent"]
    due = set(digest.rows["department"].to_list()) if digest.rows.height else set()
    targets, warnings = routing.targets(due, rollup_to)
    out = []
    for key, department, recipients in targets:
        composed = compose(digest, department, cap=cap, dashboard_url=dashboard_url)
        if composed is None:
            continue
        message = weekly_email.to_message(composed, sender, recipients, now=digest.generated_at)
        out.append(Outgoing(key, department, recipients, message, composed.missed, 0))
    return out, warnings


def today(settings: Settings, now: datetime | None = None) -> date:
    """The local day (VATS_TZ) of `now`."""
    return (now or datetime.now(UTC)).astimezone(settings.zone).date()


def prepare(
    settings: Settings,
    routing: Routing,
    *,
    day: date | None = None,
    days: int = LOOKBACK_DAYS,
    dry_run: bool = False,
    cap: int = CAP,
    now: datetime | None = None,
) -> tuple[list[Outgoing], list[str]]:
    """Read the day's due rows from the warehouse (read copy) and compose every message."""
    now = now or datetime.now(UTC)
    sender = weekly_email.sender_of(settings, dry_run=dry_run)
    rollup_to = weekly_email.parse_addresses("REPORT_TO", list(settings.report_to))
    if not dry_run and not rollup_to and not routing.rollup and not routing.departments:
        raise errors.ConfigError(
            "REPORT_TO is not set and the routing file names nobody: the digest has no one to go to"
        )
    with reports.open_read(settings) as con:
        digest = read_digest(con, day or today(settings, now), days=days, now=now)
    return build_messages(
        digest,
        routing,
        sender=sender,
        rollup_to=rollup_to or (("rollup@localhost",) if dry_run else ()),
        cap=cap,
        dashboard_url=settings.dashboard_url,
    )
