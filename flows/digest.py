"""The daily call-back digest (thin wiring of vats_etl.callback_digest): `vats-etl serve`
and `vats-etl deploy` schedule :func:`callback_digest_flow` on working days at 09:00 in the
company zone by default."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from vats_etl import callback_digest, reports, weekly_email
from vats_etl.flows import runtime
from vats_etl.flows.accounts import per_account
from vats_etl.flows.weekly import deliver
from vats_etl.weekly_email import Outgoing, SendResult


@task(name="compose-callback-digest", cache_policy=NO_CACHE)
def compose_digest(
    routing: str | None, dry_run: bool, cap: int, days: int
) -> tuple[list[Outgoing], list[str]]:
    rt = runtime.current()
    routing_file = Path(routing) if routing else rt.settings.email_routing
    reports.prepare_read_copy(rt.settings)
    return callback_digest.prepare(
        rt.settings,
        weekly_email.load_routing(routing_file),
        days=days,
        dry_run=dry_run,
        cap=cap,
        now=rt.clock(),
    )


# Not retried: a retry would send again what already went (send() reconnects once itself).
@task(name="send-callback-digest", cache_policy=NO_CACHE)
def send_digest(messages: list[Outgoing]) -> SendResult:
    settings = runtime.current().settings
    return weekly_email.send(messages, weekly_email.SmtpConfig.from_settings(settings))


@flow(name="vats-callback-digest")
@per_account(check_api=False)
def callback_digest_flow(
    routing: str | None = None,
    dry_run_dir: str | None = None,
    cap: int = callback_digest.CAP,
    days: int = callback_digest.LOOKBACK_DAYS,
    account: str | None = None,
) -> str:
    """The clients to call back today: one message per department of the routing file that
    has any, plus the roll-up to REPORT_TO. Fails when any message did not go. `account`:
    a name of the accounts file (its routing file and REPORT_TO)."""
    messages, warnings = compose_digest(routing, dry_run_dir is not None, cap, days)
    return deliver(
        messages,
        warnings,
        send_digest,
        dry_run_dir,
        title="Call-back digest",
        key="callback-digest",
    )
