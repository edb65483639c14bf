"""The API client with a fake transport: error mapping, retries, splitting, paging.

Tests over a real socket against the emulator live in tests/integration/.
"""

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from vats_etl import errors
from vats_etl.client import PbxClient, RetryPolicy, after_response, decode_json
from vats_etl.config import Secret
from vats_etl.periods import Window

KEY = "secret-key-0123456789abcdef"
DAY = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs
) -> tuple[PbxClient, list[float]]:
    sleeps: list[float] = []
    client = PbxClient(
        "https://pbx.test/crmapi/v1",
        Secret(KEY),
        transport=httpx.MockTransport(handler),
        retry=kwargs.pop("retry", RetryPolicy(attempts=4, base_delay_s=0.01, total_s=5)),
        sleep=sleeps.append,
        **kwargs,
    )
    return client, sleeps


def error(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, json={"error": text})


@pytest.mark.parametrize(
    ("status", "text", "exc"),
    [
        (400, "Validation error", errors.ApiValidationError),
        (401, "Invalid token", errors.InvalidToken),
        (401, "CRM disabled", errors.CrmDisabled),
        (401, "CRM switched off", errors.CrmSwitchedOff),
        (401, "Domain disabled", errors.DomainDisabled),
        (404, "Not found", errors.NotFound),
        (405, "Method Not Allowed", errors.MethodNotAllowed),
        (410, "Record expired", errors.Gone),
        (501, "Not Implemented", errors.ServerError),
    ],
)
def test_error_statuses_map_to_named_exceptions_without_retry(status, text, exc):
    calls = []
    client, sleeps = make_client(lambda r: calls.append(r) or error(status, text))
    with pytest.raises(exc) as info:
        client.history_once("external", "json", DAY)
    message = str(info.value)
    assert "history/json" in message and "20240101T000000Z..20240102T000000Z" in message
    assert KEY not in message
    assert len(calls) == 1 and sleeps == []


def test_sends_key_header_and_spec_parameters():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"[]")

    client, _ = make_client(handler, page_limit=777)
    client.history_once("internal", "csv", DAY, type_filter="success")
    request = seen[0]
    assert request.url.path == "/crmapi/v1/history/inner/csv"
    assert request.headers["X-API-KEY"] == KEY
    assert dict(request.url.params) == {
        "start": "20240101T000000Z",
        "end": "20240102T000000Z",
        "type": "success",
        "limit": "777",
    }


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: httpx.Response(503, text="busy"),
        lambda r: httpx.Response(522, text="upstream timeout"),
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)),
        lambda r: (_ for _ in ()).throw(httpx.RemoteProtocolError("dropped", request=r)),
    ],
)
def test_transient_failures_are_retried_then_succeed(failure):
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return failure(request) if len(attempts) < 3 else httpx.Response(200, content=b"[]")

    client, sleeps = make_client(handler)
    response = client.history_once("external", "json", DAY)
    assert response.body == b"[]" and response.attempts == 3
    assert len(sleeps) == 2


def test_retry_after_is_honoured():
    attempts = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"}, text="slow down")
        return httpx.Response(200, content=b"[]")

    client, sleeps = make_client(handler)
    client.history_once("external", "json", DAY)
    assert sleeps == [2.0]


def test_gives_up_after_bounded_attempts_naming_the_window():
    client, sleeps = make_client(lambda r: httpx.Response(500, text="boom"))
    with pytest.raises(errors.GaveUp, match=r"history/json 20240101T000000Z.*4 attempts.*HTTP 500"):
        client.history_once("external", "json", DAY)
    assert len(sleeps) == 3


def test_gives_up_at_once_when_retry_after_exceeds_the_budget():
    client, sleeps = make_client(
        lambda r: httpx.Response(429, headers={"Retry-After": "3600"}),
        retry=RetryPolicy(attempts=5, base_delay_s=0.01, total_s=10),
    )
    with pytest.raises(errors.GaveUp, match="1 attempts"):
        client.history_once("external", "json", DAY)
    assert sleeps == []


def test_after_response_splits_only_full_windows():
    assert after_response(DAY, 4999, 5000) == []
    halves = after_response(DAY, 5000, 5000)
    assert [h.seconds for h in halves] == [43200, 43200]
    tiny = Window(DAY.start, DAY.start.replace(second=1))
    with pytest.raises(errors.ApiError, match="VATS_PAGE_LIMIT"):
        after_response(tiny, 10, 10)


def test_history_splits_until_no_window_is_full():
    """A fake API with 10 calls, 1 per 2.4 hours, and limit 3: every page ends up < 3 rows."""
    starts = [DAY.start.timestamp() + i * 8640 for i in range(10)]
    requested: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        from vats_etl.periods import parse_api

        lo = parse_api(request.url.params["start"]).timestamp()
        hi = parse_api(request.url.params["end"]).timestamp()
        requested.append((request.url.params["start"], request.url.params["end"]))
        rows = [{"uid": str(i)} for i, s in enumerate(starts) if lo <= s < hi]
        limit = int(request.url.params["limit"])
        return httpx.Response(200, content=orjson.dumps(rows[:limit]))

    client, _ = make_client(handler, page_limit=3)
    seen: list[Window] = []
    pages = list(
        client.history(
            "external", "json", DAY, decode=lambda w, r: seen.append(w) or decode_json(r.body)
        )
    )
    uids = [row["uid"] for page in pages for row in page.decoded]
    assert sorted(uids, key=int) == [str(i) for i in range(10)]
    assert all(len(page.decoded) < 3 for page in pages)
    assert [p.window for p in pages] == sorted(p.window for p in pages)
    assert len(seen) == len(requested) > len(pages)  # full responses were seen, then split


def test_list_endpoints_page_to_the_end():
    users = [{"login": f"u{700 + i}"} for i in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        limit = int(request.url.params["limit"])
        items = users[start : start + limit]
        nxt = start + limit if start + limit < len(users) else None
        info = {"search": "", "total": len(users), "start": start, "limit": limit, "next": nxt}
        return httpx.Response(200, json={"items": items, "info": info})

    client, _ = make_client(handler, list_limit=3)
    assert [u["login"] for u in client.users()] == [u["login"] for u in users]
    assert len(client.list_pages("users")) == 3


def test_non_json_list_response_is_unknown_shape():
    client, _ = make_client(lambda r: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(errors.UnknownShape, match="maintenance"):
        client.user("u701")


def test_check_returns_total():
    body = {"items": [{"login": "admin"}], "info": {"total": 42, "start": 0, "limit": 1}}
    client, _ = make_client(lambda r: httpx.Response(200, json=body))
    assert client.check() == 42


def test_makecall_posts_json_and_returns_uid():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"uid": "123"})

    client, _ = make_client(handler)
    assert client.makecall("79101234567", "701") == "123"
    assert seen[0].method == "POST"
    assert orjson.loads(seen[0].content) == {"phone": "79101234567", "user": "701"}


def test_repr_hides_the_key():
    client, _ = make_client(lambda r: httpx.Response(200))
    assert KEY not in repr(client)


@pytest.mark.parametrize(
    ("info", "users"),
    [
        ({"total": "lots"}, None),  # the PBX's value is no number: the key works all the same
        ({"total": -3}, None),
        ({"total": [1]}, None),
        ({"total": "12"}, 12),
        ({"total": None}, 1),  # no total: the items counted, as before
    ],
)
def test_check_reads_the_total_defensively(info, users):
    body = {"items": [{"login": "admin"}], "info": info}
    client, _ = make_client(lambda r: httpx.Response(200, json=body))
    assert client.check() == users


@pytest.mark.parametrize("key", ["abc\r\nX-Other: 1", "ключ-123", "tab\there", " lead", "nul\0"])
def test_a_key_no_header_can_carry_is_refused_before_any_request(key):
    sent = []
    with pytest.raises(errors.ConfigError) as caught:
        PbxClient(
            "https://pbx.test/crmapi/v1",
            Secret(key),
            transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)),
        )
    assert "VATS_API_KEY holds a character an HTTP header cannot carry" in str(caught.value)
    assert key.strip() not in str(caught.value) and sent == []


def test_the_http_stacks_complaints_never_show_a_header_or_the_key():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value b'{KEY}\\r\\nX: y'")

    client, sleeps = make_client(refuse)
    with pytest.raises(errors.ApiError) as caught:
        client.users()
    assert (
        str(caught.value)
        == "GET users: the request cannot be sent (Illegal header value (not shown))"
    )
    assert sleeps == []  # nothing to retry: the request itself cannot be sent

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"peer said {KEY!r} and {KEY.encode()!r}")

    client, _ = make_client(drop)
    with pytest.raises(errors.GaveUp) as gave_up:
        client.users()
    assert KEY not in str(gave_up.value) and "***" in str(gave_up.value)


def test_each_attempt_waits_no_longer_than_the_requests_total():
    """The client waits 60 s per attempt for history pages, but never past the policy's
    total; the cheap check has its own bound (10 s an attempt, 20 s in all)."""
    waits: list[float] = []

    def silent(request: httpx.Request) -> httpx.Response:
        waits.append(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("no answer")

    client, _ = make_client(silent, retry=RetryPolicy(attempts=3, base_delay_s=0, total_s=5))
    with pytest.raises(errors.GaveUp):
        client.users()
    assert client.timeout_s == 60 and waits and all(w <= 5 for w in waits)
    waits.clear()
    with pytest.raises(errors.GaveUp):
        client.check()
    assert waits and all(w <= 10 for w in waits)


def test_a_disabled_domain_is_no_rejected_key():
    client, _ = make_client(lambda r: error(401, "Domain disabled"))
    with pytest.raises(errors.DomainDisabled) as info:
        client.check()
    assert not isinstance(info.value, errors.AuthError)
    assert "401 Domain disabled" in str(info.value) and "VATS_API_KEY" not in str(info.value)


@pytest.mark.parametrize("status", [404, 405, 501])
def test_domain_is_none_for_an_account_without_it(status):
    client, sleeps = make_client(lambda r: error(status, "nope"))
    assert client.domain() is None
    assert sleeps == []  # an answer, not a hiccup


def test_domain_failures_that_are_hiccups_still_fail():
    client, _ = make_client(lambda r: error(503, "Service Unavailable"))
    with pytest.raises(errors.GaveUp):
        client.domain()


def test_users_with_status_asks_the_newer_edition():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [{"login": "a", "status": "online"}]})

    client, _ = make_client(handler)
    assert client.users(with_status=True) == [{"login": "a", "status": "online"}]
    assert seen[0].url.params["with"] == "status"
    client.users()
    assert "with" not in seen[1].url.params


def test_a_recording_is_asked_of_the_api_host_with_the_key_whatever_host_the_link_names():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ID3audio", headers={"content-type": "audio/mpeg"})

    client, _ = make_client(handler)
    link = "https://elsewhere.example/api/v2/call-records/record/2024-06-03/ab-cd/1_2.mp3?x=1"
    assert client.recording(link).body == b"ID3audio"
    (request,) = seen
    assert str(request.url) == (
        "https://pbx.test/api/v2/call-records/record/2024-06-03/ab-cd/1_2.mp3?x=1"
    )
    assert request.headers["X-API-KEY"] == KEY
