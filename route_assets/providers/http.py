"""HTTP plumbing shared by every hosted provider: the only place an httpx.Client is built.

`RetryTransport` retries idempotent requests (GET, HEAD) on 429/5xx and on transport errors,
honouring `Retry-After` and Gemini's `RetryInfo.retryDelay`, and sleeps through the injected
clock. It never retries a POST: a duplicate submission is a duplicate bill.

`raise_for_provider` maps an error response onto the `errors` family. Every message is passed
through `redact()` so a key a provider echoes back never reaches a log or a traceback.
"""

import email.utils
import functools
import logging
import random
import re
import ssl
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from route_assets.clock import Clock
from route_assets.providers.errors import (
    MalformedResponse,
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    ResultExpired,
)

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
UNAVAILABLE_STATUS = RETRYABLE_STATUS
# Errors raised before or while the request is on the wire; UnsupportedProtocol and friends are
# programming errors and are not retried.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError,
)
BODY_SNIPPET = 300

# Moderation as the providers spell it in error bodies (provider-apis.md §8.5). Matched
# lower-case. Plain "safety" is deliberately absent: fal's 422 for a bad `safety_tolerance`
# value is a validation error, not a refusal.
MODERATION_MARKERS = (
    "content_policy_violation", "no_media_generated", "request moderated", "content moderated",
    "flagged as sensitive", "(e005)", "nsfw", "sensitivecontentdetected", "prohibited_content",
    "image_safety", "raimediafiltered",
)


def redact(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _full_jitter(rng: random.Random, attempt: int, base_s: float, cap_s: float) -> float:
    return rng.uniform(0.0, min(cap_s, base_s * 2.0 ** (attempt - 1)))


def _retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # Measure against the server's own Date header when present, so client clock skew does
    # not stretch or cancel the wait.
    try:
        now = email.utils.parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        now = datetime.now(UTC)
    if when.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _gemini_retry_delay(response: httpx.Response) -> float | None:
    """google.rpc.RetryInfo in `error.details[]`: Gemini's 429 carries no Retry-After."""
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return None
    for detail in details if isinstance(details, list) else ():
        delay = detail.get("retryDelay", "") if isinstance(detail, dict) else ""
        match = _DELAY.match(str(delay))
        if match:
            return float(match.group(1))
    return None


def retry_hint_s(response: httpx.Response) -> float | None:
    """How long the server asked us to wait, if it said."""
    hint = _retry_after_header(response)
    return hint if hint is not None else _gemini_retry_delay(response)


class RetryTransport(httpx.BaseTransport):
    """Retries GET/HEAD on 429/5xx and transport errors; passes everything else through once."""

    def __init__(self, inner: httpx.BaseTransport, *, clock: Clock, rng: random.Random,
                 max_attempts: int = 5, base_delay_s: float = 0.5, max_delay_s: float = 30.0,
                 max_hint_s: float = 120.0) -> None:
        self._inner, self._clock, self._rng = inner, clock, rng
        self._max_attempts = max(1, max_attempts)
        self._base_delay_s, self._max_delay_s, self._max_hint_s = (
            base_delay_s, max_delay_s, max_hint_s)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in IDEMPOTENT_METHODS:
            return self._inner.handle_request(request)
        attempt = 1
        while True:
            last = attempt >= self._max_attempts
            try:
                response = self._inner.handle_request(request)
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                if last:
                    raise
                delay = _full_jitter(self._rng, attempt, self._base_delay_s, self._max_delay_s)
                self._log(request, type(exc).__name__, attempt, delay)
            else:
                if response.status_code not in RETRYABLE_STATUS or last:
                    return response
                response.read()
                hint = retry_hint_s(response)
                if hint is not None and hint > self._max_hint_s:
                    # Waiting an hour inside a poll loop helps nobody: let the caller fall back.
                    return response
                response.close()
                delay = hint if hint is not None else _full_jitter(
                    self._rng, attempt, self._base_delay_s, self._max_delay_s)
                self._log(request, f"HTTP {response.status_code}", attempt, delay)
            self._clock.sleep(delay)
            attempt += 1

    def _log(self, request: httpx.Request, why: str, attempt: int, delay: float) -> None:
        # Path only: a query string is the one place a credential could hide in a URL.
        logger.info("retrying %s %s%s after %s (attempt %d), waiting %.2fs", request.method,
                    request.url.host, request.url.path, why, attempt, delay)

    def close(self) -> None:
        self._inner.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building a verifying TLS context costs ~15 ms; every client shares one instead of paying
    # that per request (it was a tenth of a 1 s job's round trip).
    return httpx.create_ssl_context()


def build_http_client(*, base_url: str, headers: Mapping[str, str], timeout: httpx.Timeout,
                      transport: httpx.BaseTransport | None, clock: Clock,
                      rng: random.Random | None = None, max_attempts: int = 5) -> httpx.Client:
    """The only place an httpx.Client is constructed. Tests pass an httpx.MockTransport."""
    inner = transport if transport is not None else httpx.HTTPTransport(verify=_tls_context())
    return httpx.Client(
        base_url=base_url,
        headers=dict(headers),
        timeout=timeout,
        transport=RetryTransport(inner, clock=clock, rng=rng or random.Random(),
                                 max_attempts=max_attempts),
        follow_redirects=False,  # downloads follow redirects themselves, re-checking each host
    )


def body_snippet(response: httpx.Response, secrets: Collection[str] = ()) -> str:
    try:
        text = response.read()[: BODY_SNIPPET * 4].decode("utf-8", errors="replace")
    except httpx.HTTPError:
        text = "<unreadable body>"
    text = " ".join(text.split())
    text = text if len(text) <= BODY_SNIPPET else text[:BODY_SNIPPET] + "..."
    return redact(text, secrets)


def _where(response: httpx.Response) -> tuple[str, str]:
    try:
        request = response.request
    except RuntimeError:  # a Response built by hand in a test carries no request
        return "", ""
    # No query string: it is the one place a credential could ride in a URL.
    return request.method, str(request.url.copy_with(query=None, fragment=None))


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _google_status(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("status", ""))
    return ""


def is_moderation(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in MODERATION_MARKERS)


def raise_for_provider(response: httpx.Response, *, provider: str, model: str,
                       request_id: str | None = None, secrets: Collection[str] = ()) -> None:
    """Return if the response succeeded; otherwise raise the matching ProviderError."""
    status = response.status_code
    if status < 400:
        return
    method, url = _where(response)
    snippet = body_snippet(response, secrets)
    message = f"{method} {url} answered: {snippet or '<empty body>'}".strip()
    kwargs: dict[str, Any] = dict(provider=provider, model=model, request_id=request_id,
                                  status=status)
    body = _json_or_none(response)
    if status == 402 or (status == 400 and _google_status(body) == "FAILED_PRECONDITION"):
        raise OutOfCredit(message, **kwargs)
    if status in UNAVAILABLE_STATUS:
        raise ProviderUnavailable(message, **kwargs)
    if is_moderation(response.text):
        raise ModerationRefused(message, **kwargs)
    if status in (404, 410) and method in IDEMPOTENT_METHODS:
        raise ResultExpired(message, **kwargs)
    if 400 <= status < 500:
        raise ProviderRejected(message, **kwargs)
    raise ProviderUnavailable(message, **kwargs)


def checked_json(response: httpx.Response, *, provider: str, model: str,
                 request_id: str | None = None, secrets: Collection[str] = ()) -> dict[str, Any]:
    """The JSON object of a successful response, or the mapped ProviderError."""
    raise_for_provider(response, provider=provider, model=model, request_id=request_id,
                       secrets=secrets)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        method, url = _where(response)
        raise MalformedResponse(f"{method} {url} did not return a JSON object: "
                                f"{body_snippet(response, secrets)}", provider=provider,
                                model=model, request_id=request_id, status=response.status_code)
    return body


def transport_failure(exc: httpx.HTTPError, *, provider: str, model: str,
                      request_id: str | None = None, secrets: Collection[str] = ()
                      ) -> ProviderError:
    """A transport error (after retries) as ProviderUnavailable, its text redacted."""
    name = type(exc).__name__
    return ProviderUnavailable(redact(f"{name}: {exc}", secrets), provider=provider, model=model,
                               request_id=request_id)
