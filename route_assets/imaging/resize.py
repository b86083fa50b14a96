"""Fit a master to a placement: a crop window planned around what must stay visible, extended
with a blurred continuation of the master (local outpainting) when no crop can keep it, at the
exact pixel size. Pure functions over RGB uint8 arrays.

The plan has hard constraints and a soft objective. Hard: every protected box (faces, the
subject, the headline, the logo) lies inside the window's clear area, the part of the placement
frame no platform UI covers, with a margin. Soft: among the windows that satisfy that, the one
showing the most saliency. When no window inside the master satisfies the hard constraints, the
window grows past the master's edges and the outside is outpainted rather than the subject cut.
"""

from dataclasses import dataclass, field

import cv2
import numpy as np

from route_assets.imaging.flaws import Box

MARGIN = 0.03  # share of the placement frame kept between a protected box and the clear edge
ZOOMS = (1.0, 0.9, 0.8)  # window sizes tried inside the master before outpainting (1 = largest)
STEPS = 25  # positions tried along each free axis when saliency picks the window
# Growth of the protected box per side once the planner outpaints anyway (clipped to the
# master); set on the tuning part of bench/crop, never on its evaluation part.
OUTPAINT_PAD = 0.1
FEATHER = 0.04  # share of the frame over which the outpainted border fades into the blur

Window = tuple[float, float, float, float]  # (x0, y0, x1, y1) in master pixels; may leave it


@dataclass(frozen=True)
class Zone:
    """Fractions of the placement frame covered by platform UI."""

    top: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    right: float = 0.0


@dataclass(frozen=True)
class Keep:
    """What a placement must show clear of its overlays, and what it should show.

    `boxes` are hard (faces, subject, headline, logo; master pixels). `saliency` is a
    non-negative map of any size covering the whole master that steers the window where the
    hard boxes leave it free."""

    boxes: tuple[Box, ...] = ()
    saliency: np.ndarray | None = field(default=None, compare=False)

    @property
    def box(self) -> Box | None:
        out: Box | None = None
        for b in self.boxes:
            out = union(out, b)
        return out


@dataclass(frozen=True)
class Plan:
    window: Window
    outpainted: bool  # the window reaches outside the master: that part is synthesised
    retained: float  # share of the protected box inside the window's clear area

    @property
    def crop_box(self) -> Box:
        x0, y0, x1, y1 = self.window
        return (int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))


@dataclass(frozen=True)
class Fitted:
    image: np.ndarray
    crop_box: Box  # the master region shown (reaches outside the master when extended)
    extended: bool  # True when part of the frame was outpainted instead of cutting the subject
    retained: float  # share of the protected box inside the clear area of the frame
    outpainted_share: float  # share of the output's area that is synthesised
    window: Window  # the planned window, unrounded (maps master boxes into the frame)


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def overlap_fraction(box: Box | Window, window: Box | Window) -> float:
    """Share of `box`'s area that lies inside `window`."""
    w = max(0.0, min(box[2], window[2]) - max(box[0], window[0]))
    h = max(0.0, min(box[3], window[3]) - max(box[1], window[1]))
    area = max(1.0, (box[2] - box[0]) * (box[3] - box[1]))
    return float(w * h / area)


def clear_area(window: Box | Window, zone: Zone) -> Window:
    """The part of `window` that the placement's UI overlays leave visible."""
    x0, y0, x1, y1 = window
    w, h = x1 - x0, y1 - y0
    return (x0 + w * zone.left, y0 + h * zone.top, x1 - w * zone.right, y1 - h * zone.bottom)


def text_band_box(image: np.ndarray, *, band: tuple[float, float] = (0.76, 0.99)) -> Box | None:
    """The extent of text-like edges in the headline band our layouts put at the bottom."""
    h, w = image.shape[:2]
    y0, y1 = int(h * band[0]), int(h * band[1])
    gray = cv2.cvtColor(image[y0:y1], cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 80, 200) > 0
    cols = np.flatnonzero(edges.sum(axis=0) > 2)
    rows = np.flatnonzero(edges.sum(axis=1) > 2)
    if cols.size < w * 0.05 or rows.size == 0:
        return None
    return (int(cols[0]), y0 + int(rows[0]), int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)


def _origins(k0: float, k1: float, size: float, lead: float, trail: float,
             lo: float, hi: float, extent: float) -> tuple[float, float] | None:
    """Window origins along one axis that keep [k0, k1] in the clear part (with the margin)
    and the window inside [lo, hi + size]; None when there are none.

    On a side without an overlay the margin is at most what the master has between the box
    and its edge: a box the master itself cuts (a head at the top edge) gains nothing from a
    strip of synthesised border, so that alone must not force outpainting."""
    m0 = size * MARGIN if lead > 0 else min(size * MARGIN, max(0.0, k0))
    m1 = size * MARGIN if trail > 0 else min(size * MARGIN, max(0.0, extent - k1))
    a = max(lo, k1 - size * (1 - trail) + m1)
    b = min(hi, k0 - size * lead - m0)
    return (a, b) if a <= b + 1e-6 else None


def _centred(k0: float, k1: float, size: float, lead: float, trail: float) -> float:
    """The origin that centres [k0, k1] in the clear part of a window of `size`."""
    return (k0 + k1) / 2 - size * (lead + (1 - lead - trail) / 2)


class _Mass:
    """Saliency summed over windows in O(1), via an integral image."""

    def __init__(self, saliency: np.ndarray, src_w: int, src_h: int) -> None:
        sal = np.asarray(saliency, dtype=np.float64)
        self.sx, self.sy = sal.shape[1] / src_w, sal.shape[0] / src_h
        self.ii = cv2.integral(sal)
        self.total = float(self.ii[-1, -1]) or 1.0

    def __call__(self, box: Window) -> float:
        # Called thousands of times per plan: plain min/max, as np.clip on scalars costs ~15x.
        h, w = self.ii.shape[0] - 1, self.ii.shape[1] - 1
        x0 = min(max(int(round(box[0] * self.sx)), 0), w)
        x1 = min(max(int(round(box[2] * self.sx)), 0), w)
        y0 = min(max(int(round(box[1] * self.sy)), 0), h)
        y1 = min(max(int(round(box[3] * self.sy)), 0), h)
        ii = self.ii
        return float(ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]) / self.total


def _place(xs: tuple[float, float], ys: tuple[float, float], w: float, h: float,
           want: tuple[float, float], mass: _Mass | None, zone: Zone) -> Window:
    """The window in the origin ranges `xs` x `ys` showing the most saliency in its clear area;
    ties (and no saliency) go to the origin nearest `want`."""
    cx = min(max(want[0], xs[0]), xs[1])
    cy = min(max(want[1], ys[0]), ys[1])
    if mass is None or (xs[1] - xs[0] < 1 and ys[1] - ys[0] < 1):
        return (cx, cy, cx + w, cy + h)
    best, best_score = (cx, cy), -1.0
    for x in np.unique(np.append(np.linspace(xs[0], xs[1], STEPS), cx)):
        for y in np.unique(np.append(np.linspace(ys[0], ys[1], STEPS), cy)):
            # 1e-3 of the mass per frame width of distance: saliency decides, position breaks ties
            score = mass(clear_area((x, y, x + w, y + h), zone))
            score -= 1e-3 * (abs(x - cx) / w + abs(y - cy) / h)
            if score > best_score:
                best, best_score = (float(x), float(y)), score
    return (best[0], best[1], best[0] + w, best[1] + h)


def plan_crop(
    src_w: int,
    src_h: int,
    *,
    width: int,
    height: int,
    keep: Keep = Keep(),
    zone: Zone = Zone(),
    outpaint: bool = True,
) -> Plan:
    """The window of the placement's ratio to show: the largest one inside the master that
    keeps the protected box in the clear area (trying a little zoom before giving up), placed
    where it shows the most saliency; else, with `outpaint`, the smallest window reaching past
    the master that does; else the largest window that keeps the most of the protected box."""
    ratio = width / height
    full_w, full_h = (src_h * ratio, float(src_h)) if src_w / src_h > ratio else (
        float(src_w), src_w / ratio)
    mass = _Mass(keep.saliency, src_w, src_h) if keep.saliency is not None else None
    hard = keep.box
    if hard is None:
        want = ((src_w - full_w) / 2, (src_h - full_h) / 2)
        window = _place((0.0, src_w - full_w), (0.0, src_h - full_h), full_w, full_h, want,
                        mass, zone)
        return Plan(window, False, 1.0)
    kx0, ky0, kx1, ky1 = (float(v) for v in hard)
    for zoom in ZOOMS:
        w, h = full_w * zoom, full_h * zoom
        xs = _origins(kx0, kx1, w, zone.left, zone.right, 0.0, src_w - w, src_w)
        ys = _origins(ky0, ky1, h, zone.top, zone.bottom, 0.0, src_h - h, src_h)
        if xs is not None and ys is not None:
            want = (_centred(kx0, kx1, w, zone.left, zone.right),
                    _centred(ky0, ky1, h, zone.top, zone.bottom))
            return Plan(_place(xs, ys, w, h, want, mass, zone), False, 1.0)
    if not outpaint:
        x = min(max(_centred(kx0, kx1, full_w, zone.left, zone.right), 0.0), src_w - full_w)
        y = min(max(_centred(ky0, ky1, full_h, zone.top, zone.bottom), 0.0), src_h - full_h)
        window = (x, y, x + full_w, y + full_h)
        return Plan(window, False, overlap_fraction(hard, clear_area(window, zone)))
    # Grow the window until the protected box fits its clear area; then place it to show as
    # much of the master (and so as little synthesised border) as possible.
    # Outpainting already: a little more room around the box costs little and forgives a
    # box that falls short of the subject's rim. Past the master's edges there is nothing to
    # keep, so the grown box stops there (and the window never outgrows the master's whole
    # extent in the clear area, which keeps everything).
    px, py = OUTPAINT_PAD * (kx1 - kx0), OUTPAINT_PAD * (ky1 - ky0)
    kx0, ky0 = max(0.0, kx0 - px), max(0.0, ky0 - py)
    kx1, ky1 = min(float(src_w), kx1 + px), min(float(src_h), ky1 + py)
    clear_w = 1 - zone.left - zone.right - 2 * MARGIN
    clear_h = 1 - zone.top - zone.bottom - 2 * MARGIN
    h = max(full_h, (ky1 - ky0) / clear_h, (kx1 - kx0) / (clear_w * ratio)) * 1.0001
    w = h * ratio
    spans = []
    for k0, k1, size, lead, trail, extent in (
        (kx0, kx1, w, zone.left, zone.right, src_w),
        (ky0, ky1, h, zone.top, zone.bottom, src_h),
    ):
        a, b = _origins(k0, k1, size, lead, trail, -np.inf, np.inf, extent) or (0.0, 0.0)
        inside = (min(0.0, extent - size), max(0.0, extent - size))  # origins showing most
        lo, hi = max(a, inside[0]), min(b, inside[1])
        spans.append((lo, hi) if lo <= hi else ((a, a) if a > inside[1] else (b, b)))
    want = ((src_w - w) / 2, (src_h - h) / 2)
    window = _place(spans[0], spans[1], w, h, want, mass, zone)
    return Plan(window, True, 1.0)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    # Bicubic, not Lanczos, for enlarging: placements enlarge a 1024 master by at most ~2x,
    # where the two are hard to tell apart, and OpenCV's bicubic is ~15x faster on one core.
    shrink = width < image.shape[1]
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def render(image: np.ndarray, window: Window, *, width: int, height: int) -> np.ndarray:
    """The master's `window` at exactly width x height. Parts of the window outside the master
    are a heavily blurred, slightly darkened mirror of the master next to them, fading in from
    a sharp mirror at the seam, so the border reads as out-of-focus continuation, not a frame."""
    src_h, src_w = image.shape[:2]
    x0, y0, x1, y1 = window
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    ix0, iy0 = max(0, int(np.floor(x0 + 1e-6))), max(0, int(np.floor(y0 + 1e-6)))
    ix1, iy1 = min(src_w, int(np.ceil(x1 - 1e-6))), min(src_h, int(np.ceil(y1 - 1e-6)))
    if ix0 <= x0 + 0.5 and iy0 <= y0 + 0.5 and x1 - 0.5 <= ix1 and y1 - 0.5 <= iy1:
        return _resize(image[iy0:iy1, ix0:ix1], width, height)  # entirely inside: a crop
    ox = min(max(int(round((ix0 - x0) * sx)), 0), width - 1)
    oy = min(max(int(round((iy0 - y0) * sy)), 0), height - 1)
    pw = max(1, min(width - ox, int(round((ix1 - ix0) * sx))))
    ph = max(1, min(height - oy, int(round((iy1 - iy0) * sy))))
    part = _resize(image[iy0:iy1, ix0:ix1], pw, ph)
    sharp = cv2.copyMakeBorder(part, oy, height - oy - ph, ox, width - ox - pw,
                               cv2.BORDER_REFLECT_101)
    small = cv2.resize(sharp, (max(1, width // 8), max(1, height // 8)),
                       interpolation=cv2.INTER_AREA)
    sigma = 0.02 * max(small.shape[:2]) + 1
    # Darkening commutes with the (linear) enlargement: done on the small image, it is free.
    small = cv2.convertScaleAbs(cv2.GaussianBlur(small, (0, 0), sigma), alpha=0.85)
    blur = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    ramp = max(1.0, FEATHER * max(width, height))
    dx = np.maximum(np.maximum(ox - np.arange(width), np.arange(width) - (ox + pw - 1)), 0)
    dy = np.maximum(np.maximum(oy - np.arange(height), np.arange(height) - (oy + ph - 1)), 0)
    # Weight of the sharp mirror: 1 - Chebyshev distance from the master's part / ramp, which
    # is separable (the min of a row and a column profile).
    ax = np.clip(1 - dx / ramp, 0, 1).astype(np.float32)
    ay = np.clip(1 - dy / ramp, 0, 1).astype(np.float32)
    out = blur
    # Only the synthesised strips are blended (uint8, OpenCV's blendLinear): the master's own
    # pixels stay exactly as resized.
    for rows, cols in ((slice(0, oy), slice(0, width)),
                       (slice(oy + ph, height), slice(0, width)),
                       (slice(oy, oy + ph), slice(0, ox)),
                       (slice(oy, oy + ph), slice(ox + pw, width))):
        a = np.minimum.outer(ay[rows], ax[cols])
        if a.size:
            out[rows, cols] = cv2.blendLinear(np.ascontiguousarray(sharp[rows, cols]),
                                              np.ascontiguousarray(blur[rows, cols]), a, 1 - a)
    out[oy : oy + ph, ox : ox + pw] = part
    return out


def blurred_extension(image: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """The whole image scaled to fit and centred, the rest of the frame outpainted (`render`)."""
    h, w = image.shape[:2]
    fit = min(width / w, height / h)
    fw, fh = max(1, int(round(w * fit))), max(1, int(round(h * fit)))
    x0, y0 = -((width - fw) // 2) / fit, -((height - fh) // 2) / fit
    return render(image, (x0, y0, x0 + width / fit, y0 + height / fit), width=width, height=height)


def fit_to_placement(
    image: np.ndarray,
    *,
    width: int,
    height: int,
    keep: Keep = Keep(),
    zone: Zone = Zone(),
    outpaint: bool = True,
) -> Fitted:
    """Exactly `width` x `height`: the planned window, outpainted where it leaves the master."""
    src_h, src_w = image.shape[:2]
    plan = plan_crop(src_w, src_h, width=width, height=height, keep=keep, zone=zone,
                     outpaint=outpaint)
    out = render(image, plan.window, width=width, height=height)
    shown = overlap_fraction((0, 0, src_w, src_h), plan.window) * src_w * src_h
    window_area = (plan.window[2] - plan.window[0]) * (plan.window[3] - plan.window[1])
    synthesised = max(0.0, 1 - shown / window_area) if plan.outpainted else 0.0
    return Fitted(out, plan.crop_box, plan.outpainted, plan.retained, round(synthesised, 4),
                  plan.window)
