"""Runs for one account of the accounts file (VATS_ACCOUNTS): what a deployment's flow run
does first, in the worker's own process.

A deployment carries only the account's *name* as a parameter. The run reads the accounts
file and the account's key from the worker's environment, so keys never reach Prefect's
database, UI or logs. Before loading, one cheap call checks the key and the host, so a
wrong key or an unreachable PBX fails the run at once with a message naming the account,
instead of holding a worker slot through every retry. Every API request of the run waits
for the account's rate limit (a Prefect global concurrency limit with slot decay, created
by `vats-etl deploy`), shared by every worker on every host.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from vats_etl import errors, zones
from vats_etl.accounts import explain, load_accounts
from vats_etl.client import CHECK_RETRY
from vats_etl.config import load_settings, variables
from vats_etl.flows import runtime
from vats_etl.pipeline import RunSummary

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def api_limit_name(account: str) -> str:
    """The global concurrency limit (with slot decay) every API request of `account` waits for."""
    return f"vats-api-{account}"


# Slots taken from the rate limit at once: each acquisition is a round trip and a write in
# Prefect's database (~80 ms measured on a busy 2-core machine, docs/scale.md), so a run
# takes a few at a time and spends them on its next requests. The average rate is the
# limit's; a burst is never more than the limit's own slots allow.
SLOTS_PER_ACQUISITION = 5


def api_throttle(account: str) -> Callable[[], None] | None:
    """Prefect's rate limit for the account's API requests, when `deploy` created one: every
    request spends one slot of the limit, taken from Prefect a few at a time."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import rate_limit
    from prefect.exceptions import ObjectNotFound

    name = api_limit_name(account)
    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        log.warning("no concurrency limit %s: requests of %s are not rate limited", name, account)
        return None
    batch = max(1, min(SLOTS_PER_ACQUISITION, limit.limit))
    lock = threading.Lock()
    spare = 0

    def wait() -> None:
        nonlocal spare
        with lock:  # the fetch threads share the slots taken
            if spare == 0:
                rate_limit(name, occupy=batch)
                spare = batch
            spare -= 1

    return wait


def account_runtime(account: str, *, throttle: bool = True) -> runtime.Runtime:
    """The Runtime of `account`, built from VATS_ACCOUNTS and this process's environment."""
    env = variables()
    path = env.get("VATS_ACCOUNTS", "").strip()
    if not path:
        raise errors.ConfigError(
            f"account {account}: VATS_ACCOUNTS is not set in this worker's environment"
        )
    accounts = load_accounts(Path(path), env)
    settings = accounts.settings(account, load_settings(environ=env, env_file=None), env)
    settings = zones.with_remembered(settings)  # no tz in the file: the PBX's, once read
    return runtime.Runtime(
        settings, accounts=accounts, throttle=api_throttle(account) if throttle else None
    )


def _first_run_zone() -> None:
    """The first run of a new warehouse reads the PBX's zone (vats_etl.zones), as the CLI's
    does: the warehouse remembers it, and every later runtime.current() is in it."""
    rt = runtime.current()
    with runtime.Runtime(rt.settings, retry=CHECK_RETRY).client() as client:
        settled = zones.settle_first_run(rt.settings, client)
    for line in (*settled.notes, *settled.warnings):
        log.warning("%s", line)


def per_account(*, check_api: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Let a flow take ``account`` (a name of the accounts file) as a parameter.

    With ``account`` None, or when the caller (the CLI) already installed that account's
    Runtime, the flow runs as it is. Otherwise the account's Runtime is installed for the
    run; with `check_api`, the key and host are checked first; a load that failed fails the
    run (so Prefect shows it failed) with the account's name in the message."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)
        if "account" not in signature.parameters:
            raise TypeError(f"{fn.__name__} needs an `account` parameter")

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            account = signature.bind(*args, **kwargs).arguments.get("account")
            installed = runtime.installed()
            if account is None and installed is None and check_api:
                _first_run_zone()  # a deployment of the single account (serve)
            if account is None or (installed is not None and installed.settings.account == account):
                return fn(*args, **kwargs)
            rt = account_runtime(str(account), throttle=check_api)
            settings = rt.settings
            try:
                if check_api:  # gives up quickly (CHECK_RETRY): the next run retries
                    with runtime.Runtime(
                        settings, retry=CHECK_RETRY, throttle=rt.throttle
                    ).client() as client:
                        client.check()
                        settled = zones.settle_first_run(settings, client)
                    for line in (*settled.notes, *settled.warnings):
                        log.warning("account %s: %s", account, line)
                    rt = dataclasses.replace(rt, settings=settled.settings)
            except errors.VatsError as exc:
                raise errors.VatsError(explain(exc, settings)) from None
            with runtime.using(rt):
                try:
                    result = fn(*args, **kwargs)
                except errors.VatsError as exc:
                    raise errors.VatsError(explain(exc, settings)) from None
            if isinstance(result, RunSummary) and result.status == "failed":
                chunk, error = result.failures[0] if result.failures else ("run", "failed")
                raise errors.VatsError(
                    explain(
                        errors.VatsError(
                            f"{len(result.failures)} chunks failed; first: {chunk}: {error}"
                        ),
                        settings,
                    )
                )
            return result

        # Prefect reads the parameters' types from the signature; resolve them in the flow's
        # own module (its annotations are strings, which our module could not resolve).
        run.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
        return run

    return decorate
