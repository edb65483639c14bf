"""What a flow run needs that must not travel as a flow parameter.

Flow parameters are stored by Prefect and shown in its UI, so settings (which hold
secrets) and callbacks never go there. The CLI installs a :class:`Runtime` for the duration
of a command; a deployment run started by `vats-etl serve` finds none and builds one from
the environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from vats_etl import pipeline
from vats_etl.client import Fmt, Kind, PbxClient, RetryPolicy
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

    def begin_backfill(
        self,
        first: date,
        last: date,
        kinds: Sequence[Kind],
        fmts: Sequence[Fmt],
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
