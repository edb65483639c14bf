"""Injected faults, decided reproducibly per request.

The fate of a request is a hash of ``(seed, method, path, sorted query, attempt)`` where
``attempt`` counts earlier requests with the same identity. So the n-th retry of a given
request always meets the same fault, however threads interleave, and a client's retry
behaviour can be tested exactly.

Spec string (CLI ``--faults``), comma-separated ``key=value``:
``latency`` ms added to every response, ``jitter`` ms of extra random latency, ``error``
share answered 500/502/503/522, ``429`` share answered 429 with ``Retry-After``, ``drop``
share closed without a response, ``stall`` share held for ``stall_s`` seconds then closed,
``retry_after`` seconds, ``fail_day=YYYY-MM-DD`` (repeatable) — every history request
whose window overlaps that local day gets 500, always — and ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from vats_etl.emulator.rng import unit_hash
from vats_etl.periods import Window, day_window

ERROR_CODES = ((500, 0.4), (502, 0.25), (503, 0.25), (522, 0.1))
_RATE_KEYS = {"error": "error", "429": "too_many", "drop": "drop", "stall": "stall"}


@dataclass(frozen=True)
class Fault:
    """What to do to one request: ``kind`` is None (serve it), error, 429, drop or stall."""

    kind: str | None
    status: int = 0
    delay_s: float = 0.0


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error: float = 0.0
    too_many: float = 0.0
    drop: float = 0.0
    stall: float = 0.0
    stall_s: float = 30.0
    retry_after_s: int = 1
    fail_days: tuple[date, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.error, self.too_many, self.drop, self.stall)
        if any(r < 0 or r > 1 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be within [0, 1] and add up to at most 1")
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.stall_s < 0:
            raise ValueError("latency, jitter and stall_s must not be negative")

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """``"latency=20,error=0.1,429=0.05,drop=0.02,stall=0.01,fail_day=2024-03-05"``."""
        values: dict[str, float] = {}
        fail_days: list[date] = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, raw = part.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep:
                raise ValueError(f"fault {part!r} is not key=value")
            try:
                if key == "fail_day":
                    fail_days.append(date.fromisoformat(raw))
                else:
                    values[key] = float(raw)
            except ValueError:
                raise ValueError(f"fault {key}: bad value {raw!r}") from None
        known = {"latency", "jitter", "stall_s", "retry_after", "seed", *_RATE_KEYS}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        return cls(
            latency_ms=values.get("latency", 0.0),
            jitter_ms=values.get("jitter", 0.0),
            stall_s=values.get("stall_s", 30.0),
            retry_after_s=int(values.get("retry_after", 1)),
            seed=int(values.get("seed", 0)),
            fail_days=tuple(fail_days),
            **{field: values.get(key, 0.0) for key, field in _RATE_KEYS.items()},
        )

    @property
    def active(self) -> bool:
        rates = self.error + self.too_many + self.drop + self.stall
        return bool(rates or self.latency_ms or self.jitter_ms or self.fail_days)

    def decide(
        self, method: str, path: str, query: Iterable[tuple[str, str]], attempt: int
    ) -> Fault:
        """The fault for the ``attempt``-th (0-based) request with this identity."""
        identity = (self.seed, method, path, tuple(sorted(query)), attempt)
        u = unit_hash("fault", *identity)
        delay = self.latency_ms / 1000
        if self.jitter_ms:
            delay += unit_hash("jitter", *identity) * self.jitter_ms / 1000
        edges = (
            ("error", self.error),
            ("429", self.too_many),
            ("drop", self.drop),
            ("stall", self.stall),
        )
        low = 0.0
        for kind, rate in edges:
            if low <= u < low + rate:
                status = _error_code(unit_hash("code", *identity)) if kind == "error" else 0
                return Fault(kind, status=429 if kind == "429" else status, delay_s=delay)
            low += rate
        return Fault(None, delay_s=delay)

    def fails_window(self, window: Window, zone: ZoneInfo) -> bool:
        """A history window overlapping a ``fail_day`` (a permanent upstream failure)."""
        for day in self.fail_days:
            bounds = day_window(day, zone)
            if window.start < bounds.end and bounds.start < window.end:
                return True
        return False


def _error_code(u: float) -> int:
    low = 0.0
    for code, share in ERROR_CODES:
        low += share
        if u < low:
            return code
    return ERROR_CODES[-1][0]
