"""The emulator over HTTP: a real keep-alive server on 127.0.0.1 speaking the CRM API.

Request handling, in order: unknown path → 404; known path, other method → 405; injected
fault (latency, error, 429, drop, stall); ``X-API-KEY`` → 401 ``Invalid token``, then CRM
state → 401 ``CRM disabled`` / ``CRM switched off`` / ``Domain disabled``; a history format
the account does not implement → 501 ``Not Implemented``; bad parameters → 400
``Validation error``; unknown user/department/number → 404. Errors are JSON
``{"error": "<text>"}`` (400s add ``detail``). Recordings are served outside the API's base
path, with the same key (404 deleted, 410 expired).
"""

from __future__ import annotations

import hmac
import re
import signal
import socket
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from vats_etl.emulator import directory as payloads
from vats_etl.emulator.core import Emulator
from vats_etl.emulator.directory import Directory
from vats_etl.emulator.faults import Faults
from vats_etl.emulator.render import (
    EXTERNAL_TYPES,
    INTERNAL_TYPES,
    RECORDS_V2,
    uid_of_record_uuid,
)
from vats_etl.emulator.rng import unit_hash
from vats_etl.emulator.webhooks import WebhookPusher
from vats_etl.history import HistoryFormat, HistoryKind
from vats_etl.periods import PeriodError, Window, resolve

BASE_PATH = "/crmapi/v1"
CRM_STATES = {
    "enabled": None,
    "disabled": "CRM disabled",
    "switched_off": "CRM switched off",
    "domain_disabled": "Domain disabled",  # the whole service is off (the newer document)
}
# Recordings live outside the API's base path: the platform's v2 links, and the spec
# dialect's plain ones (render.record_url).
RECORD_PATHS = (RECORDS_V2, "/records/")
_PHONE = re.compile(r"^\+?\d{5,15}$")
_JSON = "application/json; charset=utf-8"
_CSV = "text/csv; charset=utf-8"


class ApiProblem(Exception):
    """An HTTP error answer: status and the text of ``{"error": ...}``."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail

    def body(self) -> bytes:
        payload = {"error": self.error}
        if self.detail:
            payload["detail"] = self.detail
        return orjson.dumps(payload)


def _invalid(detail: str) -> ApiProblem:
    return ApiProblem(400, "Validation error", detail)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below BASE_PATH, without slashes at the ends
    params: dict[str, str]  # first value of each query parameter
    query: tuple[tuple[str, str], ...]  # every query pair, as sent
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = _JSON
    rows: int = 0


Handler = Callable[["Api", Request, list[str]], Reply]


class ServerStats:
    """Counters a test or benchmark reads: requests, responses by status, faults by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._connections = 0
        self._rows = 0
        self._statuses: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()

    def request(self) -> None:
        with self._lock:
            self._requests += 1

    def connection(self) -> None:
        with self._lock:
            self._connections += 1

    def reply(self, status: int, rows: int) -> None:
        with self._lock:
            self._statuses[status] += 1
            self._rows += rows

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def connections(self) -> int:
        """TCP connections accepted (keep-alive clients reuse one)."""
        with self._lock:
            return self._connections

    @property
    def rows(self) -> int:
        """History rows sent."""
        with self._lock:
            return self._rows

    @property
    def statuses(self) -> dict[int, int]:
        with self._lock:
            return dict(self._statuses)

    @property
    def faults(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults)

    def __repr__(self) -> str:
        return (
            f"ServerStats(requests={self.requests}, connections={self.connections}, "
            f"rows={self.rows}, "
            f"statuses={self.statuses}, faults={self.faults})"
        )


# --- the API, independent of the socket layer -------------------------------------------------


class Api:
    """Maps a parsed request to a reply; no sockets here, so it is easy to reason about."""

    def __init__(self, emu: Emulator, api_key: str, crm_state: str) -> None:
        if crm_state not in CRM_STATES:
            raise ValueError(f"crm_state must be one of {', '.join(CRM_STATES)}")
        self.emu = emu
        self._key = api_key.encode()
        self.crm_state = crm_state

    def route(self, path: str) -> tuple[dict[str, Handler], list[str]] | None:
        if path.split("/", 1)[0] in self.emu.missing_endpoints:
            return None  # an endpoint this account does not offer: 404 like any unknown path
        for pattern, methods in ROUTES:
            found = pattern.fullmatch(path)
            if found:
                return methods, [unquote(g) for g in found.groups()]
        return None

    def check_auth(self, key: str | None) -> None:
        if key is None or not hmac.compare_digest(key.encode(), self._key):
            raise ApiProblem(401, "Invalid token")
        problem = CRM_STATES[self.crm_state]
        if problem:
            raise ApiProblem(401, problem)

    def directory(self) -> Directory:
        return self.emu.directory(self.emu.now())

    def history_window(self, request: Request) -> Window:
        params = request.params
        try:
            return resolve(
                period=params.get("period") or None,
                start=params.get("start") or None,
                end=params.get("end") or None,
                now=self.emu.now(),
                zone=self.emu.zone,
            )
        except PeriodError as exc:
            raise _invalid(str(exc)) from None


def _number(params: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise _invalid(f"{name} must be a whole number >= {minimum}, got {raw!r}")
    return int(raw)


def _history(kind: HistoryKind, fmt: HistoryFormat) -> Handler:
    allowed = EXTERNAL_TYPES if kind == "external" else INTERNAL_TYPES

    def handle(api: Api, request: Request, _: list[str]) -> Reply:
        window = api.history_window(request)
        type_filter = request.params.get("type") or "all"
        if type_filter not in allowed:
            raise _invalid(f"type must be one of {', '.join(allowed)}, got {type_filter!r}")
        limit = _number(request.params, "limit", api.emu.page_cap, 1)
        body, rows = api.emu.history(kind, fmt, window, type_filter, limit)
        return Reply(200, body, _JSON if fmt == "json" else _CSV, rows)

    return handle


def _page(
    api: Api, request: Request, items: list[dict[str, Any]], fields: tuple[str, ...]
) -> Reply:
    """Spec 3.2: ``search`` (substring in several fields), ``start``, ``limit`` → items + info."""
    params = request.params
    search = params.get("search", "")
    start = _number(params, "start", 0, 0)
    limit = min(_number(params, "limit", api.emu.list_cap, 1), api.emu.list_cap)
    needle = search.casefold()
    matched = [
        item
        for item in items
        if not needle or any(needle in str(item.get(f, "")).casefold() for f in fields)
    ]
    total = len(matched)
    after = start + limit
    info: dict[str, Any] = {"search": search, "total": total, "start": start, "limit": limit}
    if api.emu.dialect == "spec":  # the platform's answers carry no `next`: page by total
        info["next"] = after if after < total else None
    return Reply(200, orjson.dumps({"items": matched[start:after], "info": info}))


def _ok(payload: Any) -> Reply:
    return Reply(200, orjson.dumps(payload))


def _user_or_404(directory: Directory, login: str) -> payloads.User:
    user = directory.user(login)
    if user is None:
        raise ApiProblem(404, "User not found")
    return user


def _users(api: Api, request: Request, _: list[str]) -> Reply:
    directory = api.directory()
    items = [payloads.user_payload(u) for u in directory.users]
    if request.params.get("with") == "status" and api.emu.dialect == "platform":
        for item, user in zip(items, directory.users, strict=True):
            item["status"] = "online" if _online(api.emu, user) else "offline"
    return _page(api, request, items, ("login", "name", "ext", "email", "position", "telnum"))


def _online(emu: Emulator, user: payloads.User) -> bool:
    """``with=status``: most employees are online in working hours (Mon-Fri 9-19), unless
    they set do-not-disturb; nobody is at night. Drawn per user and hour."""
    local = emu.now().astimezone(emu.zone)
    working = local.weekday() < 5 and 9 <= local.hour < 19
    hour = local.strftime("%Y-%m-%dT%H")
    return working and not user.dnd and unit_hash(emu.seed, "online", user.login, hour) < 0.85


def _domain(api: Api, request: Request, _: list[str]) -> Reply:
    """The newer document's ``GET /domain``: the account's zone (name, offset in minutes)."""
    return _ok({"timezone": api.emu.domain_timezone()})


def _recording(api: Api, request: Request, args: list[str]) -> Reply:
    """A call's recording: the platform's ``/api/v2/call-records/record/<date>/<uuid>/<name>``
    or the spec dialect's ``/records/<date>/<uid>.mp3``; 404 deleted, 410 expired."""
    if len(args) == 3:
        day_text, key, _name = args
        uid = uid_of_record_uuid(key)
    else:
        day_text, name = args
        uid = name.removesuffix(".mp3") if name.endswith(".mp3") else None
    try:
        recorded_on = date.fromisoformat(day_text)
    except ValueError:
        uid = None
    if uid is None or not uid.isdigit():
        raise ApiProblem(404, "Record not found")
    fate, audio = api.emu.recording(uid, recorded_on)
    if fate == "deleted":
        raise ApiProblem(404, "Record not found")
    if fate == "expired":
        raise ApiProblem(410, "Record expired")
    return Reply(200, audio, "audio/mpeg")


def _user(api: Api, request: Request, args: list[str]) -> Reply:
    return _ok(payloads.user_payload(_user_or_404(api.directory(), args[0])))


def _user_groups(api: Api, request: Request, args: list[str]) -> Reply:
    directory = api.directory()
    user = _user_or_404(directory, args[0])
    group = directory.group(user.group_id)
    items = [payloads.group_brief(group)] if group else []
    return _page(api, request, items, ("id", "name", "ext"))


def _subscription(api: Api, request: Request, args: list[str]) -> Reply:
    directory = api.directory()
    user = _user_or_404(directory, args[0])
    group_id = request.params.get("group_id") or user.group_id
    if group_id and directory.group(group_id) is None:
        raise ApiProblem(404, "Group not found")
    return _ok({"state": bool(group_id) and user.group_id == group_id and user.calls_enable})


def _dnd(api: Api, request: Request, args: list[str]) -> Reply:
    return _ok({"state": _user_or_404(api.directory(), args[0]).dnd})


def _groups(api: Api, request: Request, _: list[str]) -> Reply:
    directory = api.directory()
    items = [payloads.group_payload(directory, g) for g in directory.groups]
    return _page(api, request, items, ("id", "name", "ext"))


def _group(api: Api, request: Request, args: list[str]) -> Reply:
    directory = api.directory()
    group = directory.group(args[0])
    if group is None:
        raise ApiProblem(404, "Group not found")
    return _ok(payloads.group_payload(directory, group))


def _telnums(api: Api, request: Request, _: list[str]) -> Reply:
    directory = api.directory()
    items = [payloads.telnum_payload(directory, t) for t in directory.telnums]
    return _page(api, request, items, ("telnum", "user_name", "group_name", "location"))


def _telnum(api: Api, request: Request, args: list[str]) -> Reply:
    directory = api.directory()
    telnum = directory.telnum(args[0])
    if telnum is None:
        raise ApiProblem(404, "Number not found")
    return _ok(payloads.telnum_payload(directory, telnum))


def _sims(api: Api, request: Request, _: list[str]) -> Reply:
    directory = api.directory()
    items = [payloads.sim_payload(directory, s) for s in directory.sims]
    return _page(api, request, items, ("telnum", "user", "user_name"))


def _sim(api: Api, request: Request, args: list[str]) -> Reply:
    directory = api.directory()
    sim = directory.sim(args[0])
    if sim is None:
        raise ApiProblem(404, "SIM not found")
    return _ok(payloads.sim_payload(directory, sim))


def _blacklist(api: Api, request: Request, _: list[str]) -> Reply:
    extra = request.params.get("with", "")
    if extra not in ("", "statistics"):
        raise _invalid(f"with must be 'statistics', got {extra!r}")
    directory = api.directory()
    items = [
        payloads.blacklist_payload(api.emu.seed, directory.as_of, e, extra == "statistics")
        for e in directory.blacklist
    ]
    return _page(api, request, items, ("telnum", "comment"))


def _block_anonymous(api: Api, request: Request, _: list[str]) -> Reply:
    return _ok({"state": api.directory().block_anonymous})


def _makecall(api: Api, request: Request, _: list[str]) -> Reply:
    """Spec 5.1: ``{"phone", "user"}`` (JSON or form) → ``{"uid": ...}`` of the new call."""
    try:
        fields = orjson.loads(request.body) if request.body.lstrip()[:1] == b"{" else None
    except orjson.JSONDecodeError:
        raise _invalid("body is not valid JSON") from None
    if fields is None:
        fields = dict(parse_qsl(request.body.decode("utf-8", "replace")))
    phone, login = str(fields.get("phone") or ""), str(fields.get("user") or "")
    if not _PHONE.match(phone):
        raise _invalid(f"phone must be a phone number, got {phone!r}")
    if not login:
        raise _invalid("user is required")
    _user_or_404(api.directory(), login)
    return _ok({"uid": api.emu.makecall()})


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("{}", "([^/]+)"))


ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (_compile(RECORDS_V2 + "{}/{}/{}"), {"GET": _recording}),
    (_compile("/records/{}/{}"), {"GET": _recording}),
    (_compile("domain"), {"GET": _domain}),
    (_compile("history/json"), {"GET": _history("external", "json")}),
    (_compile("history/csv"), {"GET": _history("external", "csv")}),
    (_compile("history/inner/json"), {"GET": _history("internal", "json")}),
    (_compile("history/inner/csv"), {"GET": _history("internal", "csv")}),
    (_compile("users"), {"GET": _users}),
    (_compile("users/{}"), {"GET": _user}),
    (_compile("users/{}/groups"), {"GET": _user_groups}),
    (_compile("users/{}/subscription"), {"GET": _subscription}),
    (_compile("users/{}/dnd"), {"GET": _dnd}),
    (_compile("groups"), {"GET": _groups}),
    (_compile("groups/{}"), {"GET": _group}),
    (_compile("telnums"), {"GET": _telnums}),
    (_compile("telnums/{}"), {"GET": _telnum}),
    (_compile("sims"), {"GET": _sims}),
    (_compile("sims/{}"), {"GET": _sim}),
    (_compile("blacklist/telnums"), {"GET": _blacklist}),
    (_compile("blacklist/block-anonymous"), {"GET": _block_anonymous}),
    (_compile("makecall"), {"POST": _makecall}),
]


# --- the socket layer --------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: EmulatorServer) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "vats-emulator"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    timeout = 60  # idle keep-alive connections are closed after this
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.owner.stats.connection()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark makes thousands of requests."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        owner.stats.request()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = tuple(parse_qsl(parts.query, keep_blank_values=True))
        params: dict[str, str] = {}
        for key, value in query:
            params.setdefault(key, value)
        path = parts.path
        if path == BASE_PATH or path.startswith(BASE_PATH + "/"):
            path = path[len(BASE_PATH) :].strip("/")
        elif not path.startswith(RECORD_PATHS):  # recordings keep their leading "/"
            path = "\0"  # outside the API: matches no route
        request = Request(method, path, params, query, body)
        try:
            reply = owner.answer(request, self)
        except ApiProblem as problem:
            reply = Reply(problem.status, problem.body())
        except Exception:  # an emulator bug: show it, but answer so the client is not left hanging
            traceback.print_exc()
            reply = Reply(500, orjson.dumps({"error": "Internal Server Error"}))
        if reply is not None:
            self._send(reply, method)

    def _send(self, reply: Reply, method: str) -> None:
        owner = self.server.owner
        owner.stats.reply(reply.status, reply.rows)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.status == 429:
            self.send_header("Retry-After", str(owner.faults.retry_after_s))
        if reply.status == 405:
            self.send_header("Allow", "GET, POST")
        self.end_headers()
        if method != "HEAD":
            with suppress(OSError):
                self.wfile.write(reply.body)

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """The emulator API on a real socket, served from a background thread.

    ``with EmulatorServer(emu) as srv: httpx.get(srv.base_url + "/users", ...)``
    """

    def __init__(
        self,
        emu: Emulator,
        api_key: str = "secret",
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        crm_state: str = "enabled",
    ) -> None:
        self.emu = emu
        self.faults = faults or Faults()
        self.api = Api(emu, api_key, crm_state)
        self.stats = ServerStats()
        self._address = (host, port)
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._attempts: Counter[tuple[Any, ...]] = Counter()
        self._attempts_lock = threading.Lock()

    @property
    def crm_state(self) -> str:
        return self.api.crm_state

    @crm_state.setter
    def crm_state(self, value: str) -> None:
        if value not in CRM_STATES:
            raise ValueError(f"crm_state must be one of {', '.join(CRM_STATES)}")
        self.api.crm_state = value

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HttpServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes stalled requests
        httpd.shutdown()
        with httpd.sockets_lock:
            for sock in list(httpd.open_sockets):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}{BASE_PATH}"

    # requests ------------------------------------------------------------------------------

    def _attempt(self, request: Request) -> int:
        identity = (request.method, request.path, tuple(sorted(request.query)))
        with self._attempts_lock:
            attempt = self._attempts[identity]
            self._attempts[identity] += 1
        return attempt

    def answer(self, request: Request, connection: _RequestHandler) -> Reply | None:
        """The reply to send, or None when a fault already dealt with the connection."""
        found = self.api.route(request.path)
        if found is None:
            raise ApiProblem(404, "Not found")
        methods, args = found
        handler = methods.get(request.method)
        if handler is None:
            raise ApiProblem(405, "Method Not Allowed")
        if self.faults.active and not self._survives_faults(request, connection):
            return None
        self.api.check_auth(connection.headers.get("X-API-KEY"))
        if request.path in self.emu.not_implemented:
            raise ApiProblem(501, "Not Implemented")
        if request.path.startswith("history/") and self.faults.fail_days:
            window = self.api.history_window(request)
            if self.faults.fails_window(window, self.emu.zone):
                self.stats.fault("fail_day")
                raise ApiProblem(500, "Internal Server Error")
        return handler(self.api, request, args)

    def _survives_faults(self, request: Request, connection: _RequestHandler) -> bool:
        fault = self.faults.decide(
            request.method, request.path, request.query, self._attempt(request)
        )
        if fault.delay_s:
            self.stats.fault("latency")
            self._stopping.wait(fault.delay_s)
        if fault.kind is None:
            return True
        self.stats.fault(fault.kind)
        if fault.kind == "drop":
            connection.drop()
            self.stats.reply(0, 0)
            return False
        if fault.kind == "stall":
            self._stopping.wait(self.faults.stall_s)
            connection.drop()
            self.stats.reply(0, 0)
            return False
        if fault.kind == "429":
            raise ApiProblem(429, "Too Many Requests")
        raise ApiProblem(fault.status, _ERROR_TEXT.get(fault.status, "Server Error"))


_ERROR_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    522: "Connection Timed Out",
}


# --- the CLI entry --------------------------------------------------------------------------


def run(
    host: str,
    port: int,
    seed: int,
    profile: str,
    faults: str,
    api_key: str,
    agents: int,
    crm_url: str | None = None,
    crm_token: str | None = None,
    webhook_format: str = "json",
    *,
    tz: str = "Europe/Moscow",
    page_cap: int = 5000,
    csv_shape: int | str = 10,
    malformed_rate: float = 0.0,
    prerender_days: int = 0,
    cache_mb: int = 512,
    dialect: str = "platform",
    missing_endpoints: tuple[str, ...] | None = None,
    not_implemented: tuple[str, ...] = (),
    printer: Callable[[str], None] = print,
) -> None:
    """Serve the emulator until Ctrl-C or SIGTERM; push webhooks when ``crm_url`` is given."""
    emu = Emulator(
        seed=seed,
        agents=agents,
        profile=profile,
        tz=tz,
        page_cap=page_cap,
        csv_shape=csv_shape,
        malformed_rate=malformed_rate,
        cache_mb=cache_mb,
        dialect=dialect,
        missing_endpoints=missing_endpoints,
        not_implemented=not_implemented,
    )
    if prerender_days > 0:
        today = emu.today()
        emu.prerender(today - timedelta(days=prerender_days), today - timedelta(days=1))
    stop = threading.Event()
    server = EmulatorServer(emu, api_key=api_key, faults=Faults.parse(faults), host=host, port=port)
    pusher_thread: threading.Thread | None = None
    with _StopOnSignals(stop), server:
        printer(server.base_url)
        if crm_url:
            pusher = WebhookPusher(
                emu, crm_url, crm_token or "", fmt=webhook_format, seed=seed, dialect=dialect
            )
            pusher_thread = threading.Thread(target=pusher.run, args=(stop,), daemon=True)
            pusher_thread.start()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            stop.set()
    if pusher_thread is not None:
        pusher_thread.join(timeout=5)


class _StopOnSignals:
    """Set ``stop`` on SIGTERM (and SIGINT) while the block runs, then restore handlers."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
