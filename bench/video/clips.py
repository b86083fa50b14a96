"""The video curation benchmark's clips: real photographs (scikit-image's bundled data) animated
by our own engines into good clips, and the same clips broken the ways image-to-video models
break them. Everything follows from the set index, so every run builds the same clips.

A set holds K clips for one photograph, like the K seeds of one ad set: some sets have one or
more good clips, the others only broken ones. Defects are injected after the move is rendered,
each with a strength drawn from a range that includes mild cases.
"""

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data

from route_assets.imaging.parallax import parallax_frames
from route_assets.imaging.video import ken_burns_frames

K = 3
N_SETS = 60
FRESH_SETS = 30  # sets N_SETS .. N_SETS + FRESH_SETS - 1 are `fresh`, the next FINAL_SETS `final`
FINAL_SETS = 30
FPS = 24
SECONDS = 4.0
SIZE = (288, 512)  # width, height: a portrait clip, small enough to score quickly
DEFECTS = ("flicker", "drift", "frozen", "jitter", "pumping")
# (loader, subject box (x0, y0, x1, y1)) hand-annotated on each photograph
PHOTOS = {
    "astronaut": (data.astronaut, (120, 10, 360, 380)),
    "chelsea": (data.chelsea, (100, 30, 400, 300)),
    "coffee": (data.coffee, (200, 10, 470, 260)),
    "rocket": (data.rocket, (280, 80, 345, 427)),
    "helmet": (data.astronaut, (345, 330, 505, 512)),  # the astronaut photo's helmet
}


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]
    defect: str | None  # None: a good clip
    engine: str  # "ken_burns" | "parallax"


@dataclass(frozen=True)
class ClipSet:
    index: int
    photo: str
    keyframe: np.ndarray
    box: tuple[int, int, int, int]
    clips: list[Clip]

    @property
    def has_good(self) -> bool:
        return any(c.defect is None for c in self.clips)


def split_of(index: int) -> str:
    """Fixed split by index alone: the first half of the N_SETS sets tunes the thresholds, the
    second half reports; the FRESH_SETS sets past N_SETS are `fresh`, a holdout for checking a
    scorer change that was prompted by an eval miss (nobody looks at those sets while making
    it), and the FINAL_SETS after them are `final`, a second holdout kept for when `fresh` has
    been looked at too (set 62 prompted the tracked drift measure)."""
    if index >= N_SETS + FRESH_SETS:
        return "final"
    if index >= N_SETS:
        return "fresh"
    return "tune" if index < N_SETS // 2 else "eval"


@functools.cache
def photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The photograph and its subject mask (GrabCut seeded by the annotated box)."""
    load, box = PHOTOS[name]
    image = np.ascontiguousarray(load()[..., :3])
    cv2.setRNGSeed(0)
    mask = np.zeros(image.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    x0, y0, x1, y1 = box
    cv2.grabCut(image[..., ::-1].copy(), mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, 4,
                cv2.GC_INIT_WITH_RECT)
    return image, np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)


def _good(name: str, rng: np.random.Generator, engine: str, *, depth: float = 0.03) -> list:
    image, mask = photo(name)
    box = PHOTOS[name][1]
    w, h = SIZE
    seed = int(rng.integers(2**31))
    if engine == "parallax":
        return list(parallax_frames(image, mask, width=w, height=h, seconds=SECONDS, fps=FPS,
                                    focus_box=box, seed=seed, depth=depth,
                                    zoom=float(rng.uniform(1.04, 1.08))))
    return list(ken_burns_frames(image, width=w, height=h, seconds=SECONDS, fps=FPS,
                                 focus_box=box, seed=seed, zoom=float(rng.uniform(1.06, 1.15))))


def _flicker(frames: list, rng: np.random.Generator) -> list:
    """Brightness jolts on a few frames, as a model re-exposing from frame to frame."""
    out = [f.copy() for f in frames]
    n = len(out)
    for i in rng.choice(np.arange(n // 8, n - 2), size=int(rng.integers(3, 9)), replace=False):
        gain = 1 + float(rng.choice([-1, 1])) * float(rng.uniform(0.06, 0.16))
        out[i] = np.clip(out[i].astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return out


def _frozen(frames: list, rng: np.random.Generator) -> list:
    """The picture hangs for a while, then jumps to where the move has got to."""
    n = len(frames)
    hold = int(rng.integers(round(0.4 * FPS), round(1.2 * FPS)))
    start = int(rng.integers(n // 5, n - hold - n // 5))
    return frames[:start] + [frames[start]] * hold + frames[start + hold :]


def _jitter(frames: list, rng: np.random.Generator) -> list:
    """Camera shake: a small random offset per frame."""
    amp = float(rng.uniform(0.006, 0.02)) * SIZE[0]
    out = []
    for f in frames:
        dx, dy = rng.normal(0, amp, 2)
        m = np.array([[1.0, 0, dx], [0, 1.0, dy]])
        out.append(cv2.warpAffine(f, m, SIZE, borderMode=cv2.BORDER_REFLECT))
    return out


def _pumping(frames: list, rng: np.random.Generator) -> list:
    """Colour saturation swelling and ebbing every second or so."""
    amp, period = float(rng.uniform(0.12, 0.35)), float(rng.uniform(0.6, 1.6))
    phase = float(rng.uniform(0, 2 * math.pi))
    out = []
    for i, f in enumerate(frames):
        ycc = cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        gain = 1 + amp * math.sin(2 * math.pi * i / FPS / period + phase)
        ycc[..., 1:] = 128 + (ycc[..., 1:] - 128) * gain
        out.append(cv2.cvtColor(np.clip(ycc, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB))
    return out


def build(index: int) -> ClipSet:
    rng = np.random.default_rng(1000 + index)
    names = list(PHOTOS)
    name = names[index % len(names)]
    image, _ = photo(name)
    all_broken = index % 3 == 2
    goods = 0 if all_broken else int(rng.integers(1, K + 1))
    clips = []
    for slot in range(K):
        engine = "parallax" if rng.random() < 0.5 else "ken_burns"
        if slot < goods:
            clips.append(Clip(_good(name, rng, engine), None, engine))
            continue
        defect = DEFECTS[int(rng.integers(len(DEFECTS)))]
        if defect == "drift":
            # The subject slides away from where the camera puts it.
            frames = _good(name, rng, "parallax", depth=float(rng.uniform(0.18, 0.35)))
        else:
            frames = {"flicker": _flicker, "frozen": _frozen, "jitter": _jitter,
                      "pumping": _pumping}[defect](_good(name, rng, engine), rng)
        clips.append(Clip(frames, defect, engine))
    order = rng.permutation(K)  # the good clip is not always first
    return ClipSet(index, name, image, PHOTOS[name][1], [clips[i] for i in order])
