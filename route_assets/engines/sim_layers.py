"""Pixel-level steps of the generation simulator: compositing, the headline and injected flaws.

Everything works in place on the simulator's private float32 canvas (HxWx3, 0..255, unclipped
until the end), so flaws stack the way they would in a real pipeline.
"""

import colorsys
import math
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from route_assets.engines.scenes import RGB, contrast_ratio, delta_e, luminance
from route_assets.imaging.flaws import Box

_WHITE, _INK = (255, 255, 255), (18, 18, 22)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def clip_box(b: Box, w: int, h: int) -> Box:
    return max(b[0], 0), max(b[1], 0), min(b[2], w), min(b[3], h)


def grow(b: Box, m: int) -> Box:
    return b[0] - m, b[1] - m, b[2] + m, b[3] + m


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def composite(canvas: np.ndarray, src: np.ndarray | float, alpha: np.ndarray, x0: int,
              y0: int) -> None:
    """Alpha-blend src (a layer, one colour or a grey level) onto canvas at (x0, y0), clipped."""
    hh, ww = canvas.shape[:2]
    h, w = alpha.shape
    cx0, cy0, cx1, cy1 = clip_box((x0, y0, x0 + w, y0 + h), ww, hh)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    s = src[sl] if isinstance(src, np.ndarray) and src.ndim == 3 else src
    roi = canvas[cy0:cy1, cx0:cx1]
    roi += (np.asarray(s, np.float32) - roi) * alpha[sl][..., None]


@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)  # Pillow's bundled scalable TrueType face


def _wrap(words: list[str], font: Font, max_w: float) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_w:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _text_alpha(text: str, width: int, band_h: int, height: int) -> np.ndarray:
    """Coverage of the headline centred in a width x band_h band: largest size fitting 3 lines."""
    max_w, max_h = 0.86 * width, min(0.13 * height, 0.8 * band_h)
    size = max(12, round(min(0.072 * height, 0.085 * width)))
    while True:
        font = _font(size)
        lines = _wrap(text.split(), font, max_w)
        fits = len(lines) <= 3 and len(lines) * size * 1.18 <= max_h
        if (fits and max(font.getlength(t) for t in lines) <= max_w) or size <= 12:
            break
        size = max(12, int(size * 0.9))
    while len(lines) > 1:  # balance the lines instead of leaving one orphan word at the end
        narrower = _wrap(text.split(), font, max(font.getlength(t) for t in lines) - size / 2)
        if len(narrower) > len(lines):
            break
        lines = narrower
    img = Image.new("L", (width, band_h), 0)
    draw = ImageDraw.Draw(img)
    lh = round(size * 1.18)
    top = (band_h - lh * len(lines)) / 2 - 0.1 * size
    for i, line in enumerate(lines):
        # A thin stroke in the fill colour stands in for a bold weight (only one face ships).
        draw.text(((width - font.getlength(line)) / 2, top + i * lh), line, font=font, fill=255,
                  stroke_width=max(1, size // 30), stroke_fill=255)
    return np.asarray(img, np.float32) / 255.0


def _to_linear(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0, 255) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def headline(canvas: np.ndarray, text: str, palette: list[RGB], band_y: int,
             unreadable: np.random.Generator | None) -> tuple[Box, float] | None:
    """Draw the headline in the band below band_y; returns its box and WCAG contrast."""
    hh, ww = canvas.shape[:2]
    if not text.strip():
        return None
    alpha = _text_alpha(text, ww, hh - band_y, hh)
    ys, xs = np.nonzero(alpha > 0.02)
    if len(ys) == 0:
        return None
    box = (int(xs.min()), band_y + int(ys.min()), int(xs.max()) + 1, band_y + int(ys.max()) + 1)
    a = alpha[box[1] - band_y : box[3] - band_y, box[0] : box[2]]
    roi = canvas[box[1] : box[3], box[0] : box[2]]
    r, g, b = (int(v) for v in roi.mean(axis=(0, 1)).round())
    bg = (r, g, b)
    if unreadable is None:
        good = [c for c in palette[1:] if contrast_ratio(c, bg) >= 4.5]  # on-brand if legible
        ink = good[0] if good else max((_WHITE, _INK), key=lambda c: contrast_ratio(c, bg))
        composite(canvas, np.array(ink, np.float32), a, box[0], box[1])
        return box, contrast_ratio(ink, bg)
    # Nearly background-coloured text: scale each pixel's own background in linear light, so
    # the WCAG ratio to the local background is the same everywhere along a gradient.
    ratio = float(unreadable.uniform(1.08, 1.25))
    k = ratio if float(luminance(np.array(bg))) < 0.4 else 1 / ratio
    layer = _to_srgb(k * (_to_linear(roi) + 0.05) - 0.05).astype(np.float32)
    roi += (layer - roi) * a[..., None]
    return box, ratio


def pick_colour(avoid: list[RGB], rng: np.random.Generator, sat: tuple[float, float],
                val: tuple[float, float], min_de: float) -> tuple[RGB, float]:
    """A random colour >= min_de CIEDE2000 from every colour in avoid (else the farthest seen)."""
    best: tuple[RGB, float] = ((0, 0, 0), -1.0)
    for _ in range(64):
        r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
        c = (round(r * 255), round(g * 255), round(b * 255))
        d = min(delta_e(c, p) for p in avoid)
        if d > best[1]:
            best = (c, d)
        if d >= min_de:
            break
    return best


def stray_object(canvas: np.ndarray, avoid: list[Box], colours: list[RGB],
                 rng: np.random.Generator) -> tuple[Box, float] | None:
    """A compact, saturated, hard-edged blob on the background; returns its box and area share."""
    hh, ww = canvas.shape[:2]
    colour, _ = pick_colour(colours, rng, (0.8, 1.0), (0.8, 1.0), 30.0)
    frac0 = float(rng.uniform(0.008, 0.025))
    theta = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    ph = rng.uniform(0, 2 * math.pi, 3)
    wobble = 1 + 0.2 * np.sin(2 * theta + ph[0]) + 0.12 * np.sin(3 * theta + ph[1])
    wobble += 0.06 * np.sin(5 * theta + ph[2])
    margin = int(0.02 * min(ww, hh))
    for i in range(12):
        # The free background is mostly the wide bands above and below the subject, so when a
        # round blob does not fit, flatten it before shrinking it (area stays >= 0.5% first).
        frac = max(frac0 * 0.85**i, 0.005) if i < 9 else 0.004 * 0.8 ** (i - 9)
        asp = min(1 + 0.25 * i, 2.5)
        r0 = math.sqrt(frac * ww * hh / math.pi)
        rx, ry = r0 * math.sqrt(asp), r0 / math.sqrt(asp)
        hx, hy = int(math.ceil(rx * 1.4)) + 1, int(math.ceil(ry * 1.4)) + 1
        lo_x, hi_x = margin + hx, ww - margin - hx
        lo_y, hi_y = margin + hy, hh - margin - hy
        for _ in range(150 if lo_x < hi_x and lo_y < hi_y else 0):
            cx, cy = int(rng.integers(lo_x, hi_x)), int(rng.integers(lo_y, hi_y))
            box = (cx - hx, cy - hy, cx + hx + 1, cy + hy + 1)
            if any(overlap(box, a) for a in avoid):
                continue
            mask = np.zeros((2 * hy + 1, 2 * hx + 1), np.uint8)
            pts = np.stack([hx + rx * wobble * np.cos(theta), hy + ry * wobble * np.sin(theta)])
            # No antialiasing: generator artifacts are pasted-looking, with hard edges.
            cv2.fillPoly(mask, [pts.T.round().astype(np.int32)], 1)
            composite(canvas, np.array(colour, np.float32), mask.astype(np.float32), *box[:2])
            ys, xs = np.nonzero(mask)
            region = (box[0] + int(xs.min()), box[1] + int(ys.min()),
                      box[0] + int(xs.max()) + 1, box[1] + int(ys.max()) + 1)
            return region, float(mask.sum()) / (ww * hh)
    return None


def color_cast(img: np.ndarray, rng: np.random.Generator) -> float:
    up, down = rng.choice(3, 2, replace=False)
    gain, loss = float(rng.uniform(25, 40)), float(rng.uniform(15, 30))
    img[..., up] += gain
    img[..., down] -= loss
    return gain


def blur(img: np.ndarray, subject: Box | None,
         rng: np.random.Generator) -> tuple[Box | None, float]:
    """Global softness, or a strongly blurred patch (15-30% of the frame) over the subject."""
    hh, ww = img.shape[:2]
    if rng.random() < 0.5:
        sigma = float(rng.uniform(2.5, 4.0))
        img[:] = cv2.GaussianBlur(img, (0, 0), sigma)
        return None, sigma
    sigma = float(rng.uniform(6.0, 9.0))
    area = float(rng.uniform(0.15, 0.30)) * ww * hh
    pw = min(ww, round(math.sqrt(area * rng.uniform(0.75, 1.33))))
    ph = min(hh, round(area / pw))
    sx0, sy0, sx1, sy1 = subject or (0, 0, ww, hh)
    jx, jy = rng.uniform(-0.15, 0.15, 2)
    cx, cy = (sx0 + sx1) / 2 + jx * (sx1 - sx0), (sy0 + sy1) / 2 + jy * (sy1 - sy0)
    x0 = int(min(max(round(cx - pw / 2), 0), ww - pw))
    y0 = int(min(max(round(cy - ph / 2), 0), hh - ph))
    box = (x0, y0, x0 + pw, y0 + ph)
    feather = max(4, int(0.03 * min(ww, hh)))
    ex = clip_box(grow(box, feather + int(3 * sigma)), ww, hh)
    crop = img[ex[1] : ex[3], ex[0] : ex[2]]
    soft = cv2.GaussianBlur(crop, (0, 0), sigma)
    xs = np.arange(ex[0], ex[2], dtype=np.float32)[None, :]
    ys = np.arange(ex[1], ex[3], dtype=np.float32)[:, None]
    dx = np.maximum(np.maximum(box[0] - xs, xs - (box[2] - 1)), 0)
    dy = np.maximum(np.maximum(box[1] - ys, ys - (box[3] - 1)), 0)
    m = np.clip(1 - np.hypot(dx, dy) / feather, 0, 1)  # full blur inside, soft edge outside
    crop += (soft - crop) * m[..., None]
    return box, sigma


def noise(img: np.ndarray, rng: np.random.Generator) -> float:
    sigma = float(rng.uniform(12, 25))
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma)
    return sigma


def expose(img: np.ndarray, over: np.random.Generator | None,
           under: np.random.Generator | None) -> None:
    """Crush shadows and/or clip highlights; thresholds come from percentiles so the clipped
    share is guaranteed (>= 20% crushed, >= 12% clipped) whatever the scene's brightness."""
    if under is not None:
        sub = img[::2, ::2]  # a quarter of the pixels pins the percentile well enough
        t = np.percentile(np.maximum(np.maximum(sub[..., 0], sub[..., 1]), sub[..., 2]),
                          under.uniform(20, 30))
        img -= t
        img *= np.float32(under.uniform(0.75, 0.95))
        np.maximum(img, 0, out=img)  # keep crushed pixels at 0 through a later gain
    if over is not None:
        # A highlight knee, not a flat gain: mid-tones lift a little and everything whose darkest
        # channel reaches p blows out to white, the look of an over-bright generator render.
        lift = 0.0 if under is not None else float(over.uniform(8, 20))
        sub = img[::2, ::2]
        low = np.minimum(np.minimum(sub[..., 0], sub[..., 1]), sub[..., 2])
        p = max(float(np.percentile(low, 100 - over.uniform(12, 22))), 1.0)
        knee = (np.clip(img, 0, None) / np.float32(p)) ** np.float32(over.uniform(2, 3))
        img += np.float32(lift) + np.float32(255 - p - lift) * knee
