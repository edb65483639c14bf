"""Fixtures for the emulator's conformance tests (and for anyone needing a fake PBX).

``emulator_server`` is a running :class:`EmulatorServer` (realistic profile, fixed clock);
``api`` is an httpx client already pointed at it with the right key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulator.support import API_KEY, fixed_clock
from vats_etl.emulator import Emulator, EmulatorServer


@pytest.fixture(scope="session")
def emu() -> Emulator:
    """A small realistic company (40 agents) living at NOW."""
    return Emulator(seed=7, agents=40, profile="realistic", clock=fixed_clock)


@pytest.fixture(scope="session")
def clean_emu() -> Emulator:
    return Emulator(seed=7, agents=40, profile="clean", clock=fixed_clock)


@pytest.fixture(scope="session")
def big_emu() -> Emulator:
    """The default-sized company (200 agents), for realism bands."""
    return Emulator(seed=11, agents=200, profile="clean", clock=fixed_clock)


@pytest.fixture(scope="session")
def emulator_server(emu: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emu, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def api(emulator_server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator_server.base_url, headers={"X-API-KEY": API_KEY}, timeout=10
    ) as client:
        yield client
