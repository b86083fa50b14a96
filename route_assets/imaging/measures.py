"""Image measurements behind the flaw classifier: pure numpy/OpenCV functions, no I/O.

Most measures run on a reduced "analysis view" (long side 512): the flaws we look for are
visible at that size and the whole assessment must stay within a few hundred milliseconds.
Noise is the exception: downsampling averages it away, so it is measured at full resolution.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000

from route_assets.imaging.flaws import Box

ANALYSIS_SIDE = 512
SHARP_TILE = 16  # sharpness-view pixels per tile (32 px of a 1024 frame)
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class View:
    rgb: np.ndarray  # uint8 analysis-size image
    scale: float  # full-resolution pixels per analysis pixel
    full_shape: tuple[int, int]


def analysis_view(image: np.ndarray, side: int = ANALYSIS_SIDE) -> View:
    h, w = image.shape[:2]
    scale = max(1.0, max(h, w) / side)
    if scale == 1.0:
        return View(image, 1.0, (h, w))
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    return View(cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale, (h, w))


def sharpness_view(image: np.ndarray) -> View:
    """Sharpness is judged at no less than half resolution: a blur of a few pixels must stay
    visible whatever the frame size (a 2048 px frame at 512 would hide a sigma-3 blur)."""
    return analysis_view(image, max(ANALYSIS_SIDE, -(-max(image.shape[:2]) // 2)))


def to_full_box(box: Box, view: View) -> Box:
    h, w = view.full_shape
    x0, y0, x1, y1 = (round(v * view.scale) for v in box)
    return (max(0, x0), max(0, y0), min(w, x1), min(h, y1))


def to_full_mask(mask: np.ndarray, view: View) -> np.ndarray:
    h, w = view.full_shape
    if mask.shape == (h, w):
        return mask.astype(bool)
    up = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return up >= 0.5


def mask_box(mask: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Lab (L 0..100) as float32; OpenCV's float path is exact enough and ~10x faster."""
    return cv2.cvtColor(np.asarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(np.asarray(lab, np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def palette_lab(palette: Sequence[str]) -> np.ndarray:
    """Brand hex colours as an (n, 3) Lab array."""
    return rgb_to_lab(hex_rgb(palette).astype(np.uint8).reshape(-1, 1, 3)).reshape(-1, 3)


def luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def laplacian_variance(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(luma(rgb), cv2.CV_32F).var())


def noise_sigma(image: np.ndarray, luma_only: bool = False) -> float:
    """Immerkær's fast noise estimate (per channel, averaged) over the flattest 40% of pixels:
    the kernel cancels smooth gradients, and flat pixels keep texture from reading as noise."""
    y = luma(image).astype(np.float32)
    blurred = cv2.GaussianBlur(y, (0, 0), 1.5)
    mag = cv2.magnitude(cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1))
    flat = mag[1:-1, 1:-1] <= np.percentile(mag[1:-1, 1:-1], 40)
    planes = [y] if luma_only else [image[..., c].astype(np.float32) for c in range(3)]
    sig = [np.abs(cv2.filter2D(p, -1, _IMMERKAER))[1:-1, 1:-1][flat].mean() for p in planes]
    return float(np.sqrt(np.pi / 2) * np.mean(sig) / 6.0)


def sharpness_tiles(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile (fine detail energy / coarse structure energy) and the coarse energy.

    A blurred region keeps coarse structure but loses fine detail, whatever its contrast. Fine
    energy is smoothed by the coarse band's reach (a sharp edge just outside a tile must not make
    it look soft), less the luma noise's share (0.76 sigma^2) so noise does not pass for detail.
    """
    g = luma(rgb).astype(np.float32)
    g1 = cv2.GaussianBlur(g, (0, 0), 1.0)
    fine = cv2.GaussianBlur((g - g1) ** 2, (0, 0), 4.0)
    coarse = (cv2.GaussianBlur(g, (0, 0), 1.5) - cv2.GaussianBlur(g, (0, 0), 4.0)) ** 2
    t = SHARP_TILE
    ny, nx = g.shape[0] // t, g.shape[1] // t

    def pool(a: np.ndarray) -> np.ndarray:
        return a[: ny * t, : nx * t].reshape(ny, t, nx, t).mean((1, 3))

    f = np.maximum(pool(fine) - 0.76 * noise_sigma(rgb, luma_only=True) ** 2, 0.0)
    c = pool(coarse)
    return f / np.maximum(c, 1e-6), c


def texture_contrast(lab: np.ndarray, mask: np.ndarray, around: np.ndarray) -> tuple[float, float]:
    """Median fine L* texture (|L - blur(L)|) inside `mask` (eroded) and in `around`.

    A pasted photo fragment carries the texture of its photograph; the smooth background around
    it, a shadow or a gradient misfit do not.
    """
    lum = lab[..., 0]
    hp = np.abs(lum - cv2.GaussianBlur(lum, (0, 0), 2.0))
    inner = morph(mask, cv2.MORPH_ERODE, 3)
    inside = float(np.median(hp[inner])) if inner.any() else 0.0
    return inside, float(np.median(hp[around])) if around.any() else 0.0


def luminance_plane(lab: np.ndarray, mask: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
    """Least-squares plane through log luminance over `mask`: its gradient (log change across
    `box`, x then y) and the share of variance it explains. A directional light multiplies the
    linear luminance by a ramp, which is a plane in log luminance."""
    ys, xs = np.nonzero(mask)
    if xs.size < 50:
        return np.zeros(2), 0.0
    step = max(1, xs.size // 4000)
    ys, xs = ys[::step], xs[::step]
    x0, y0, x1, y1 = box
    a = np.stack([np.ones(xs.size), (xs - (x0 + x1) / 2) / max(1, x1 - x0),
                  (ys - (y0 + y1) / 2) / max(1, y1 - y0)], 1)
    v = np.log(((lab[ys, xs, 0].astype(np.float64) + 16) / 116) ** 3 + 0.01)
    coef = np.linalg.lstsq(a, v, rcond=None)[0]
    fit = 1.0 - float(((a @ coef - v) ** 2).mean()) / max(float(v.var()), 1e-9)
    return coef[1:], fit


def _shouldered(clipped: np.ndarray, y: np.ndarray, bright: bool) -> np.ndarray:
    """Clipped areas whose 2 px ring is also near the clip level: exposure clipping cuts a
    tonal roll-off, a drawn white label or a headline stroke has a hard edge instead."""
    n, labels = cv2.connectedComponents(clipped.astype(np.uint8), connectivity=8)
    if n <= 1:
        return clipped
    grown = cv2.dilate(labels.astype(np.float32), np.ones((5, 5), np.uint8)).astype(np.int32)
    ring = (grown > 0) & (labels == 0)
    total = np.bincount(grown[ring], weights=y[ring].astype(np.float64), minlength=n)
    count = np.bincount(grown[ring], minlength=n)
    level = total / np.maximum(count, 1)
    ok = level >= 200 if bright else level <= 60
    ok[0] = False
    return ok[labels]


def clipping(
    image: np.ndarray, view: View, background: np.ndarray, lab: np.ndarray, pal_lab: np.ndarray
) -> tuple[float, float]:
    """Shares of the frame in blown (all channels >= 253) or crushed (luma <= 8) areas.

    Found at full resolution (downsampling averages small clipped areas away). Background pixels
    matching a brand white or black (4 dE76) and areas without a tonal shoulder do not count.
    """
    size = view.rgb.shape[1::-1]
    y = luma(view.rgb)
    shares = []
    # (channel-wise minimum: numpy's min over a 3-wide last axis is ten times slower)
    lowest = np.minimum(np.minimum(image[..., 0], image[..., 1]), image[..., 2])
    for clipped, bright in ((lowest >= 253, True), (luma(image) <= 8, False)):
        m = cv2.resize(clipped.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
        for c in pal_lab:
            if c[0] > 92 or c[0] < 8:
                m &= ~(background & (np.linalg.norm(lab - c, axis=-1) < 4.0))
        shares.append(float(_shouldered(morph(m, cv2.MORPH_OPEN, 3), y, bright).mean()))
    return shares[0], shares[1]


def neutral_cast(lab: np.ndarray, mask: np.ndarray, max_chroma: float = 30.0
                 ) -> tuple[float, float]:
    """Gray-world on near-neutral pixels: median a*, b* of low-chroma, mid-lightness pixels
    (a saturated brand background or product does not vote; a cast moves every neutral)."""
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    sel = mask & (chroma < max_chroma) & (lab[..., 0] > 15) & (lab[..., 0] < 97)
    if sel.sum() < 50:
        return 0.0, 0.0
    return float(np.median(lab[..., 1][sel])), float(np.median(lab[..., 2][sel]))


def palette_distance(color: np.ndarray, pal_lab: np.ndarray) -> float:
    """CIEDE2000 from one Lab colour to the nearest brand colour."""
    c = np.broadcast_to(np.asarray(color, np.float64), pal_lab.shape)
    return float(deltaE_ciede2000(c, pal_lab.astype(np.float64)).min())


Segment = tuple[np.ndarray, np.ndarray, float]  # start RGB, direction RGB, largest step


def hex_rgb(palette: Sequence[str]) -> np.ndarray:
    """Brand hex colours as an (n, 3) float RGB array."""
    return np.array([[int(c.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)] for c in palette],
                    float).reshape(-1, 3)


def brand_segments(palette: Sequence[str], blends: bool = True, tint: float = 0.4
                   ) -> list[Segment]:
    """On-brand colour lines in RGB: each brand colour, its tints and shades (up to `tint` of
    the way to white/black: a gradient of one brand colour) and, with `blends`, the blends of
    two brand colours (a gradient between two of them)."""
    pal = list(hex_rgb(palette))
    segs = [(p, t - p, tint) for p in pal for t in (np.full(3, 255.0), np.zeros(3))]
    if blends:
        segs += [(a, b - a, 1.0) for i, a in enumerate(pal) for b in pal[i + 1 :] if np.any(a != b)]
    return segs


def brand_nearest(rgb: np.ndarray, segs: list[Segment]) -> np.ndarray:
    """The on-brand colour nearest to `rgb` (Euclidean in RGB, where gradients are mixed)."""
    best, best_d = np.asarray(rgb, float), np.inf
    for a, d, tmax in segs:
        q = a + float(np.clip(np.dot(rgb - a, d) / max(np.dot(d, d), 1e-9), 0, tmax)) * d
        if (dist := float(np.linalg.norm(rgb - q))) < best_d:
            best, best_d = q, dist
    return best


def brand_gain(rgb: np.ndarray, palette: Sequence[str]) -> tuple[float, float]:
    """The exposure gain g that best explains `rgb` as g x (a brand colour or its tint up to
    40%), from the unclipped channels; returns (residual RGB distance, gain)."""
    best, ok = (np.inf, 1.0), rgb < 250
    for p in hex_rgb(palette):
        a = np.stack([p, 255.0 - p], 1)[ok]
        if a.shape[0] < 2:
            continue
        g, gt = np.linalg.lstsq(a, rgb[ok], rcond=None)[0]
        gt = float(np.clip(gt, 0.0, 0.4 * g))  # g * tint
        g = float(np.dot(rgb[ok] - gt * (255.0 - p[ok]), p[ok]) / max(np.dot(p[ok], p[ok]), 1e-9))
        res = float(np.linalg.norm(rgb[ok] - g * p[ok] - gt * (255.0 - p[ok])))
        best = min(best, (res, g))
    return best


def channel_offset(rgb: np.ndarray, segs: list[Segment]) -> tuple[float, int, float]:
    """The single-channel offset that best explains `rgb` as an on-brand colour.

    Returns (residual RGB distance, channel, offset). A colour cast pushes every pixel along one
    channel; an off-palette background cannot be explained that way.
    """
    best = (np.inf, 0, 0.0)
    for a, d, tmax in segs:
        for ch in range(3):
            e = np.eye(3)[ch]
            sol = np.linalg.lstsq(np.stack([d, e], 1), rgb - a, rcond=None)[0]
            q = a + float(np.clip(sol[0], 0, tmax)) * d
            k = float(rgb[ch] - q[ch])
            res = float(np.linalg.norm(rgb - q - k * e))
            if res < best[0]:
                best = (res, ch, k)
    return best


def morph(mask: np.ndarray, op: int, size: int) -> np.ndarray:
    """Binary morphology with a square kernel through OpenCV (much faster than scipy)."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), op, k).astype(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill regions not reachable from the frame border (flood fill from a padded corner)."""
    pad = np.pad(mask.astype(np.uint8), 1)
    ff = np.zeros((pad.shape[0] + 2, pad.shape[1] + 2), np.uint8)
    cv2.floodFill(pad, ff, (0, 0), 1)
    return mask | (pad[1:-1, 1:-1] == 0)


def anomaly_blobs(
    residual: np.ndarray, allowed: np.ndarray, thresh: float
) -> list[tuple[Box, np.ndarray]]:
    """Blobs (analysis box, mask) that differ from the smooth background estimate, inside
    `allowed`; callers judge their size, compactness and saturation."""
    cand = morph((residual > thresh) & allowed, cv2.MORPH_OPEN, 3).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    return [((x, y, x + bw, y + bh), labels == i) for i, (x, y, bw, bh, _) in enumerate(stats) if i]


def wcag_contrast(rgb_a: np.ndarray, rgb_b: np.ndarray) -> float:
    """WCAG 2 contrast ratio (1..21) of two sRGB colours."""
    c = np.stack([rgb_a, rgb_b]).astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lo, hi = sorted(lin @ np.array([0.2126, 0.7152, 0.0722]))
    return float((hi + 0.05) / (lo + 0.05))


def headline_contrast(
    lab: np.ndarray, model: np.ndarray, keep: np.ndarray
) -> tuple[float, Box | None]:
    """WCAG contrast between the headline strokes and the band behind them, and the text box.

    `lab`, `model` (the band's smooth background surface) and `keep` (pixels that are not the
    subject) cover the band only. Strokes are pixels clearly off the surface relative to the
    band's own noise; their colour is read on the stroke cores, not the anti-aliased rims.
    (1.0, None) when no text is found at all.
    """
    res = np.linalg.norm(lab - model, axis=-1)
    spread = float(np.median(np.abs(res[keep] - np.median(res[keep])))) if keep.any() else 0.0
    text = keep & (res > max(4.0, 9.0 * spread))  # ~6 robust sigmas (MAD x 1.48)
    if text.sum() < max(20, 0.002 * text.size):
        return 1.0, None
    core = text & (res >= np.percentile(res[text], 60))
    fg = lab_to_rgb(np.median(lab[core], axis=0)[None, None])[0, 0]
    bg = lab_to_rgb(np.median(model[core], axis=0)[None, None])[0, 0]
    return wcag_contrast(fg, bg), mask_box(text)


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _log_y(lab: np.ndarray) -> np.ndarray:
    """Log relative luminance (Y from L*), with a small floor so black does not dominate."""
    return np.log(((lab.astype(np.float64) + 16) / 116) ** 3 + 0.01)


_LINEAR = np.where(np.arange(256) / 255 <= 0.04045, np.arange(256) / 255 / 12.92,
                   ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4)


def shading_plane(rgb: np.ndarray, mask: np.ndarray, box: Box, step: float = 0.03,
                  min_count: int = 20) -> np.ndarray:
    """Gradient (log luminance change across `box`, x then y) of the shading over `mask`, with
    each material's own lightness taken out.

    Shading multiplies all three linear channels alike, so it leaves a surface's chromaticity
    unchanged, while a change of material (dark hair next to a white suit) usually changes it.
    Pixels are grouped by linear-light chromaticity (bins `step` wide); the plane is fitted to
    the log luminance *within* each group (fixed-effects least squares), so only luminance
    differences between pixels of the same chromaticity -- the same material under different
    light -- count. Clipped and near-black pixels carry no reliable chromaticity and are left out.
    """
    ys, xs = np.nonzero(mask)
    if xs.size < 200:
        return np.zeros(2)
    px = rgb[ys, xs]
    lin = _LINEAR[px]
    total = lin.sum(1)
    keep = (px.max(1) < 250) & (total > 0.02)
    ys, xs, lin, total = ys[keep], xs[keep], lin[keep], total[keep]
    chroma = np.floor(lin[:, :2] / total[:, None] / step).astype(np.int64)
    _, group, count = np.unique(chroma[:, 0] * 4096 + chroma[:, 1], return_inverse=True,
                                return_counts=True)
    group = group.ravel()
    x0, y0, x1, y1 = box
    cols = [(xs - (x0 + x1) / 2) / max(1, x1 - x0), (ys - (y0 + y1) / 2) / max(1, y1 - y0),
            np.log(lin @ np.array([0.2126, 0.7152, 0.0722]) + 0.01)]
    use = count[group] >= min_count
    if use.sum() < 100:
        return np.zeros(2)
    dm = [(c - (np.bincount(group, c) / count)[group])[use] for c in cols]
    a = np.stack(dm[:2], 1)
    return np.asarray(np.linalg.lstsq(a, dm[2], rcond=None)[0], np.float64)


def cast_shadow(lab: np.ndarray, model: np.ndarray, subject: np.ndarray, allowed: np.ndarray,
                sectors: int = 16) -> tuple[np.ndarray, float]:
    """A shadow the subject casts on the background: (unit vector from the subject towards the
    side the light comes from, depth in log luminance).

    Around the subject, by angle, the background just outside it (within ~2.5% of the frame) is
    compared with the background a little further out (4-7%), both relative to the smooth
    background surface `model`: a cast shadow darkens the near ring on the side away from the
    light. A cosine fitted over the angles gives the direction; its amplitude the depth.
    """
    h, w = subject.shape
    side = max(h, w)
    res = _log_y(lab[..., 0]) - _log_y(model[..., 0])

    def ring(a: float, b: float) -> np.ndarray:
        inner = morph(subject, cv2.MORPH_DILATE, 2 * max(1, round(a * side)) + 1)
        return morph(subject, cv2.MORPH_DILATE, 2 * round(b * side) + 1) & ~inner & allowed

    ys, xs = np.nonzero(subject)
    cy, cx = ys.mean(), xs.mean()
    angles = (np.arange(sectors) + 0.5) / sectors * 2 * np.pi - np.pi
    profiles = []
    for band in (ring(0.004, 0.023), ring(0.04, 0.07)):
        by, bx = np.nonzero(band)
        k = ((np.arctan2(by - cy, bx - cx) + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
        vals = res[by, bx]
        profiles.append(np.array([np.median(vals[k == i]) if (k == i).sum() > 8 else np.nan
                                  for i in range(sectors)]))
    diff = profiles[0] - profiles[1]
    ok = ~np.isnan(diff)
    if ok.sum() < sectors // 2:
        return np.zeros(2), 0.0
    a = np.stack([np.ones(ok.sum()), np.cos(angles[ok]), np.sin(angles[ok])], 1)
    c = np.linalg.lstsq(a, diff[ok], rcond=None)[0][1:]  # points to the brighter (lit) side
    depth = float(np.hypot(*c))
    return (c / depth if depth > 0 else np.zeros(2)), depth
