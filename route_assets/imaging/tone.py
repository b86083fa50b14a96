"""Tone curves for the exposure edit, and the headline band's own curve when the frame's curve
leaves the headline unreadable (the classifier reads the headline only once a frame is no longer
blown or crushed, so the exposure edit is what must restore it)."""

from collections.abc import Sequence

import cv2
import numpy as np

from route_assets.imaging.classify import Thresholds
from route_assets.imaging.measures import hex_rgb, lab_to_rgb, rgb_to_lab, wcag_contrast
from route_assets.imaging.subject import analyse_scene

MIN_HEADLINE_CONTRAST = 3.0  # WCAG ratio the exposure edit leaves the headline at, at least
SEAM_DE = 6.0  # dE76 at the headline band's top that is an edge (a strip), not one surface
_BAND_GAMMAS = np.geomspace(0.2, 5.0, 41)


def tone_lut(gamma: float, black: float, white: float) -> np.ndarray:
    lut = black + (white - black) * (np.arange(256) / 255.0) ** gamma
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


def _headline_colors(image: np.ndarray, palette: Sequence[str]
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """RGB of the headline's stroke cores and of the band behind them (read the way the
    classifier reads them), or None when the band holds no text."""
    scene = analyse_scene(image, palette, Thresholds().bottom_band)
    bt = scene.band_top
    lab, model, keep = scene.lab[bt:], scene.model[bt:], ~scene.foreground[bt:]
    if not keep.any():
        return None
    res = np.linalg.norm(lab - model, axis=-1)
    spread = float(np.median(np.abs(res[keep] - np.median(res[keep]))))
    text = keep & (res > max(4.0, 9.0 * spread))
    if text.sum() < max(20, 0.002 * text.size):
        return None
    core = text & (res >= np.percentile(res[text], 60))
    fg = lab_to_rgb(np.median(lab[core], axis=0)[None, None])[0, 0].astype(np.float64)
    bg = lab_to_rgb(np.median(model[core], axis=0)[None, None])[0, 0].astype(np.float64)
    return fg, bg


def band_fix(image: np.ndarray, palette: Sequence[str], subject: np.ndarray,
              luts: Sequence[np.ndarray], black: float, white: float) -> np.ndarray | None:
    """New pixels for the headline band (rows from the band's top) when the frame's curve
    leaves the headline below MIN_HEADLINE_CONTRAST, else None.

    The frame's curve is chosen to put the background back on brand; on a deep exposure error
    the text and the band behind it were squeezed together (both crushed near black, or both
    pushed near white) and that curve cannot pull them apart. First choice: the band's own
    gamma, of those with the same end points (no new clipping), that gives the stroke and band
    colours the largest WCAG contrast. When clipping left the two apart in one channel only
    (no curve separates them), the band is repainted as the two-colour mix it is: each pixel
    keeps its share of text (its position between band and stroke colour, so anti-aliasing
    survives) and the band behind becomes the on-brand colour nearest the curved one that
    reads against the curved text. The subject and anything off that mix keep the curve."""
    head = _headline_colors(image, palette)
    if head is None:
        return None
    fg, bg = (np.array([lut[int(round(v[c]))] for c, lut in enumerate(luts)], np.float64)
              for v in head)
    if wcag_contrast(fg, bg) >= MIN_HEADLINE_CONTRAST:
        return None
    top = int(round(image.shape[0] * (1 - Thresholds().bottom_band)))

    def contrast(g: float) -> float:
        lut = tone_lut(g, black, white)
        return wcag_contrast(*(lut[np.rint(v).astype(np.uint8)] for v in head))

    gamma = float(max(_BAND_GAMMAS, key=contrast))
    curved = cv2.LUT(image[top:], tone_lut(gamma, black, white))
    if contrast(gamma) >= MIN_HEADLINE_CONTRAST:
        return curved
    brands = [c for c in hex_rgb(palette) if wcag_contrast(fg, c) >= MIN_HEADLINE_CONTRAST]
    if not brands:
        return curved
    paint = min(brands, key=lambda c: float(np.linalg.norm(c - bg)))
    fg_in, bg_in = head
    d = fg_in - bg_in
    px = image[top:].astype(np.float64)
    t = np.clip((px - bg_in) @ d / max(float(d @ d), 1e-6), 0.0, 1.0)[..., None]
    off = np.linalg.norm(px - (bg_in + t * d), axis=-1)
    mix = (off < max(12.0, 0.25 * float(np.linalg.norm(d)))) & ~subject[top:]
    repaint = np.clip(np.rint(paint + t * (fg - paint)), 0, 255).astype(np.uint8)
    return np.where(mix[..., None], repaint, curved)


def band_edge(image: np.ndarray, top: int, subject: np.ndarray) -> float:
    """dE76 between the mean colours just above and just below the band's top row, away
    from the subject."""
    rows = 4
    lab = rgb_to_lab(image[top - rows : top + rows])
    keep = ~subject[top - rows : top + rows].any(0)
    if not keep.any():
        return 0.0
    above, below = lab[:rows, keep].reshape(-1, 3), lab[rows:, keep].reshape(-1, 3)
    return float(np.linalg.norm(above.mean(0) - below.mean(0)))
