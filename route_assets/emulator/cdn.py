"""Media downloads: `{root}/cdn/{token}.{png|mp4}`, unauthenticated like a signed CDN URL.

Download faults are armed per provider: a blob belongs to the provider (and model) whose job
made it, so `inject("bfl", "truncated", phase="download")` hits the next BFL image fetched.
"""

import base64
import re
from collections.abc import Iterator

from route_assets.emulator.faults import BODY_KINDS, Fault
from route_assets.emulator.state import Blob, State
from route_assets.emulator.wire import Request, Response, hang, retry_after

OVERSIZED_BYTES = 512 * 1024 * 1024  # above any sane media cap; produced lazily, never held
_CHUNK = 64 * 1024
_PATH = re.compile(r"/([A-Za-z0-9_-]+)\.(png|mp4)")
_HTML = (b"<!DOCTYPE html><html><head><title>Access denied</title></head>"
         b"<body><h1>Access denied</h1><p>This content is not available.</p></body></html>")


def media_url(state: State, blob: Blob) -> str:
    return f"{state.root}/cdn/{blob.token}.{blob.ext}"


def data_uri(blob: Blob) -> str:
    return f"data:{blob.content_type};base64,{base64.b64encode(blob.data).decode()}"


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, message.encode(), "text/plain; charset=utf-8", headers or {})


def handle(state: State, req: Request) -> Response:
    match = _PATH.fullmatch(req.path)
    blob = state.media.get(match.group(1)) if match and req.method == "GET" else None
    if blob is None or match is None or blob.ext != match.group(2):
        return _text(404, "Not Found")
    return serve(state, blob)


def serve(state: State, blob: Blob) -> Response:
    """The blob's bytes, or whatever the next armed download fault makes of them."""
    fault = state.faults.take(blob.provider, "download", blob.model)
    if fault is not None and fault.kind == "expired":
        blob.expired, fault = True, None
    # A rate limit or outage answers before the file is looked up; a bad body needs a file.
    if blob.expired and (fault is None or fault.kind in BODY_KINDS | {"malformed"}):
        return _text(404, "Not Found")
    if fault is not None:
        return _faulty(state, blob, fault)
    return Response(200, blob.data, blob.content_type, {"Cache-Control": "private, max-age=600"})


def _faulty(state: State, blob: Blob, fault: Fault) -> Response:
    if fault.kind == "429":
        return _text(429, "Too Many Requests", retry_after(fault.retry_after_s))
    if fault.kind in ("500", "503"):
        return _text(int(fault.kind), "Service Unavailable" if fault.kind == "503"
                     else "Internal Server Error")
    if fault.kind == "hang":
        return hang(fault)
    if fault.kind == "malformed":  # right type and magic bytes, garbage after them
        return Response(200, blob.data[:16] + bytes(len(blob.data) - 16), blob.content_type)
    if fault.kind == "truncated":
        return Response(200, blob.data[: len(blob.data) // 2], blob.content_type,
                        declared_length=len(blob.data))
    if fault.kind == "oversized":
        return Response(200, b"", blob.content_type, chunks=_oversized(state, blob.data))
    if fault.kind == "wrong_type":
        return Response(200, _HTML, "text/html; charset=utf-8")
    raise AssertionError(f"fault {fault.kind!r} cannot reach a download")


def _oversized(state: State, head: bytes) -> Iterator[bytes]:
    # The real media first, so the body looks valid, then zeros; a client that caps its read
    # closes the connection and the server stops writing.
    yield head
    zeros, sent = bytes(_CHUNK), len(head)
    while sent < OVERSIZED_BYTES and not state.stop.is_set():
        yield zeros
        sent += _CHUNK
