"""The weekly missed-call email: one message per department plus a roll-up.

Each message: a subject with the headline figures, each with its unit (department, week,
calls missed and not called back in working hours, clients to call); an HTML body with
inline CSS and no JavaScript, one column on a 400 px phone screen with no word broken in two
(KPI tiles with the change to the week before at the same age, none of zeros for a
department without headline calls; whom to call — the lost rows of the call-back worklist,
one per client and department, in priority order, capped, each miss as it was, with
``tel:`` links and local times; every call of the week in working hours, after hours and
without a department; the employees: answered, missed (event webhooks), callbacks, talk
time, rating; slow callbacks; by department with bars; by number dialled; a weekday x hour
table of the working hours coloured by missed rate; definitions and the data cut-off in the
footer); a plain-text alternative; the whole list attached as CSV; a link to the hosted
dashboards when VATS_DASHBOARD_URL is set. No HTML attachment: a message stays under
300 KB. A week without misses still sends.

Who gets what comes from a routing file (TOML, see :func:`load_routing` and
docs/operations.md); the roll-up goes to REPORT_TO and the file's ``rollup`` addresses.

Sending (:func:`send`) uses one SMTP connection (``starttls``, ``ssl`` or ``none``, login
when SMTP_USER is set) and goes on past a message the server refuses; the result names every
message that went and every one that did not. The password is only handed to ``login`` and
never appears in a message, log line or exception.
"""

from __future__ import annotations

import logging
import math
import re
import smtplib
import ssl
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl

from vats_etl import dashboards, errors, reports
from vats_etl.config import Secret, Settings, decode_text
from vats_etl.reports import Missed, Overview, Period, Reader

log = logging.getLogger(__name__)

ACTION_CAP = 25
LATE_CAP = 10
LATE_AFTER_S = 3600
NUMBER_ROWS = 15
EMPLOYEE_ROWS = 40
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


# -- routing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """Department (as `calls_enriched.department` names it) → addresses; roll-up addresses."""

    departments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rollup: tuple[str, ...] = ()

    def targets(
        self, seen: Iterable[str], rollup_to: Sequence[str]
    ) -> tuple[list[tuple[str, str | None, tuple[str, ...]]], list[str]]:
        """Whom the messages go to: (key, department, recipients) for every department with
        recipients, in the file's order, then the roll-up (department None) to `rollup_to`
        and the file's roll-up addresses, when there are any; and a warning naming the
        departments `seen` that only the roll-up reaches."""
        warnings = []
        unrouted = sorted(set(seen) - set(self.departments))
        if unrouted and self.departments:
            warnings.append(
                "no recipients in the routing file for: "
                + ", ".join(unrouted)
                + " (in the roll-up)"
            )
        targets: list[tuple[str, str | None, tuple[str, ...]]] = [
            (name, name, addresses) for name, addresses in self.departments.items() if addresses
        ]
        everyone = tuple(dict.fromkeys([*rollup_to, *self.rollup]))
        if everyone:
            targets.append(("roll-up", None, everyone))
        return targets, warnings


def parse_addresses(where: str, value: Any) -> tuple[str, ...]:
    """An address or a list of them (a routing file's value, REPORT_TO), checked."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise errors.ConfigError(f"{where}: expected an address or a list of addresses")
    found = tuple(addr for _, addr in getaddresses([i for i in items if i.strip()]))
    bad = [a for a in found if not _ADDRESS.match(a)]
    if bad or len(found) != len([i for i in items if i.strip()]):
        raise errors.ConfigError(f"{where}: not an e-mail address: {', '.join(bad) or items!r}")
    return found


def parse_routing(text: str, where: str = "routing") -> Routing:
    """TOML::

    rollup = ["director@example.ru"]          # optional, added to REPORT_TO

    [departments]
    "Отдел продаж" = ["head.sales@example.ru", "deputy@example.ru"]
    "Служба поддержки" = "support.lead@example.ru"
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(data) - {"rollup", "departments"}
    if unknown:
        raise errors.ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    departments = data.get("departments", {})
    if not isinstance(departments, dict):
        raise errors.ConfigError(f"{where}: [departments] must be a table")
    return Routing(
        departments={
            str(name): parse_addresses(f"{where}: departments.{name}", value)
            for name, value in departments.items()
        },
        rollup=parse_addresses(f"{where}: rollup", data.get("rollup", [])),
    )


def load_routing(path: Path | None) -> Routing:
    if path is None:
        return Routing()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise errors.ConfigError(f"cannot read routing file {path}: {exc.strerror}") from None
    return parse_routing(decode_text(data, path, "routing file"), str(path))


# -- composing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    key: str  # "roll-up" or the department's name
    department: str | None
    recipients: tuple[str, ...]
    message: EmailMessage
    missed: int
    not_called_back: int

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


def subject(
    period: Period, department: str | None, missed: int, not_called_back: int, to_call: int
) -> str:
    """What a manager reads first, each figure with its unit: the headline calls missed and
    not called back within W (working hours, a department), and the clients to call (the
    list, any hours)."""
    who = department or "все отделы"
    return (
        f"Пропущенные звонки · {who} · {period.iso_week}: "
        f"пропущено звонков {missed}, не перезвонили {not_called_back}; "
        f"позвонить клиентам: {to_call}"
    )


@dataclass(frozen=True)
class HeatCell:
    text: str
    title: str
    background: str
    color: str
    scheduled: bool = False  # a working hour of the schedule shown


def _heat_color(rate: float | None) -> tuple[str, str]:
    """White (0 %) → dark red (50 % and more); grey without calls."""
    if rate is None:
        return "#eef1f4", "#9aa5b1"
    t = min(rate / 0.5, 1.0)
    low, high = (255, 245, 240), (165, 15, 21)
    rgb = tuple(round(a + (b - a) * t) for a, b in zip(low, high, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb), "#ffffff" if t > 0.55 else "#1f2933"


def heat_table(
    heat: pl.DataFrame, schedule: Sequence[tuple[float, float] | None] = ()
) -> dict[str, Any]:
    """The weekday x hour grid of the headline (working-hours) calls as table cells: the
    hours of the schedule and any other hour with such calls, first to last; `scheduled`
    marks the working hours (an hour the schedule covers at least in part)."""
    busy = {int(h) for h in heat.filter(pl.col("offered") > 0)["local_hour"].to_list()}
    for span in schedule:
        if span is not None:
            busy |= set(range(int(span[0]), math.ceil(span[1])))
    if not busy:
        return {"hours": [], "rows": [], "worst": []}
    hours = list(range(min(busy), max(busy) + 1))
    rows = []
    cells: list[tuple[int, str]] = []
    for day in range(1, 8):
        by_hour = {r["local_hour"]: r for r in heat.filter(pl.col("weekday") == day).to_dicts()}
        work = schedule[day - 1] if len(schedule) >= day else None
        name = reports.WEEKDAYS_RU[day - 1]
        row = []
        for hour in hours:
            r = by_hour[hour]
            rate = r["missed_rate"]
            background, color = _heat_color(rate)
            title = f"{name} {hour:02d}:00 — пропущено {r['missed']} из {r['answerable']}" + (
                f" ({dashboards.fmt_share(rate)})" if rate is not None else ""
            )
            scheduled = work is not None and work[0] < hour + 1 and hour < work[1]
            text = str(r["missed"]) if r["answerable"] else ""
            row.append(HeatCell(text, title, background, color, scheduled))
            if r["missed"]:
                cells.append((int(r["missed"]), title))
        rows.append({"name": name, "cells": row})
    worst = [HeatCell("", title, "", "") for _, title in sorted(cells, key=lambda c: -c[0])[:5]]
    return {"hours": hours, "rows": rows, "worst": worst}


@dataclass(frozen=True)
class Composed:
    subject: str
    html: str
    text: str
    attachments: list[tuple[str, str, bytes]]  # (file name, mime subtype, content)
    missed: int
    not_called_back: int


def dashboard_link(base_url: str | None) -> str | None:
    """The hosted missed-calls page under base_url: the one `daily` keeps current (every
    department; a department's own pages exist only where someone builds them)."""
    if not base_url or not dashboards.is_http(base_url):
        return None
    return base_url.rstrip("/") + "/" + quote(dashboards.filenames(None)["missed"])


def compose(
    overview: Overview,
    missed: Missed,
    company_departments: pl.DataFrame,
    *,
    cap: int = ACTION_CAP,
    late_cap: int = LATE_CAP,
    dashboard_url: str | None = None,
) -> Composed:
    """The message of one department (or the roll-up) from the data of its week."""
    meta = missed.meta
    department = meta.department
    kpis = overview.kpis
    n_missed, n_not_called_back = (
        int(kpis.get("missed") or 0),
        int(kpis.get("not_called_back") or 0),
    )
    title = subject(meta.period, department, n_missed, n_not_called_back, missed.action.height)
    tag = meta.period.iso_week + dashboards.suffix(department)
    csv_name = f"lost-clients-{tag}.csv"
    segments = missed.segments.to_dicts()
    context = {
        "subject": title,
        "meta": meta,
        "department": department,
        "kpis": kpis,
        "tiles": reports.tiles(reports.EMAIL_TILES, meta.settings, kpis, overview.previous),
        "has_headline": reports.has_headline_calls(kpis, overview.previous),
        "action_rows": missed.action.head(cap).to_dicts(),
        "action_total": missed.action.height,
        "action_counts": dashboards.list_counts(missed.action),
        "late_rows": missed.late.head(late_cap).to_dicts(),
        "late_total": missed.late.height,
        "late_after_s": missed.late_after_s,
        "department_rows": company_departments.with_columns(
            bar_pct=(pl.col("missed_rate").fill_null(0) * 100).clip(0, 100).round(1)
        ).to_dicts(),
        "number_rows": missed.by_number.head(NUMBER_ROWS).to_dicts(),
        "segment_rows": segments,
        "segment_total": next(r for r in segments if r["segment"] == "total"),
        "employee_rows": missed.employees.head(EMPLOYEE_ROWS).to_dicts(),
        "employee_total": missed.employees.height,
        "has_events": missed.has_events,
        "heat": heat_table(overview.heatmap, meta.schedule),
        "csv_name": csv_name,
        "dashboard_url": dashboard_link(dashboard_url),
    }
    env = dashboards.environment()
    html_body = env.get_template("email.html").render(context)
    text_body = env.get_template("email.txt").render(context)
    attachments = []
    if missed.action.height:
        attachments.append((csv_name, "csv", dashboards.action_csv(missed.action).encode("utf-8")))
    return Composed(title, html_body, text_body, attachments, n_missed, n_not_called_back)


def to_message(
    composed: Composed, sender: str, recipients: Sequence[str], *, now: datetime | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = composed.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(now.timestamp() if now else None, localtime=False)
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(composed.text, subtype="plain", charset="utf-8")
    message.add_alternative(composed.html, subtype="html", charset="utf-8")
    for name, subtype, content in composed.attachments:
        message.add_attachment(content, maintype="text", subtype=subtype, filename=name)
    # Python 3.11 folds a long non-ASCII header at a space between two encoded words, and
    # that space is then lost when read (RFC 2047 ignores whitespace between encoded words):
    # "окно истекает" arrived as "окноистекает". Headers are written unfolded up to SMTP's
    # line limit instead; the bodies above are already encoded in 76-character lines.
    message.policy = message.policy.clone(max_line_length=998)
    return message


def _domain(sender: str) -> str:
    address = getaddresses([sender])[0][1]
    return address.rpartition("@")[2] or "localhost"


def build_messages(
    reader: Reader,
    routing: Routing,
    *,
    sender: str,
    rollup_to: Sequence[str],
    cap: int = ACTION_CAP,
    late_after_s: int = LATE_AFTER_S,
    dashboard_url: str | None = None,
) -> tuple[list[Outgoing], list[str]]:
    """Every message of the reader's week: departments in routing order, the roll-up last.

    Returns the messages and warnings (departments with calls that nobody receives)."""
    company = reader.for_department(None)
    company_departments = company.breakdown("department")
    targets, warnings = routing.targets(company.meta().departments, rollup_to)
    out = []
    for key, department, recipients in targets:
        part = company if department is None else reader.for_department(department)
        composed = compose(
            part.overview(),
            part.missed(late_after_s),
            company_departments,
            cap=cap,
            dashboard_url=dashboard_url,
        )
        out.append(
            Outgoing(
                key,
                department,
                recipients,
                to_message(composed, sender, recipients, now=reader.now),
                composed.missed,
                composed.not_called_back,
            )
        )
    return out, warnings


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str = "starttls"
    user: str | None = None
    password: Secret | None = None
    timeout_s: float = 30.0
    cafile: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, cafile: Path | None = None) -> SmtpConfig:
        if not settings.smtp_host:
            raise errors.ConfigError("SMTP_HOST is not set")
        if settings.smtp_user and not settings.smtp_password:
            raise errors.ConfigError("SMTP_USER is set but SMTP_PASSWORD is not")
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port or DEFAULT_PORTS[settings.smtp_security],
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
            cafile=cafile,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


@dataclass
class SendResult:
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)  # went, some addresses refused

    @property
    def ok(self) -> bool:
        return not self.failed and not self.partial

    def summary(self) -> str:
        total = len(self.sent) + len(self.failed)
        if self.ok:
            return f"sent {len(self.sent)} of {total} messages"
        parts = [f"sent {len(self.sent)} of {total} messages"]
        if self.failed:
            parts.append("NOT sent: " + "; ".join(f"{k} ({why})" for k, why in self.failed))
        if self.partial:
            parts.append("refused recipients: " + "; ".join(f"{k} ({w})" for k, w in self.partial))
        if self.sent:
            parts.append("sent: " + ", ".join(self.sent))
        return "; ".join(parts)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {' '.join(text.split())}".strip()


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    """Open, secure and log in; errors become EmailError without the password."""
    context = ssl.create_default_context(cafile=str(config.cafile) if config.cafile else None)
    try:
        if config.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_s, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    except ssl.SSLError as exc:
        raise errors.EmailError(
            f"TLS with SMTP {config.where} failed: {exc.reason or exc}"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if isinstance(exc, TimeoutError):
            reason = f"no answer in {config.timeout_s:.0f} s"
        raise errors.EmailError(f"cannot connect to SMTP {config.where}: {reason}") from None
    try:
        smtp.ehlo()
        if config.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise errors.EmailError(
                    f"SMTP {config.where} does not offer STARTTLS (set SMTP_SECURITY)"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.user:
            password = config.password.reveal() if config.password else ""
            smtp.login(config.user, password)
    except smtplib.SMTPAuthenticationError as exc:
        _quit(smtp)
        raise errors.EmailError(
            f"SMTP login as {config.user} at {config.where} failed: {_reply(exc)}"
        ) from None
    except smtplib.SMTPNotSupportedError:
        _quit(smtp)
        raise errors.EmailError(
            f"SMTP {config.where} offers no login (AUTH); unset SMTP_USER or use another port"
        ) from None
    except ssl.SSLError as exc:
        _quit(smtp)
        raise errors.EmailError(
            f"TLS with SMTP {config.where} failed: {exc.reason or exc}"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        _quit(smtp)
        detail = _reply(exc) if isinstance(exc, smtplib.SMTPResponseException) else str(exc)
        raise errors.EmailError(f"SMTP {config.where} failed before sending: {detail}") from None
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def send(
    messages: Sequence[Outgoing],
    config: SmtpConfig,
    *,
    on_message: Callable[[Outgoing, str | None], None] | None = None,
    connect: Callable[[SmtpConfig], smtplib.SMTP] = _connect,
) -> SendResult:
    """Send every message over one connection (reconnecting once if it drops).

    Raises EmailError when nothing could be sent because the server cannot be reached or
    refuses the login; otherwise returns what went and what did not (never raises half way).
    """
    result = SendResult()
    if not messages:
        return result
    smtp: smtplib.SMTP | None = connect(config)
    try:
        for outgoing in messages:
            error = None
            for attempt in (1, 2):
                try:
                    if smtp is None:
                        smtp = connect(config)
                    refused = smtp.send_message(
                        outgoing.message, to_addrs=list(outgoing.recipients)
                    )
                    if refused:
                        detail = ", ".join(f"{a}: {c}" for a, (c, _) in refused.items())
                        result.partial.append((outgoing.key, detail))
                    error = None
                    break
                except smtplib.SMTPServerDisconnected as exc:
                    smtp = None
                    error = f"connection lost: {exc}" if str(exc) else "connection lost"
                    if attempt == 2:
                        break
                except smtplib.SMTPRecipientsRefused as exc:
                    error = "every recipient refused: " + ", ".join(
                        f"{a} ({c})" for a, (c, _) in exc.recipients.items()
                    )
                    break
                except smtplib.SMTPResponseException as exc:
                    error = f"server refused: {_reply(exc)}"
                    break
                except smtplib.SMTPException as exc:
                    error = str(exc) or type(exc).__name__
                    break
                except errors.EmailError as exc:
                    error = str(exc)
                    break
                except OSError as exc:
                    smtp = None
                    error = f"connection failed: {exc.strerror or exc}"
                    if attempt == 2:
                        break
            if error is None:
                result.sent.append(outgoing.key)
                log.info("sent %s to %s", outgoing.key, ", ".join(outgoing.recipients))
            else:
                result.failed.append((outgoing.key, error))
                log.warning("not sent %s: %s", outgoing.key, error)
            if on_message is not None:
                on_message(outgoing, error)
    finally:
        if smtp is not None:
            _quit(smtp)
    return result


# -- the whole job ------------------------------------------------------------------------------


def write_dry_run(messages: Iterable[Outgoing], out: Path) -> list[Path]:
    """Each message as ``NN-<key>.eml`` (opens in any mail client) plus its HTML body."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for n, outgoing in enumerate(messages, 1):
        stem = f"{n:02d}-{dashboards.suffix(outgoing.department).lstrip('-') or 'roll-up'}"
        eml = out / f"{stem}.eml"
        eml.write_bytes(outgoing.message.as_bytes())
        body = outgoing.message.get_body(("html",))
        if body is not None:
            (out / f"{stem}.html").write_text(str(body.get_content()), "utf-8")
        written.append(eml)
    return written


def sender_of(settings: Settings, *, dry_run: bool) -> str:
    if settings.report_from:
        address = getaddresses([settings.report_from])[0][1]
        if not _ADDRESS.match(address):
            raise errors.ConfigError(f"REPORT_FROM {settings.report_from!r} is not an address")
        return settings.report_from
    if dry_run:
        return str(Address("vats-etl", addr_spec="vats-etl@localhost"))
    raise errors.ConfigError("REPORT_FROM is not set (the sender address of the weekly email)")


def prepare(
    settings: Settings,
    week: Period,
    routing: Routing,
    *,
    dry_run: bool = False,
    cap: int = ACTION_CAP,
    late_after_s: int = LATE_AFTER_S,
    now: datetime | None = None,
) -> tuple[list[Outgoing], list[str]]:
    """Read the week from the warehouse (read copy) and compose every message."""
    sender = sender_of(settings, dry_run=dry_run)
    rollup_to = parse_addresses("REPORT_TO", list(settings.report_to))
    if not dry_run and not rollup_to and not routing.rollup:
        raise errors.ConfigError(
            "REPORT_TO is not set (who receives the roll-up); or give rollup in the routing file"
        )
    with reports.open_read(settings) as con:
        reader = Reader(con, week, now=now)
        return build_messages(
            reader,
            routing,
            sender=sender,
            rollup_to=rollup_to or (("rollup@localhost",) if dry_run else ()),
            cap=cap,
            late_after_s=late_after_s,
            dashboard_url=settings.dashboard_url,
        )
