"""Fixtures for end-to-end tests: an emulator served over a real loopback socket and the
settings that point the pipeline at it, with a temporary warehouse and archive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.emulated import company, make_settings, served
from vats_etl.config import Settings
from vats_etl.emulator import Emulator, EmulatorServer


@pytest.fixture(scope="session")
def emu() -> Emulator:
    """The company in the platform's dialect (truth tests override it with both dialects)."""
    return company()


@pytest.fixture(scope="session")
def server(emu: Emulator) -> Iterator[EmulatorServer]:
    with served(emu) as srv:
        yield srv


@pytest.fixture
def settings(server: EmulatorServer, tmp_path: Path) -> Settings:
    return make_settings(server.base_url, tmp_path)
