"""Plain-class fakes and scripted HTTP for the provider tests.

`Routes` is a scripted httpx.MockTransport handler: each (method, URL without query) maps to a
list of replies, served in order, the last one repeating. Every request is recorded in `seen`.
"""

import functools
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from PIL import Image

from route_assets.clock import Clock
from route_assets.imaging.video import encode_h264
from route_assets.providers.base import JournalEntry, RequestJournal, Submission

KEY = "sk-SECRET-123"


class FakeClock(Clock):
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class InMemoryJournal(RequestJournal):
    """The journal contract as the hosted flow relies on it (and SqlRequestJournal keeps):
    `begin` replaces only a "failed" entry, and a completed entry never fails afterwards."""

    def __init__(self, entries: list[JournalEntry] | None = None) -> None:
        self.entries = {e.fingerprint: e for e in entries or []}
        self.calls: list[tuple[str, str]] = []

    def find(self, fingerprint: str) -> JournalEntry | None:
        return self.entries.get(fingerprint)

    def begin(self, fingerprint: str, *, provider: str, model: str) -> None:
        self.calls.append(("begin", fingerprint))
        entry = self.entries.get(fingerprint)
        if entry is not None and entry.state != "failed":
            raise RuntimeError(f"{fingerprint} is already {entry.state}")
        self.entries[fingerprint] = JournalEntry(fingerprint, "submitting", None)

    def submitted(self, fingerprint: str, submission: Submission) -> None:
        self.calls.append(("submitted", fingerprint))
        self.entries[fingerprint] = JournalEntry(fingerprint, "submitted", submission)

    def completed(self, fingerprint: str) -> None:
        self.calls.append(("completed", fingerprint))
        old = self.entries[fingerprint]
        self.entries[fingerprint] = JournalEntry(fingerprint, "completed", old.submission)

    def failed(self, fingerprint: str, detail: str) -> None:
        self.calls.append(("failed", fingerprint))
        old = self.entries[fingerprint]
        if old.state == "completed":
            raise RuntimeError(f"{fingerprint} already completed")
        self.entries[fingerprint] = JournalEntry(fingerprint, "failed", old.submission, detail)

    def only(self) -> JournalEntry:
        (entry,) = self.entries.values()
        return entry


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: Exception | None = None  # raised instead of answering (a transport failure)

    def build(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise self.error
        if self.json is not None:
            return httpx.Response(self.status, json=self.json, headers=self.headers)
        return httpx.Response(self.status, content=self.content or b"", headers=self.headers)


Script = Reply | Callable[[httpx.Request], httpx.Response]


class Routes:
    def __init__(self, routes: Mapping[tuple[str, str], Sequence[Script]]) -> None:
        self.routes: dict[tuple[str, str], list[Script]] = {
            key: list(replies) for key, replies in routes.items()}
        self.seen: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        url = str(request.url.copy_with(query=None))
        replies = self.routes.get((request.method, url))
        if not replies:
            return httpx.Response(599, text=f"unscripted {request.method} {url}")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request) if callable(reply) else reply.build(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, str(r.url.copy_with(query=None))) for r in self.seen]

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.seen if r.method == "POST"]

    def body(self, index: int = 0) -> Any:
        return json.loads(self.posts()[index].content)


def png(width: int = 8, height: int = 8, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg(width: int = 8, height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


@functools.cache
def mp4() -> bytes:
    frames = [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(4)]
    return encode_h264(frames, width=64, height=64, fps=8)


def media(data: bytes, content_type: str) -> Reply:
    return Reply(content=data, headers={"content-type": content_type})
