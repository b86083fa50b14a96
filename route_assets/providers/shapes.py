"""Pure helpers that shape a request for a provider (aspect ratios, sizes, durations, inline
media) and read fields out of its JSON answers. No I/O."""

import base64
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from route_assets.providers.errors import MalformedResponse

# The ratios most image APIs accept (Gemini, fal Nano Banana, Replicate FLUX/Nano Banana).
COMMON_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")


def _ratio(text: str) -> float:
    w, h = text.split(":")
    return float(w) / float(h)


def nearest_ratio(width: int, height: int, choices: Sequence[str] = COMMON_RATIOS) -> str:
    """The allowed aspect ratio closest to width:height (compared on a log scale, so 2:1 and
    1:2 are equally far from 1:1)."""
    target = math.log(width / height)
    return min(choices, key=lambda c: abs(math.log(_ratio(c)) - target))


def video_ratio(width: int, height: int) -> str:
    """Video models offer portrait or landscape only."""
    return "9:16" if height > width else "16:9"


@dataclass(frozen=True)
class VideoShape:
    """What one image-to-video API takes (provider-apis.md §1, §4.2, §7.3): the durations it
    accepts and how it spells them, its aspect ratios (empty: it follows the first frame), the
    resolution we ask for and the field that carries the first frame."""

    durations: tuple[float, ...]
    duration_suffix: str  # fal Veo wants "8s", Kling and Seedance "5"
    ratios: tuple[str, ...]
    resolution: str | None
    image_field: str

    def duration(self, seconds: float) -> tuple[str, float]:
        """The duration field's value and the seconds it buys (what will be billed)."""
        snapped = snap_duration(seconds, self.durations)
        return f"{int(snapped)}{self.duration_suffix}", snapped

    def ratio(self, width: int, height: int) -> str | None:
        return nearest_ratio(width, height, self.ratios) if self.ratios else None


_SEEDANCE_S = tuple(float(s) for s in range(2, 13))
# Keyed by (provider, a substring of the endpoint that names the model family); first match wins.
VIDEO_SHAPES: dict[tuple[str, str], VideoShape] = {
    ("fal", "kling-video"): VideoShape((5, 10), "", (), None, "image_url"),
    ("fal", "veo3"): VideoShape((4, 6, 8), "s", ("16:9", "9:16"), "720p", "image_url"),
    ("fal", "seedance/v1/pro"): VideoShape(_SEEDANCE_S, "", ("21:9", "16:9", "4:3", "1:1", "3:4",
                                                           "9:16"), "1080p", "image_url"),
    ("fal", "seedance"): VideoShape(_SEEDANCE_S, "", ("21:9", "16:9", "4:3", "1:1", "3:4",
                                                     "9:16"), "720p", "image_url"),
    ("gemini", "veo-"): VideoShape((4, 6, 8), "", ("16:9", "9:16"), "720p", "image"),
}


def video_shape(provider: str, endpoint: str) -> VideoShape | None:
    return next((shape for (p, hint), shape in VIDEO_SHAPES.items()
                 if p == provider and hint in endpoint), None)


def snap_duration(seconds: float, allowed: Sequence[float]) -> float:
    """The shortest allowed duration that covers the request, else the longest allowed."""
    covering = [d for d in sorted(allowed) if d >= seconds - 1e-6]
    return covering[0] if covering else max(allowed)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def fit_size(width: int, height: int, *, min_side: int, max_side: int,
             multiple: int) -> tuple[int, int]:
    """width x height scaled (aspect kept) so both sides lie in [min_side, max_side], rounded to
    `multiple`. The caller resizes the result to the exact placement later."""
    scale = 1.0
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
    elif min(width, height) < min_side:
        scale = min(min_side / min(width, height), max_side / max(width, height))
    w = min(max_side, max(min_side, _round_to(width * scale, multiple)))
    h = min(max_side, max(min_side, _round_to(height * scale, multiple)))
    return w, h


def at_least_area(width: int, height: int, *, min_area: int, multiple: int) -> tuple[int, int]:
    """Scaled up (aspect kept) to cover `min_area` pixels: Seedream refuses small canvases."""
    if width * height >= min_area:
        return width, height
    scale = math.sqrt(min_area / (width * height))
    return (math.ceil(width * scale / multiple) * multiple,
            math.ceil(height * scale / multiple) * multiple)


def mime_of(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_uri(data: bytes) -> str:
    """Inline input media: fal and Replicate accept data URIs wherever they take a file URL,
    which saves an upload round trip and a CDN copy of the customer's image."""
    return f"data:{mime_of(data)};base64,{b64(data)}"


def first(items: Any) -> Any:
    """The first element of a list, or the value itself."""
    return items[0] if isinstance(items, list) and items else items


def dig(body: Mapping[str, Any] | None, *path: str | int) -> Any:
    """body[path[0]][path[1]]... or None when any step is missing."""
    node: Any = body
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def ensure(value: Any, what: str, *, provider: str, model: str,
           request_id: str | None = None, kinds: Collection[type] = (str,)) -> Any:
    """`value` if it is one of `kinds`, else MalformedResponse naming the missing field."""
    if isinstance(value, tuple(kinds)) and value != "":
        return value
    raise MalformedResponse(f"response lacks {what}", provider=provider, model=model,
                            request_id=request_id)
