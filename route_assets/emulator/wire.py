"""The emulator's view of HTTP: a parsed request in, a response (or a deliberate failure) out.

Provider modules never touch sockets. They return a `Response`, and the server turns its
failure fields into real misbehaviour on the wire: a held connection closed without an answer,
a body shorter than its Content-Length, or a huge body produced lazily.
"""

import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from route_assets.emulator.faults import ERROR_KINDS, Fault


class BadInput(ValueError):
    """A request the provider would refuse as invalid (HTTP 400/422 in its own shape)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field_name, message


@dataclass
class Request:
    method: str
    path: str  # below the provider prefix, percent-decoded, always starting with "/"
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json_object(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"null")
        except ValueError:
            raise BadInput("body", "the request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise BadInput("body", "the request body must be a JSON object")
        return value

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0  # > 0: hold the connection this long, then close it with no answer
    declared_length: int | None = None  # a Content-Length other than len(body): truncation
    chunks: Iterable[bytes] | None = None  # a lazily produced body, delimited by closing


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None
                  ) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=dict(headers or {}))


def key_matches(presented: str, expected: str) -> bool:
    # Constant-time, so the emulator teaches no timing side channel; an empty key never matches.
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())


def bearer(request: Request, scheme: str) -> str:
    """The credential after `scheme` in the Authorization header, or ""."""
    kind, _, value = request.header("authorization").partition(" ")
    return value.strip() if kind.lower() == scheme.lower() else ""


def hang(fault: Fault) -> Response:
    return Response(hang_s=max(fault.hang_s, 0.001))


def malformed() -> Response:
    # A 200 whose JSON stops mid-string: what a proxy cutting the body short would deliver.
    return Response(200, b'{"status": "COMPLETED", "id": "trunc')


# (status, retry_after_s) -> the provider's error response for that status.
ErrorShape = Callable[[int, float], Response]


def error_fault(fault: Fault | None, shape: ErrorShape) -> Response | None:
    """The provider-shaped HTTP error for an error-kind fault, else None."""
    if fault is not None and fault.kind in ERROR_KINDS:
        return shape(int(fault.kind), fault.retry_after_s)
    return None


def lost_fault(fault: Fault | None) -> Response | None:
    """A hang or a malformed 200 for those fault kinds, else None."""
    if fault is None:
        return None
    if fault.kind == "hang":
        return hang(fault)
    if fault.kind == "malformed":
        return malformed()
    return None


def transient(fault: Fault | None, shape: ErrorShape) -> Response | None:
    """Any one-response fault (error, hang, malformed) as its response, else None."""
    return error_fault(fault, shape) or lost_fault(fault)


def retry_after(seconds: float) -> dict[str, str]:
    # Retry-After takes whole seconds (RFC 9110); round up so a client never comes back early.
    whole = int(seconds) + (0 if float(seconds).is_integer() else 1)
    return {"Retry-After": str(max(whole, 0))}
