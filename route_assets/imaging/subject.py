"""Where the subject is: a smooth brand-background model, foreground components and faces.

Ad frames from the generators are a subject on a (mostly smooth, brand-coloured) background
with a headline in the bottom band. Everything far from a smooth surface fitted to the
background is foreground; the largest foreground component(s) are the subject. When the
background is not smooth at all (a full-bleed photo), fine-grained saliency takes over.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from scipy import ndimage as ndi

from route_assets.imaging.flaws import Box
from route_assets.imaging.measures import (
    View,
    analysis_view,
    fill_holes,
    mask_box,
    morph,
    palette_lab,
    rgb_to_lab,
    to_full_box,
    to_full_mask,
)

BOTTOM_BAND = 0.20  # headline band height, fraction of the frame (layout rule of the generator)
FOREGROUND_DE = 12.0  # dE76 from the background surface that makes a pixel foreground
MIN_SUBJECT_AREA = 0.03  # smallest share of the frame a subject may cover
RING = 0.05  # border width (fraction) that seeds the background fit


def _design(h: int, w: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    # Quadratic, not cubic: stiff enough that a large subject near the border cannot bend it.
    y, x = ys / max(h - 1, 1) - 0.5, xs / max(w - 1, 1) - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], -1)


def background_model(lab: np.ndarray, seed: np.ndarray, rows: slice | None = None
                     ) -> np.ndarray:
    """A smooth (quadratic) Lab surface fitted to the background by trimmed least squares.

    Fitting starts from `seed` (pixels likely to be background: the frame border, or colours
    near the brand palette) and keeps re-fitting on the pixels it explains, so a subject or
    text covering part of the seed does not drag the surface. Returns the model everywhere.
    """
    h, w = lab.shape[:2]
    step = max(1, max(h, w) // 64)  # ~64 samples along the long side: plenty for 6 terms
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    if rows is not None:
        keep = (ys >= (rows.start or 0)) & (ys < (rows.stop or h))
        ys, xs = ys[keep], xs[keep]
    ys, xs = ys.ravel(), xs.ravel()
    a = _design(h, w, ys.astype(np.float64), xs.astype(np.float64))
    v = lab[ys, xs].astype(np.float64)
    use = seed[ys, xs]
    if use.sum() < 30:
        use = np.ones_like(use)
    coef = np.zeros((a.shape[1], 3))
    for _ in range(6):
        au = a[use]
        coef = np.linalg.solve(au.T @ au + 1e-6 * np.eye(a.shape[1]), au.T @ v[use])
        res = np.linalg.norm(a @ coef - v, axis=1)
        cut = max(4.0, 3.0 * float(np.median(res[use])))
        new = res < cut
        if new.sum() < 30 or np.array_equal(new, use):
            break
        use = new
    # The surface is smooth: evaluate it on a coarse grid and interpolate up.
    gy, gx = (np.arange(33) + 0.5) * h / 33 - 0.5, (np.arange(33) + 0.5) * w / 33 - 0.5
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    coarse = (_design(h, w, yy.ravel(), xx.ravel()) @ coef).reshape(33, 33, 3)
    return cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class SubjectEstimate:
    box: Box | None  # None when no subject found
    mask: np.ndarray  # bool HxW (full resolution)
    faces: tuple[Box, ...]
    method: str  # "face+background", "background", "face+saliency", "saliency", "face", "none"


@dataclass(frozen=True)
class Scene:
    """What one analysis of a frame shares between the subject, anomaly and headline checks."""

    view: View
    lab: np.ndarray  # analysis-size Lab
    smooth_lab: np.ndarray  # lightly blurred Lab, so noise does not read as foreground
    model: np.ndarray  # fitted background surface (Lab)
    residual: np.ndarray  # dE76 between smooth_lab and the surface
    band_top: int  # first analysis row of the headline band
    foreground: np.ndarray  # bool analysis mask: off the background, headline strokes removed
    explained: float  # share of the frame above the band the background surface explains


def analyse_scene(
    image: np.ndarray, palette: Sequence[str] = (), bottom_band: float = BOTTOM_BAND
) -> Scene:
    view = analysis_view(image)
    h, w = view.rgb.shape[:2]
    lab = rgb_to_lab(view.rgb)
    smooth = cv2.GaussianBlur(lab, (0, 0), 1.5)
    band_top = int(round(h * (1 - bottom_band)))
    r = max(2, int(RING * min(h, w)))
    ring = np.zeros((h, w), bool)
    ring[:r], ring[:, :r], ring[:, -r:] = True, True, True
    model = background_model(smooth, ring, rows=slice(0, band_top))
    residual = np.linalg.norm(smooth - model, axis=-1)
    if palette and (residual[ring[:band_top].nonzero()] < FOREGROUND_DE).mean() < 0.4:
        # The subject covers most of the border: seed from brand-coloured pixels instead.
        pal = palette_lab(palette)
        near = np.min(np.linalg.norm(smooth[..., None, :] - pal, axis=-1), axis=-1) < 10
        model = background_model(smooth, near, rows=slice(0, band_top))
        residual = np.linalg.norm(smooth - model, axis=-1)
    # The band may be drawn differently from the rest (a solid strip): it gets its own surface.
    band_model = background_model(smooth[band_top:], np.ones((h - band_top, w), bool))
    model[band_top:] = band_model
    residual[band_top:] = np.linalg.norm(smooth[band_top:] - band_model, axis=-1)
    fg = residual > FOREGROUND_DE
    fg[:band_top] = morph(fg[:band_top], cv2.MORPH_OPEN, 3)
    # Headline strokes are thin: a wide opening removes them but keeps a subject in the band.
    fg[band_top:] = morph(fg[band_top:], cv2.MORPH_OPEN, max(5, int(0.035 * h)))
    fg = fill_holes(morph(fg, cv2.MORPH_CLOSE, 5))
    explained = float((~fg[:band_top]).mean())
    return Scene(view, lab, smooth, model, residual, band_top, fg, explained)


def _saliency_mask(rgb: np.ndarray) -> np.ndarray:
    """Otsu-thresholded fine-grained saliency, for frames without a smooth background."""
    small = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA)
    saliency = cv2.saliency.StaticSaliencyFineGrained_create()  # type: ignore[attr-defined]
    _, sal = saliency.computeSaliency(small)
    sal = (sal * 255).astype(np.uint8) if sal.dtype != np.uint8 else sal
    sal = cv2.GaussianBlur(sal, (0, 0), 2)
    _, m = cv2.threshold(sal, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    m = cv2.resize(m, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    return fill_holes(morph(m, cv2.MORPH_OPEN, 5))


def subject_components(fg: np.ndarray, min_area: float = MIN_SUBJECT_AREA) -> np.ndarray:
    """The subject part of a foreground mask: the largest component plus big or nearby ones."""
    labels, n = ndi.label(fg)
    if n == 0:
        return np.zeros_like(fg)
    areas = np.bincount(labels.ravel())[1:]
    big = int(np.argmax(areas)) + 1
    if areas[big - 1] < min_area * fg.size:
        return np.zeros_like(fg)
    h, w = fg.shape
    # Fragments within 1.5% of the frame of the main component belong to it (a feathered
    # cut-out breaks up at its rim); anything further is separate (a stray object, say).
    reach = morph(labels == big, cv2.MORPH_DILATE, max(3, int(0.03 * max(h, w))))
    keep = areas >= 0.5 * areas[big - 1]  # a second, separate subject of similar size
    keep[np.unique(labels[reach & (labels > 0)]) - 1] = True
    keep = np.concatenate([[False], keep])
    # A wide closing bridges gaps where the subject's outline matches the background colour,
    # so the hole filling can close the subject's inside (an edit must never touch it).
    k = max(5, int(0.03 * max(h, w)))
    return fill_holes(morph(keep[labels], cv2.MORPH_CLOSE, k))


FACE_SEARCH_SIDE = 256  # long side of the image the face cascade scans


@cache
def _face_cascade() -> cv2.CascadeClassifier:
    xml = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    return cv2.CascadeClassifier(xml)


def detect_faces(rgb: np.ndarray, region: Box | None = None) -> list[Box]:
    """Haar frontal faces in the analysis image, searched inside `region` when given."""
    x0, y0, x1, y1 = region or (0, 0, rgb.shape[1], rgb.shape[0])
    gray = cv2.equalizeHist(cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY))
    if min(gray.shape) < 24:
        return []
    # Searched at most FACE_SEARCH_SIDE wide: a face under ~1/12 of that is too small to retouch
    # or to steer a crop, and the cascade's time grows with the pixels it scans.
    k = min(1.0, FACE_SEARCH_SIDE / max(gray.shape))
    if k < 1.0:
        gray = cv2.resize(gray, (round(gray.shape[1] * k), round(gray.shape[0] * k)),
                          interpolation=cv2.INTER_AREA)
    found = _face_cascade().detectMultiScale(gray, 1.15, 5, minSize=(20, 20))
    return [(int(x / k + x0), int(y / k + y0), int((x + a) / k + x0), int((y + b) / k + y0))
            for x, y, a, b in found]


def subject_from_scene(
    scene: Scene, min_area: float = MIN_SUBJECT_AREA
) -> tuple[SubjectEstimate, np.ndarray]:
    """The subject estimate (full resolution) and its analysis-size mask."""
    method = "background"
    small = subject_components(scene.foreground, min_area)
    if scene.explained < 0.25:  # no smooth background to speak of: a full-bleed picture
        small, method = subject_components(_saliency_mask(scene.view.rgb), min_area), "saliency"
    box = mask_box(small)
    faces = detect_faces(scene.view.rgb, box)
    if box is not None:
        grown = morph(small, cv2.MORPH_DILATE, 9)
        faces = [f for f in faces if grown[(f[1] + f[3]) // 2, (f[0] + f[2]) // 2]]
    if faces:
        method = f"face+{method}" if box is not None else "face"
        xs = [f[0] for f in faces] + [f[2] for f in faces] + ([box[0], box[2]] if box else [])
        ys = [f[1] for f in faces] + [f[3] for f in faces] + ([box[1], box[3]] if box else [])
        box = (min(xs), min(ys), max(xs), max(ys))
    elif box is None:
        method = "none"
    full_box = to_full_box(box, scene.view) if box is not None else None
    est = SubjectEstimate(
        box=full_box,
        mask=to_full_mask(small, scene.view),
        faces=tuple(to_full_box(f, scene.view) for f in faces),
        method=method,
    )
    return est, small


def find_subject(image: np.ndarray, *, palette: Sequence[str] = ()) -> SubjectEstimate:
    """Subject box and mask (full resolution) and faces; the box always contains the faces."""
    return subject_from_scene(analyse_scene(image, palette))[0]
