"""Shared fixtures. Network traffic in tests goes to 127.0.0.1 only.

The fast lane (`make check`) runs the tests that are neither ``slow`` nor ``browser``; `make
test` runs them all. A test is ``slow`` when it starts a process (`vats-etl`, Python, a
Prefect server or worker), runs flows on Prefect, or takes more than a couple of seconds.
The first two are checked here: a test that needs the session's Prefect server must be
marked, and an unmarked test that starts a process fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# tests/test_layout.py runs this conftest on test modules of its own
pytest_plugins = ("pytester",)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


# What a test is marked when it may start processes; `make check` leaves such tests out.
PROCESS_MARKERS = ("slow", "browser")
# Fixtures that start Prefect's server: a session-scoped fixture is set up before any guard.
PREFECT_FIXTURES = ("prefect_harness", "prefect_api_url")


def marked_for_processes(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in PROCESS_MARKERS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if not marked_for_processes(item)
        and any(name in getattr(item, "fixturenames", ()) for name in PREFECT_FIXTURES)
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests run Prefect's server but are not marked slow:\n  " + "\n  ".join(unmarked)
        )


def is_heavy(command: Any) -> bool:
    """Python (`vats-etl`, a Prefect server or worker, any script of this environment) or
    Chromium: what costs a fast test seconds. Small tools libraries call (`file`, `uname`) are
    not."""
    program = command if isinstance(command, (str, bytes, os.PathLike)) else command[0]
    path = Path(os.fsdecode(program).split()[0])
    return (
        path.name.startswith("python")
        or path.parent == Path(sys.executable).parent
        or "chromium" in path.name
    )


@pytest.fixture(autouse=True)
def heavy_processes_only_where_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """A test not marked slow (or browser) starts no Python or Chromium process: the fast
    lane would pay seconds for it. The attempt is refused and fails the test, also when the
    code under test swallows the refusal."""
    if marked_for_processes(request.node):
        yield
        return
    attempts: list[str] = []
    start = subprocess.Popen.__init__

    def refuse_heavy(self: subprocess.Popen[Any], args: Any, *more: Any, **options: Any) -> None:
        if is_heavy(args):
            attempts.append(repr(args)[:200])
            raise AssertionError(f"a test not marked slow started a process: {args!r}"[:300])
        start(self, args, *more, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_heavy)
    yield
    assert not attempts, f"mark {request.node.nodeid} slow: it starts {attempts[0]}"


@pytest.fixture(scope="session", autouse=True)
def dashboards_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Flows that rebuild dashboards write to a temporary folder, never into the repo."""
    previous = os.environ.get("VATS_DASHBOARDS_DIR")
    os.environ["VATS_DASHBOARDS_DIR"] = str(tmp_path_factory.mktemp("dashboards"))
    yield
    if previous is None:
        os.environ.pop("VATS_DASHBOARDS_DIR", None)
    else:
        os.environ["VATS_DASHBOARDS_DIR"] = previous


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API for tests that run flows (started once per session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The session's Prefect API, for the `vats-etl` processes a test starts: given it in
    PREFECT_API_URL, a command that runs flows reports there and starts no temporary server of
    its own (7-14 s each)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url and url.startswith("http://127.0.0.1")
    return str(url)
