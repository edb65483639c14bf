"""Schedules: the daily load (06:00), the weekly email (Monday 08:00) and the call-back
digest (working days at 09:00), all in the company time zone, served against a Prefect server
(`vats-etl serve`, docs/operations.md).

Flow runs execute in subprocesses of the serving process and build their settings from its
environment (and `.env`), so `vats-etl serve` exports its options there first. Served for
one account of an accounts file, the deployments are named after it and carry its name as
the `account` parameter (flows/accounts.py)."""

from __future__ import annotations

from typing import Any, cast

from prefect import serve as prefect_serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from vats_etl.flows.daily import daily
from vats_etl.flows.digest import callback_digest_flow
from vats_etl.flows.weekly import weekly_email_flow
from vats_etl.schedules import DAILY_CRON, DIGEST_CRON, WEEKLY_CRON

DAILY_DEPLOYMENT = "vats-daily/daily"
WEEKLY_DEPLOYMENT = "vats-weekly-email/weekly-email"
DIGEST_DEPLOYMENT = "vats-callback-digest/callback-digest"


def deployments(
    *,
    tz: str,
    daily_cron: str = DAILY_CRON,
    weekly_cron: str = WEEKLY_CRON,
    digest_cron: str = DIGEST_CRON,
    routing: str | None = None,
    account: str | None = None,
) -> list[RunnerDeployment]:
    of_account: dict[str, Any] = {"account": account} if account is not None else {}
    emails = {**({"routing": routing} if routing else {}), **of_account}  # weekly and digest
    common: dict[str, Any] = {"tags": ["vats-etl"], "entrypoint_type": EntrypointType.MODULE_PATH}
    made = [
        daily.to_deployment(
            name=account or "daily",
            schedules=[Cron(daily_cron, timezone=tz)],
            parameters=of_account,
            description="Load yesterday and today, snapshot the directory, rebuild dashboards.",
            **common,
        ),
        weekly_email_flow.to_deployment(
            name=account or "weekly-email",
            schedules=[Cron(weekly_cron, timezone=tz)],
            parameters=emails,
            description="Weekly missed-call email: one message per department plus a roll-up.",
            **common,
        ),
        callback_digest_flow.to_deployment(
            name=account or "callback-digest",
            schedules=[Cron(digest_cron, timezone=tz)],
            parameters=emails,
            description="Call-back digest: the clients to call back today, per department.",
            **common,
        ),
    ]
    # to_deployment answers a coroutine only when called from async code; we are sync
    return [cast(RunnerDeployment, d) for d in made]


def serve(
    *,
    tz: str,
    daily_cron: str = DAILY_CRON,
    weekly_cron: str = WEEKLY_CRON,
    digest_cron: str = DIGEST_CRON,
    routing: str | None = None,
    account: str | None = None,
    limit: int | None = 1,
) -> None:
    """Register the deployments and run their scheduled runs until interrupted."""
    prefect_serve(
        *deployments(
            tz=tz,
            daily_cron=daily_cron,
            weekly_cron=weekly_cron,
            digest_cron=digest_cron,
            routing=routing,
            account=account,
        ),
        limit=limit,
        print_starting_message=False,
    )
