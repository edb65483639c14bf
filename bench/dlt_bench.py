"""dlt side by side (needs the `bench` extra): the same history, the same emulator.

    python bench/dlt_bench.py URL KEY ARROW_DAYS DEFAULT_DAYS WORKDIR

Runs two dlt pipelines into DuckDB with merge on uid — its fastest path (an Arrow table per
page) over ARROW_DAYS, and its default resource path (dicts) over DEFAULT_DAYS (it takes
minutes per 100k rows) — and prints one JSON line with rows/s and peak RSS for each. No
validation, no raw archive: dlt's own work only. Days are fetched in 2-hour pieces, small
enough that no response is truncated (dlt's REST helpers know nothing of offset-less
windows), so both sides load the same rows.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")

import dlt
import httpx
import orjson
import psutil
import pyarrow as pa

from vats_etl import periods

ZONE = periods.ZoneInfo("Europe/Moscow")


def windows(days: int) -> list[periods.Window]:
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    return [
        piece
        for day in periods.days(first, last, ZONE)
        for piece in periods.pieces(day, timedelta(hours=2))
    ]


def pages(url: str, key: str, days: int) -> Iterator[bytes]:
    with httpx.Client(base_url=url + "/", headers={"X-API-KEY": key}, timeout=60) as http:
        for window in windows(days):
            response = http.get("history/json", params={**window.params(), "limit": 5000})
            response.raise_for_status()
            yield response.content


def as_arrow(body: bytes) -> pa.Table:
    rows: list[dict[str, Any]] = orjson.loads(body)
    columns = sorted({k for row in rows for k in row})
    return pa.table(
        {c: [None if r.get(c) is None else str(r.get(c)) for r in rows] for c in columns}
    )


def run(name: str, resource: Any, workdir: Path) -> dict[str, float]:
    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    threading.Thread(target=sample, daemon=True).start()
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{name}",
        destination=dlt.destinations.duckdb(str(workdir / f"dlt_{name}.duckdb")),
        dataset_name="history",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    started = time.perf_counter()
    info = pipeline.run(resource)
    seconds = time.perf_counter() - started
    done.set()
    rows = sum(pipeline.last_trace.last_normalize_info.row_counts.get(t, 0) for t in ("calls",))
    del info
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss_mb": peak[0] / 2**20,
    }


def main() -> None:
    url, key = sys.argv[1], sys.argv[2]
    arrow_days, default_days = int(sys.argv[3]), int(sys.argv[4])
    workdir = Path(tempfile.mkdtemp(dir=sys.argv[5]))

    @dlt.resource(name="calls", primary_key="uid", write_disposition="merge")
    def dicts() -> Iterator[list[dict[str, Any]]]:
        for body in pages(url, key, default_days):
            yield orjson.loads(body)

    @dlt.resource(name="calls", primary_key="uid", write_disposition="merge")
    def arrow() -> Iterator[pa.Table]:
        for body in pages(url, key, arrow_days):
            yield as_arrow(body)

    results = {
        "arrow": {"days": arrow_days, **run("arrow", arrow(), workdir)},
        "default": {"days": default_days, **run("default", dicts(), workdir)},
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
