"""The Prefect API a command's flow runs report to, made ready before the first flow runs.

With PREFECT_API_URL set (environment or Prefect profile), flows report to that server and
nothing starts here. Otherwise Prefect would start its temporary server (a uvicorn
subprocess over a SQLite database in PREFECT_HOME) when the first flow runs, wait
PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (20 s) for it, and then fail with a
40-line traceback — which happens on a busy 2-core machine (the first start migrates the
database, ~14 s on a quiet one). So the CLI starts that same server itself, in the
background, as soon as a command knows it will run a flow: the command checks the API and
the database and plans (a backfill also starts loading) meanwhile. It waits longer
(:data:`STARTUP_TIMEOUT_S`), tries once more on a fresh port, and then fails with one line
(:class:`errors.PrefectUnavailable`).

The server is launched the way Prefect's ``SubprocessASGIServer`` launches it (the same
uvicorn factory and flags), but without importing Prefect's server into this process
(1.1–1.4 s of CPU the command would wait for) and with its output in a log file rather than
on the user's terminal. Flows find it through PREFECT_API_URL. It stops when the command
exits, after Prefect has sent its last events (Prefect drains them in threading's exit hook,
which runs before ``atexit``'s).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from vats_etl import errors

# Long enough for a first start (database migrations) on a busy 2-core machine; Prefect's
# own default is 20 s. PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, when set, wins.
STARTUP_TIMEOUT_S = 90.0
ATTEMPTS = 2
# A running server answers its health check in milliseconds; a few seconds cover a busy one.
RUNNING_SERVER_WAIT_S = 5.0
# How long a command's exit waits for the background thread to finish its current step: one
# health request (5 s at most) and building an HTTP client take less.
EXIT_WAIT_S = 10.0
HELP = (
    "set PREFECT_API_URL to a running Prefect server (`prefect server start`, see "
    "docs/operations.md) or raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
)


def configured_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    from prefect.settings import get_current_settings  # a profile may set it (~0.6 s import)

    return get_current_settings().api.url or None


def startup_timeout_s() -> float:
    value = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
    try:
        return float(value) if value else STARTUP_TIMEOUT_S
    except ValueError:
        raise errors.ConfigError(
            f"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS must be seconds, got {value!r}"
        ) from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _site_packages() -> str:
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.submodule_search_locations
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


class TemporaryServer:
    """Prefect's temporary API server for one command, started in a background thread."""

    def __init__(self, timeout_s: float, attempts: int = ATTEMPTS) -> None:
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.url: str | None = None
        self.error: str | None = None
        self.temporary = False  # False: PREFECT_API_URL names a running server
        self.waited_s = 0.0  # how long the command waited for the server in ready()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        # The server's output, for the one line that says why it did not start: a file
        # without a name, so that nothing is left behind even when the command is killed.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (open while the server runs)
        self._thread = threading.Thread(target=self._start, name="prefect-server", daemon=True)
        atexit.register(self.close)
        self._thread.start()

    def _start(self) -> None:
        if os.environ.get("PREFECT_API_URL"):
            self._use_running(os.environ["PREFECT_API_URL"])
            return
        problems = []
        for attempt in range(self.attempts):
            port = _free_port()
            if not self._spawn(port):
                return
            if attempt == 0:  # a profile or .env may name a server: read while this one boots
                try:
                    configured = configured_url()
                except Exception as exc:  # a broken profile: ready() says so in one line
                    self._stop()
                    self.error = f"cannot read Prefect's settings: {str(exc).splitlines()[0]}"
                    return
                if configured:
                    self._stop()
                    self._use_running(configured)
                    return
                self.temporary = True
            problem = self._await(port)
            if not problem:
                self.url = f"http://127.0.0.1:{port}/api"
                return
            problems.append(problem)
        self.error = (
            f"Prefect's temporary server did not start ({'; then '.join(problems)}): {HELP}"
        )

    def _use_running(self, url: str) -> None:
        """Use the server the user named, once it answers: a stopped one would otherwise end
        the command in Prefect's own traceback, minutes of retries later."""
        deadline = time.monotonic() + RUNNING_SERVER_WAIT_S
        problem = "no answer"
        with httpx.Client(timeout=5.0) as client:
            while True:
                try:
                    response = client.get(f"{url.rstrip('/')}/health")
                    if response.status_code == 200:
                        self.url = url
                        return
                    problem = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                if time.monotonic() >= deadline or self._closed:
                    break
                time.sleep(0.5)
        self.error = (
            f"the Prefect server at PREFECT_API_URL={url} does not answer ({problem}): start "
            "it (`prefect server start`), or unset PREFECT_API_URL to use a temporary one"
        )

    def _spawn(self, port: int) -> bool:
        """Launch the server on `port`, as Prefect's SubprocessASGIServer does."""
        with self._lock:
            if self._closed:
                return False
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    _site_packages(),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    "PREFECT_UI_ENABLED": "0",
                    "PREFECT__SERVER_EPHEMERAL": "1",
                    "PREFECT__SERVER_FINAL": "1",
                },
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
            )
        return True

    def _await(self, port: int) -> str:
        """Poll the server's health until it answers (""), or say why it did not."""
        process = self._process
        deadline = time.monotonic() + self.timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline and process is not None and not self._closed:
                code = process.poll()
                if code is not None:  # 3: it could not start, e.g. its port was taken
                    self._stop()
                    return f"it exited with code {code}{self._last_log_line()}"
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                        return ""
                time.sleep(0.1)
        self._stop()
        if process is None:
            return "the command ended first"
        return f"no answer within {self.timeout_s:.0f} s, the machine may be busy"

    def _last_log_line(self) -> str:
        """The server's last words (read once it has exited: it shares the file's offset)."""
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):  # closed: the command is ending
            return ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return f": {lines[-1].strip()[:200]}" if lines else ""

    def _stop(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def ready(self) -> str:
        """Wait for the server; point Prefect at it. Raises PrefectUnavailable."""
        started = time.monotonic()
        self._thread.join()
        self.waited_s += time.monotonic() - started
        if self.url is None:
            raise errors.PrefectUnavailable(self.error or "Prefect's temporary server is stopped")
        if os.environ.get("PREFECT_API_URL") != self.url:
            os.environ["PREFECT_API_URL"] = self.url
            if "prefect.context" in sys.modules:  # settings were read before the URL was known
                from prefect.context import refresh_global_settings_context

                refresh_global_settings_context()
        return self.url

    def close(self) -> None:
        """Stop the server and wait for the background thread to leave what it is doing.

        Runs at exit, also when a command fails before its flows need the server (a damaged
        warehouse ends `replay` within milliseconds). The thread may then be inside OpenSSL,
        loading the CA file for its HTTP client with the GIL released, and the C library's
        exit handlers free OpenSSL's tables under it: the process died of SIGSEGV after
        printing its one line. Waiting here, before the interpreter shuts down, keeps the
        exit code the command chose. Ending with ``os._exit`` instead would also skip the
        exit handlers that stop this server and let Prefect send its last events."""
        with self._lock:
            self._closed = True
        self._stop()
        if self._thread.is_alive():
            # The command has said its last line: the check it no longer needs is not logged
            # after it (with -v, httpx logs every request).
            probe = self._thread.ident
            httpx_log = logging.getLogger("httpx")
            quiet = _NotFromThread(probe)
            httpx_log.addFilter(quiet)
            try:
                self._thread.join(EXIT_WAIT_S)
            finally:
                httpx_log.removeFilter(quiet)
        self._log.close()


class _NotFromThread(logging.Filter):
    def __init__(self, ident: int | None) -> None:
        super().__init__()
        self.ident = ident

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.ident


_server: TemporaryServer | None = None


def start() -> TemporaryServer:
    """Begin making the API ready (idempotent): returns at once."""
    global _server
    if _server is None:
        _server = TemporaryServer(startup_timeout_s())
    return _server


def temporary() -> bool:
    """Whether this command's flows report to a temporary server it started."""
    return _server is not None and _server.temporary


def waited_s() -> float:
    """How long this command has waited for a temporary server to answer."""
    return _server.waited_s if _server is not None and _server.temporary else 0.0


def ready() -> str:
    """The API URL, once the server answers (started now if :func:`start` was not called)."""
    return start().ready()


@contextlib.contextmanager
def connected(*, verbose: bool) -> Iterator[str]:
    """Run flows inside this: Prefect's API ready (PrefectUnavailable if it did not start).

    Without `verbose`, Prefect logs nothing to the terminal: the command says what failed
    in one line itself. With a temporary server, flow runs send no heartbeats: they exist
    so that a server can tell a crashed run, and this one ends with the command — and
    ending a flow run waits up to a second for the heartbeat thread."""
    url = ready()
    import prefect.main  # noqa: F401  (importing it configures Prefect's logging: first that)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if not verbose:
        for name in ("prefect", "EventsWorker", "APILogWorker"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    no_heartbeats = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with temporary_settings(updates=no_heartbeats if temporary() else {}):
        yield url
