"""Plain-class fakes: state in through the constructor, calls recorded in public lists."""

from dataclasses import replace

import numpy as np

from route_assets.engines.simulator import SceneSpec, simulate_generation
from route_assets.imaging import codecs, video
from route_assets.providers.base import (
    GeneratedImage,
    GeneratedVideo,
    ImageGenerator,
    ImageRequest,
    VideoGenerator,
    VideoRequest,
)


class BlankImageGenerator(ImageGenerator):
    """A generator that forgets the subject: every image is the brand background alone."""

    def __init__(self, *, cost_usd: float = 0.01) -> None:
        self.cost_usd = cost_usd
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest) -> GeneratedImage:
        self.requests.append(request)
        rgb = tuple(int(request.palette[0][i:i + 2], 16) for i in (1, 3, 5))
        image = np.empty((request.height, request.width, 3), np.uint8)
        image[:] = rgb
        return GeneratedImage(png=codecs.encode_png(image), seed=request.seed,
                              request_id=f"blank-{len(self.requests)}", cost_usd=self.cost_usd,
                              simulated=True, latency_s=0.0)


class DefectiveGenerator(ImageGenerator):
    """The real simulator, but every image gets the given defects (rates of 1.0)."""

    def __init__(self, *, defects: tuple[str, ...]) -> None:
        self.defects = defects
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest) -> GeneratedImage:
        self.requests.append(request)
        spec = SceneSpec(subject=request.subject, headline=request.headline,
                         palette=request.palette, width=request.width, height=request.height)
        image = simulate_generation(spec, seed=request.seed,
                                    defect_rates={d: 1.0 for d in self.defects}).image
        return GeneratedImage(png=codecs.encode_png(image), seed=request.seed,
                              request_id=f"defective-{len(self.requests)}", cost_usd=0.01,
                              simulated=True, latency_s=0.0)


class StrobingVideoGenerator(VideoGenerator):
    """A video model whose first `broken` clips strobe (every other frame at 40% brightness)
    and whose later ones come from the local engine: a bad batch, then a good one."""

    def __init__(self, good: VideoGenerator, *, broken: int) -> None:
        self.good = good
        self.broken = broken
        self.requests: list[VideoRequest] = []

    def animate(self, request: VideoRequest) -> GeneratedVideo:
        self.requests.append(request)
        clip = self.good.animate(request)
        if len(self.requests) > self.broken:
            return clip
        frames = video.ken_burns_frames(
            codecs.decode(request.keyframe_png), width=request.width, height=request.height,
            seconds=request.seconds, fps=request.fps, focus_box=request.focus_box,
            seed=request.seed)
        strobe = (f if i % 2 else (f * 0.4).astype(np.uint8) for i, f in enumerate(frames))
        mp4 = video.encode_h264(strobe, width=request.width, height=request.height,
                                fps=request.fps)
        return replace(clip, mp4=mp4)
