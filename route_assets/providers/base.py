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


@dataclass(frozen=True)
class GeneratedVideo:
    mp4: bytes
    seed: int
    request_id: str
    cost_usd: float
    simulated: bool
    latency_s: float


class ImageGenerator(ABC):
    @abstractmethod
    def generate(self, request: ImageRequest) -> GeneratedImage:
        """Make one image for the request; never submits the same paid request twice."""


class VideoGenerator(ABC):
    @abstractmethod
    def animate(self, request: VideoRequest) -> GeneratedVideo:
        """Turn a keyframe into one clip of the requested size and duration."""
