"""Real media for emulated jobs: simulator images from the prompt, Ken Burns clips, input images.

A hosted model only sees a prompt, so the scene is read back out of the prompt text: every
'#RRGGBB' is a brand colour, the first double-quoted phrase is the headline, and the rest is
the subject (the simulator picks its scene from the subject's keywords).
"""

import base64
import binascii
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import cv2
import numpy as np

from route_assets.emulator.wire import BadInput
from route_assets.engines.simulator import SceneSpec, simulate_generation
from route_assets.imaging import codecs, video

DEFAULT_SIZE = (1024, 1024)
DEFAULT_PALETTE = ("#1F3A5F", "#F2C14E", "#FFFFFF")
VIDEO_FPS = 12  # small and fast: a dry run needs a decodable clip, not broadcast quality
MAX_SIDE = 8192
# Gemini's documented 1K output sizes; other providers' aspect-ratio fields map onto the same.
ASPECT_SIZES = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184),
    "4:3": (1184, 864), "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344),
    "16:9": (1344, 768), "21:9": (1536, 672), "9:21": (672, 1536),
}
VIDEO_SIZES = {"9:16": (360, 640), "16:9": (640, 360), "1:1": (480, 480)}
_HEX = re.compile(r"#[0-9a-fA-F]{6}(?![0-9a-fA-F])")
_QUOTED = re.compile(r'"([^"\n]{1,90})"|“([^”\n]{1,90})”')
_DATA_URI = re.compile(r"data:[\w/+.-]*(?:;[\w=.-]+)*;base64,(.*)", re.DOTALL)
_CDN_PATH = re.compile(r"/cdn/([A-Za-z0-9_-]+)\.(png|mp4)")


@dataclass(frozen=True)
class Render:
    """What one job must produce."""

    kind: str  # "image" | "video"
    prompt: str
    width: int
    height: int
    seed: int
    count: int = 1
    source: np.ndarray | None = None  # input image: edited (image) or animated (video)
    seconds: float = 5.0
    mask: np.ndarray | None = None  # inpainting mask (bool, the source's size): fill / erase
    scale: float = 1.0  # upscalers


@dataclass(frozen=True)
class Output:
    data: bytes
    ext: str  # "png" | "mp4"
    width: int
    height: int


def scene_from_prompt(prompt: str, width: int, height: int) -> SceneSpec:
    palette = tuple(dict.fromkeys(c.upper() for c in _HEX.findall(prompt))) or DEFAULT_PALETTE
    quoted = _QUOTED.search(prompt)
    headline = next((g for g in quoted.groups() if g), "") if quoted else ""
    subject = " ".join(_QUOTED.sub(" ", _HEX.sub(" ", prompt)).split()) or "product"
    return SceneSpec(subject, headline, palette, width, height)


def check_size(width: object, height: object, field: str = "image_size") -> tuple[int, int]:
    if not (isinstance(width, int) and isinstance(height, int)) or isinstance(width, bool):
        raise BadInput(field, "width and height must be integers")
    if not (64 <= width <= MAX_SIDE and 64 <= height <= MAX_SIDE):
        raise BadInput(field, f"width and height must be between 64 and {MAX_SIDE}")
    return width, height


def aspect_size(ratio: str, scale: float = 1.0, field: str = "aspect_ratio") -> tuple[int, int]:
    """Pixel size for an 'a:b' ratio at about one megapixel times scale**2."""
    if ratio in ASPECT_SIZES:
        w, h = ASPECT_SIZES[ratio]
    else:
        try:
            a, b = (float(x) for x in ratio.split(":"))
        except ValueError:
            raise BadInput(field, f"unsupported aspect ratio {ratio!r}") from None
        if not (a > 0 and b > 0 and 1 / 4 <= a / b <= 4):
            raise BadInput(field, f"unsupported aspect ratio {ratio!r}")
        w = round(math.sqrt(1024 * 1024 * a / b) / 16) * 16
        h = round(w * b / a / 16) * 16
    return round(w * scale), round(h * scale)


def video_size(aspect: object, source: np.ndarray | None) -> tuple[int, int]:
    """Small clip sizes by aspect; 'auto' or none follows the input image, else 16:9."""
    if isinstance(aspect, str) and aspect in VIDEO_SIZES:
        return VIDEO_SIZES[aspect]
    if aspect not in (None, "", "auto", "match_input_image"):
        raise BadInput("aspect_ratio", f"unsupported video aspect ratio {aspect!r}")
    if source is None:
        return VIDEO_SIZES["16:9"]
    h, w = source.shape[:2]
    return VIDEO_SIZES["9:16" if h > 1.15 * w else "16:9" if w > 1.15 * h else "1:1"]


def parse_seed(value: object, field: str = "seed") -> int:
    """The requested seed, or a random one when none (or fal's -1, 'random') was asked for."""
    if value is None or value == -1:
        return secrets.randbelow(2**31)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(field, "seed must be a non-negative integer")
    return value


def parse_seconds(value: object, default: float, field: str = "duration") -> float:
    """Durations arrive as 5, 5.0, "5" or "8s" depending on the provider."""
    if value is None:
        return default
    text = str(value).strip().removesuffix("s")
    try:
        seconds = float(text)
    except ValueError:
        raise BadInput(field, f"unsupported duration {value!r}") from None
    if not 0 < seconds <= 20:
        raise BadInput(field, "duration must be between 0 and 20 seconds")
    return seconds


def decode_image(data: bytes, field: str) -> np.ndarray:
    try:
        return codecs.decode(data)
    except codecs.EncodeError:
        raise BadInput(field, "the input image could not be decoded") from None


def decode_base64_image(text: str, field: str) -> np.ndarray:
    try:
        return decode_image(base64.b64decode(text, validate=False), field)
    except binascii.Error:
        raise BadInput(field, "the input image is not valid base64") from None


def load_image(ref: object, field: str, media: "MediaLookup") -> np.ndarray:
    """An input image given as a data URI, an emulator media URL or (BFL, Google) raw base64."""
    if not isinstance(ref, str) or not ref:
        raise BadInput(field, "expected an image URL or base64 string")
    match = _DATA_URI.fullmatch(ref.strip())
    if match:
        return decode_base64_image(match.group(1), field)
    if ref.startswith(("http://", "https://")):
        # Offline: only the emulator's own media can be fetched, straight from its store.
        path = _CDN_PATH.fullmatch(urlsplit(ref).path)
        data = media.blob_bytes(path.group(1)) if path else None
        if data is None:
            raise BadInput(field, "could not download the file from the given URL")
        return decode_image(data, field)
    return decode_base64_image(ref, field)


def load_mask(body: dict[str, Any], field: str, source: np.ndarray | None,
              media: "MediaLookup") -> np.ndarray | None:
    """An inpainting mask (white = repaint) of the input image's size, or None if not given."""
    ref = body.get(field)
    if ref is None:
        return None
    if source is None:
        raise BadInput(field, "a mask needs an input image")
    mask = load_image(ref, field, media)
    if mask.shape[:2] != source.shape[:2]:
        raise BadInput(field, "the mask must have the input image's size")
    return mask.max(axis=2) > 127


def _edited(job: Render) -> np.ndarray:
    """What an emulated editor returns: with a mask, the hole inpainted and, like a real
    inpainter's latent round trip, every other pixel slightly changed too (the reason callers
    composite through their mask); an upscaler's Lanczos enlargement; else the input as is."""
    assert job.source is not None
    image = job.source
    if job.mask is not None:
        image = cv2.inpaint(image, job.mask.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        drifted = cv2.GaussianBlur(image, (0, 0), 0.9).astype(np.float32) * 0.96 + 6.0
        image = np.clip(np.rint(drifted), 0, 255).astype(np.uint8)
    if job.scale != 1.0:
        h, w = image.shape[:2]
        image = cv2.resize(image, (round(w * job.scale), round(h * job.scale)),
                           interpolation=cv2.INTER_LANCZOS4)
    return image


class MediaLookup(Protocol):
    """The part of the media store an input-image reference needs."""

    def blob_bytes(self, token: str) -> bytes | None: ...


def _still(prompt: str, width: int, height: int, seed: int) -> np.ndarray:
    spec = scene_from_prompt(prompt, width, height)
    return simulate_generation(spec, seed=seed, defect_rates={}).image


def render(job: Render) -> list[Output]:
    """The job's media. An edit returns its input image (see `_edited`), re-encoded as PNG."""
    if job.kind == "video":
        still = job.source if job.source is not None else _still(
            job.prompt, job.width, job.height, job.seed)
        frames = video.ken_burns_frames(still, width=job.width, height=job.height,
                                        seconds=job.seconds, fps=VIDEO_FPS, focus_box=None,
                                        seed=job.seed)
        mp4 = video.encode_h264(frames, width=job.width, height=job.height, fps=VIDEO_FPS)
        return [Output(mp4, "mp4", job.width, job.height)]
    if job.source is not None:
        edited = _edited(job)
        h, w = edited.shape[:2]
        return [Output(codecs.encode_png(edited), "png", w, h)] * job.count
    return [Output(codecs.encode_png(_still(job.prompt, job.width, job.height, job.seed + i)),
                   "png", job.width, job.height) for i in range(job.count)]
