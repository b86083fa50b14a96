"""Time is a dependency: polling and backoff call `clock.sleep()`, so tests never wait."""

import time
from abc import ABC, abstractmethod


class Clock(ABC):
    @abstractmethod
    def now(self) -> float:
        """Seconds on a monotonic clock."""

    @abstractmethod
    def sleep(self, seconds: float) -> None:
        """Wait; a fake records the request instead."""


class SystemClock(Clock):
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))
