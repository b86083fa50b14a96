"""Downloading generated media: every URL a provider returns is untrusted input.

A media URL must be https on the provider's own delivery hosts (suffix match on a dot
boundary), or on the configured emulator's origin. Redirects are followed by hand so every
hop is checked again and a credential never follows a redirect to another host. The body is
streamed under a byte cap, checked for truncation, and its declared type and magic bytes must
agree with the expected kind; image headers are read before any decode, so a pixel bomb is
refused without allocating it.
"""

import io
import warnings
from collections.abc import Collection, Mapping
from typing import Literal, TypedDict

import httpx
from PIL import Image

from route_assets.clock import Clock
from route_assets.providers.errors import DownloadRejected, ResultExpired
from route_assets.providers.http import (
    UNAVAILABLE_STATUS,
    body_snippet,
    build_http_client,
    raise_for_provider,
    transport_failure,
)

MediaKind = Literal["image", "video"]
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)
MAX_REDIRECTS = 5
TRUNCATION_ATTEMPTS = 3
IMAGE_BYTES = 50_000_000
VIDEO_BYTES = 300_000_000
MAX_PIXELS = 40_000_000  # far above any placement; below what a bomb needs to hurt
_IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG",
                "image/webp": "WEBP"}
_VIDEO_TYPES = {"video/mp4"}
# Generic labels some object stores put on everything; the magic bytes decide then.
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


class _Where(TypedDict):
    provider: str
    model: str
    request_id: str | None


def download_client(*, transport: httpx.BaseTransport | None, clock: Clock) -> httpx.Client:
    """A client with no credentials at all: auth travels per request, only where required."""
    return build_http_client(base_url="", headers={"accept-encoding": "identity"},
                             timeout=DOWNLOAD_TIMEOUT, transport=transport, clock=clock)


def host_allowed(host: str, allowed_hosts: Collection[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in (a.lower() for a in allowed_hosts))


def _same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)


def api_url_allowed(url: str, *, base_url: str, api_hosts: Collection[str]) -> bool:
    """May the API key go to this provider-returned URL (a poll or result URL)?"""
    parsed = httpx.URL(url)
    if not parsed.is_absolute_url:
        return True  # resolved against base_url
    return _same_origin(parsed, httpx.URL(base_url)) or (
        parsed.scheme == "https" and host_allowed(parsed.host, api_hosts))


def check_url(url: str, *, allowed_hosts: Collection[str], trusted_base: str | None,
              provider: str, model: str, request_id: str | None = None) -> httpx.URL:
    """The parsed URL if it may be fetched, else DownloadRejected."""
    def reject(why: str) -> DownloadRejected:
        return DownloadRejected(why, provider=provider, model=model, request_id=request_id)

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise reject("unparseable media URL") from exc
    if parsed.userinfo:
        raise reject("media URL carries userinfo")
    # The emulator serves media from its own origin (any path), over plain http on loopback.
    if trusted_base and _same_origin(parsed, httpx.URL(trusted_base)):
        return parsed
    if parsed.scheme != "https":
        raise reject(f"media URL scheme {parsed.scheme!r} is not https")
    if not host_allowed(parsed.host, allowed_hosts):
        raise reject(f"media host {parsed.host!r} is not one of {provider}'s delivery hosts")
    return parsed


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        return "MP4"
    return None


def _check_image(data: bytes, max_pixels: int) -> str | None:
    """Why the image must be refused, or None. Reads the header only: no pixels are decoded."""
    try:
        with warnings.catch_warnings():
            # Our own, lower limit applies below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > max_pixels:
                    return f"image of {width}x{height} px exceeds {max_pixels} px"
                im.verify()  # structure and CRCs, still without decoding pixels
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"not a readable image ({type(exc).__name__})"
    return None


def media_problem(data: bytes, *, content_type: str, kind: MediaKind,
                  max_pixels: int) -> str | None:
    """Why the body is not a `kind` (declared type, magic bytes, image header), or None."""
    declared = content_type.split(";")[0].strip().lower()
    magic = _sniff(data)
    allowed = _IMAGE_TYPES if kind == "image" else _VIDEO_TYPES
    if declared not in _GENERIC_TYPES and declared not in allowed:
        return f"expected {kind}, got Content-Type {declared!r}"
    if magic not in (("PNG", "JPEG", "WEBP") if kind == "image" else ("MP4",)):
        return f"expected {kind}, content starts {data[:12]!r}"
    if declared in _IMAGE_TYPES and magic != _IMAGE_TYPES[declared]:
        return f"Content-Type {declared!r} but the bytes are {magic}"
    return _check_image(data, max_pixels) if kind == "image" else None


class _Truncated(Exception):
    """The body stopped short: worth fetching again (a GET), unlike other rejections. Never
    leaves fetch_media."""


def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[bytes, str | None]:
    """The body and, if it must be refused, why: over the cap (declared or streamed), or
    truncated (fewer bytes than declared, or the connection dropped mid-body)."""
    declared = response.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None and expected > max_bytes:
        return b"", f"Content-Length {expected} exceeds the {max_bytes}-byte cap"
    chunks, total = [], 0
    try:
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > max_bytes:
                return b"", f"body exceeds the {max_bytes}-byte cap"
            chunks.append(chunk)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
        return b"", f"truncated: the connection ended after {total} bytes ({type(exc).__name__})"
    # Raw bytes off the wire when streamed; an in-memory body (tests, the emulator's transport)
    # never counts them, so fall back to what we read.
    received = response.num_bytes_downloaded or total
    if expected is not None and received < expected:
        return b"", f"truncated: {received} of {expected} bytes"
    return b"".join(chunks), None


def fetch_media(client: httpx.Client, url: str, *, provider: str, model: str,
                allowed_hosts: Collection[str], trusted_base: str | None, kind: MediaKind,
                max_bytes: int, max_pixels: int = MAX_PIXELS, request_id: str | None = None,
                auth_headers: Mapping[str, str] | None = None,
                secrets: Collection[str] = ()) -> bytes:
    """Fetch one generated image or video, refusing anything that is not what was asked for.

    `client` should come from `download_client()` (no default credentials). `auth_headers` go
    only to the first URL's origin (Gemini's file URIs need the key; nobody else's CDN does).
    A body cut short is fetched again, up to TRUNCATION_ATTEMPTS times in all.
    """
    where = _Where(provider=provider, model=model, request_id=request_id)
    for attempt in range(1, TRUNCATION_ATTEMPTS + 1):
        try:
            return _fetch_once(client, url, kind=kind, max_bytes=max_bytes,
                               max_pixels=max_pixels, allowed_hosts=allowed_hosts,
                               trusted_base=trusted_base, auth_headers=auth_headers,
                               secrets=secrets, where=where)
        except _Truncated as exc:
            if attempt == TRUNCATION_ATTEMPTS:
                raise DownloadRejected(f"{exc.args[0]} ({attempt} attempts)", **where) from None
    raise AssertionError("unreachable")


def _fetch_once(client: httpx.Client, url: str, *, kind: MediaKind, max_bytes: int,
                max_pixels: int, allowed_hosts: Collection[str], trusted_base: str | None,
                auth_headers: Mapping[str, str] | None, secrets: Collection[str],
                where: _Where) -> bytes:
    first: httpx.URL | None = None
    for _ in range(MAX_REDIRECTS + 1):
        parsed = check_url(url, allowed_hosts=allowed_hosts, trusted_base=trusted_base, **where)
        first = first or parsed
        headers = dict(auth_headers or {}) if _same_origin(parsed, first) else {}
        try:
            with client.stream("GET", parsed, headers=headers) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(parsed.join(response.headers["location"]))
                    continue
                return _accept(response, kind=kind, max_bytes=max_bytes,
                               max_pixels=max_pixels, secrets=secrets, where=where)
        except httpx.HTTPError as exc:
            raise transport_failure(exc, secrets=secrets, **where) from None
    raise DownloadRejected(f"more than {MAX_REDIRECTS} redirects", **where)


def _accept(response: httpx.Response, *, kind: MediaKind, max_bytes: int, max_pixels: int,
            secrets: Collection[str], where: _Where) -> bytes:
    status = response.status_code
    if status in (404, 410):
        raise ResultExpired(f"media is gone: {body_snippet(response, secrets)}", status=status,
                            **where)
    if status in UNAVAILABLE_STATUS:
        raise_for_provider(response, secrets=secrets, **where)  # ProviderUnavailable
    if status >= 300:
        raise DownloadRejected(f"media fetch answered {body_snippet(response, secrets)}",
                               status=status, **where)
    data, problem = _read_capped(response, max_bytes)
    if problem and problem.startswith("truncated"):
        raise _Truncated(problem)
    if problem:
        raise DownloadRejected(problem, **where)
    problem = media_problem(data, content_type=response.headers.get("content-type", ""),
                            kind=kind, max_pixels=max_pixels)
    if problem:
        raise DownloadRejected(problem, **where)
    return data


def as_png(data: bytes) -> bytes:
    """Providers answer PNG, JPEG or WebP; the pipeline stores PNG. Only called on bytes whose
    header already passed the pixel-bomb check."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    with Image.open(io.BytesIO(data)) as im:
        out = io.BytesIO()
        im.convert("RGBA" if "A" in im.getbands() else "RGB").save(out, format="PNG")
        return out.getvalue()
