"""An emulated PBX over a real loopback socket, for the accounts' command-line tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.accounts.support import API_KEY
from vats_etl.emulator import Emulator, EmulatorServer


@pytest.fixture(scope="module")
def pbx() -> Iterator[EmulatorServer]:
    """A small company (8 agents, fixed clock) answering API_KEY."""
    emu = Emulator(seed=19, agents=8, clock=lambda: datetime(2024, 6, 10, 12, tzinfo=UTC))
    with EmulatorServer(emu, api_key=API_KEY) as server:
        yield server
