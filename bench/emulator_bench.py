"""How fast the emulator generates, renders and serves history.

Run: ``.venv/bin/python -m bench.emulator_bench`` (options: ``--agents``, ``--days``,
``--seed``). Prints:

* one local day of a company (200 agents ≈ 6,000 external calls) rendered as JSON and CSV:
  the first day of a fresh process (company founding and directory replay included), a cold
  day on a running emulator (generation + render), and warm (cached) renders;
* rows per second to an httpx client over loopback for a 30-day fetch, one request per
  day, against ``python -m vats_etl.emulator`` in a subprocess: cold (generated on demand)
  and pre-rendered, sequential and with two client threads. The client decodes every JSON
  body with orjson, as a real client would.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import httpx
import orjson

from vats_etl.emulator import Emulator
from vats_etl.periods import Window, day_window, format_api

API_KEY = "bench"


def _ms(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def _day_renderer(emu: Emulator, fmt: str, window: Window) -> Callable[[], bytes]:
    return lambda: emu.render_history("external", fmt, window)  # type: ignore[arg-type]


def render_figures(agents: int, seed: int, samples: int) -> None:
    clock = datetime(2024, 6, 5, 12, tzinfo=UTC)
    first = date(2024, 5, 6)  # a Monday: weekdays follow
    weekdays = [d for d in (first + timedelta(days=i) for i in range(40)) if d.weekday() < 5]
    days = weekdays[: samples + 1]

    fresh = Emulator(seed=seed, agents=agents, page_cap=100_000, clock=lambda: clock)
    zone = fresh.zone
    fresh_ms = _ms(lambda: fresh.render_history("external", "json", day_window(days[0], zone)))
    sizes = [len(fresh.model.day(d)) for d in days]
    median = statistics.median(sizes)
    print(f"company: {agents} agents; external calls per sampled weekday: median {median:.0f}"
          f" (min {min(sizes)}, max {max(sizes)})")  # fmt: skip
    print(f"  first day in a fresh process (founding + replay + generate + render): "
          f"{fresh_ms:.0f} ms")  # fmt: skip
    for fmt in ("json", "csv"):
        emu = Emulator(seed=seed, agents=agents, page_cap=100_000, clock=lambda: clock)
        emu.directory(clock)  # a running server has built its directory already
        cold, warm = [], []
        for d in days[1:]:
            render = _day_renderer(emu, fmt, day_window(d, zone))
            cold.append(_ms(render))
            warm.append(_ms(render))
        print(f"  {fmt:4}: cold day median {statistics.median(cold):6.1f} ms "
              f"(best {min(cold):.1f}, worst {max(cold):.1f}); "
              f"warm median {statistics.median(warm):.2f} ms")  # fmt: skip


@contextmanager
def emulator_process(agents: int, seed: int, prerender_days: int) -> Iterator[str]:
    command = [
        sys.executable, "-m", "vats_etl.emulator", "--port", "0", "--agents", str(agents),
        "--seed", str(seed), "--api-key", API_KEY, "--page-cap", "100000",
        "--prerender-days", str(prerender_days),
    ]  # fmt: skip
    # the emulator's company in Moscow time, as the figures' days are (whatever VATS_TZ says)
    env = {**os.environ, "VATS_TZ": "Europe/Moscow"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[3]  # emulator listening on URL (Ctrl-C stops)
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch_days(base_url: str, windows: list[Window], threads: int) -> tuple[int, int, float]:
    """(rows, bytes, seconds) to GET and decode one JSON body per window."""

    def fetch(client: httpx.Client, window: Window) -> tuple[int, int]:
        reply = client.get("/history/json", params=window.params())
        reply.raise_for_status()
        return len(orjson.loads(reply.content)), len(reply.content)

    clients = [
        httpx.Client(base_url=base_url, headers={"X-API-KEY": API_KEY}, timeout=120)
        for _ in range(threads)
    ]
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(
            pool.map(lambda i: fetch(clients[i % threads], windows[i]), range(len(windows)))
        )
    seconds = time.perf_counter() - began
    for client in clients:
        client.close()
    return sum(r for r, _ in results), sum(b for _, b in results), seconds


def loopback_figures(agents: int, seed: int, days: int) -> None:
    zone = Emulator(seed=seed, agents=agents).zone
    today = datetime.now(UTC).astimezone(zone).date()
    windows = [day_window(today - timedelta(days=i), zone) for i in range(days, 0, -1)]
    print(f"loopback: {days} days ({format_api(windows[0].start)}..{format_api(windows[-1].end)})"
          ", one GET /history/json per day, bodies decoded by the client")  # fmt: skip
    for label, prerender in (("cold (generated on demand)", 0), ("pre-rendered", days)):
        for threads in (1, 2):
            with emulator_process(agents, seed, prerender) as base_url:
                rows, size, seconds = fetch_days(base_url, windows, threads)
            rate = rows / seconds
            print(f"  {label:27} {threads} client thread(s): {rows:7d} rows, "
                  f"{size / 1e6:6.1f} MB in {seconds:5.2f} s = {rate:9,.0f} rows/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--samples", type=int, default=10, help="cold days to time")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, {platform.system()} {platform.release()}")  # fmt: skip
    render_figures(args.agents, args.seed, args.samples)
    loopback_figures(args.agents, args.seed, args.days)


if __name__ == "__main__":
    main()
