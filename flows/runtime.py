"""What a flow run needs that must not travel as a flow parameter.

Flow parameters are stored by Prefect and shown in its UI, so settings (which hold
secrets) and callbacks never go there. The CLI installs a :class:`Runtime` for the duration
of a command (:func:`using`); a deployment run started by `vats-etl serve` finds none and
builds one from the environment, and a run of an account's deployment (`vats-etl deploy`)
builds one from the accounts file and the worker's environment (vats_etl.flows.accounts).

The installed Runtime lives in a ContextVar, as Prefect keeps its own run context: it is
scoped to the code inside :func:`using` (and to the tasks Prefect runs from it, which copy
the context), never a module-global another thread or caller could see half-set. Only the
flows and the CLI read it; the library below them is given its settings as arguments.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import httpx

from vats_etl import pipeline, zones
from vats_etl.accounts import Accounts
from vats_etl.client import PbxClient, RetryPolicy
from vats_etl.config import Settings, load_settings
from vats_etl.history import HistoryFormat, HistoryKind
from vats_etl.pipeline import Load, LoadChunkHook


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    on_chunk: LoadChunkHook | None = None
    on_plan: Callable[[int], None] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = _utcnow
    # A backfill the CLI began loading while Prefect's server started: the flow follows it.
    load: Load | None = None
    # The accounts file the settings came from (None: the single account of the env vars).
    accounts: Accounts | None = None
    # Called before every API request (retries included): the account's rate limit.
    throttle: Callable[[], None] | None = None

    def client(self) -> PbxClient:
        base_url, api_key = self.settings.require_api()
        transport = None if self.throttle is None else ThrottledTransport(self.throttle)
        return PbxClient(
            base_url,
            api_key,
            retry=self.retry,
            page_limit=self.settings.page_limit,
            transport=transport,
        )

    def begin_backfill(
        self,
        first: date,
        last: date,
        kinds: Sequence[HistoryKind],
        fmts: Sequence[HistoryFormat],
        *,
        concurrency: int = 4,
        force: bool = False,
    ) -> Load:
        """Plan a backfill and start loading it with this runtime's client and hooks."""
        load = pipeline.begin(
            self.settings,
            first,
            last,
            client=self.client(),
            kinds=kinds,
            fmts=fmts,
            concurrency=concurrency,
            force=force,
            on_chunk=self.on_chunk,
            now=self.clock,
        )
        if self.on_plan is not None:
            self.on_plan(len(load.chunks))
        return load


class ThrottledTransport(httpx.BaseTransport):
    """httpx's own transport, waiting for `throttle()` before each request it sends."""

    def __init__(self, throttle: Callable[[], None]) -> None:
        self._throttle = throttle
        self._inner = httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._throttle()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


_current: ContextVar[Runtime | None] = ContextVar("vats_etl_runtime", default=None)


def current() -> Runtime:
    """The installed Runtime, else one built from the environment (a deployment's run; with
    no VATS_TZ, in the PBX's zone when the warehouse remembers it)."""
    installed_runtime = _current.get()
    if installed_runtime is not None:
        return installed_runtime
    return Runtime(zones.with_remembered(load_settings()))


def installed() -> Runtime | None:
    """The Runtime a caller installed with :func:`using`, if any."""
    return _current.get()


@contextlib.contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    """Install `runtime` for the code inside the block (and the tasks it runs)."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)
