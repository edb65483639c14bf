"""What a flow run needs that must not travel as a flow parameter.

Flow parameters are stored by Prefect and shown in its UI, so settings (which hold
secrets) and callbacks never go there. The CLI installs a :class:`Runtime` for the duration
of a command; a deployment run started by `vats-etl serve` finds none and builds one from
the environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vats_etl.client import PbxClient, RetryPolicy
from vats_etl.config import Settings, load_settings
from vats_etl.pipeline import ChunkHook, Load


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    on_chunk: ChunkHook | None = None
    on_plan: Callable[[int], None] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = _utcnow
    # A backfill the CLI began loading while Prefect's server started: the flow follows it.
    load: Load | None = None

    def client(self) -> PbxClient:
        base_url, api_key = self.settings.require_api()
        return PbxClient(base_url, api_key, retry=self.retry, page_limit=self.settings.page_limit)


_current: Runtime | None = None


def current() -> Runtime:
    return _current if _current is not None else Runtime(load_settings())


@contextlib.contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    global _current
    previous, _current = _current, runtime
    try:
        yield runtime
    finally:
        _current = previous
