"""`vats-etl deploy`: every account's deployments in a Prefect process work pool.

Per account of the accounts file:

| deployment | schedule (the account's zone) | parameters |
|---|---|---|
| `vats-daily/<name>` | daily cron (06:00) | `account` |
| `vats-weekly-email/<name>` | weekly cron (Monday 08:00) | `account` |
| `vats-callback-digest/<name>` | digest cron (working days 09:00) | `account` |
| `vats-backfill/<name>` | none: run it with `date_from`, `date_to` | `account` |

and a global concurrency limit `vats-api-<name>` with slot decay: the account's API rate
limit, shared by every worker (flows/accounts.py); an account with a ``work_queue`` goes to
that queue of the pool, so only the workers started with ``--work-queue`` of that name (the
host that keeps its data) run it. The work pool (type ``process``) gets an
optional concurrency limit: at most that many runs at once, whatever the number of
workers; each worker's own ``--limit`` caps one host. Any number of
``prefect worker start --pool <pool>`` on any number of hosts (with the package installed,
VATS_ACCOUNTS and the keys in their environment) run the deployments. Prefect is the
scheduler, the queue and the lock service: nothing here runs anything.

Re-running deploy updates everything in place; deployments in the pool of accounts no
longer in the file are deleted, with their rate limits.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType
from prefect.workers.process import ProcessWorker

from vats_etl import errors, zones
from vats_etl.accounts import Account, Accounts
from vats_etl.flows.accounts import api_limit_name
from vats_etl.flows.backfill import backfill
from vats_etl.flows.daily import daily
from vats_etl.flows.digest import callback_digest_flow
from vats_etl.flows.weekly import weekly_email_flow
from vats_etl.schedules import DAILY_CRON, DIGEST_CRON, WEEKLY_CRON

DEFAULT_POOL = "vats"
TAG = "vats-etl-account"


def account_tag(name: str) -> str:
    return f"account:{name}"


@dataclass(frozen=True)
class Deployed:
    account: str
    tz: str
    deployments: tuple[str, ...]
    rate_per_s: float


@dataclass(frozen=True)
class DeployResult:
    pool: str
    pool_limit: int | None
    deployed: tuple[Deployed, ...]
    removed: tuple[str, ...]  # deployments of accounts no longer in the file


def ensure_pool(client: SyncPrefectClient, name: str, limit: int | None) -> int | None:
    """Create the process work pool, or check its type and set its concurrency limit."""
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
                concurrency_limit=limit,
                description="vats-etl: one deployment per PBX account (vats-etl deploy)",
            )
        )
        return limit
    if pool.type != "process":
        raise errors.ConfigError(f"work pool {name!r} is of type {pool.type}, not process")
    if limit is not None and pool.concurrency_limit != limit:
        client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit))
        return limit
    return pool.concurrency_limit


def deployments_for(
    account: Account,
    *,
    pool: str,
    daily_cron: str,
    weekly_cron: str,
    digest_cron: str = DIGEST_CRON,
) -> list[RunnerDeployment]:
    common: dict[str, Any] = {
        "name": account.name,
        "work_pool_name": pool,
        "work_queue_name": account.work_queue,
        "parameters": {"account": account.name},
        "tags": [TAG, account_tag(account.name)],
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    zone = zones.zone_of(account.tz, account.db_path)  # no tz in the file: the PBX's
    made = [
        daily.to_deployment(
            schedules=[Cron(daily_cron, timezone=zone)],
            description=f"{account.name}: directory, yesterday and today, dashboards",
            **common,
        ),
        weekly_email_flow.to_deployment(
            schedules=[Cron(weekly_cron, timezone=zone)],
            description=f"{account.name}: the weekly missed-call email",
            **common,
        ),
        callback_digest_flow.to_deployment(
            schedules=[Cron(digest_cron, timezone=zone)],
            description=f"{account.name}: the clients to call back today",
            **common,
        ),
        backfill.to_deployment(
            description=f"{account.name}: history of any range (date_from, date_to)",
            **common,
        ),
    ]
    # to_deployment answers a coroutine only when called from async code; we are sync
    return [cast(RunnerDeployment, d) for d in made]


def _burst(rate_per_s: float) -> int:
    """Slots of the rate limit: the requests that may go at once before the rate applies."""
    return max(1, math.ceil(rate_per_s))


def deploy(
    accounts: Accounts,
    selected: Sequence[Account],
    *,
    pool: str = DEFAULT_POOL,
    pool_limit: int | None = None,
    daily_cron: str = DAILY_CRON,
    weekly_cron: str = WEEKLY_CRON,
    digest_cron: str = DIGEST_CRON,
) -> DeployResult:
    """Create or update the pool, the rate limits and the deployments of `selected`; when
    every account is selected, delete what is left of removed accounts."""
    for account in selected:  # fail before changing anything
        for cron in (daily_cron, weekly_cron, digest_cron):
            try:
                Cron(cron, timezone=account.tz or "UTC")
            except ValueError as exc:
                raise errors.ConfigError(f"cron {cron!r}: {str(exc).splitlines()[0]}") from None
    with get_client(sync_client=True) as client:
        limit = ensure_pool(client, pool, pool_limit)
        for account in selected:
            client.upsert_global_concurrency_limit_by_name(
                api_limit_name(account.name),
                _burst(account.api_rate_limit),
                slot_decay_per_second=account.api_rate_limit,
            )
    deployed = []
    for account in selected:
        names = []
        for deployment in deployments_for(
            account,
            pool=pool,
            daily_cron=daily_cron,
            weekly_cron=weekly_cron,
            digest_cron=digest_cron,
        ):
            deployment.apply()
            names.append(deployment.full_name)
        zone = zones.zone_of(account.tz, account.db_path)
        deployed.append(Deployed(account.name, zone, tuple(names), account.api_rate_limit))
    removed: list[str] = []
    if {a.name for a in selected} == set(accounts.names):
        removed = _remove_others(pool, set(accounts.names))
    return DeployResult(pool, limit, tuple(deployed), tuple(removed))


def _remove_others(pool: str, keep: set[str]) -> list[str]:
    removed = []
    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])),
        )
        flows = {f.id: f.name for f in client.read_flows()}
        gone: set[str] = set()
        for d in found:
            account = next((t.split(":", 1)[1] for t in d.tags if t.startswith("account:")), None)
            if account is None or account in keep:
                continue
            client.delete_deployment(d.id)
            removed.append(f"{flows.get(d.flow_id, '?')}/{d.name}")
            gone.add(account)
        for account in sorted(gone):
            with contextlib.suppress(ObjectNotFound):
                client.delete_global_concurrency_limit_by_name(api_limit_name(account))
    return sorted(removed)
