"""Load test of the webhook receiver over loopback, from a process of its own.

    .venv/bin/python -m bench.webhook_bench                     # the standard three runs (below)
    .venv/bin/python -m bench.webhook_bench --rate 1000         # one run, paced: 1,000 requests/s
    .venv/bin/python -m bench.webhook_bench --rate 0            # one run, unpaced
    .venv/bin/python -m bench.webhook_bench --new-connections   # one TCP connection per request
    .venv/bin/python -m bench.webhook_bench --kill-9-after 10   # kill -9 the receiver at 10 s
    .venv/bin/python -m bench.webhook_bench --json              # figures as one JSON object

Without arguments (``make bench``) it does three runs of 20,000 requests: paced 1,000/s with
keep-alive, unpaced with keep-alive, and paced 1,000/s with a ``kill -9`` of the receiver
half-way through (then a restart that replays the spool), each checked for loss.

By default it starts ``vats-etl webhook`` on a free port with a fresh warehouse and spool in a
temporary folder, sends a realistic mix (per call: contact, ring/answer/end events, history,
sometimes a rating; ~5 % re-delivered, JSON and form bodies mixed), stops the receiver with
SIGTERM (it applies what it holds), and checks in the DuckDB file that every acknowledged
history, rating and event is there exactly once. Latency is measured from the moment a request
was due (paced mode: its slot in the schedule, so a stall is not hidden), to the last byte of
the answer. Exit status 0 only when nothing was lost and every request got a 200 (with
``--kill-9-after``: every request answered before the kill got a 200, and every one of them is
stored after the restart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import duckdb

TOKEN = "bench-token-0123456789"
EPOCH = 1_760_000_000  # a fixed start time for synthetic calls


@dataclass(frozen=True)
class Item:
    kind: str  # history | rating | event | contact
    key: tuple[str, ...]
    payload: bytes


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    acked: list[Item] = field(default_factory=list)
    errors: int = 0


def workload(n: int, seed: int, fmt: str, duplicate_rate: float) -> list[Item]:
    """About ``n`` requests: whole calls, in order, with some re-deliveries."""
    rng = random.Random(seed)
    users = [f"user{u:02d}" for u in range(40)]
    items: list[Item] = []
    call = 0
    while len(items) < n:
        call += 1
        uid = f"bench-{seed}-{call:07d}"
        inbound = rng.random() < 0.7
        client = f"79{rng.randrange(10**9):09d}"
        user = rng.choice(users)
        start = EPOCH + call * 7
        answered = rng.random() < 0.8
        fields: list[tuple[str, dict[str, object]]] = []
        if inbound:
            fields.append(("contact", {"cmd": "contact", "phone": client, "callid": uid}))
        first = "INCOMING" if inbound else "OUTGOING"
        end = "COMPLETED" if answered else "CANCELLED"
        for event_type in [first, "ACCEPTED", end] if answered else [first, end]:
            fields.append(
                (
                    "event",
                    {
                        "cmd": "event",
                        "type": event_type,
                        "phone": client,
                        "user": user,
                        "callid": uid,
                        "diversion": "74950000000" if inbound else "",
                        "direction": "in" if inbound else "out",
                    },
                )
            )
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start))
        fields.append(
            (
                "history",
                {
                    "cmd": "history",
                    "type": "in" if inbound else "out",
                    "status": rng.choice(["Success", "SUCCESS", "success"])
                    if answered
                    else "Missed",
                    "phone": client,
                    "user": user,
                    "start": stamp,
                    "duration": str(rng.randrange(1, 600)) if answered else 0,
                    "link": f"https://rec.example/{uid}.mp3" if answered else "",
                    "callid": uid,
                },
            )
        )
        if answered and rng.random() < 0.3:
            fields.append(
                (
                    "rating",
                    {
                        "cmd": "rating",
                        "rating": rng.randrange(1, 6),
                        "phone": client,
                        "user": user,
                        "callid": uid,
                    },
                )
            )
        for kind, body in fields:
            body["crm_token"] = TOKEN
            body_format = fmt if fmt != "mix" else rng.choice(["json", "form"])
            item = Item(kind, _key(kind, body), _request(body, body_format))
            items.append(item)
            if rng.random() < duplicate_rate:
                items.append(item)
    return items[:n]


def _key(kind: str, body: dict[str, object]) -> tuple[str, ...]:
    if kind == "event":
        return (str(body["callid"]), str(body["type"]), str(body["user"]))
    return (str(body.get("callid", "")),)


def _request(body: dict[str, object], fmt: str) -> bytes:
    if fmt == "json":
        data, content_type = json.dumps(body).encode(), "application/json"
    else:
        data = urlencode({k: str(v) for k, v in body.items()}).encode()
        content_type = "application/x-www-form-urlencoded"
    head = (
        f"POST {{path}} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\n"
    )
    return head.encode() + b"{close}\r\n" + data


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and "close" in value.lower():
            close = True
    await reader.readexactly(length)
    return status, close


async def load(
    url: str,
    items: list[Item],
    *,
    concurrency: int,
    rate: float,
    new_connections: bool,
    max_seconds: float,
    kill_after: tuple[int, float] | None = None,
) -> tuple[Result, float]:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    close = b"Connection: close\r\n" if new_connections else b""
    wire = [i.payload.replace(b"{path}", path.encode()).replace(b"{close}", close) for i in items]
    result = Result()
    next_index = 0
    started = time.perf_counter()
    deadline = started + max_seconds
    killed_at = float("inf")
    if kill_after is not None:
        pid, after = kill_after
        killed_at = started + after
        asyncio.get_running_loop().call_later(after, os.kill, pid, signal.SIGKILL)

    async def worker() -> None:
        nonlocal next_index
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while next_index < len(items) and time.perf_counter() < min(deadline, killed_at + 1):
            index = next_index
            next_index += 1
            due = started + index / rate if rate > 0 else time.perf_counter()
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(wire[index])
                status, closing = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            result.latencies.append(time.perf_counter() - due)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.acked.append(items[index])
            if closing or new_connections:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result, time.perf_counter() - started


def start_receiver(workdir: Path) -> tuple[subprocess.Popen[str], str, Path]:
    db = workdir / "bench.duckdb"
    env = {**os.environ, "VATS_CRM_TOKEN": TOKEN}
    code = "from vats_etl.cli import run_cli; run_cli()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--db", str(db), "webhook", "--port", "0"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(
            f"receiver did not start: {line}{proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, line.split()[2], db


def check_loss(db: Path, acked: list[Item]) -> dict[str, int]:
    uids = {i.key[0] for i in acked if i.kind in ("history", "rating")}
    rated = {i.key[0] for i in acked if i.kind == "rating"}
    events = {i.key for i in acked if i.kind == "event"}
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = {row[0]: row[1] for row in con.execute("select uid, rating from calls").fetchall()}
        stored_events = con.execute(
            "select callid, type, user_login from webhook_events"
        ).fetchall()
    finally:
        con.close()
    event_keys = {tuple(row) for row in stored_events}
    return {
        "calls_acked": len(uids),
        "calls_missing": len(uids - stored.keys()),
        "ratings_missing": sum(1 for uid in rated if stored.get(uid) is None),
        "events_acked": len(events),
        "events_missing": len(events - event_keys),
        "events_duplicated": len(stored_events) - len(event_keys),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument(
        "--kill-9-after",
        type=float,
        default=0,
        help="SIGKILL the receiver after this many seconds, restart it, check for loss",
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0, help="requests/s (0: as fast as possible)")
    parser.add_argument("--format", choices=["json", "form", "mix"], default="mix")
    parser.add_argument("--duplicate-rate", type=float, default=0.05)
    parser.add_argument("--new-connections", action="store_true", help="one connection per request")
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    if len(sys.argv) == 1:  # make bench: the standard runs
        runs = [["--rate", "1000"], ["--rate", "0"], ["--rate", "1000", "--kill-9-after", "10"]]
        failed = 0
        for extra in runs:
            print(f"-- {' '.join(extra)}", flush=True)
            command = [sys.executable, "-m", "bench.webhook_bench", *extra]
            failed += subprocess.run(command, check=False).returncode
        return 1 if failed else 0
    return run(parser.parse_args())


def run(args: argparse.Namespace) -> int:
    items = workload(args.requests, args.seed, args.format, args.duplicate_rate)
    killed = args.kill_9_after > 0
    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        proc, url, db = start_receiver(Path(tmp))
        try:
            result, seconds = asyncio.run(
                load(
                    url,
                    items,
                    concurrency=args.concurrency,
                    rate=args.rate,
                    new_connections=args.new_connections,
                    max_seconds=args.max_seconds,
                    kill_after=(proc.pid, args.kill_9_after) if killed else None,
                )
            )
        finally:
            stop_at = time.perf_counter()
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=120)
            drain_s = time.perf_counter() - stop_at
        if killed:  # a restart replays the spool; stopping it applies what it holds
            proc, _, _ = start_receiver(Path(tmp))
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=120)
        loss = check_loss(db, result.acked)
    done = len(result.latencies)
    figures = {
        "requests": done,
        "seconds": round(seconds, 3),
        "throughput_rps": round(done / seconds, 1),
        "rate_target": args.rate or None,
        "concurrency": args.concurrency,
        "new_connections": args.new_connections,
        "latency_ms": {
            name: round(percentile(result.latencies, q) * 1000, 2)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        },
        "statuses": result.statuses,
        "client_errors": result.errors,
        "drain_s": round(drain_s, 2),
        "killed_after_s": args.kill_9_after or None,
        "receiver": stderr.strip().splitlines()[-1] if stderr.strip() else "",
        **loss,
    }
    ok = (
        (killed or (done == len(items) and result.errors == 0))
        and set(result.statuses) == {200}
        and loss["calls_missing"] == 0
        and loss["ratings_missing"] == 0
        and loss["events_missing"] == 0
        and loss["events_duplicated"] == 0
    )
    figures["ok"] = ok
    if args.json:
        print(json.dumps(figures))
    else:
        lat = figures["latency_ms"]
        print(
            f"{done:,} requests in {seconds:.2f} s = {done / seconds:,.0f} req/s "
            f"(concurrency {args.concurrency}, "
            f"{'paced ' + str(args.rate) + '/s' if args.rate else 'unpaced'}, "
            f"{'new connection per request' if args.new_connections else 'keep-alive'})"
        )
        print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
        print(f"statuses {result.statuses}; client errors {result.errors}")
        if killed:
            print(
                f"kill -9 at {args.kill_9_after:g} s: {len(result.acked):,} acknowledged before "
                f"it, then a restart replayed the spool"
            )
        print(
            f"loss: calls {loss['calls_missing']}/{loss['calls_acked']} missing, ratings "
            f"{loss['ratings_missing']} missing, events {loss['events_missing']}/"
            f"{loss['events_acked']} missing, {loss['events_duplicated']} duplicated"
        )
        print(f"receiver drained in {drain_s:.2f} s: {figures['receiver']}")
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
