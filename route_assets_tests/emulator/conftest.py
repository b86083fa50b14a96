"""One emulator per test module, reset between tests; every test ends with no emulator bug."""

from collections.abc import Iterator

import httpx
import pytest

from route_assets.emulator import Emulator


@pytest.fixture(scope="module")
def running() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emu(running: Emulator) -> Iterator[Emulator]:
    running.reset()
    yield running
    assert running.errors == []


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client
