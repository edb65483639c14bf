"""The background start of Prefect's API: what a command leaves behind when it ends early."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from vats_etl import prefect_api


@contextmanager
def slow_health(delay_s: float, asked: threading.Event) -> Iterator[str]:
    """A Prefect API on loopback whose health check answers 200 after `delay_s`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.set()
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("content-length", "4")
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as httpd:
        serving = threading.Thread(target=httpd.serve_forever, daemon=True)
        serving.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
        finally:
            httpd.shutdown()
            serving.join()


def test_closing_waits_for_the_background_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that fails before its flows run closes the server at exit while the thread
    is still checking the API. Close returns only once the thread is done: a daemon thread
    left inside OpenSSL while the C library's exit handlers tear OpenSSL down killed
    `vats-etl replay` with SIGSEGV after it had printed its one line."""
    asked = threading.Event()
    with slow_health(0.8, asked) as url:
        monkeypatch.setenv("PREFECT_API_URL", url)
        server = prefect_api.TemporaryServer(timeout_s=5)
        assert asked.wait(10), "the background thread never asked the API"
        server.close()
        assert not server._thread.is_alive()
        assert server.url == url  # it finished its check rather than being abandoned in it


def test_the_check_a_closing_command_waits_for_logs_nothing_after_its_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With -v httpx logs every request at INFO; a command's error line must stay its last
    line, so the check finishing while the command closes is not logged."""
    caplog.set_level(logging.INFO, logger="httpx")
    filters = list(logging.getLogger("httpx").filters)
    asked = threading.Event()
    with slow_health(0.5, asked) as url:
        monkeypatch.setenv("PREFECT_API_URL", url)
        server = prefect_api.TemporaryServer(timeout_s=5)
        assert asked.wait(10)
        server.close()
        assert server.url == url
        assert [r.getMessage() for r in caplog.records if r.name == "httpx"] == []
        assert logging.getLogger("httpx").filters == filters  # left as it was found
        with httpx.Client() as client:  # other requests are logged as before
            client.get(f"{url}/health")
    assert len([r for r in caplog.records if r.name == "httpx"]) == 1
