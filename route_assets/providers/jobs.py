"""Value types of one hosted call: the job as the provider wants it, its outcome, its result,
and the fingerprint that names it in the request journal."""

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from route_assets.providers.base import (
    EditRequest,
    GeneratedImage,
    GeneratedVideo,
    ImageRequest,
    VideoRequest,
)
from route_assets.providers.errors import ModerationRefused, ProviderError, ProviderUnavailable
from route_assets.request_cache import fingerprint

AnyRequest = ImageRequest | EditRequest | VideoRequest
R = TypeVar("R", ImageRequest, EditRequest, VideoRequest)


@dataclass(frozen=True)
class Outcome:
    """A finished job: its media (a URL to fetch, or inline bytes) or its failure."""

    media_url: str | None = None
    media: bytes | None = None
    seed: int | None = None
    cost_usd: float | None = None
    failure: ProviderError | None = None


@dataclass(frozen=True)
class Job(Generic[R]):
    """One paid call as the provider wants it."""

    kind: Literal["image", "edit", "video"]
    request: R
    path: str  # POST target, relative to base_url
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    priced: AnyRequest | None = None  # the request as billed (e.g. duration snapped), if not it


@dataclass(frozen=True)
class Result:
    data: bytes
    seed: int
    request_id: str
    cost_usd: float
    latency_s: float

    def image(self) -> GeneratedImage:
        return GeneratedImage(png=self.data, seed=self.seed, request_id=self.request_id,
                              cost_usd=self.cost_usd, simulated=False, latency_s=self.latency_s)

    def video(self) -> GeneratedVideo:
        return GeneratedVideo(mp4=self.data, seed=self.seed, request_id=self.request_id,
                              cost_usd=self.cost_usd, simulated=False, latency_s=self.latency_s)


def request_fingerprint(kind: str, provider: str, request: AnyRequest) -> str:
    fields: dict[str, Any] = {}
    for name, value in dataclasses.asdict(request).items():
        # Input media enter by content hash: same pixels, same request.
        fields[name] = ("sha256:" + hashlib.sha256(value).hexdigest()
                        if isinstance(value, bytes) else value)
    return fingerprint(kind, {"provider": provider, **fields})


def failed_job(message: str, *, provider: str, model: str, request_id: str,
               moderated: bool = False) -> ProviderError:
    """A job that ended in failure, as the error the router falls back on. A dead job's
    ProviderUnavailable names its id in the message, not in `request_id`: callers read
    `request_id` on ProviderUnavailable as "the job may still be alive, resume it"."""
    if moderated:
        return ModerationRefused(message, provider=provider, model=model, request_id=request_id)
    return ProviderUnavailable(f"job {request_id} failed: {message}", provider=provider,
                               model=model)
