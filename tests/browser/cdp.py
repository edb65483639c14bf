"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket on loopback).

No browser download and no extra package: Debian's ``chromium`` and the ``websockets``
client (a Prefect dependency). Enough for the dashboard tests: open a file, collect console
errors, exceptions and dialogs, evaluate JavaScript, take a full-page screenshot.

    python -m tests.browser.cdp OUT_DIR page.html [page.html ...]   # screenshots for people
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    pass


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [*self.console_errors, *self.exceptions, *self.log_errors]


class Tab:
    """One page target, attached with a flat session on the browser's websocket."""

    def __init__(self, ws: ClientConnection, ids: Iterator[int], session: str) -> None:
        self.ws = ws
        self.ids = ids
        self.session = session
        self.log = PageLog()
        self.events: list[dict[str, Any]] = []

    def _handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.log.console_errors.append(text)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception", {})
            self.log.exceptions.append(str(exc.get("description") or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.log.log_errors.append(f"{entry.get('source')}: {entry.get('text')}")
        elif method == "Page.javascriptDialogOpening":
            self.log.dialogs.append(f"{params.get('type')}: {params.get('message')}")
            self._send("Page.handleJavaScriptDialog", {"accept": True})
        if method:
            self.events.append(message)

    def _send(self, method: str, params: dict[str, Any] | None = None) -> int:
        message_id = next(self.ids)
        self.ws.send(
            json.dumps(
                {
                    "id": message_id,
                    "method": method,
                    "params": params or {},
                    "sessionId": self.session,
                }
            )
        )
        return message_id

    def _pump(self, timeout: float) -> dict[str, Any] | None:
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        message: dict[str, Any] = json.loads(raw)
        if "method" in message and message.get("sessionId") == self.session:
            self._handle(message)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        message_id = self._send(method, params)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._pump(max(0.01, deadline - time.monotonic()))
            if message is not None and message.get("id") == message_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise CdpError(f"{method}: no answer in {timeout} s")

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self._pump(max(0.01, deadline - time.monotonic()))
        raise CdpError(f"no {method} in {timeout} s")

    def open(self, url: str, timeout: float = 60) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout,
        )
        if "exceptionDetails" in result:
            raise CdpError(f"evaluate failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def settle(self, seconds: float = 0.3) -> None:
        """Let timers and late console messages arrive."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(max(0.01, deadline - time.monotonic()))

    def screenshot(self, path: Path, width: int = 1400) -> Path:
        height = 900
        for _ in range(3):  # charts re-layout to the new size, which can change the height
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            self.settle(0.6)
            needed = int(self.evaluate("Math.ceil(document.body.scrollHeight)") or height)
            needed = max(600, min(needed, 16000))
            if needed == height:
                break
            height = needed
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


class Browser:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    def _call(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise CdpError(f"{method}: no answer")

    def new_tab(self, width: int = 1400, height: int = 900) -> Tab:
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        tab = Tab(self.ws, self.ids, session)
        for domain in ("Page", "Runtime", "Log"):
            tab.call(f"{domain}.enable")
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return tab


@contextmanager
def chromium(executable: str | None = None, timeout: float = 30) -> Iterator[Browser]:
    """Start headless Chromium with a fresh profile; yields a connected :class:`Browser`."""
    executable = executable or chromium_path()
    if executable is None:
        raise CdpError("chromium is not installed (make chromium, or apt-get install chromium)")
    with tempfile.TemporaryDirectory(
        prefix="vats-chromium-", ignore_cleanup_errors=True
    ) as profile:
        proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                if proc.poll() is not None:
                    raise CdpError(f"chromium exited with {proc.returncode} at start")
                if time.monotonic() > deadline:
                    raise CdpError("chromium did not open its DevTools port")
                time.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            with connect(f"ws://127.0.0.1:{port}{path}", max_size=64 << 20) as ws:
                yield Browser(ws)
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop chromium and its helper processes (its own process group, started above)."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # helpers exit just after the browser
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def main(argv: list[str]) -> None:
    """`python -m tests.browser.cdp [--width 400] OUT PAGE.html ...`: a full-page screenshot
    of each page into OUT (1400 px wide unless --width, e.g. a phone's 400)."""
    width = 1400
    if argv[:1] == ["--width"]:
        width, argv = int(argv[1]), argv[2:]
    out, *pages = argv
    with chromium() as browser:
        tab = browser.new_tab(width=width)
        for page in pages:
            tab.open(Path(page).resolve().as_uri())
            tab.settle(1.0)
            shot = tab.screenshot(Path(out) / (Path(page).stem + ".png"), width=width)
            problems = tab.log.problems + tab.log.dialogs
            print(f"{shot}" + (f"  problems: {problems}" if problems else ""))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
