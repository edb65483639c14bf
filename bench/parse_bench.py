"""Micro-benchmark of the pure middle of the pipeline: ``parse_history`` and ``validate``.

Run: ``.venv/bin/python -m bench.parse_bench`` (optionally ``--rows 5000 50000 --repeat 15``).
Prints the median and best milliseconds per call for external history in JSON and in CSV
(10-column shape), on synthetic but realistic payloads: mixed letter case, both timestamp
forms, numbers as strings, empty fields, Cyrillic names and about 0.5% bad rows, so that the
rejected-row path is part of the measurement. ``json-p`` is the same calls in the platform's
dialect (``type`` for ``direction``, ``noanswer``, ``login@domain``, the newer edition's
``missedStatus``/``missedstatus`` as numbers or text, no ``duration`` on calls not answered).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from vats_etl.parse import parse_history
from vats_etl.schemas import validate

NOW = datetime(2024, 3, 1, tzinfo=UTC)
NAMES = ("Администратор", "Иван Петров", "Ольга Смирнова", "Manager")
GROUPS = ("Отдел продаж", "Поддержка", "")
STATUSES = ("success", "Success", "SUCCESS", "missed", "cancel", "busy", "NotAvailable")
BAD_ROW_SHARE = 0.005


def synthetic_calls(rows: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = NOW - timedelta(seconds=3 * rows + 3600)
    calls: list[dict[str, object]] = []
    for i in range(rows):
        at = start + timedelta(seconds=i * 3)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ") if i % 2 else at.strftime("%Y%m%dT%H%M%SZ")
        duration = rng.choice((0, 0, 23, 61, 305))
        call: dict[str, object] = {
            "uid": str(3_900_000_000 + i),
            "direction": rng.choice(("in", "out", "IN")),
            "status": rng.choice(STATUSES),
            "client": f"7900{rng.randrange(10**7):07d}",
            "account": "",
            "diversion": "79001112233",
            "destination": rng.choice(("user", "group", "ivr", "")),
            "user": rng.choice(("admin", "ivanov", "")),
            "user_name": rng.choice(NAMES),
            "group_name": rng.choice(GROUPS),
            "start": stamp,
            "wait": rng.choice((5, "13", 0)),
            "duration": str(duration) if i % 3 else duration,
            "record": f"https://acme.megapbx.ru/rec/{i}.mp3" if duration else "",
            "rating": rng.choice((None, "", 4, "5", 1)),
        }
        if rng.random() < BAD_ROW_SHARE:
            call["start"] = "2024-13-45T99:00:00Z"
            call["duration"] = -5
        calls.append(call)
    return calls


def json_body(calls: list[dict[str, object]]) -> bytes:
    return orjson.dumps(calls)


def platform_json_body(calls: list[dict[str, object]]) -> bytes:
    """The same calls as the platform writes them (its dialect: `type`, aliases, login@domain,
    `missedStatus`)."""
    rows = []
    for i, call in enumerate(calls):
        row = {("type" if key == "direction" else key): value for key, value in call.items()}
        del row["account"]
        answered = str(row["status"]).lower() == "success"
        if str(row["status"]).lower() == "missed" and i % 2:
            row["status"] = "noanswer"
        if not answered:
            row.pop("duration")
            key = "missedstatus" if i % 10 == 0 else "missedStatus"
            row[key] = 3 if i % 3 else "1"
        elif str(row["type"]).lower() == "out" and i % 5 == 0:
            row["missedStatus"] = 2
        if row["user"] and i % 3 == 0:
            row["user"] = f"{row['user']}@acme.megapbx.ru"
        rows.append(row)
    return orjson.dumps(rows)


def csv_body(calls: list[dict[str, object]]) -> bytes:
    lines = []
    for call in calls:
        kind = "out" if str(call["direction"]).lower() == "out" else "in"
        if kind == "in" and str(call["status"]).lower() != "success":
            kind = "missed"
        fields = [
            call["uid"],
            kind,
            call["client"],
            call["user"],
            call["diversion"],
            call["start"],
            call["wait"],
            call["duration"],
            call["record"],
            "" if call["rating"] is None else call["rating"],
        ]
        lines.append(",".join(str(field) for field in fields))
    return ("\r\n".join(lines) + "\r\n").encode()


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, best) milliseconds over ``repeat`` calls after one warm-up call."""
    run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 50_000])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"{'rows':>7} {'fmt':<6} {'stage':<9} {'median ms':>10} {'best ms':>8} {'rows/s':>10}")
    for rows in args.rows:
        calls = synthetic_calls(rows)
        bodies = (
            ("json", json_body(calls)),
            ("json-p", platform_json_body(calls)),
            ("csv", csv_body(calls)),
        )
        for label, body in bodies:
            fmt = label.removesuffix("-p")
            parsed = parse_history("external", fmt, body)  # type: ignore[arg-type]
            checked = validate("external", parsed, NOW)
            stages: dict[str, Callable[[], object]] = {
                "parse": lambda fmt=fmt, body=body: parse_history("external", fmt, body),  # type: ignore[misc]
                "validate": lambda parsed=parsed: validate("external", parsed, NOW),
            }
            total = 0.0
            for stage, run in stages.items():
                median, best = timed(run, args.repeat)
                total += median
                print(f"{rows:>7} {label:<6} {stage:<9} {median:>10.2f} {best:>8.2f}")
            rate = rows / total * 1000
            print(
                f"{rows:>7} {label:<6} {'both':<9} {total:>10.2f} {'':>8} {rate:>10,.0f}"
                f"   ({checked.rejected.height} rejected, {len(body) / 1e6:.1f} MB)"
            )


if __name__ == "__main__":
    main()
