"""Small interfaces every generation engine implements, hosted or local.

Providers never import dagster: the asset layer hands them typed requests and gets typed results.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRequest:
    model: str
    endpoint: str
    prompt: str
    subject: str
    headline: str
    palette: tuple[str, ...]
    width: int
    height: int
    seed: int


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes
    seed: int
    request_id: str
    cost_usd: float
    simulated: bool
    latency_s: float


@dataclass(frozen=True)
class VideoRequest:
    model: str
    endpoint: str
    prompt: str
    keyframe_png: bytes
    width: int
    height: int
    seconds: float
    fps: int
    seed: int
    focus_box: tuple[int, int, int, int] | None  # in keyframe pixels
    subject_mask_png: bytes | None = None  # the local engine's parallax layers; hosted: unused


@dataclass(frozen=True)
class GeneratedVideo:
    mp4: bytes
    seed: int
    request_id: str
    cost_usd: float
    simulated: bool
    latency_s: float


@dataclass(frozen=True)
class EditRequest:
    model: str
    endpoint: str
    instruction: str  # e.g. "remove the blue blob on the left"
    image_png: bytes
    mask_png: bytes | None  # white = may change; None for instruction-only editors
    width: int
    height: int
    seed: int


class ImageGenerator(ABC):
    @abstractmethod
    def generate(self, request: ImageRequest) -> GeneratedImage:
        """Make one image for the request; never submits the same paid request twice."""


class ImageEditor(ABC):
    @abstractmethod
    def edit(self, request: EditRequest) -> GeneratedImage:
        """Return the edited image (callers composite it back through the mask)."""


class VideoGenerator(ABC):
    @abstractmethod
    def animate(self, request: VideoRequest) -> GeneratedVideo:
        """Turn a keyframe into one clip of the requested size and duration."""


@dataclass(frozen=True)
class Submission:
    """What a provider returned for one accepted (billable) submission: enough to resume."""

    provider: str
    model: str
    request_id: str
    poll_url: str
    result_url: str | None = None
    cancel_url: str | None = None
    reported_cost_usd: float | None = None  # BFL reports its cost on submit


@dataclass(frozen=True)
class JournalEntry:
    fingerprint: str
    state: str  # "submitting" | "submitted" | "completed" | "failed"
    submission: Submission | None
    detail: str = ""


class RequestJournal(ABC):
    """Durable record of paid submissions, written before waiting, so a crashed run resumes
    polling the same request instead of paying for a second one."""

    @abstractmethod
    def find(self, fingerprint: str) -> JournalEntry | None:
        """The entry for this request fingerprint, if any."""

    @abstractmethod
    def begin(self, fingerprint: str, *, provider: str, model: str) -> None:
        """Record intent to submit (state "submitting"); raise if an entry already exists."""

    @abstractmethod
    def submitted(self, fingerprint: str, submission: Submission) -> None:
        """Record the provider's request id and URLs (state "submitted")."""

    @abstractmethod
    def completed(self, fingerprint: str) -> None:
        """Mark the request done (its result is stored)."""

    @abstractmethod
    def failed(self, fingerprint: str, detail: str) -> None:
        """Mark the request failed for good, so a re-run may submit it anew."""
