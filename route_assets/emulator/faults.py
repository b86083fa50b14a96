"""Injectable faults: what the next matching requests to the emulator should suffer.

A fault is armed for one provider and one phase (optionally one model) and fires on the next
`times` requests that match, first armed first served. Most faults are transient (that one
response is bad); "moderation" and "expired" are sticky: they mark the job or the media they
hit, so every later look at it tells the same story, the way a real provider's record would.
"""

import threading
from dataclasses import dataclass

PROVIDERS = ("fal", "replicate", "bfl", "gemini")
PHASES = ("submit", "status", "result", "download")

ERROR_KINDS = frozenset({"429", "500", "503", "402"})  # an HTTP error in the provider's shape
LOST_KINDS = frozenset({"hang", "malformed"})  # the request was processed, the answer is lost
BODY_KINDS = frozenset({"truncated", "oversized", "wrong_type"})  # only a download has a body
_ALLOWED = {
    "submit": ERROR_KINDS | LOST_KINDS | {"moderation"},
    "status": ERROR_KINDS | LOST_KINDS | {"moderation", "expired"},
    "result": ERROR_KINDS | LOST_KINDS | {"moderation", "expired"},
    "download": {"429", "500", "503"} | LOST_KINDS | BODY_KINDS | {"expired"},
}
FAULTS = frozenset().union(*_ALLOWED.values())


def normalize_model(provider: str, model: str) -> str:
    """One spelling per model, so a filter written like the catalog's endpoint still matches."""
    model = model.strip().strip("/")
    if provider == "bfl":
        return model.removeprefix("v1/")
    if provider == "gemini":
        return model.removeprefix("models/")
    return model


@dataclass
class Fault:
    provider: str
    kind: str
    phase: str
    model: str | None
    remaining: int
    retry_after_s: float
    hang_s: float


class FaultBoard:
    """Armed faults, consumed atomically: two concurrent requests never share one firing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def arm(self, provider: str, kind: str, *, times: int, phase: str, model: str | None,
            retry_after_s: float, hang_s: float) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDERS}")
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULTS)}")
        if kind not in _ALLOWED[phase]:
            raise ValueError(f"fault {kind!r} does not apply to the {phase} phase")
        if times < 1 or retry_after_s < 0 or hang_s < 0:
            raise ValueError("need times >= 1, retry_after_s >= 0 and hang_s >= 0")
        target = normalize_model(provider, model) if model is not None else None
        with self._lock:
            self._armed.append(Fault(provider, kind, phase, target, times, retry_after_s, hang_s))

    def take(self, provider: str, phase: str, model: str) -> Fault | None:
        """The first armed fault matching this request, with one firing used up; or None."""
        with self._lock:
            for fault in self._armed:
                if (fault.provider, fault.phase) == (provider, phase) and (
                    fault.model is None or fault.model == model
                ):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._armed)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
