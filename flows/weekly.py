"""Weekly missed-call email and the dashboards (thin wiring of vats_etl.weekly_email and
vats_etl.dashboards). `daily` calls :func:`build_dashboards` after publishing the read copy;
`vats-etl serve` schedules :func:`weekly_email` (Monday 08:00 in VATS_TZ by default)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from vats_etl import dashboards, errors, reports, weekly_email
from vats_etl.flows import runtime
from vats_etl.flows.accounts import per_account
from vats_etl.reports import Period
from vats_etl.weekly_email import Outgoing, SendResult


@task(name="build-dashboards", cache_policy=NO_CACHE)
def build_dashboards(out: str | None = None) -> list[str]:
    """Rebuild overview, missed calls and ratings for the last seven full days."""
    rt = runtime.current()
    period = dashboards.recent_period(rt.settings, rt.clock())
    target = Path(out) if out else (rt.settings.dashboards_dir or dashboards.default_out_dir())
    reports.prepare_read_copy(rt.settings)
    return [str(p) for p in dashboards.write(rt.settings, period, target, now=rt.clock())]


@task(name="compose-weekly-email", cache_policy=NO_CACHE)
def compose_weekly(
    week: str | None, routing: str | None, dry_run: bool, cap: int, late_after_min: int
) -> tuple[list[Outgoing], list[str]]:
    rt = runtime.current()
    period = Period.week(week) if week else dashboards.default_period(rt.settings, rt.clock())
    routing_file = Path(routing) if routing else rt.settings.email_routing
    reports.prepare_read_copy(rt.settings)
    return weekly_email.prepare(
        rt.settings,
        period,
        weekly_email.load_routing(routing_file),
        dry_run=dry_run,
        cap=cap,
        late_after_s=late_after_min * 60,
        now=rt.clock(),
    )


# Not retried: a retry would send again what already went. send() itself goes on past a
# refused message and reconnects once when the connection drops.
@task(name="send-weekly-email", cache_policy=NO_CACHE)
def send_weekly(messages: list[Outgoing]) -> SendResult:
    settings = runtime.current().settings
    return weekly_email.send(messages, weekly_email.SmtpConfig.from_settings(settings))


@flow(name="vats-weekly-email")
@per_account(check_api=False)
def weekly_email_flow(
    week: str | None = None,
    routing: str | None = None,
    dry_run_dir: str | None = None,
    cap: int = weekly_email.ACTION_CAP,
    late_after_min: int = weekly_email.LATE_AFTER_S // 60,
    account: str | None = None,
) -> str:
    """One message per department in the routing file plus the roll-up to REPORT_TO, for
    `week` (ISO, e.g. 2026-W47; default: last week). Fails when any message did not go.
    `account`: a name of the accounts file (its routing file and REPORT_TO)."""
    messages, warnings = compose_weekly(week, routing, dry_run_dir is not None, cap, late_after_min)
    return deliver(
        messages, warnings, send_weekly, dry_run_dir, title="Weekly email", key="weekly-email"
    )


def deliver(
    messages: list[Outgoing],
    warnings: list[str],
    send: Callable[[list[Outgoing]], SendResult],
    dry_run_dir: str | None,
    *,
    title: str,
    key: str,
) -> str:
    """The end of an email flow: write the messages to `dry_run_dir`, or send them with the
    flow's own `send` task and leave a markdown artifact (`key`) of what went; raises
    EmailError when any message did not go."""
    if dry_run_dir is not None:
        written = weekly_email.write_dry_run(messages, Path(dry_run_dir))
        return f"dry run: {len(written)} messages written to {dry_run_dir}"
    result = send(messages)
    lines = [f"- {m.key}: {m.subject} → {', '.join(m.recipients)}" for m in messages]
    create_markdown_artifact(
        f"# {title}\n\n" + "\n".join([*lines, "", result.summary(), *warnings]) + "\n",
        key=key,
        description=result.summary()[:200],
    )
    if not result.ok:
        raise errors.EmailError(result.summary())
    return result.summary()
