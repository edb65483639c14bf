"""The receiver: uvicorn in front, the spool behind it, the applier after — wired together.

Per webhook request (all on the event loop, no blocking call)::

    uvicorn + h11: HTTP/1.1, malformed → 400; connection budget and deadlines (serving.py)
    → what h11 leaves to the app: HTTP/1.x only (505), a length (411), the body limit
      (413, from Content-Length before reading), Content-Length with chunked (400)
    → too many requests in flight, or not accepting (see below): 503
    → decode JSON/form (400/415) → crm_token, constant time (401) → validate (400)
    → contact: answer from the index, done
    → history/rating/event/other: hand the line to the spool, await its group fsync → 200

The answer is sent only after the record is durable. A spool that cannot write, or whose
fsync does not return within ``commit_timeout_s``, answers 503 (the PBX retries), never 200.
A refused request (4xx, 503) closes its connection, so a pipeline of bad requests ends at
the first one. Webhooks are not accepted (503) while the applier is failing, the spool's
fsync is stalled, the spool is full, or the oldest unapplied record is older than
``max_lag_s``; ``GET /health`` (no token, nothing secret) says which, with the spool lag and
the last time a batch reached the warehouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from vats_etl import errors
from vats_etl.config import Secret
from vats_etl.warehouse import Company
from vats_etl.webhook.apply import Applier, ApplierStats
from vats_etl.webhook.contacts import ContactIndex
from vats_etl.webhook.payloads import BadRequest, ContactQuery, check_token, decode_body, to_record
from vats_etl.webhook.serving import (
    BACKLOG,
    H11_MAX_INCOMPLETE,
    ConnectionStats,
    Server,
    ServingConfig,
    connection_budget,
    listen,
    quiet_accept_errors,
    raise_open_files_limit,
)
from vats_etl.webhook.spool import Spool, SpoolFull

log = logging.getLogger("vats_etl.webhook")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

OK_BODY: Final = b'{"result":"ok"}'
HEALTH_PATH: Final = "/health"
START_LOCK_WAIT_S: Final = 1.0
RETRY_AFTER: Final = (b"retry-after", b"5")


def default_spool_dir(db_path: Path) -> Path:
    return db_path.parent / "webhook-spool"


@dataclass(frozen=True)
class ReceiverConfig:
    db_path: Path
    token: Secret
    company: Company  # the zone and KPI values the applier keeps in the warehouse
    spool_dir: Path | None = None  # default: webhook-spool next to the database
    host: str = "127.0.0.1"
    port: int = 8088
    path: str = "/"
    max_body_bytes: int = 64 * 1024
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None  # None: the key is in the certificate file
    limit_concurrency: int = 1000  # connections open, and webhooks in flight, at most
    keep_alive_s: int = 75  # an idle connection is closed after this long
    request_timeout_s: float = 10.0  # to receive a request and have its answer taken
    commit_timeout_s: float = 5.0  # an fsync slower than this: 503
    max_lag_s: float = 600.0  # unapplied records older than this: 503 until caught up
    apply_interval_s: float = 0.5
    apply_max_records: int = 5000
    lock_timeout_s: float = 5.0  # per attempt; the applier keeps retrying
    index_refresh_s: float = 60.0
    max_spool_bytes: int = 1 << 30
    drain_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.token:
            raise errors.ConfigError(
                "VATS_CRM_TOKEN is not set (the crm_token entered in the PBX cabinet)"
            )
        if not self.path.startswith("/"):
            raise errors.ConfigError(f"webhook path must start with '/', got {self.path!r}")
        if self.path == HEALTH_PATH:
            raise errors.ConfigError(f"webhook path cannot be {HEALTH_PATH} (the health check)")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise errors.ConfigError("--ssl-keyfile needs --ssl-certfile")

    @property
    def spool(self) -> Path:
        return self.spool_dir if self.spool_dir is not None else default_spool_dir(self.db_path)


@dataclass
class ReceiverStats:
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    contacts: int = 0
    unavailable: int = 0  # 503: not accepting, or the spool could not take the request
    connections: ConnectionStats = field(default_factory=ConnectionStats)


class Receiver:
    """The ASGI app and what it stands on. :meth:`start` inside a running event loop opens
    the spool, starts the applier and serves; :meth:`stop` ends all three."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.index = ContactIndex()
        self.stats = ReceiverStats()
        self._token = config.token.reveal().encode("utf-8")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spool: Spool | None = None
        self._applier: Applier | None = None
        self._server: Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._address: tuple[str, int] = (config.host, config.port)
        self._in_flight = 0
        self.drained = False  # set by stop(): the spool was fully applied

    @property
    def url(self) -> str:
        host, port = self._address
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if self.config.ssl_certfile else "http"
        return f"{scheme}://{shown}:{port}{self.config.path}"

    @property
    def applier_stats(self) -> ApplierStats:
        assert self._applier is not None
        return self._applier.stats

    @property
    def spool_commits(self) -> int:
        return self._spool.commits if self._spool is not None else 0

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool (replaying what a previous run left), then listen."""
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        quiet_accept_errors(self._loop)
        spool = Spool(cfg.spool, self._on_commit, max_bytes=cfg.max_spool_bytes)
        spool.open()
        self._spool = spool
        applier = Applier(
            spool,
            cfg.db_path,
            cfg.company,
            self.index,
            interval_s=cfg.apply_interval_s,
            max_records=cfg.apply_max_records,
            lock_timeout_s=cfg.lock_timeout_s,
            refresh_s=cfg.index_refresh_s,
        )
        self._applier = applier
        try:  # do not keep the PBX waiting long for a busy warehouse: listen, apply later
            await self._loop.run_in_executor(
                None, applier.prepare, min(cfg.lock_timeout_s, START_LOCK_WAIT_S)
            )
        except errors.DatabaseBusy as exc:
            log.warning("warehouse busy at start (%s): requests are spooled meanwhile", exc)
        except errors.VatsError:
            spool.close()
            spool.unlock()
            raise
        applier.start()
        try:
            self._server, sock = self._make_server()
        except errors.VatsError:
            await self._loop.run_in_executor(None, self._close_storage, 0.0)
            raise
        self._address = sock.getsockname()[:2]
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                await self._loop.run_in_executor(None, self._close_storage, 0.0)
                self._serving.result()
                raise errors.WebhookError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)

    def _make_server(self) -> tuple[Server, Any]:
        cfg = self.config
        uvicorn_config = ServingConfig(
            self,
            max_connections=connection_budget(cfg.limit_concurrency),
            request_timeout_s=cfg.request_timeout_s,
            stats=self.stats.connections,
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=cfg.keep_alive_s,
            timeout_graceful_shutdown=5,
            backlog=BACKLOG,
            h11_max_incomplete_event_size=H11_MAX_INCOMPLETE,
            ssl_certfile=cfg.ssl_certfile,
            ssl_keyfile=cfg.ssl_keyfile,
        )
        try:
            uvicorn_config.load()
        except OSError as exc:  # ssl.SSLError included
            raise errors.WebhookError(
                f"cannot use the TLS certificate {cfg.ssl_certfile}: {exc.strerror or exc}"
            ) from None
        return Server(uvicorn_config), listen(cfg.host, cfg.port)

    async def stop(self) -> bool:
        """Stop listening, finish the requests in progress, commit and apply what is spooled
        (bounded). True when the spool was drained into the warehouse; otherwise the rest is
        applied at the next start."""
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        assert self._loop is not None
        self.drained = await self._loop.run_in_executor(
            None, self._close_storage, self.config.drain_timeout_s
        )
        return self.drained

    def force_stop(self) -> None:
        """A second signal: stop waiting for connections to finish."""
        if self._server is not None:
            self._server.force_exit = True

    def _close_storage(self, drain_timeout_s: float) -> bool:
        drained = False
        if self._spool is not None:
            self._spool.close()
        if self._applier is not None:
            drained = self._applier.stop(drain_timeout_s)
        if self._spool is not None:
            self._spool.unlock()
        return drained

    # -- health --------------------------------------------------------------------------

    def spool_lag_s(self) -> float:
        """Age of the oldest record not yet in the warehouse (0 when caught up)."""
        assert self._spool is not None and self._applier is not None
        oldest = self._spool.oldest_unapplied(self._applier.cursor)
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    def refusing(self) -> list[str]:
        """Why new webhooks get 503 right now (empty: they are accepted)."""
        assert self._spool is not None and self._applier is not None
        cfg, spool = self.config, self._spool
        reasons = []
        if self._applier.failing:
            reasons.append("the warehouse writer is failing (see the receiver's log)")
        if spool.stalled_s() > cfg.commit_timeout_s:
            reasons.append("the spool's disk does not complete writes")
        if spool.full:
            reasons.append("the spool is full")
        if self.spool_lag_s() > cfg.max_lag_s:
            reasons.append(f"the warehouse is more than {cfg.max_lag_s:g} s behind")
        return reasons

    def health(self) -> dict[str, Any]:
        """ok / degraded, and why; says nothing secret (no paths, no error texts)."""
        assert self._spool is not None and self._applier is not None
        refusing = self.refusing()
        reasons = list(refusing)
        if self._spool.write_error is not None:
            reasons.append("the spool's last write failed")
        applied = self._applier.last_applied_at
        return {
            "status": "degraded" if reasons else "ok",
            "accepting": not refusing,
            "reasons": reasons,
            "spool_lag_s": round(self.spool_lag_s(), 3),
            "spool_backlog_bytes": self._spool.backlog_bytes(),
            "last_applied_at": applied.isoformat(timespec="seconds") if applied else None,
            "waiting_for_warehouse": self._applier.waiting_for_warehouse,
        }

    # -- the ASGI app --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off and websockets are not served
            return
        path, method = scope["path"], scope["method"]
        if path == HEALTH_PATH:
            if method not in ("GET", "HEAD"):
                await self._refuse(send, 405, "use GET", (b"allow", b"GET, HEAD"))
                return
            health = self.health()
            await _answer(send, 200 if health["status"] == "ok" else 503, orjson.dumps(health))
        elif path != self.config.path:
            await self._refuse(send, 404, "not found")
        elif method != "POST":
            await self._refuse(send, 405, "use POST", (b"allow", b"POST"))
        elif self._in_flight >= self.config.limit_concurrency:
            await self._unavailable(send, "too many requests in flight")
        else:
            self._in_flight += 1
            try:
                await self._webhook(scope, receive, send)
            finally:
                self._in_flight -= 1

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self._body(scope, receive)
            if body is None:
                return  # the client went away: nobody to answer
            content_type = _header(scope, b"content-type")
            fields = decode_body(content_type, body)
            check_token(fields, self._token)
            item = to_record(fields, time.time_ns() // 1000)
        except BadRequest as exc:
            await self._refuse(send, exc.status, exc.reason)
            return
        if isinstance(item, ContactQuery):
            self.stats.contacts += 1
            await _answer(send, 200, orjson.dumps(self.index.lookup(item.phone)))
            return
        refusing = self.refusing()
        if refusing:
            await self._unavailable(send, refusing[0])
            return
        assert self._loop is not None and self._spool is not None
        done: asyncio.Future[None] = self._loop.create_future()
        try:
            self._spool.submit(item.to_json(), done)
            async with asyncio.timeout(self.config.commit_timeout_s):
                await done
        except SpoolFull:
            await self._unavailable(send, "the spool is full")
            return
        except TimeoutError:
            await self._unavailable(send, "the spool's disk does not complete writes")
            return
        except (OSError, errors.WebhookError):
            await self._unavailable(send, "the request cannot be stored now")
            return
        self.stats.accepted[item.kind] += 1
        await _answer(send, 200, OK_BODY)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The request body within the limit; the framing rules h11 leaves to the app."""
        limit = self.config.max_body_bytes
        if scope["http_version"] not in ("1.0", "1.1"):
            raise BadRequest(505, "HTTP/1.1 only")
        length = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None  # h11: only "chunked"
        if chunked and length is not None:
            raise BadRequest(400, "both Content-Length and Transfer-Encoding")
        if not chunked and length is None:
            raise BadRequest(411, "Content-Length required")
        if length is not None and (len(length) > 15 or int(length) > limit):  # h11: digits
            raise BadRequest(413, f"body larger than {limit} bytes")
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            part = message.get("body", b"")
            size += len(part)
            if size > limit:
                raise BadRequest(413, f"body larger than {limit} bytes")
            parts.append(part)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _refuse(
        self, send: Send, status: int, reason: str, *headers: tuple[bytes, bytes]
    ) -> None:
        self.stats.rejected[status] += 1
        log.debug("refused a webhook: %d %s", status, reason)
        await _answer(send, status, orjson.dumps({"error": reason}), close=True, extra=headers)

    async def _unavailable(self, send: Send, reason: str) -> None:
        self.stats.unavailable += 1
        log.debug("webhook answered 503: %s", reason)
        body = orjson.dumps({"error": f"{reason}; retry later"})
        await _answer(send, 503, body, close=True, extra=(RETRY_AFTER,))

    # -- the spool's writer thread -------------------------------------------------------

    def _on_commit(self, waiters: list[object], error: OSError | None) -> None:
        """Spool writer thread: wake the handlers of a committed group (one loop callback)."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits anymore
            self._loop.call_soon_threadsafe(_resolve, waiters, error)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    *,
    close: bool = False,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _resolve(waiters: list[object], error: OSError | None) -> None:
    for waiter in waiters:
        assert isinstance(waiter, asyncio.Future)
        if waiter.done():
            continue  # timed out (answered 503) or the client went away
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


# -- running it ---------------------------------------------------------------------------------


def run(config: ReceiverConfig, *, on_ready: Callable[[Receiver], None] | None = None) -> Receiver:
    """Serve until SIGINT/SIGTERM, then shut down gracefully; returns the stopped receiver
    (see :attr:`Receiver.drained` and its stats). A second signal stops waiting for open
    connections."""
    raise_open_files_limit()

    async def main() -> Receiver:
        receiver = Receiver(config)
        await receiver.start()
        tune_for_latency()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                receiver.force_stop()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        if on_ready is not None:
            on_ready(receiver)
        await stop.wait()
        await receiver.stop()
        return receiver

    return asyncio.run(main())


def tune_for_latency() -> None:
    """Process-wide settings for a process that is only a receiver (``run`` calls it).

    * ``gc.freeze()``: the tens of thousands of objects imports created (polars, duckdb)
      move to a permanent generation, so full collections stop taking 20-40 ms pauses;
    * a 1 ms GIL switch interval (default 5 ms): the event loop gets the interpreter back
      sooner from the applier and spool threads (measured: p99 ~20 → ~13 ms at 1,000/s).
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)


def summary(receiver: Receiver) -> str:
    """One line about a stopped receiver's work."""
    s, a, c = receiver.stats, receiver.applier_stats, receiver.stats.connections
    accepted = sum(s.accepted.values())
    refused = ", ".join(f"{n} x {code}" for code, n in sorted(s.rejected.items())) or "none"
    line = (
        f"accepted {accepted:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(s.accepted.items()))})"
        f" in {receiver.spool_commits:,} fsyncs; refused {refused}; {s.contacts:,} contact "
        f"answers; applied {a.applied:,} records in {a.batches:,} batches"
    )
    if s.unavailable:
        line += f"; {s.unavailable:,} answered 503"
    if a.failed_passes:
        line += f"; {a.failed_passes:,} failed apply passes retried"
    if c.shed or c.turned_away:
        line += f"; {c.shed:,} idle connections closed for new ones, {c.turned_away:,} turned away"
    if c.timed_out:
        line += f"; {c.timed_out:,} connections cut off (request or answer too slow)"
    if not receiver.drained:
        line += "; the rest stays spooled and is applied at the next start"
    return line


@contextlib.contextmanager
def serve_in_background(config: ReceiverConfig) -> Iterator[Receiver]:
    """Run a receiver on its own event loop thread (tests, notebooks); stop on exit."""
    loop = asyncio.new_event_loop()
    receiver = Receiver(config)
    started = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(receiver.start())
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=target, name="webhook-loop", daemon=True)
    thread.start()
    started.wait()
    if failure:
        thread.join()
        loop.close()
        raise failure[0]
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
