"""Copying recordings (``vats-etl recordings``) from the emulator in another process.

Run: ``.venv/bin/python -m bench.recordings_bench`` (optionally ``--days 7 --agents 50
--concurrency 1 4 8``). Loads the days (platform dialect, the emulator's real clock), then
copies every recording (``--which all``) and the reported ones, each into a fresh folder,
and prints: recordings and calls, copies per second, MB/s, what the PBX answered 404/410,
and the disk the copies take per 1,000 external calls. The emulator's recordings are a few
kilobytes of synthetic bytes (2-8 KB; a real MP3 at 16 kbit/s is ~2 KB a second of talk),
so the per-call disk figure scales with real recordings' size, the request rate does not.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.pipeline_bench import API_KEY, start_emulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()

    from vats_etl import pipeline, recordings, warehouse
    from vats_etl.client import PbxClient
    from vats_etl.config import Secret, load_settings

    proc, url, _ = start_emulator(args.days, args.agents, args.seed, "platform", prerender=False)
    folder = Path(tempfile.mkdtemp(prefix="vats-recordings-bench-"))
    try:
        settings = load_settings(
            {
                "base_url": url,
                "api_key": API_KEY,
                "db_path": folder / "vats.duckdb",
                "raw_dir": folder / "raw",
                "tz": "Europe/Moscow",
                "recordings_keep_days": "0",
            },
            environ={},
            env_file=None,
        )
        today = datetime.now(UTC).astimezone(settings.zone).date()
        first, last = today - timedelta(days=args.days), today - timedelta(days=1)
        with PbxClient(url, Secret(API_KEY)) as client:
            chunks = pipeline.plan(first, last, settings.zone, kinds=("external",))
            pipeline.run(settings, chunks, client=client)
        with warehouse.connect(settings.db_path, company=warehouse.Company("Europe/Moscow")) as con:
            (calls,) = con.execute("select count(*) from calls").fetchone() or (0,)
        print(
            f"emulator: {args.agents} agents, platform dialect; {args.days} days, {calls:,} calls"
        )
        print(
            f"{'which':<9} {'conc':>4} {'wanted':>7} {'copied':>7} {'404':>5} {'410':>5} "
            f"{'seconds':>8} {'copies/s':>9} {'MB/s':>6} {'MB/1000 calls':>14}"
        )
        for which in ("all", "reported"):
            for concurrency in args.concurrency:
                shutil.rmtree(settings.recordings_dir, ignore_errors=True)
                with warehouse.connect(
                    settings.db_path, company=warehouse.Company("Europe/Moscow")
                ) as con:
                    con.execute("delete from recordings")
                started = time.perf_counter()
                with PbxClient(url, Secret(API_KEY)) as client:
                    summary = recordings.copy(
                        settings,
                        client,
                        which=which,
                        concurrency=concurrency,  # type: ignore[arg-type]
                    )
                seconds = time.perf_counter() - started
                disk = sum(
                    p.stat().st_size for p in settings.recordings_dir.rglob("*") if p.is_file()
                )
                print(
                    f"{which:<9} {concurrency:>4} {summary.wanted:>7,} {summary.copied:>7,} "
                    f"{summary.deleted:>5} {summary.expired:>5} {seconds:>8.2f} "
                    f"{summary.copied / seconds:>9,.0f} {summary.bytes / 1e6 / seconds:>6.1f} "
                    f"{disk / 1e6 / calls * 1000:>14.2f}"
                )
    finally:
        proc.terminate()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
