"""A minimal HTTP/1.1 server on ``asyncio`` streams: one POST endpoint, nothing else.

It does exactly what the PBX needs and no more: persistent connections (HTTP/1.1
keep-alive, HTTP/1.0 ``Connection: keep-alive``), pipelined requests, ``Content-Length``
and ``Transfer-Encoding: chunked`` bodies, ``Expect: 100-continue``; limits on the head
(431), the body (413, answered from ``Content-Length`` before reading it) and slow clients
(408 / close). Every malformed request gets a 4xx and the connection is closed; the
handler is only called for a complete ``POST`` to the configured path. A handler that
raises is a bug: the client gets a 500 and the error is logged without the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import orjson

log = logging.getLogger(__name__)

MAX_HEAD: Final = 16 * 1024
LINGER_S: Final = 2.0
LINGER_BYTES: Final = 16 << 20
REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = field(default=())

    @staticmethod
    def json(status: int, payload: object) -> Response:
        return Response(status, orjson.dumps(payload))

    @staticmethod
    def error(status: int, reason: str) -> Response:
        return Response(status, orjson.dumps({"error": reason}))


Handler = Callable[[Request], Awaitable[Response]]


class _Refuse(Exception):
    """Answer ``response`` and close the connection."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _encode(response: Response, *, keep_alive: bool) -> bytes:
    head = [
        f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}",
        "Content-Type: application/json; charset=utf-8",
        f"Content-Length: {len(response.body)}",
    ]
    head.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


class HttpServer:
    """Serve ``handler`` for ``POST path`` on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str,
        port: int,
        path: str = "/",
        max_body_bytes: int = 64 * 1024,
        idle_timeout_s: float = 75.0,
        body_timeout_s: float = 10.0,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._path = path
        self._max_body = max_body_bytes
        self._idle_timeout = idle_timeout_s
        self._body_timeout = body_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._busy = 0  # requests being handled
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            self._host,
            self._port,
            limit=MAX_HEAD,
            backlog=1024,
            reuse_address=True,
        )

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop listening, let requests in progress finish, close every connection."""
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
        for writer in list(self._connections):
            writer.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                keep_alive = await self._one_request(reader, writer)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        try:
            async with asyncio.timeout(self._idle_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            writer.write(_encode(Response.error(431, "request head too large"), keep_alive=False))
            return False
        except asyncio.IncompleteReadError:
            return False  # the client closed the connection (between requests: normal)
        self._busy += 1
        self._idle.clear()
        try:
            try:
                request, keep_alive = await self._read_request(head, reader, writer)
            except _Refuse as refuse:
                writer.write(_encode(refuse.response, keep_alive=False))
                await writer.drain()
                await _linger(reader, writer)
                return False
            try:
                response = await self._handler(request)
            except Exception:
                log.exception("webhook handler failed on a %d-byte body", len(request.body))
                response, keep_alive = Response.error(500, "internal error"), False
            writer.write(_encode(response, keep_alive=keep_alive))
            await writer.drain()
            return keep_alive
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def _read_request(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Request, bool]:
        lines = head[:-4].split(b"\r\n")
        try:
            method, target, version = lines[0].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise _Refuse(Response.error(400, "malformed request line")) from None
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if not version.startswith("HTTP/"):
                raise _Refuse(Response.error(400, "malformed request line"))
            raise _Refuse(Response.error(505, "HTTP/1.1 only"))
        headers: dict[str, str] = {}
        for raw in lines[1:]:
            name, sep, value = raw.partition(b":")
            if not sep or not name or name != name.strip():
                raise _Refuse(Response.error(400, "malformed header"))
            key = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            if key in headers and key == "content-length" and headers[key] != text:
                raise _Refuse(Response.error(400, "conflicting Content-Length"))
            headers[key] = (
                f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
            )
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        path = target.split("?", 1)[0]
        if path != self._path:
            raise _Refuse(Response.error(404, "not found"))
        if method != "POST":
            raise _Refuse(
                Response((405), orjson.dumps({"error": "use POST"}), (("Allow", "POST"),))
            )
        body = await self._read_body(headers, reader, writer)
        return Request(method, path, headers, body), keep_alive

    async def _read_body(
        self, headers: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes:
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length: int | None = None
        if not chunked:
            text = headers.get("content-length")
            if text is None:
                raise _Refuse(Response.error(411, "Content-Length required"))
            if not text.isdigit():
                raise _Refuse(Response.error(400, "malformed Content-Length"))
            length = int(text)
            if length > self._max_body:
                raise _Refuse(Response.error(413, f"body larger than {self._max_body} bytes"))
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            async with asyncio.timeout(self._body_timeout):
                if length is not None:
                    return await reader.readexactly(length)
                return await self._read_chunked(reader)
        except TimeoutError:
            raise _Refuse(Response.error(408, "body not received in time")) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            raise _Refuse(Response.error(400, "body ended early")) from None

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            try:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except (ValueError, asyncio.LimitOverrunError):
                raise _Refuse(Response.error(400, "malformed chunk")) from None
            if size < 0:
                raise _Refuse(Response.error(400, "malformed chunk"))
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers: ignored
                return bytes(body)
            if len(body) + size > self._max_body:
                raise _Refuse(Response.error(413, f"body larger than {self._max_body} bytes"))
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise _Refuse(Response.error(400, "malformed chunk"))


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close and discard what the client still sends (an oversized body) for a moment:
    closing with unread input would reset the connection and the client could lose the
    answer."""
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        discarded = 0
        async with asyncio.timeout(LINGER_S):
            while discarded < LINGER_BYTES:
                data = await reader.read(64 * 1024)
                if not data:
                    break
                discarded += len(data)
