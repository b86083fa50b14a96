"""Fit a master to a placement: subject-aware crop, blurred extension when a crop would cut
what must stay, exact pixel size. Pure functions over RGB uint8 arrays."""

from dataclasses import dataclass

import cv2
import numpy as np

from route_assets.imaging.flaws import Box

MARGIN = 0.04  # keep this fraction of the frame between the protected box and a crop edge


@dataclass(frozen=True)
class Fitted:
    image: np.ndarray
    crop_box: Box  # the source region shown (the whole source when extended)
    extended: bool  # True when the frame was widened with a blurred background instead
    retained: float  # fraction of the protected box still in the frame


@dataclass(frozen=True)
class Zone:
    """Fractions of the placement frame covered by platform UI."""

    top: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    right: float = 0.0


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def overlap_fraction(box: Box, window: Box) -> float:
    """Share of `box`'s area that lies inside `window`."""
    w = max(0, min(box[2], window[2]) - max(box[0], window[0]))
    h = max(0, min(box[3], window[3]) - max(box[1], window[1]))
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    return w * h / area


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


def plan_crop(
    src_w: int, src_h: int, *, width: int, height: int, keep: Box | None, zone: Zone = Zone()
) -> tuple[Box, bool]:
    """The largest crop of the target ratio that keeps `keep` inside the placement's clear area
    (inside the overlay zones, with a margin); `(whole frame, True)` when no crop can."""
    ratio = width / height
    crop_w, crop_h = (src_h * ratio, src_h) if src_w / src_h > ratio else (src_w, src_w / ratio)
    crop_w, crop_h = int(round(crop_w)), int(round(crop_h))
    if keep is None:
        x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
        return (x0, y0, x0 + crop_w, y0 + crop_h), False
    clear_w = crop_w * (1 - zone.left - zone.right - 2 * MARGIN)
    clear_h = crop_h * (1 - zone.top - zone.bottom - 2 * MARGIN)
    kw, kh = keep[2] - keep[0], keep[3] - keep[1]
    if kw > clear_w or kh > clear_h:
        return (0, 0, src_w, src_h), True
    # Centre the kept box in the clear area, then slide the crop back inside the source.
    cx = (keep[0] + keep[2]) / 2 - crop_w * ((zone.left - zone.right) / 2 + 0.5)
    cy = (keep[1] + keep[3]) / 2 - crop_h * ((zone.top - zone.bottom) / 2 + 0.5)
    x0 = int(round(min(max(cx, 0), src_w - crop_w)))
    y0 = int(round(min(max(cy, 0), src_h - crop_h)))
    clear = (
        x0 + int(crop_w * zone.left),
        y0 + int(crop_h * zone.top),
        x0 + crop_w - int(crop_w * zone.right),
        y0 + crop_h - int(crop_h * zone.bottom),
    )
    if overlap_fraction(keep, clear) < 1.0:  # the source edge stops the crop sliding far enough
        return (0, 0, src_w, src_h), True
    return (x0, y0, x0 + crop_w, y0 + crop_h), False


def blurred_extension(image: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """The whole image scaled to fit, over a blurred, darkened copy scaled to cover."""
    h, w = image.shape[:2]
    cover = max(width / w, height / h)
    back = cv2.resize(
        image, (int(np.ceil(w * cover)), int(np.ceil(h * cover))), interpolation=cv2.INTER_AREA
    )
    by, bx = (back.shape[0] - height) // 2, (back.shape[1] - width) // 2
    back = back[by : by + height, bx : bx + width]
    small = cv2.resize(
        back, (max(1, width // 8), max(1, height // 8)), interpolation=cv2.INTER_AREA
    )
    back = cv2.resize(cv2.GaussianBlur(small, (0, 0), 6), (width, height))
    back = (back.astype(np.float32) * 0.75).astype(np.uint8)
    fit = min(width / w, height / h)
    fw, fh = max(1, int(round(w * fit))), max(1, int(round(h * fit)))
    front = cv2.resize(
        image, (fw, fh), interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_LANCZOS4
    )
    oy, ox = (height - fh) // 2, (width - fw) // 2
    back[oy : oy + fh, ox : ox + fw] = front
    return back


def fit_to_placement(
    image: np.ndarray, *, width: int, height: int, keep: Box | None, zone: Zone = Zone()
) -> Fitted:
    """Exactly `width` x `height`: a subject-aware crop, or a blurred extension."""
    src_h, src_w = image.shape[:2]
    box, extend = plan_crop(src_w, src_h, width=width, height=height, keep=keep, zone=zone)
    if extend:
        return Fitted(blurred_extension(image, width=width, height=height), box, True, 1.0)
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    scale = width / crop.shape[1]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4
    out = cv2.resize(crop, (width, height), interpolation=interp)
    retained = overlap_fraction(keep, box) if keep else 1.0
    return Fitted(out, box, False, retained)
