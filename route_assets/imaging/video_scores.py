"""How good is a generated clip? Pure measures over decoded frames, one number per failure mode
image-to-video models show: incoherent frames, flicker, colour pumping, a first frame that does
not look like the keyframe, a subject that drifts away from where the camera puts it, frozen
stretches and jittering motion. Thresholds come from policy.yaml (`video.thresholds`).

All measures run on small copies of the frames (ANALYSIS_WIDTH px wide): the failures are
visible at that size and scoring K clips must stay cheap next to encoding them.
"""

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import av
import cv2
import numpy as np
from skimage.metrics import structural_similarity

from route_assets.imaging.flaws import Box

ANALYSIS_WIDTH = 192
_TRACK_SAMPLES = 10  # frames (besides the first) on which the subject is located
# A part of the subject drifts when at least this many of its corners share a motion that
# misses the camera's by more than this many px (at ANALYSIS_WIDTH).
_PART_TOLERANCE_PX = 3.0
_PART_MIN_FEATURES = 8
# Drift follows corners through the clip with Lucas-Kanade flow (see _tracks).
_TRACK_CORNERS = 250
_TRACK_STEP = 4  # frames per tracking step
_TRACK_BACK_PX = 0.5  # forward-backward disagreement that drops a corner
# Which way each measure fails: "max" fails above its limit, "min" below it.
LIMIT_KIND = {
    "coherence": "min",
    "flicker": "max",
    "pumping": "max",
    "likeness": "min",
    "drift": "max",
    "frozen_s": "max",
    "jitter": "max",
    "motion": "min",
}


@dataclass(frozen=True)
class ClipScores:
    coherence: float  # 5th percentile of consecutive-frame SSIM (1 = perfectly steady)
    flicker: float  # largest frame-to-frame luminance jolt the trend does not explain (0-255)
    pumping: float  # chroma-mean oscillation around its slow trend (std, 0-255)
    likeness: float  # SSIM of the first frame to the keyframe as the clip frames it
    drift: float  # subject displacement against the camera's motion, fraction of the diagonal
    frozen_s: float  # longest run of identical frames inside the clip, seconds
    jitter: float  # RMS acceleration of the camera path, % of the frame width per frame²
    motion: float  # mean absolute change from first to last frame (0-255)

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def decode_small(data: bytes, width: int = ANALYSIS_WIDTH) -> tuple[list[np.ndarray], float]:
    """Every frame of an MP4, downscaled to `width` px (RGB uint8), and the clip's fps."""
    frames: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise ValueError("the clip has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or 24
        for frame in container.decode(stream):
            h = max(2, round(frame.height * width / frame.width))
            small = frame.reformat(width=width, height=h, format="rgb24", interpolation="AREA")
            frames.append(small.to_ndarray())
    if not frames:
        raise ValueError("the clip decodes to no frames")
    return frames, float(rate)


def shrink(frames: Iterable[np.ndarray], width: int = ANALYSIS_WIDTH) -> list[np.ndarray]:
    out = []
    for f in frames:
        h = max(2, round(f.shape[0] * width / f.shape[1]))
        out.append(cv2.resize(f, (width, h), interpolation=cv2.INTER_AREA))
    return out


def _residual_std(series: np.ndarray, degree: int = 3) -> float:
    """Spread of a per-frame series around a smooth trend (a camera move changes means slowly)."""
    if len(series) < degree + 3:
        return 0.0
    t = np.linspace(-1, 1, len(series))
    trend = np.polyval(np.polyfit(t, series, degree), t)
    return float(np.std(series - trend))


def _jolt(series: np.ndarray) -> float:
    """Largest second difference: a frame that breaks away from both neighbours."""
    if len(series) < 3:
        return 0.0
    return float(np.max(np.abs(series[1:-1] - (series[:-2] + series[2:]) / 2)))


def _cover(image: np.ndarray, width: int, height: int, box: Box | None) -> np.ndarray:
    """The keyframe cover-cropped to width x height around `box` (or its centre)."""
    ih, iw = image.shape[:2]
    scale = max(width / iw, height / ih)
    cw, ch = min(iw, round(width / scale)), min(ih, round(height / scale))
    cx, cy = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) if box else (iw / 2, ih / 2)
    x0 = int(min(max(round(cx - cw / 2), 0), iw - cw))
    y0 = int(min(max(round(cy - ch / 2), 0), ih - ch))
    return cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (width, height),
                      interpolation=cv2.INTER_AREA)


def _contain(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The whole keyframe centred on a blurred copy of itself (the local engine's extension)."""
    ih, iw = image.shape[:2]
    fit = min(width / iw, height / ih)
    fw, fh = max(1, round(iw * fit)), max(1, round(ih * fit))
    canvas = cv2.GaussianBlur(cv2.resize(image, (width, height)), (0, 0), 6)
    x0, y0 = (width - fw) // 2, (height - fh) // 2
    canvas[y0 : y0 + fh, x0 : x0 + fw] = cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA)
    return canvas


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _likeness(first: np.ndarray, keyframe: np.ndarray, box: Box | None) -> float:
    """First frame vs the keyframe, framed the ways a model or our engine frames it."""
    h, w = first.shape[:2]
    small_key = cv2.resize(keyframe, (w * 2, round(keyframe.shape[0] * w * 2 / keyframe.shape[1])),
                           interpolation=cv2.INTER_AREA)
    k = small_key.shape[1] / keyframe.shape[1]
    sbox = None if box is None else tuple(int(v * k) for v in box)
    views = [_cover(small_key, w, h, None), _contain(small_key, w, h)]
    if sbox is not None:
        views.append(_cover(small_key, w, h, sbox))  # type: ignore[arg-type]
    g = _gray(first)
    return max(structural_similarity(g, _gray(v), data_range=255) for v in views)


def _flow(src: np.ndarray, dst: np.ndarray,
          points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where `points` (Nx2 float32) of `src` are in `dst` (pyramidal Lucas-Kanade), and
    whether each was found."""
    found, status, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        src, dst, points, None, winSize=(15, 15), maxLevel=2,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
    return np.asarray(found, np.float32).reshape(-1, 2), np.asarray(status).ravel() == 1


def _tracks(gray: Sequence[np.ndarray],
            at: Iterable[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Corners of the first frame followed through the clip by pyramidal Lucas-Kanade flow,
    every _TRACK_STEP frames: for each frame in `at`, the surviving corners' first-frame and
    current positions (two Nx2 arrays). Each step moves a corner a few px at most, so a corner
    is searched where it just was and cannot jump to a look-alike elsewhere (as independent
    descriptor matches of a small or repetitive subject do); a corner that fails the way back
    (forward-backward check) is dropped for good."""
    first = cv2.goodFeaturesToTrack(gray[0], _TRACK_CORNERS, 0.01, 3, blockSize=5)
    if first is None:
        return {}
    start = first.reshape(-1, 2).astype(np.float32)
    current, alive = start.copy(), np.ones(len(start), bool)
    wanted = {int(i) for i in at}
    frames = sorted(set(range(0, len(gray), _TRACK_STEP)) | wanted)
    out = {}
    for a, b in zip(frames, frames[1:], strict=False):
        if not alive.any():
            break
        ahead, st = _flow(gray[a], gray[b], current)
        back, st_back = _flow(gray[b], gray[a], ahead)
        alive &= st & st_back & (np.linalg.norm(back - current, axis=1) < _TRACK_BACK_PX)
        current = np.where(alive[:, None], ahead, current)
        if b in wanted:
            out[b] = (start[alive], current[alive])
    return out


def _fit(p1: np.ndarray, p2: np.ndarray,
         min_inliers: int = 5) -> tuple[np.ndarray, np.ndarray] | None:
    """A 2x3 similarity transform p1 -> p2 (RANSAC) and its inlier mask, or None."""
    if len(p1) < max(6, min_inliers):
        return None
    m, inliers = cv2.estimateAffinePartial2D(p1, p2, method=cv2.RANSAC,
                                             ransacReprojThreshold=2.0)
    if m is None or inliers is None or int(inliers.sum()) < min_inliers:
        return None
    return m, inliers.ravel().astype(bool)


def _apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def _part_drift(p1: np.ndarray, p2: np.ndarray, camera: np.ndarray) -> float:
    """How far a part of the subject moves against the camera, in px: the subject's corners
    the camera's motion does not explain, if enough of them agree on one motion of their own
    (a head sliding off its body, a product leaving its shelf while the rest holds still).
    Stray mistracks do not agree on a motion, so they do not count."""
    off = np.linalg.norm(_apply(camera, p1) - p2, axis=1) > _PART_TOLERANCE_PX
    if int(off.sum()) < _PART_MIN_FEATURES:
        return 0.0
    fit = _fit(p1[off], p2[off], min_inliers=_PART_MIN_FEATURES)
    if fit is None:
        return 0.0
    part, inliers = fit
    centre = p1[off][inliers].mean(axis=0, keepdims=True)
    return float(np.linalg.norm(_apply(part, centre) - _apply(camera, centre)))


def _drift(gray: Sequence[np.ndarray], box: Box | None) -> float:
    """How far the subject, or a part of it, moves away from where the camera's own motion
    would put it, as a fraction of the frame's diagonal.

    The camera's motion (zoom, pan) is the similarity transform of the background's tracked
    corners, the subject's the one of the corners in its box; a good clip keeps them together
    (a parallax move parts them a little), a drifting one lets the subject slide off. When only
    part of the subject slides (the rest of the box moving with the background), the box's
    dominant motion is the camera's, so the corners it leaves unexplained are fitted on their
    own (`_part_drift`). Corners are tracked frame to frame (`_tracks`) rather than matched by
    descriptor from the first frame: a small part (a cup's rim) has few corners and its
    descriptor matches were mostly wrong, hiding its slide. A subject whose corners can no
    longer be followed has lost its likeness: full drift."""
    h, w = gray[0].shape
    x0, y0, x1, y1 = box if box else (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 0.0
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    diag = float(np.hypot(w, h))
    picks = np.unique(np.linspace(1, len(gray) - 1, _TRACK_SAMPLES).round().astype(int))
    tracked = _tracks(gray, picks)
    worst, lost = 0.0, 0
    for i in picks:
        if i not in tracked:
            lost += 1
            continue
        p1, p2 = tracked[i]
        inside = (p1[:, 0] >= x0) & (p1[:, 0] < x1) & (p1[:, 1] >= y0) & (p1[:, 1] < y1)
        fit = _fit(p1[inside], p2[inside])
        if fit is None:
            lost += 1
            continue
        subject = fit[0]
        # A plain backdrop (or a subject filling the frame) leaves too few corners outside
        # the subject: then the whole frame's dominant motion stands for the camera's.
        camera_fit = _fit(p1[~inside], p2[~inside], min_inliers=12) or _fit(p1, p2)
        if camera_fit is None:
            lost += 1
            continue
        camera = camera_fit[0]
        whole = float(np.linalg.norm(subject @ centre - camera @ centre))
        part = _part_drift(p1[inside], p2[inside], camera)
        worst = max(worst, whole / diag, part / diag)
    if lost > len(picks) // 2:
        return 1.0
    return worst


def _frozen_seconds(diffs: np.ndarray, fps: float, eps: float) -> float:
    """Longest run of (nearly) identical consecutive frames, ignoring the eased rests at both
    ends (the move starts and ends at rest, so the first and last steps are near zero by
    design). "Identical" is relative to the clip's typical step, so a slow move is not frozen."""
    n = len(diffs)
    lo, hi = int(0.1 * n), n - int(0.1 * n)
    typical = float(np.median(diffs[lo:hi])) if hi > lo else float(np.median(diffs))
    still = diffs < max(eps * typical, 1e-3)
    best = run = 0
    for i in range(n):
        run = run + 1 if still[i] else 0
        if lo <= i < hi:
            best = max(best, run)
    return best / fps


def _jitter(gray: Sequence[np.ndarray]) -> float:
    """RMS acceleration of the camera path from phase correlation, % of width per frame²: a
    smooth move accelerates gently, shake reverses direction from one frame to the next."""
    if len(gray) < 4:
        return 0.0
    f = [g.astype(np.float32) for g in gray]
    window = cv2.createHanningWindow(f[0].shape[::-1], cv2.CV_32F)
    steps = np.array([cv2.phaseCorrelate(a, b, window)[0] for a, b in zip(f, f[1:],
                                                                            strict=False)])
    accel = np.diff(steps, axis=0)
    return float(np.sqrt(np.mean(np.sum(accel**2, axis=1)))) * 100.0 / f[0].shape[1]


def score_clip(frames: Sequence[np.ndarray], fps: float, keyframe: np.ndarray,
               subject_box: Box | None = None, *, frozen_eps: float = 0.2) -> ClipScores:
    """Scores of one clip. `frames` are the clip's RGB frames at analysis size (decode_small);
    `keyframe` is the still it was animated from and `subject_box` the subject in it."""
    if not frames:
        raise ValueError("no frames to score")
    gray = [_gray(f) for f in frames]
    g32 = np.stack([g.astype(np.float32) for g in gray])
    h, w = gray[0].shape
    ssim = [structural_similarity(a, b, data_range=255) for a, b in zip(gray, gray[1:],
                                                                        strict=False)]
    luma = g32.mean(axis=(1, 2))
    ycc = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).mean(0) for f in frames])
    chroma = np.hypot(ycc[:, 1] - 128, ycc[:, 2] - 128) if len(frames) else np.zeros(1)
    diffs = np.abs(np.diff(g32, axis=0)).mean(axis=(1, 2)) if len(frames) > 1 else np.zeros(0)
    key_box = subject_box
    first_box = _box_in_first(frames[0], keyframe, key_box)
    return ClipScores(
        coherence=float(np.percentile(ssim, 5)) if ssim else 1.0,
        flicker=max(_jolt(luma), 0.0),
        pumping=max(_residual_std(ycc[:, 1]), _residual_std(ycc[:, 2]), _residual_std(chroma)),
        likeness=float(_likeness(frames[0], keyframe, subject_box)),
        drift=_drift(gray, first_box),
        frozen_s=_frozen_seconds(diffs, fps, frozen_eps) if len(diffs) else 0.0,
        jitter=_jitter(gray),
        motion=float(np.abs(g32[-1] - g32[0]).mean()) if len(frames) > 1 else 0.0,
    ) if h and w else ClipScores(0, 0, 0, 0, 1, 0, 0, 0)


def _box_in_first(first: np.ndarray, keyframe: np.ndarray, box: Box | None) -> Box | None:
    """Where the keyframe's subject box sits in the clip's first frame: the subject's crop
    template-matched over a few scales between a contain fit and a cover fit."""
    if box is None:
        return None
    kh, kw = keyframe.shape[:2]
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(kw, x1), min(kh, y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    h, w = first.shape[:2]
    contain, cover = min(w / kw, h / kh), max(w / kw, h / kh)
    g = _gray(first)
    crop = _gray(keyframe[y0:y1, x0:x1])
    best: tuple[float, Box] | None = None
    for s in np.geomspace(contain, cover * 1.05, 7):
        tw, th = round((x1 - x0) * s), round((y1 - y0) * s)
        if tw < 6 or th < 6:
            continue
        if tw > w or th > h:  # larger than the frame at this scale
            continue
        t = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
        res = cv2.matchTemplate(g, t, cv2.TM_CCOEFF_NORMED)
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        if best is None or peak > best[0]:
            best = (peak, (px, py, px + tw, py + th))
    return best[1] if best else (0, 0, w, h)  # the subject overfills the frame


def failures(scores: ClipScores, limits: Mapping[str, float]) -> list[str]:
    """The measures outside their limits, as readable reasons."""
    out = []
    for name, kind in LIMIT_KIND.items():
        if name not in limits:
            continue
        value, limit = getattr(scores, name), limits[name]
        if (kind == "max" and value > limit) or (kind == "min" and value < limit):
            sign = ">" if kind == "max" else "<"
            out.append(f"{name} {value:.3g} {sign} {limit:g}")
    return out


def risk(scores: ClipScores, limits: Mapping[str, float]) -> float:
    """How close the clip comes to failing: the worst measure as a fraction of its limit's
    margin (1.0 = at a limit). The kept clip is the passing one with the least risk."""
    worst = 0.0
    for name, kind in LIMIT_KIND.items():
        if name not in limits:
            continue
        value, limit = getattr(scores, name), limits[name]
        if kind == "max":
            worst = max(worst, value / limit if limit > 0 else float(value > 0))
        elif name in ("coherence", "likeness"):  # similarities: the margin is 1 - limit
            worst = max(worst, (1 - value) / max(1e-6, 1 - limit))
        else:
            worst = max(worst, limit / max(value, 1e-6))
    return worst


@dataclass(frozen=True)
class Curation:
    best: int | None  # index of the kept clip, None when every clip failed
    reasons: list[list[str]]  # per clip, why it failed (empty = passed)
    risks: list[float]


def curate(all_scores: Sequence[ClipScores], limits: Mapping[str, float]) -> Curation:
    """Keep the passing clip with the least risk; None when every clip fails."""
    reasons = [failures(s, limits) for s in all_scores]
    risks = [risk(s, limits) for s in all_scores]
    passing = [i for i, r in enumerate(reasons) if not r]
    best = min(passing, key=lambda i: risks[i]) if passing else None
    return Curation(best=best, reasons=reasons, risks=risks)
