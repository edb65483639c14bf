"""Shared fixtures. Network traffic in tests goes to 127.0.0.1 only."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


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
