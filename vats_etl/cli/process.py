"""The `vats-etl` process itself: Prefect's and logging's set-up before any command runs, the
time the user waited (from the process's start), and a quick exit."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import time
from pathlib import Path


def _process_started() -> float:
    """When this process started, on time.monotonic()'s clock (Linux; elsewhere: now)."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        since_boot_s = int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot_s)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


class Clock:
    """The time the user waited, from the process's start to the first summary, then from
    one summary to the next (`demo` prints two), and how much of it went on waiting for
    Prefect's temporary server."""

    def __init__(self) -> None:
        self.since = _process_started()
        self.waited_s = 0.0

    def lap(self) -> tuple[float, float]:
        from vats_etl import prefect_api

        now, waited_s = time.monotonic(), prefect_api.waited_s()
        lap = (now - self.since, waited_s - self.waited_s)
        self.since, self.waited_s = now, waited_s
        return lap


clock = Clock()
# The last thing at exit (atexit runs last what registered first): keep the interpreter's
# final garbage collections off the ~150,000 objects Prefect, polars and DuckDB leave —
# 0.3-1 s a user waited for after the summary, for memory the process returns anyway.
# Files and connections are closed by then, and Prefect has sent its last events.
atexit.register(gc.freeze)


def set_up(*, verbose: bool, service: bool) -> None:
    """Before the command runs. A one-shot command tells what matters itself (progress,
    summary, `warning:` and `error:` lines): its library's warnings would only repeat that.
    A service (it runs until stopped, its log is watched) keeps them."""
    _quiet_prefect(verbose)
    quiet = logging.WARNING if service else logging.ERROR
    logging.basicConfig(
        level=logging.INFO if verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _quiet_prefect(verbose: bool) -> None:
    """Prefect reads its settings at import: set ours before any flow module is imported."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
