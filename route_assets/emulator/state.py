"""Everything the emulator remembers: jobs, media blobs, armed faults and submission counters.

Counting is the point of the emulator for tests ("zero duplicate paid submissions"), so every
counter moves under one lock, in the same step that creates the job it counts.
"""

import secrets
import threading
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from route_assets.emulator.faults import PROVIDERS, Fault, FaultBoard, normalize_model
from route_assets.emulator.media import Output, Render, render

DEFAULT_KEYS: Mapping[str, str] = {
    "fal": "emulator-fal-key",
    "replicate": "r8_emulator_token",
    "bfl": "emulator-bfl-key",
    "gemini": "emulator-gemini-key",
}
_QUEUED_SHARE = 0.25  # the first quarter of a job's latency is spent "in the queue"


@dataclass
class Blob:
    token: str
    data: bytes
    ext: str
    width: int
    height: int
    provider: str
    model: str
    expired: bool = False

    @property
    def content_type(self) -> str:
        return "video/mp4" if self.ext == "mp4" else "image/png"


class MediaStore:
    """Generated media by unguessable token, as a signed CDN URL would name it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, Blob] = {}

    def put(self, out: Output, provider: str, model: str) -> Blob:
        blob = Blob(secrets.token_urlsafe(18), out.data, out.ext, out.width, out.height,
                    provider, model)
        with self._lock:
            self._blobs[blob.token] = blob
        return blob

    def get(self, token: str) -> Blob | None:
        with self._lock:
            return self._blobs.get(token)

    def blob_bytes(self, token: str) -> bytes | None:
        blob = self.get(token)
        return None if blob is None or blob.expired else blob.data

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()


@dataclass
class Job:
    provider: str
    model: str
    id: str
    render: Render
    input: dict[str, Any]
    created: float  # wall clock, for timestamps in responses
    ready_at: float  # time.monotonic() when the job finishes
    latency_s: float
    moderated: str | None = None  # "input" (refused on submit) | "output" (blocked result)
    expired: bool = False
    canceled: bool = False
    outputs: list[Blob] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stage(self) -> str:
        """"queued", "running" or "done" (a canceled job is done)."""
        left = self.ready_at - time.monotonic()
        if self.canceled or left <= 0:
            return "done"
        return "queued" if left > (1 - _QUEUED_SHARE) * self.latency_s else "running"

    @property
    def succeeded(self) -> bool:
        return self.stage() == "done" and not (self.moderated or self.canceled)


class State:
    def __init__(self, keys: Mapping[str, str], latency_s: float) -> None:
        missing = [p for p in PROVIDERS if not keys.get(p)]
        if missing:
            raise ValueError(f"no emulator key configured for {missing}")
        self.keys = {p: keys[p] for p in PROVIDERS}
        self.default_latency_s = self.latency_s = max(0.0, latency_s)
        self.root = ""  # set once the server is bound
        self.faults = FaultBoard()
        self.media = MediaStore()
        self.stop = threading.Event()  # releases held connections and waits on shutdown
        self.errors: list[str] = []  # emulator bugs (500s it raised itself), for tests
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Job] = {}
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._accepted: Counter[tuple[str, str]] = Counter()
        self._inputs: list[tuple[str, str, dict[str, Any]]] = []

    def attempt(self, provider: str, model: str) -> None:
        with self._lock:
            self._attempts[provider, model] += 1

    def accept(self, provider: str, model: str, body: dict[str, Any]) -> None:
        """Count one billable submission (for requests that answer at once, without a job)."""
        with self._lock:
            self._accepted[provider, model] += 1
            self._inputs.append((provider, model, body))

    def create_job(self, provider: str, model: str, job_id: str, work: Render,
                   body: dict[str, Any], moderated: str | None = None) -> Job:
        now, latency = time.monotonic(), self.latency_s
        job = Job(provider, model, job_id, work, body, time.time(), now + latency, latency,
                  moderated=moderated)
        with self._lock:
            self._jobs[provider, job_id] = job
            self._accepted[provider, model] += 1
            self._inputs.append((provider, model, body))
        return job

    def job(self, provider: str, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get((provider, job_id))

    def poll_fault(self, job: Job, *phases: str) -> Fault | None:
        """The first fault armed for these phases; a sticky one is applied to the job here and
        None returned, so the caller only ever has a transient fault left to answer with."""
        fault = None
        for phase in phases:
            fault = self.faults.take(job.provider, phase, job.model)
            if fault is not None:
                break
        if fault is not None and fault.kind == "moderation":
            job.moderated = job.moderated or "output"
            return None
        if fault is not None and fault.kind == "expired":
            job.expired = True
            return None
        return fault

    def outputs(self, job: Job) -> list[Blob]:
        """The finished job's media, rendered once by whichever request first needs it."""
        with job.lock:
            if job.outputs is None:
                job.outputs = [self.media.put(out, job.provider, job.model)
                               for out in render(job.render)]
            return job.outputs

    def count(self, which: str, provider: str | None, model: str | None) -> int:
        counter = self._accepted if which == "accepted" else self._attempts
        with self._lock:
            return sum(n for (p, m), n in counter.items() if _matches(p, m, provider, model))

    def inputs(self, provider: str | None, model: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [b for p, m, b in self._inputs if _matches(p, m, provider, model)]

    def record_error(self) -> None:
        with self._lock:
            self.errors.append(traceback.format_exc())

    def reset(self) -> None:
        self.faults.clear()
        self.media.clear()
        with self._lock:
            self._jobs.clear()
            self._attempts.clear()
            self._accepted.clear()
            self._inputs.clear()
            self.errors.clear()
            self.latency_s = self.default_latency_s


def _matches(p: str, m: str, provider: str | None, model: str | None) -> bool:
    if provider is not None and p != provider:
        return False
    return model is None or m == normalize_model(p, model)
