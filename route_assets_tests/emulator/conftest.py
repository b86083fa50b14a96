"""An HTTP client for the emulator tests (the `emu` fixture is the shared one in ../conftest.py)."""

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client
