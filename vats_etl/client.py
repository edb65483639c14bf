"""Client for the PBX CRM API (spec section 3 onwards): every GET, plus POST makecall.

One seam for I/O: the httpx transport. Tests pass the emulator's real socket or an
``httpx.MockTransport``. Responses come back as raw bytes (for the archive) together with
decoded items; turning items into frames is :mod:`vats_etl.parse`'s job.

History endpoints have no offset: a response holding ``limit`` rows may be truncated, so the
window is split in two and both halves are fetched again, until no window is full
(:func:`after_response` is that state machine). Timeouts, connection errors, 5xx and 429 are
retried with exponential backoff and full jitter, honouring ``Retry-After``, within a bounded
number of attempts and a bounded total time.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import httpx
import orjson

from vats_etl import errors, parse, periods
from vats_etl.config import Secret, header_safe
from vats_etl.history import HistoryFormat, HistoryKind
from vats_etl.periods import Window

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Sized)

HISTORY_PATHS: dict[tuple[str, str], str] = {
    ("external", "json"): "history/json",
    ("external", "csv"): "history/csv",
    ("internal", "json"): "history/inner/json",
    ("internal", "csv"): "history/inner/csv",
}
# 429 is retried like a 5xx; 501 "Not Implemented" is an answer, not a hiccup (an account
# without the endpoint), so it is not retried.
RETRIED = frozenset({429})
NOT_RETRIED = frozenset({501})
# Smallest window we will split; a full response for a window this short cannot be resolved.
MIN_WINDOW_S = 2
USER_AGENT = "vats-etl/0.1 (+https://github.com/vats-etl)"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `attempts` tries and `total_s` seconds per request."""

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    total_s: float = 180.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


# One cheap call that says whether the URL and the key work (`check`, `accounts`, the check
# before a run loads): a host that accepts and never answers is given up within ~20 s
# whoever asks, each attempt's wait bounded too.
CHECK_RETRY = RetryPolicy(attempts=3, base_delay_s=0.5, max_delay_s=2.0, total_s=20.0)
CHECK_ATTEMPT_TIMEOUT_S = 10.0
# The shortest wait given to an attempt near the end of a request's total time.
MIN_ATTEMPT_TIMEOUT_S = 1.0
# What follows "header value"/"header name" in the HTTP stack's complaints is the header
# itself (h11: ``Illegal header value b'...'``): it may hold the key.
_HEADER_QUOTED = re.compile(r"(header (?:value|name)s?)\b.*", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One history response: the window it answers, its bytes, and their decoded form."""

    window: Window
    body: bytes
    decoded: T
    fetched_at: datetime
    elapsed_s: float
    attempts: int = 1


@dataclass(frozen=True)
class Response:
    body: bytes
    content_type: str
    elapsed_s: float
    attempts: int
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def after_response(window: Window, rows: int, limit: int) -> list[Window]:
    """Pagination state machine for offset-less history: the windows still to fetch.

    A response with fewer than `limit` rows is complete (nothing left); a full one may be
    truncated, so its window is split in two halves that replace it.
    """
    if rows < limit:
        return []
    if window.seconds < MIN_WINDOW_S:
        raise errors.ApiError(
            f"history {window}: {rows} rows in a {window.seconds:.0f}-second window reach "
            f"limit={limit}; raise VATS_PAGE_LIMIT"
        )
    return periods.split(window)


def decode_json(body: bytes) -> list[Any]:
    """A history JSON body's records; an empty window (``[]``, ``null``, ``""``, ``{}``, an
    empty body: the platform answers them all) is no records."""
    if parse.is_empty_window(body):
        return []
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.UnknownShape(f"response is not JSON ({exc}): {_excerpt(body)}") from None
    if not isinstance(data, list):
        raise errors.UnknownShape(f"expected a JSON array, got {type(data).__name__}")
    return data


def _excerpt(body: bytes, size: int = 120) -> str:
    text = body[:size].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("…" if len(body) > size else "")


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _api_error(what: str, response: httpx.Response) -> errors.ApiError:
    """Map a non-retried error response to the named exception of errors.py."""
    status = response.status_code
    text = response.content.decode("utf-8", "replace")
    lowered = text.lower()
    cls: type[errors.ApiError]
    if status == 400:
        cls, why = (
            errors.ApiValidationError,
            "400 Validation error: the API rejected the parameters",
        )
    elif status == 401 and "domain disabled" in lowered:
        cls, why = (
            errors.DomainDisabled,
            "401 Domain disabled: the PBX account itself is switched off (the key may be right)",
        )
    elif status == 401 and "switched off" in lowered:
        cls, why = (
            errors.CrmSwitchedOff,
            "401 CRM switched off: API access is turned off in the PBX",
        )
    elif status == 401 and "disabled" in lowered:
        cls, why = errors.CrmDisabled, "401 CRM disabled: the PBX's CRM service is not available"
    elif status == 401:
        cls, why = errors.InvalidToken, "401 Invalid token: the PBX rejected VATS_API_KEY"
    elif status == 404:
        cls, why = errors.NotFound, "404 Not Found"
    elif status == 405:
        cls, why = errors.MethodNotAllowed, "405 Method Not Allowed"
    elif status == 410:
        cls, why = errors.Gone, "410 Gone"
    elif status == 501:
        cls, why = errors.ServerError, "501 Not Implemented"
    elif status >= 500:
        cls, why = errors.ServerError, f"{status} server error"
    else:
        cls, why = errors.ApiError, f"HTTP {status}: {_excerpt(response.content)}"
    return cls(f"{what}: {why}", status=status, endpoint=what)


class PbxClient:
    """The PBX CRM API. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        page_limit: int = 5000,
        list_limit: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not header_safe(api_key.reveal()):  # refused before any request (errors.py)
            raise errors.ConfigError(
                "VATS_API_KEY holds a character an HTTP header cannot carry (a line break, a "
                "control character or a non-ASCII letter): check its value"
            )
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.page_limit = page_limit
        self.list_limit = list_limit
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"X-API-KEY": api_key.reveal(), "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    def __repr__(self) -> str:
        return f"PbxClient({self.base_url!r})"

    def __enter__(self) -> PbxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport with retries ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        what: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float | None = None,
    ) -> Response:
        """Send one request with bounded retries (`retry`, else the client's; each attempt
        waits at most `timeout_s`, else the client's, and never past the policy's total);
        raise a named error on failure."""
        what = what or f"{method} {path}"
        policy = retry or self.retry
        started = time.monotonic()
        last_problem = ""
        for attempt in range(policy.attempts):
            retry_after: float | None = None
            wait_s = max(
                MIN_ATTEMPT_TIMEOUT_S,
                min(timeout_s or self.timeout_s, policy.total_s - (time.monotonic() - started)),
            )
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    timeout=httpx.Timeout(wait_s, connect=min(wait_s, 10.0)),
                )
            except httpx.TimeoutException as exc:
                last_problem = f"timeout ({type(exc).__name__})"
            except httpx.LocalProtocolError as exc:  # what we would send is not HTTP: no retry
                raise errors.ApiError(
                    f"{what}: the request cannot be sent ({self._scrub(exc)})", endpoint=what
                ) from None
            except httpx.TransportError as exc:
                last_problem = f"connection error ({type(exc).__name__}: {self._scrub(exc)})"
            except (httpx.RequestError, httpx.InvalidURL) as exc:  # undecodable, redirects
                raise errors.ApiError(
                    f"{what}: {type(exc).__name__}: {self._scrub(exc)}", endpoint=what
                ) from None
            else:
                if response.status_code < 400:
                    return Response(
                        body=response.content,
                        content_type=response.headers.get("content-type", ""),
                        elapsed_s=time.monotonic() - started,
                        attempts=attempt + 1,
                    )
                if response.status_code not in RETRIED and response.status_code < 500:
                    raise _api_error(what, response)
                if response.status_code in NOT_RETRIED:
                    raise _api_error(what, response)
                last_problem = f"HTTP {response.status_code}"
                retry_after = _retry_after_s(response)
            spent = time.monotonic() - started
            remaining = policy.total_s - spent
            delay = policy.backoff(attempt, self._rng)
            if retry_after is not None:
                delay = max(delay, retry_after)
            if attempt + 1 >= policy.attempts or delay > remaining:
                break
            log.info("%s: %s; retry %d in %.2fs", what, last_problem, attempt + 1, delay)
            self._sleep(delay)
        raise errors.GaveUp(
            f"{what}: gave up after {attempt + 1} attempts in {time.monotonic() - started:.1f}s"
            f" (last: {last_problem})",
            endpoint=what,
        )

    def _scrub(self, exc: Exception) -> str:
        """The HTTP stack's message without the key, however it is quoted, and without any
        header it quotes; on one line."""
        text = _HEADER_QUOTED.sub(r"\1 (not shown)", str(exc))
        key = self._key.reveal()
        if key:
            for form in {key, ascii(key)[1:-1], repr(key.encode("utf-8", "replace"))[2:-1]}:
                text = text.replace(form, "***")
        return " ".join(text.split())

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.request("GET", path, params=params)
        try:
            return orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise errors.UnknownShape(
                f"GET {path}: response is not JSON: {_excerpt(response.body)}"
            ) from None

    # -- history ---------------------------------------------------------------------------

    def history_once(
        self, kind: HistoryKind, fmt: HistoryFormat, window: Window, *, type_filter: str = "all"
    ) -> Response:
        """One history request for exactly this window (no splitting)."""
        path = HISTORY_PATHS[(kind, fmt)]
        params = {**window.params(), "type": type_filter, "limit": self.page_limit}
        return self.request("GET", path, params=params, what=f"GET {path} {window}")

    def history(
        self,
        kind: HistoryKind,
        fmt: HistoryFormat,
        window: Window,
        *,
        decode: Callable[[Window, Response], T],
        type_filter: str = "all",
        pieces: Sequence[Window] | None = None,
    ) -> Iterator[Page[T]]:
        """Pages covering `window` in time order, none of them full (so none truncated).

        `decode(window, response)` sees every response, the full ones that get split
        included, so a caller can archive each body before it is parsed. `pieces`, when
        given, must tile `window`; fetching starts from them (a caller that knows how dense
        a day is saves the full responses that would only be split).
        """
        pending: deque[Window] = deque(pieces or [window])
        if pending[0].start != window.start or pending[-1].end != window.end:
            raise ValueError(f"pieces do not cover {window}")
        while pending:
            current = pending.popleft()
            response = self.history_once(kind, fmt, current, type_filter=type_filter)
            decoded = decode(current, response)
            rest = after_response(current, len(decoded), self.page_limit)
            if rest:
                log.info("history %s: %d rows reach the limit; splitting", current, len(decoded))
                pending.extendleft(reversed(rest))
                continue
            yield Page(
                window=current,
                body=response.body,
                decoded=decoded,
                fetched_at=response.fetched_at,
                elapsed_s=response.elapsed_s,
                attempts=response.attempts,
            )

    def history_items(self, kind: HistoryKind, window: Window) -> list[dict[str, Any]]:
        """All JSON history records of a window, decoded (convenience for library users)."""
        pages = self.history(kind, "json", window, decode=lambda _w, r: decode_json(r.body))
        return [row for page in pages for row in page.decoded]

    # -- directory (list endpoints page with start/limit/info.next) ------------------------

    def list_pages(self, path: str, params: dict[str, Any] | None = None) -> list[bytes]:
        """Raw bodies of every page of a list endpoint, first to last."""
        bodies: list[bytes] = []
        start = 0
        while True:
            response = self.request(
                "GET", path, params={**(params or {}), "start": start, "limit": self.list_limit}
            )
            bodies.append(response.body)
            nxt = _next_start(path, response.body, start)
            if nxt is None:
                return bodies
            start = nxt

    def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [item for body in self.list_pages(path, params) for item in _items(path, body)]

    def users(self, *, with_status: bool = False) -> list[dict[str, Any]]:
        """Every employee; ``with_status`` asks the newer edition's ``with=status`` (each
        user's ``status``: online/offline), which older accounts ignore."""
        return self.list_all("users", {"with": "status"} if with_status else None)

    def user(self, login: str) -> dict[str, Any]:
        return dict(self.get_json(f"users/{login}"))

    def user_groups(self, login: str) -> list[dict[str, Any]]:
        return self.list_all(f"users/{login}/groups")

    def subscription(self, login: str, group_id: str | None = None) -> bool:
        params = {"group_id": group_id} if group_id else None
        return bool(self.get_json(f"users/{login}/subscription", params).get("state"))

    def dnd(self, login: str) -> bool:
        return bool(self.get_json(f"users/{login}/dnd").get("state"))

    def groups(self) -> list[dict[str, Any]]:
        return self.list_all("groups")

    def group(self, group_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"groups/{group_id}"))

    def telnums(self) -> list[dict[str, Any]]:
        return self.list_all("telnums")

    def telnum(self, number: str) -> dict[str, Any]:
        return dict(self.get_json(f"telnums/{number}"))

    def sims(self) -> list[dict[str, Any]]:
        return self.list_all("sims")

    def sim(self, number: str) -> dict[str, Any]:
        return dict(self.get_json(f"sims/{number}"))

    def blacklist(self, *, with_statistics: bool = False) -> list[dict[str, Any]]:
        params = {"with": "statistics"} if with_statistics else None
        return self.list_all("blacklist/telnums", params)

    def block_anonymous(self) -> bool:
        return bool(self.get_json("blacklist/block-anonymous").get("state"))

    def domain(self) -> Any | None:
        """``GET /domain`` of the newer edition (the account's settings, e.g. its
        ``timezone``), decoded; None when the account does not offer it (404, 405, 501)."""
        try:
            return self.get_json("domain")
        except (errors.NotFound, errors.MethodNotAllowed):
            return None
        except errors.ServerError as exc:
            if exc.status == 501:
                return None
            raise

    def recording(self, link: str) -> Response:
        """The bytes a recording link points to. The key goes only to the API's own host:
        the link's path is asked of it (the platform's links live there, under
        ``/api/v2/call-records/record/``), whatever host the link names. 404 raises
        NotFound, 410 Gone; timeouts, connection errors and 5xx are retried."""
        path = httpx.URL(link).raw_path.decode("ascii")
        origin = httpx.URL(self.base_url).copy_with(raw_path=b"/", query=None, fragment=None)
        url = str(origin).rstrip("/") + path
        return self.request("GET", url, what=f"GET recording {path.rsplit('/', 1)[-1]}")

    def makecall(self, phone: str, user: str) -> str:
        """Ask the PBX to ring `user`, then connect them to `phone`; returns the call's uid."""
        response = self.request("POST", "makecall", json={"phone": phone, "user": user})
        data = orjson.loads(response.body) if response.body.strip() else None
        if isinstance(data, dict):
            return str(data.get("uid") or data.get("callid") or data.get("id") or "")
        return str(data) if data is not None else ""

    def check(self) -> int | None:
        """One cheap authenticated call (given up within CHECK_RETRY's total, whatever this
        client's policy); returns the number of users the PBX reports, None when it reports
        none that reads as a whole number (the key works all the same)."""
        response = self.request(
            "GET",
            "users",
            params={"start": 0, "limit": 1},
            retry=CHECK_RETRY,
            timeout_s=CHECK_ATTEMPT_TIMEOUT_S,
        )
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise errors.UnknownShape(
                f"GET users: response is not JSON: {_excerpt(response.body)}"
            ) from None
        info = data.get("info") if isinstance(data, dict) else None
        if isinstance(info, dict) and info.get("total") is not None:
            return _whole(info["total"])
        return len(_as_items("users", data))


def _as_items(path: str, data: Any) -> list[dict[str, Any]]:
    """List endpoints answer {"items": [...], "info": {...}}; a few answer a bare array."""
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return list(data["items"])
    if isinstance(data, list):
        return data
    raise errors.UnknownShape(f"GET {path}: expected {{'items': [...]}} or a list")


def _loads(path: str, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise errors.UnknownShape(f"GET {path}: response is not JSON: {_excerpt(body)}") from None


def _items(path: str, body: bytes) -> list[dict[str, Any]]:
    return _as_items(path, _loads(path, body))


def _next_start(path: str, body: bytes, start: int) -> int | None:
    """Where the next page starts, or None at the end (a tiny state machine):

    * an empty page (or a bare array: some accounts answer so for small lists) ends it;
    * ``info.next`` when it is a number past ``start`` (and below ``info.total``, if given);
    * else ``info.total`` when the pages so far hold fewer items (the platform's answers may
      carry no ``next``): the next page starts after this one's items."""
    data = _loads(path, body)
    if not isinstance(data, dict):
        return None
    info = data.get("info")
    items = data.get("items")
    if not isinstance(info, dict) or not isinstance(items, list) or not items:
        return None
    total = _whole(info.get("total"))
    nxt = _whole(info.get("next"))
    if nxt is not None and nxt > start and (total is None or nxt < total):
        return nxt
    if nxt is None and total is not None and start + len(items) < total:
        return start + len(items)
    return None


def _whole(value: Any) -> int | None:
    """A non-negative whole number (also as text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
