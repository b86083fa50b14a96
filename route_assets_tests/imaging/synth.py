"""Ad-like test images for the imaging tests, and the defects a generator makes.

A plain helper module: real scikit-image photographs (CC0 / public domain) or a drawn product on
a brand-palette gradient, with a headline in the bottom band, mimicking the generator simulator
without depending on it. Every injector returns the damaged image and, for localized defects,
the box it damaged, so the tests can check the classifier's region.
"""

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import skimage.data

from route_assets.imaging.flaws import Box

PALETTES: dict[str, tuple[str, ...]] = {
    "navy": ("#1E3A8A", "#F59E0B", "#F8FAFC"),
    "teal": ("#0F766E", "#FDE68A", "#111827"),
    "rust": ("#9A3412", "#FED7AA", "#1C1917"),
    "plum": ("#6D28D9", "#F472B6", "#FFFFFF"),
}
PHOTOS = ("astronaut", "chelsea", "coffee", "motorcycle", "rocket")
PRODUCTS = ("bottle", "box")
TOP_BAND, BOTTOM_BAND = 0.12, 0.20  # reserved (logo / headline) fractions of the frame height


@dataclass(frozen=True)
class Composite:
    image: np.ndarray
    subject_box: Box | None
    subject_mask: np.ndarray  # bool HxW, where the subject is at least half opaque
    headline_box: Box
    palette: tuple[str, ...]


def hex_rgb(color: str) -> np.ndarray:
    h = color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


@cache
def photo(name: str) -> np.ndarray:
    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def _luminance(rgb: np.ndarray) -> float:
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def contrast(a: np.ndarray, b: np.ndarray) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)))
    return (lb + 0.05) / (la + 0.05)


def gradient(h: int, w: int, c0: np.ndarray, c1: np.ndarray, kind: str = "vertical") -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "vertical":
        t = yy / (h - 1)
    elif kind == "diagonal":
        t = (xx / (w - 1) + yy / (h - 1)) / 2
    else:  # radial, light centre
        t = np.clip(np.hypot(xx / w - 0.5, yy / h - 0.45) / 0.75, 0, 1)
    return c0 * (1 - t[..., None]) + c1 * t[..., None]


def _shade(color: np.ndarray, k: float) -> np.ndarray:
    """Lighten (k > 0) or darken (k < 0) toward white/black, to make a one-hue gradient."""
    return color + (255 - color) * k if k > 0 else color * (1 + k)


def _rounded_alpha(h: int, w: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    dx = np.maximum(np.maximum(radius - xx, xx - (w - radius)), 0)
    dy = np.maximum(np.maximum(radius - yy, yy - (h - radius)), 0)
    return np.clip(radius - np.hypot(dx, dy) + 0.5, 0, 1)


def _feather_alpha(h: int, w: int, feather: float = 0.15) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot((xx + 0.5) / w * 2 - 1, (yy + 0.5) / h * 2 - 1)
    return np.clip((1 - r) / feather, 0, 1)


def _product(kind: str, h: int, w: int, palette: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A drawn product (RGB, alpha) with cylindrical shading and a label, like the simulator's."""
    body, label = hex_rgb(palette[1]), hex_rgb(palette[2])
    rgb = np.zeros((h, w, 3))
    alpha = np.zeros((h, w))
    shade = 0.65 + 0.35 * np.sin(np.linspace(0.2, np.pi - 0.2, w))[None, :, None]
    if kind == "bottle":
        alpha[int(0.3 * h) :] = _rounded_alpha(h - int(0.3 * h), w, 0.2 * w)
        nx0, nx1 = int(0.36 * w), int(0.64 * w)
        alpha[int(0.04 * h) : int(0.32 * h), nx0:nx1] = 1
        rgb[:] = body
        rgb[: int(0.1 * h)] = hex_rgb(palette[0]) * 0.6  # cap
        rgb[int(0.5 * h) : int(0.75 * h)] = label
    else:  # box: front face, lighter top face
        alpha[int(0.15 * h) :, : int(0.8 * w)] = 1
        top = np.array([[0.0, 0.15], [0.2, 0.0], [1.0, 0.0], [0.8, 0.15]]) * [w, h]
        side = np.array([[0.8, 0.15], [1.0, 0.0], [1.0, 0.85], [0.8, 1.0]]) * [w, h]
        for poly in (top, side):
            cv2.fillPoly(alpha, [poly.astype(np.int32)], 1.0, lineType=cv2.LINE_AA)
        rgb[:] = body
        rgb[: int(0.15 * h)] = _shade(body, 0.35)
        rgb[:, int(0.8 * w) :] = _shade(body, -0.3)
        rgb[int(0.45 * h) : int(0.7 * h), int(0.1 * w) : int(0.7 * w)] = label
        shade = np.ones_like(shade)
    return np.clip(rgb * shade, 0, 255), alpha


def compose(
    subject: str | None = "astronaut",
    palette: tuple[str, ...] = PALETTES["navy"],
    *,
    size: tuple[int, int] = (1024, 1024),
    style: str = "card",
    gradient_kind: str = "vertical",
    background: str | None = None,
    gradient_to: str | None = None,
    scale: float = 0.6,
    cut: tuple[str, float] | None = None,
    headline: str = "SUMMER SALE",
    text_color: np.ndarray | None = None,
) -> Composite:
    """Background gradient of one brand hue, subject in the middle, headline in the bottom band.

    `cut` = (side, fraction) pushes that fraction of the subject off the left/right/top/bottom
    edge (how subject_cut is made); `background` overrides the brand colour (off_palette);
    `gradient_to` ends the gradient on a second colour instead of a tint/shade of the first.
    """
    h, w = size
    c0 = hex_rgb(background or palette[0])
    c1 = _shade(c0, 0.3 if _luminance(c0) < 0.4 else -0.3)
    c1 = hex_rgb(gradient_to) if gradient_to else c1  # a two-colour brand gradient
    img = gradient(h, w, c0, c1, gradient_kind)
    mask = np.zeros((h, w), bool)
    box: Box | None = None
    if subject is not None:
        if subject in PRODUCTS:
            aspect = 0.45 if subject == "bottle" else 0.9
            sh = int(min(scale * h, 0.75 * w / aspect))
            sw = int(sh * aspect)
            rgb, alpha = _product(subject, sh, sw, palette)
        else:
            src = photo(subject)
            aspect = src.shape[1] / src.shape[0]
            sh = int(min(scale * h, 0.85 * w / aspect))
            sw = int(sh * aspect)
            rgb = cv2.resize(src, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64)
            radius = 0.06 * min(sh, sw)
            alpha = _rounded_alpha(sh, sw, radius) if style == "card" else _feather_alpha(sh, sw)
        cy = TOP_BAND * h + (1 - TOP_BAND - BOTTOM_BAND) * h / 2
        x0, y0 = int(w / 2 - sw / 2), int(cy - sh / 2)
        if cut is not None:
            side, frac = cut
            x0 = {"left": -int(frac * sw), "right": w - int((1 - frac) * sw)}.get(side, x0)
            y0 = {"top": -int(frac * sh), "bottom": h - int((1 - frac) * sh)}.get(side, y0)
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + sw, w), min(y0 + sh, h)
        a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
        s = rgb[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        img[fy0:fy1, fx0:fx1] = img[fy0:fy1, fx0:fx1] * (1 - a) + s * a
        mask[fy0:fy1, fx0:fx1] = a[..., 0] >= 0.5
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    img8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    band_bg = img[int((1 - BOTTOM_BAND / 2) * h), w // 2]
    if text_color is None:
        candidates = [hex_rgb(c) for c in palette] + [np.array([255.0] * 3), np.zeros(3)]
        text_color = max(candidates, key=lambda c: contrast(c, band_bg))
    font, thick = cv2.FONT_HERSHEY_DUPLEX, max(2, w // 160)
    (tw, th), _ = cv2.getTextSize(headline, font, 1.0, thick)
    fs = 0.7 * w / tw
    (tw, th), _ = cv2.getTextSize(headline, font, fs, thick)
    org = (int((w - tw) / 2), int((1 - BOTTOM_BAND / 2) * h + th / 2))
    color = tuple(int(v) for v in text_color)
    cv2.putText(img8, headline, org, font, fs, color, thick, cv2.LINE_AA)
    hbox = (org[0], org[1] - th, org[0] + tw, org[1] + th // 4)
    return Composite(img8, box, mask, hbox, tuple(palette))


# ---- defect injectors (the same kinds and ranges as the generator simulator) ----


def blur(img: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def soft_patch_blur(img: np.ndarray, box: Box, sigma: float = 9.0) -> tuple[np.ndarray, Box]:
    """Strongly blur a soft-edged elliptical patch filling `box`."""
    x0, y0, x1, y1 = box
    h, w = img.shape[:2]
    alpha = np.zeros((h, w))
    alpha[y0:y1, x0:x1] = np.clip(_feather_alpha(y1 - y0, x1 - x0, 0.3) * 1.5, 0, 1)
    out = img * (1 - alpha[..., None]) + blur(img, sigma) * alpha[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), box


def noise(img: np.ndarray, sigma: float = 15.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def _weakest(make, hit, target: float) -> np.ndarray:  # noqa: ANN001
    """Bisect a monotonic strength in [0, 1] for the weakest defect reaching `target`."""
    lo, hi = 0.0, 1.0
    if hit(make(hi)) < target:
        raise ValueError("target out of reach")
    for _ in range(14):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if hit(make(mid)) >= target else (mid, hi)
    return make(hi)


def _lut(img: np.ndarray, curve: np.ndarray) -> np.ndarray:
    return cv2.LUT(img, np.clip(curve, 0, 255).astype(np.uint8))


def overexpose(img: np.ndarray, target: float = 0.08, any_channel: bool = False) -> np.ndarray:
    """The smallest gain that clips `target` of the pixels at 255 (all channels by default)."""
    x = np.arange(256.0)

    def clipped(out: np.ndarray) -> float:
        return float(((out == 255).any(-1) if any_channel else (out == 255).all(-1)).mean())

    return _weakest(lambda s: _lut(img, x * (1 + 5 * s)), clipped, target)


def underexpose(img: np.ndarray, target: float = 0.15) -> np.ndarray:
    """The mildest gain drop and shadow-crushing gamma leaving `target` of pixels at luma <= 5."""
    x = np.arange(256.0) / 255

    def crushed(out: np.ndarray) -> float:
        return float((cv2.cvtColor(out, cv2.COLOR_RGB2GRAY) <= 5).mean())

    return _weakest(lambda s: _lut(img, 255 * ((1 - 0.75 * s) * x) ** (1 + 3 * s)), crushed, target)


def color_cast(img: np.ndarray, channel: int = 0, amount: int = 30) -> np.ndarray:
    out = img.astype(np.int16)
    out[..., channel] += amount
    return np.clip(out, 0, 255).astype(np.uint8)


def stray_object(
    img: np.ndarray, center: tuple[int, int], frac: float = 0.015, color=(230, 20, 200)
) -> tuple[np.ndarray, Box]:
    """A compact, saturated, sharp-edged irregular blob covering `frac` of the frame."""
    h, w = img.shape[:2]
    r = np.sqrt(frac * h * w / np.pi)
    ang = np.linspace(0, 2 * np.pi, 9, endpoint=False)
    rad = r * np.array([1.15, 0.9, 1.1, 0.85, 1.2, 0.95, 1.05, 0.8, 1.1])
    pts = np.stack([center[0] + rad * np.cos(ang), center[1] + rad * np.sin(ang)], 1)
    out = img.copy()
    cv2.fillPoly(out, [np.rint(pts).astype(np.int32)], tuple(int(c) for c in color))
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    return out, (int(x0), int(y0), int(x1), int(y1))


def background_spot(comp: Composite) -> tuple[tuple[int, int], float]:
    """The background point farthest from the subject, the frame edges and the headline band,
    and that distance (where the simulator would drop a stray object)."""
    h, w = comp.image.shape[:2]
    free = ~comp.subject_mask
    free[int((1 - BOTTOM_BAND) * h) :] = False
    free[:, [0, -1]] = False
    free[[0, -1], :] = False
    dist = cv2.distanceTransform(free.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (int(x), int(y)), float(dist[y, x])


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
