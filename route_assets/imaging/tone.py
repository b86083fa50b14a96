"""Tone curves for the exposure edit, and the headline band's own curve when the frame's curve
leaves the headline unreadable (the classifier reads the headline only once a frame is no longer
blown or crushed, so the exposure edit is what must restore it)."""

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from route_assets.imaging.classify import Thresholds
from route_assets.imaging.measures import hex_rgb, lab_to_rgb, rgb_to_lab, wcag_contrast
from route_assets.imaging.subject import analyse_scene

MIN_HEADLINE_CONTRAST = 3.0  # WCAG ratio the exposure edit leaves the headline at, at least
SEAM_DE = 6.0  # dE76 at the headline band's top that is an edge (a strip), not one surface
# Share of the headline's rows (away from the strokes) clipped to white or black above which
# the re-ink refuses: letters there were clipped away with the ground and cannot be recovered.
MAX_CLIPPED_GROUND = 0.1
_BAND_GAMMAS = np.geomspace(0.2, 5.0, 41)


def tone_lut(gamma: float, black: float, white: float) -> np.ndarray:
    lut = black + (white - black) * (np.arange(256) / 255.0) ** gamma
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


class Headline(NamedTuple):
    fg: np.ndarray  # RGB of the strokes' cores
    bg: np.ndarray  # RGB of the band behind them
    text: np.ndarray  # bool text mask of the band (analysis size, rows from the band's top)


def read_headline(image: np.ndarray, palette: Sequence[str]) -> Headline | None:
    """The headline's stroke and band colours (read the way the classifier reads them) and
    its text mask; None when the band holds no text."""
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
    return Headline(fg, bg, text)


def _unreadable(head: Headline, luts: Sequence[np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """Stroke and band colours after the frame's curves, when they read below
    MIN_HEADLINE_CONTRAST; None when the curve leaves the headline readable."""
    fg, bg = (np.array([lut[int(round(v[c]))] for c, lut in enumerate(luts)], np.float64)
              for v in (head.fg, head.bg))
    return None if wcag_contrast(fg, bg) >= MIN_HEADLINE_CONTRAST else (fg, bg)


def band_fix(image: np.ndarray, head: Headline, palette: Sequence[str], subject: np.ndarray,
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
    curved_colors = _unreadable(head, luts)
    if curved_colors is None:
        return None
    fg, bg = curved_colors
    top = int(round(image.shape[0] * (1 - Thresholds().bottom_band)))

    def contrast(g: float) -> float:
        lut = tone_lut(g, black, white)
        return wcag_contrast(*(lut[np.rint(v).astype(np.uint8)] for v in (head.fg, head.bg)))

    gamma = float(max(_BAND_GAMMAS, key=contrast))
    curved = cv2.LUT(image[top:], tone_lut(gamma, black, white))
    if contrast(gamma) >= MIN_HEADLINE_CONTRAST:
        return curved
    brands = [c for c in hex_rgb(palette) if wcag_contrast(fg, c) >= MIN_HEADLINE_CONTRAST]
    if not brands:
        return curved
    paint = min(brands, key=lambda c: float(np.linalg.norm(c - bg)))
    fg_in, bg_in = head.fg, head.bg
    d = fg_in - bg_in
    px = image[top:].astype(np.float64)
    t = np.clip((px - bg_in) @ d / max(float(d @ d), 1e-6), 0.0, 1.0)[..., None]
    off = np.linalg.norm(px - (bg_in + t * d), axis=-1)
    mix = (off < max(12.0, 0.25 * float(np.linalg.norm(d)))) & ~subject[top:]
    repaint = np.clip(np.rint(paint + t * (fg - paint)), 0, 255).astype(np.uint8)
    return np.where(mix[..., None], repaint, curved)


def reink(image: np.ndarray, head: Headline, palette: Sequence[str], subject: np.ndarray,
          luts: Sequence[np.ndarray]) -> np.ndarray | None:
    """New pixels for the headline band (rows from the band's top) with only the headline's
    strokes recoloured, when the frame's curve leaves the headline unreadable; else None.

    For a band that is one surface with the background above: a band curve of its own (or a
    repainted band) would put an edge at its top, a visible seam. Here the band behind the
    text keeps the frame's curve and the strokes take the brand colour that reads best against
    it (the layout's intent: brand text on a brand ground). Each pixel keeps its share of text
    (its position between the ground behind it and the stroke colour), so anti-aliased edges
    stay smooth."""
    curved_colors = _unreadable(head, luts)
    if curved_colors is None:
        return None
    bg = curved_colors[1]
    fg_in, text = head.fg, head.text
    ink = max(hex_rgb(palette), key=lambda c: wcag_contrast(c, bg))
    if wcag_contrast(ink, bg) < MIN_HEADLINE_CONTRAST:
        return None
    h, w = image.shape[:2]
    top = int(round(h * (1 - Thresholds().bottom_band)))
    band = np.ascontiguousarray(image[top:])
    # The ground behind the text: the band with the strokes (and their rims; the mask comes
    # from the smaller analysis copy) inpainted from around them, so a gradient band keeps its
    # gradient under the new ink.
    grow = 2 * max(2, round(w / text.shape[1])) + 1
    near = cv2.dilate(cv2.resize(text.astype(np.uint8), (w, h - top),
                                 interpolation=cv2.INTER_NEAREST), np.ones((grow, grow), np.uint8))
    text_full = near > 0
    rows = np.flatnonzero(text_full.any(1))
    line = band[rows[0] : rows[-1] + 1]
    clipped = ((line >= 250).all(-1) | (line <= 5).all(-1)) & ~text_full[rows[0] : rows[-1] + 1]
    if clipped.mean() > MAX_CLIPPED_GROUND:
        return None  # text may have run on into the clipped ground: lost, not re-inkable
    ground = cv2.inpaint(band, near, 5, cv2.INPAINT_TELEA).astype(np.float64)
    d = fg_in - ground
    px = band.astype(np.float64)
    t = np.clip(np.sum((px - ground) * d, -1) / np.maximum(np.sum(d * d, -1), 1e-6), 0, 1)
    strokes = text_full & ~subject[top:]
    curved_ground = np.stack([luts[c][np.rint(ground[..., c]).astype(np.uint8)]
                              for c in range(3)], axis=-1).astype(np.float64)
    inked = np.clip(np.rint(curved_ground + t[..., None] * (ink - curved_ground)), 0, 255)
    curved = np.stack([cv2.LUT(band[..., c], luts[c]) for c in range(3)], axis=-1)
    return np.where(strokes[..., None], inked.astype(np.uint8), curved)


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
