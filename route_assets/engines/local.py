"""The embedded default engines: the generation simulator and the Ken Burns / parallax video
engine behind the same interfaces the hosted providers implement. Offline, deterministic, and
priced at each simulated model's list price (recorded as simulated spend)."""

import hashlib
import json
from dataclasses import asdict

import numpy as np

from route_assets.catalog import Catalog, Price
from route_assets.engines.simulator import SceneSpec, simulate_generation
from route_assets.imaging import codecs, video
from route_assets.imaging.parallax import parallax_frames
from route_assets.providers.base import (
    GeneratedImage,
    GeneratedVideo,
    ImageGenerator,
    ImageRequest,
    VideoGenerator,
    VideoRequest,
)


def _request_id(kind: str, payload: dict[str, object]) -> str:
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
    return f"sim-{kind}-{digest.hexdigest()[:16]}"


class LocalImageGenerator(ImageGenerator):
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def generate(self, request: ImageRequest) -> GeneratedImage:
        model = self._catalog.get(request.model)
        spec = SceneSpec(
            subject=request.subject,
            headline=request.headline,
            palette=request.palette,
            width=request.width,
            height=request.height,
        )
        # The simulator's ground truth (injected defects) is dropped here on purpose: the
        # classifier must find flaws by measuring, as it would with a hosted model.
        simulated = simulate_generation(spec, seed=request.seed, defect_rates=model.defects)
        return GeneratedImage(
            png=codecs.encode_png(simulated.image),
            seed=request.seed,
            request_id=_request_id("image", asdict(request)),
            cost_usd=model.list_price.cost(width=request.width, height=request.height),
            simulated=True,
            latency_s=model.latency_s,
        )


class LocalVideoGenerator(VideoGenerator):
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def animate(self, request: VideoRequest) -> GeneratedVideo:
        model = self._catalog.get(request.model)
        keyframe = codecs.decode(request.keyframe_png)
        shape = dict(width=request.width, height=request.height, seconds=request.seconds,
                     fps=request.fps, focus_box=request.focus_box, seed=request.seed)
        mask = _mask(request.subject_mask_png, keyframe.shape[:2])
        # With a subject mask, two seeds in three get the parallax move and the third a Ken
        # Burns move, so K seeds offer different motion, as a hosted model's seeds do.
        frames = (
            parallax_frames(keyframe, mask, **shape)  # type: ignore[arg-type]
            if mask is not None and request.seed % 3
            else video.ken_burns_frames(keyframe, **shape)  # type: ignore[arg-type]
        )
        mp4 = video.encode_h264(frames, width=request.width, height=request.height, fps=request.fps)
        price: Price = model.list_price
        payload = {k: v for k, v in asdict(request).items() if not isinstance(v, bytes)}
        payload["keyframe"] = hashlib.sha256(request.keyframe_png).hexdigest()
        payload["mask"] = hashlib.sha256(request.subject_mask_png or b"").hexdigest()
        return GeneratedVideo(
            mp4=mp4,
            seed=request.seed,
            request_id=_request_id("video", payload),
            cost_usd=price.cost(seconds=request.seconds),
            simulated=True,
            latency_s=model.latency_s,
        )


def _mask(png: bytes | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The subject mask if it fits the keyframe and covers a usable share of it: a mask of
    nothing or of nearly everything leaves no layers to move apart."""
    if png is None:
        return None
    mask = codecs.decode(png)[..., 0] > 127
    if mask.shape != shape or not 0.01 <= mask.mean() <= 0.7:
        return None
    return mask.astype(np.uint8)
