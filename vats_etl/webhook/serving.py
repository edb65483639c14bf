"""uvicorn (h11) set up for an endpoint that faces the internet.

uvicorn parses HTTP/1.1 with h11 and runs the receiver's ASGI app. What a public endpoint
needs beyond that lives here, one small piece each:

* :class:`ServingConfig`: uvicorn's ``Config`` plus our connection limits.
* :class:`GuardedH11Protocol`, uvicorn's h11 protocol with, per connection:

  - **a connection budget**: at most ``max_connections`` open. A new connection past it
    closes the one idle the longest (or itself, when every other one is busy), so a flood
    of idle clients can neither lock the PBX out nor take the file descriptors the spool
    and DuckDB need (see :func:`connection_budget`);
  - **deadlines**: a connection that sends nothing for ``timeout_keep_alive`` seconds is
    closed, also before its first request (uvicorn only times out after a response); a
    request must arrive, and its answer be taken by the client, within
    ``request_timeout_s`` — a slow sender, or a client that pipelines requests and never
    reads the answers, is cut off;
  - **bounded heads**: h11 checks its bound on an unfinished head or chunked trailer only
    between the pieces it is fed, so it is fed at most 1 KiB at a time with a bound of
    15 KiB: a head or trailer over 16 KiB is refused however its bytes arrive;
  - anything the parser raises besides a protocol error: 400, one log line, closed.
* :class:`Server`: uvicorn's ``Server`` without its signal handling: the caller stops it
  and then drains the spool (uvicorn would re-raise SIGTERM and end the process first).
* :func:`listen`, :func:`connection_budget`, :func:`raise_open_files_limit`,
  :func:`quiet_accept_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from vats_etl.errors import WebhookError

log = logging.getLogger("vats_etl.webhook")

FEED_BYTES: Final = 1024  # h11 checks its bound on an unfinished head once per feed
MAX_HEAD: Final = 16 * 1024
H11_MAX_INCOMPLETE: Final = MAX_HEAD - FEED_BYTES  # so nothing over MAX_HEAD gets through
# asyncio accepts up to `backlog` connections per wake-up before any of them reaches
# connection_made (where the budget is enforced): the reserve covers such a burst, plus the
# descriptors the spool, DuckDB and the log need.
BACKLOG: Final = 128
FD_RESERVE: Final = BACKLOG + 64
_OUT_OF_FDS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass
class ConnectionStats:
    shed: int = 0  # idle connections closed to make room for a new one
    turned_away: int = 0  # new connections closed because every open one was busy
    timed_out: int = 0  # requests not received, or answers not taken, in time
    unreadable: int = 0  # requests the parser failed on (besides protocol errors)


class ServingConfig(uvicorn.Config):
    """uvicorn's Config plus what :class:`GuardedH11Protocol` enforces."""

    def __init__(
        self,
        app: Any,
        *,
        max_connections: int,
        request_timeout_s: float,
        stats: ConnectionStats,
        **uvicorn_options: Any,
    ) -> None:
        super().__init__(app, http=GuardedH11Protocol, **uvicorn_options)
        self.max_connections = max_connections
        self.request_timeout_s = request_timeout_s
        self.stats = stats


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection budget, deadlines and bounded heads."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServingConfig)
        self._guard = config
        self._busy_since: float | None = None  # a request is being received or answered
        self._idle_since = 0.0
        self._deadline: asyncio.TimerHandle | None = None

    # -- connection budget ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        super().connection_made(transport)
        now = self._idle_since = self.loop.time()
        self._arm(now + min(self.timeout_keep_alive, self._guard.request_timeout_s))
        if len(self.connections) > self._guard.max_connections:
            self._make_room()

    def _make_room(self) -> None:
        idle = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol)
            and c._busy_since is None
            and c is not self
            and not c.transport.is_closing()  # closed already, not yet gone from the set
        ]
        if idle:
            min(idle, key=lambda c: c._idle_since).transport.close()
            self._guard.stats.shed += 1
        else:
            self.transport.close()
            self._guard.stats.turned_away += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    # -- requests ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._busy_since is None:
            self._busy_since = self.loop.time()  # the deadline timer looks at it in time
        for start in range(0, len(data), FEED_BYTES):
            if self.transport.is_closing():
                return
            piece = data if len(data) <= FEED_BYTES else data[start : start + FEED_BYTES]
            try:
                super().data_received(piece)
            except Exception as exc:
                self._unreadable(exc)
                return

    def on_response_complete(self) -> None:
        answered = self.cycle
        try:
            super().on_response_complete()  # may start a pipelined request right away
        except Exception as exc:
            self._unreadable(exc)
            return
        if self.cycle is not answered:
            self._busy_since = self.loop.time()  # a pipelined request: its own deadline
        elif self._settled():
            self._busy_since, self._idle_since = None, self.loop.time()

    def _settled(self) -> bool:
        """Nothing in progress: no request half-received, no answer waiting to be taken."""
        return (
            (self.cycle is None or self.cycle.response_complete)
            and self.transport.get_write_buffer_size() == 0
            and not self.conn.trailing_data[0]
        )

    def _unreadable(self, exc: Exception) -> None:
        self._guard.stats.unreadable += 1
        log.warning("refused a request the HTTP parser failed on (%s)", type(exc).__name__)
        try:
            self.send_400_response("Invalid HTTP request received.")
        except Exception:
            self.transport.abort()

    # -- deadlines --------------------------------------------------------------------------
    # One timer per connection, never later than request_timeout_s ahead while idle: a
    # request that starts is then checked in time without a timer of its own (requests
    # come by the thousand a second; idle connections wake every few seconds).

    def _arm(self, when: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_at(when, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._busy_since is not None:
            if not self._settled():
                due = self._busy_since + self._guard.request_timeout_s
                if now < due:
                    self._arm(due)
                    return
                self._guard.stats.timed_out += 1
                self.transport.abort()  # drops what the client never took
                return
            self._busy_since, self._idle_since = None, now
        due = self._idle_since + self.timeout_keep_alive
        if now < due:
            self._arm(min(due, now + self._guard.request_timeout_s))
        else:
            self.transport.close()


class Server(uvicorn.Server):
    """uvicorn's Server; whoever runs it sets ``should_exit`` (no signal handling here)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one).

    Made with ``IPPROTO_TCP`` spelled out: asyncio sets TCP_NODELAY only on sockets that say
    so, and without it each answer (head and body go out as two writes) waits for the
    client's delayed ACK — 40 ms a request."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise WebhookError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise WebhookError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def open_files_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def raise_open_files_limit() -> None:
    """Raise the soft open-files limit to the hard one (as Go's runtime does): systemd's
    default is 1024 soft, 524288 hard. A process of its own only: it is process-wide."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def descriptors_in_use() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: a fair guess for a Python process with DuckDB loaded
        return 32


def connection_budget(wanted: int) -> int:
    """How many connections may be open at once: ``wanted``, or what the open-files limit
    leaves after the descriptors in use and :data:`FD_RESERVE` for the spool and DuckDB."""
    limit = open_files_limit()
    available = limit - descriptors_in_use() - FD_RESERVE
    if available < 8:
        raise WebhookError(
            f"the open-files limit ({limit}) leaves no room for connections: raise it "
            "(ulimit -n, or LimitNOFILE= in the systemd unit)"
        )
    if available < wanted:
        log.warning(
            "the open-files limit (%d) allows %d connections, fewer than the %d wanted: "
            "raise it (LimitNOFILE= in the systemd unit)",
            limit,
            available,
            wanted,
        )
    return min(wanted, available)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio logs a traceback each time accept() fails for want of file descriptors (every
    second while it lasts): make that one line a minute. Other errors: as before."""
    last = float("-inf")

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal last
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_FDS:
            now = time.monotonic()
            if now - last >= 60:
                last = now
                log.warning(
                    "cannot accept connections: %s (open-files limit %d); retrying each second",
                    exc.strerror,
                    open_files_limit(),
                )
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
