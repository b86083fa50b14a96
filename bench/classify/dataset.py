"""The labeled flaw benchmark: ad frames composed from real photographs, with injected flaws.

Every item is rebuilt from its index alone (seeded generators), so nothing is stored. A frame is
a brand-palette background (solid, one-hue gradient, two-colour gradient or radial), a photograph
from scikit-image's bundled CC0 / public-domain set as a card, disc or feathered cut-out (some with
a drop shadow), and a headline in the bottom band (on the background or on a solid strip).

Flaws are injected here, independently of the generator simulator (`route_assets/engines/`) and
of the test helpers: defocus or Gaussian blur, a soft patch on the subject, sensor-like noise,
exposure changes in linear light, white-balance and channel casts, an off-brand background, stray
blobs or pasted fragments, a subject pushed off an edge, no subject, a low-contrast headline,
a wrong composition (the subject sunk into the headline band, or shrunk into a corner) and
inconsistent lighting (the background lit from one side, the subject shaded from the other).
Each label records the flaw kind and, for localized flaws, the injected region.

The kinds cycle in blocks of 18 (5 clean, 13 flawed, shuffled per block), so the first and the
second half of the benchmark hold the same mix: the first half is for tuning, the second for the
printed figures. The split depends on the index alone, never on results.
"""

from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
import skimage.data
from skimage.color import deltaE_ciede2000, rgb2lab

Box = tuple[int, int, int, int]

SEED = 20240605
SIZE = 1024
N_ITEMS = 288  # 16 blocks: 8 for tuning, 8 for the printed figures
BAND = 0.20  # headline band, fraction of the frame height (the generators' layout rule)
TOP = 0.08  # kept free above the subject

BLOCK = (
    "clean", "clean", "clean", "clean", "clean",
    "blur", "soft_patch", "noise", "overexposed", "underexposed", "color_cast", "off_palette",
    "stray_object", "subject_cut", "subject_missing", "unreadable_headline",
    "wrong_composition", "inconsistent_lighting",
)
KIND_OF = {"soft_patch": "blur"}  # recipe -> FlawKind value, when they differ
LOCALIZED = frozenset({"soft_patch", "stray_object", "subject_cut", "unreadable_headline",
                       "wrong_composition"})
FUNDAMENTAL = frozenset({"subject_cut", "subject_missing", "unreadable_headline",
                         "wrong_composition", "inconsistent_lighting"})

PALETTES: tuple[tuple[str, ...], ...] = (
    ("#0B3D91", "#FC3D21", "#FFFFFF"),  # deep blue, signal red
    ("#14532D", "#FACC15", "#F5F5F4"),  # forest, yellow
    ("#7C2D12", "#FDBA74", "#1C1917"),  # brick, peach
    ("#312E81", "#A5B4FC", "#F8FAFC"),  # indigo, periwinkle
    ("#134E4A", "#5EEAD4", "#0F172A"),  # dark teal, aqua
    ("#831843", "#FBCFE8", "#FFFFFF"),  # wine, blush
    ("#1F2937", "#F97316", "#F9FAFB"),  # charcoal, orange
    ("#C2410C", "#FFF7ED", "#431407"),  # burnt orange, cream
    ("#0369A1", "#E0F2FE", "#082F49"),  # sky, ice
    ("#4D7C0F", "#ECFCCB", "#1A2E05"),  # olive, lime cream
)
# (loader, crop as fractions x0, y0, x1, y1): the part of the photograph a designer would use.
PHOTOS: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("astronaut", (0.0, 0.0, 1.0, 1.0)),
    ("coffee", (0.0, 0.0, 1.0, 1.0)),
    ("chelsea", (0.0, 0.0, 1.0, 1.0)),
    ("rocket", (0.0, 0.0, 1.0, 1.0)),
    ("motorcycle", (0.0, 0.0, 1.0, 1.0)),
    ("hubble_deep_field", (0.1, 0.1, 0.9, 0.9)),
    ("immunohistochemistry", (0.0, 0.0, 1.0, 1.0)),
    ("retina", (0.2, 0.2, 0.8, 0.8)),
)
HEADLINES = ("SUMMER SALE", "NEW ARRIVALS", "SHOP NOW", "LIMITED EDITION", "FREE SHIPPING",
             "JOIN THE CLUB", "GO FURTHER", "MADE TO LAST", "FRESH DROP", "30% OFF")
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX,
         cv2.FONT_HERSHEY_COMPLEX)
# Saturated hues for stray blobs and for off-brand backgrounds (each checked against the palette).
HUES = ("#16A34A", "#DB2777", "#2563EB", "#65A30D", "#E11D48", "#9333EA", "#0891B2", "#CA8A04",
        "#DC2626", "#059669", "#7C3AED", "#EA580C", "#D946EF", "#84CC16", "#06B6D4", "#F43F5E")


@dataclass(frozen=True)
class Label:
    kind: str  # a FlawKind value
    region: Box | None  # injected region (x0, y0, x1, y1), None for whole-frame flaws
    recipe: str  # the injector used (e.g. "soft_patch" for a localized blur)
    params: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    index: int
    split: str  # "tune" | "eval"
    image: np.ndarray  # uint8 RGB, SIZE x SIZE
    palette: tuple[str, ...]
    labels: tuple[Label, ...]  # empty for a clean control
    photo: str | None
    expected: str  # "accept" | "edit" | "regenerate"


def split_of(index: int, n: int = N_ITEMS) -> str:
    return "tune" if index < n // 2 else "eval"


def recipe_of(index: int) -> str:
    block, pos = divmod(index, len(BLOCK))
    order = np.random.default_rng([SEED, 1, block]).permutation(len(BLOCK))
    return BLOCK[int(order[pos])]


# ---- colour helpers --------------------------------------------------------------------------


def hex_rgb(color: str) -> np.ndarray:
    h = color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], np.float64)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    c = np.asarray(v, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    c = np.clip(lin, 0.0, 1.0)
    s = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(s * 255.0), 0, 255).astype(np.uint8)


def wcag(a: np.ndarray, b: np.ndarray) -> float:
    la, lb = sorted(float(srgb_to_linear(c) @ [0.2126, 0.7152, 0.0722]) for c in (a, b))
    return (lb + 0.05) / (la + 0.05)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(np.asarray(rgb, np.float64).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)


def _de2000(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return deltaE_ciede2000(_lab(a), _lab(b))


def far_hues(palette: tuple[str, ...], min_de: float = 25.0) -> list[str]:
    """Hues more than `min_de` CIEDE2000 from every palette colour, its tints and shades."""
    pal = [hex_rgb(c) for c in palette]
    refs = np.array([p + (t - p) * k for p in pal for t in (np.full(3, 255.0), np.zeros(3))
                     for k in (0.0, 0.2, 0.4)])
    out = []
    for hue in HUES:
        h = np.broadcast_to(hex_rgb(hue), refs.shape)
        if float(_de2000(h, refs).min()) > min_de:
            out.append(hue)
    return out


# ---- composition -----------------------------------------------------------------------------


@cache
def photo(name: str) -> np.ndarray:
    img = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(
        skimage.data, name)()
    crop = dict(PHOTOS)[name]
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (int(round(f * s)) for f, s in zip(crop, (w, h, w, h), strict=True))
    return np.ascontiguousarray(img[y0:y1, x0:x1, :3])


def _background(rng: np.random.Generator, palette: tuple[str, ...], base: np.ndarray,
                style: str) -> np.ndarray:
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) / (n - 1)
    lum = float(srgb_to_linear(base) @ [0.2126, 0.7152, 0.0722])
    k = float(rng.uniform(0.15, 0.35))
    other = base + (255 - base) * k if lum < 0.35 else base * (1 - k)  # tint or shade
    if style == "solid":
        t = np.zeros_like(yy)
    elif style == "vertical":
        t = yy
    elif style == "diagonal":
        t = (xx + yy) / 2
    elif style == "radial":
        t = np.clip(np.hypot(xx - 0.5, yy - 0.45) / 0.75, 0, 1)
    else:  # two brand colours
        t = yy if rng.random() < 0.5 else (xx + yy) / 2
        other = hex_rgb(palette[1])
    return base * (1 - t[..., None]) + other * t[..., None]


def _alpha(shape: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    if shape == "card":
        r = float(rng.uniform(0.0, 0.1)) * min(h, w)
        dx = np.maximum(np.maximum(r - xx, xx - (w - r)), 0)
        dy = np.maximum(np.maximum(r - yy, yy - (h - r)), 0)
        return np.clip(r - np.hypot(dx, dy) + 0.5, 0, 1) if r > 0 else np.ones((h, w))
    if shape == "disc":
        d = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
        return np.clip((1 - d) * min(h, w) / 2 + 0.5, 0, 1)
    # feathered cut-out: an ellipse fading out over its outer `f`
    f = float(rng.uniform(0.1, 0.25))
    d = np.hypot(xx / w * 2 - 1, yy / h * 2 - 1)
    return np.clip((1 - d) / f, 0, 1)


@dataclass
class Frame:
    """A clean composition and what the injectors need to know about it."""

    image: np.ndarray  # float64 RGB
    subject: np.ndarray  # bool, where the subject is at least half opaque
    alpha: np.ndarray  # subject opacity 0..1
    subject_box: Box | None
    band_color: np.ndarray  # colour behind the headline
    text_box: Box
    params: dict[str, float | str]


def compose(
    rng: np.random.Generator,
    palette: tuple[str, ...],
    photo_name: str | None,
    *,
    bg_color: str | None = None,
    cut: tuple[str, float] | None = None,
    text_contrast: float | None = None,
    misplace: str | None = None,
) -> Frame:
    """One ad frame; `cut` pushes a share of the subject off an edge, `text_contrast` draws the
    headline at about that WCAG contrast with the band behind it (an unreadable headline),
    `misplace` breaks the layout: "low" sinks the subject into the headline band, "corner"
    shrinks it into a corner (a wrong composition)."""
    n = SIZE
    style = str(rng.choice(["solid", "vertical", "diagonal", "radial", "two"]))
    base = hex_rgb(bg_color or palette[0])
    img = _background(rng, palette, base, style)
    subject = np.zeros((n, n), bool)
    opacity = np.zeros((n, n))
    box: Box | None = None
    shape = str(rng.choice(["card", "card", "disc", "cutout"]))
    shadow = bool(rng.random() < 0.3) and shape != "cutout"
    params: dict[str, float | str] = {"background": style, "shape": shape}
    if photo_name is not None:
        src = photo(photo_name)
        aspect = src.shape[1] / src.shape[0]
        if shape == "disc":
            aspect = 1.0
            side = min(src.shape[:2])
            oy, ox = (src.shape[0] - side) // 2, (src.shape[1] - side) // 2
            src = src[oy : oy + side, ox : ox + side]
        scale = float(rng.uniform(0.42, 0.62) if misplace != "corner" else rng.uniform(0.24, 0.3))
        sh = int(min(scale * n, 0.82 * n / aspect))
        sw = int(sh * aspect)
        rgb = cv2.resize(src, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64)
        alpha = _alpha(shape, sh, sw, rng)
        room = (1 - BAND - TOP) * n
        cy = TOP * n + room / 2 + float(rng.uniform(-0.25, 0.25)) * max(0.0, room - sh)
        cx = n / 2 + float(rng.uniform(-0.3, 0.3)) * max(0.0, 0.92 * n - sw)
        x0, y0 = int(cx - sw / 2), int(cy - sh / 2)
        if misplace == "low":  # 35-60% of the subject's height inside the headline band
            y0 = int((1 - BAND) * n - (1 - float(rng.uniform(0.35, 0.6))) * sh)
            y0 = min(y0, n - sh - int(0.02 * n))
        elif misplace == "corner":  # pushed towards a corner, clear of the edges
            m = int(float(rng.uniform(0.03, 0.06)) * n)
            x0 = m if rng.random() < 0.5 else n - m - sw
            y0 = m if rng.random() < 0.6 else int((1 - BAND) * n) - m - sh
        if cut is not None:
            side_, frac = cut
            x0 = {"left": -int(frac * sw), "right": n - int((1 - frac) * sw)}.get(side_, x0)
            y0 = {"top": -int(frac * sh)}.get(side_, y0)
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + sw, n), min(y0 + sh, n)
        a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
        if shadow:
            sa = np.zeros((n, n))
            off = int(rng.uniform(6, 16))
            sa[min(n, fy0 + off) : min(n, fy1 + off), min(n, fx0 + off) : min(n, fx1 + off)] = \
                a[: max(0, min(n, fy1 + off) - fy0 - off), : max(0, min(n, fx1 + off) - fx0 - off),
                  0]
            sa = cv2.GaussianBlur(sa, (0, 0), float(rng.uniform(6, 14))) * 0.35
            img = img * (1 - sa[..., None])
            params["shadow"] = 1.0
        s = rgb[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        img[fy0:fy1, fx0:fx1] = img[fy0:fy1, fx0:fx1] * (1 - a) + s * a
        subject[fy0:fy1, fx0:fx1] = a[..., 0] >= 0.5
        opacity[fy0:fy1, fx0:fx1] = a[..., 0]
        ys, xs = np.nonzero(subject)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        params.update(photo=photo_name, scale=round(scale, 3))
    # Headline band: the background itself, or a solid strip of a brand colour.
    top = int((1 - BAND) * n)
    if rng.random() < 0.35 and misplace != "low":  # (a strip would hide a sunk subject)
        strip = hex_rgb(palette[int(rng.integers(0, len(palette)))])
        img[top:] = strip
        params["band"] = "strip"
    band_color = img[int((1 - BAND / 2) * n), n // 2].copy()
    candidates = [hex_rgb(c) for c in palette] + [np.full(3, 255.0), np.zeros(3)]
    if text_contrast is None:
        color = max(candidates, key=lambda c: wcag(c, band_color))
    else:  # move the band colour toward the better of white/black until the contrast is reached
        target = max((np.full(3, 255.0), np.zeros(3)), key=lambda c: wcag(c, band_color))
        lo, hi = 0.0, 1.0
        for _ in range(20):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if wcag(band_color + (target - band_color) * mid,
                                      band_color) >= text_contrast else (mid, hi)
        color = band_color + (target - band_color) * hi
        params["text_contrast"] = round(wcag(np.rint(color), band_color), 3)
    img8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    text = str(rng.choice(HEADLINES))
    font = int(rng.choice(FONTS))
    thick = int(rng.integers(2, 5)) * n // 512
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
    fs = float(rng.uniform(0.55, 0.8)) * n / tw
    (tw, th), base_ = cv2.getTextSize(text, font, fs, thick)
    org = (int((n - tw) / 2), int((1 - BAND / 2) * n + th / 2))
    cv2.putText(img8, text, org, font, fs, tuple(int(v) for v in np.rint(color)), thick,
                cv2.LINE_AA)
    text_box = (org[0], org[1] - th - thick, org[0] + tw, org[1] + base_ // 2 + thick)
    if misplace is not None:
        params["misplace"] = misplace
    return Frame(img8.astype(np.float64), subject, opacity, box, band_color, text_box, params)


# ---- injectors (independent of route_assets/engines) ------------------------------------------


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _disc_kernel(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    k = np.clip(radius + 0.5 - np.hypot(xx, yy), 0, 1)
    return (k / k.sum()).astype(np.float32)


def inject_blur(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    if rng.random() < 0.5:
        sigma = float(rng.uniform(2.5, 5.0))
        return cv2.GaussianBlur(_u8(img), (0, 0), sigma), {"gaussian_sigma": round(sigma, 2)}
    radius = float(rng.uniform(4.0, 8.0))
    return cv2.filter2D(_u8(img), -1, _disc_kernel(radius)), {"defocus_radius": round(radius, 2)}


def inject_soft_patch(img: np.ndarray, frame: Frame, rng: np.random.Generator
                      ) -> tuple[np.ndarray, Box, dict]:
    """A defocused ellipse on the subject, fading out over its outer third."""
    x0, y0, x1, y1 = frame.subject_box or (0, 0, SIZE, SIZE)
    rx = float(rng.uniform(0.3, 0.45)) * (x1 - x0)
    ry = float(rng.uniform(0.3, 0.45)) * (y1 - y0)
    cx = float(rng.uniform(x0 + rx, x1 - rx))
    cy = float(rng.uniform(y0 + ry, y1 - ry))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    d = np.hypot((xx - cx) / rx, (yy - cy) / ry)
    alpha = np.clip((1 - d) / 0.35, 0, 1)[..., None]
    sigma = float(rng.uniform(6.0, 12.0))
    soft = cv2.GaussianBlur(_u8(img), (0, 0), sigma).astype(np.float64)
    box = (max(0, int(cx - rx)), max(0, int(cy - ry)), min(SIZE, int(np.ceil(cx + rx))),
           min(SIZE, int(np.ceil(cy + ry))))
    return _u8(img * (1 - alpha) + soft * alpha), box, {"sigma": round(sigma, 2)}


def inject_noise(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    sigma = float(rng.uniform(8.0, 22.0))
    if rng.random() < 0.5:  # independent per channel
        return _u8(img + rng.normal(0, sigma, img.shape)), {"rgb_sigma": round(sigma, 2)}
    # luma noise plus weaker chroma noise, like a phone sensor at high ISO
    luma = rng.normal(0, sigma, img.shape[:2])[..., None]
    chroma = rng.normal(0, 0.4 * sigma, img.shape)
    return _u8(img + luma + chroma), {"luma_sigma": round(sigma, 2)}


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(_u8(img), cv2.COLOR_RGB2GRAY)


def inject_overexposure(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """An exposure push in linear light, raised until at least 4% of the frame is newly blown."""
    lin = srgb_to_linear(img)
    ev = float(rng.uniform(1.0, 2.0))
    was = img.min(-1) >= 254  # a white strip or label was white before: not a defect
    while True:
        out = linear_to_srgb(lin * 2**ev)
        blown = float(((out.min(-1) >= 254) & ~was).mean())
        if blown >= 0.04 or ev > 4:
            return out, {"ev": round(ev, 2), "blown": round(blown, 4)}
        ev += 0.25


def inject_underexposure(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """An exposure cut in linear light and a raised black point, until 15% of the frame is
    newly crushed to black."""
    lin = srgb_to_linear(img)
    ev = float(rng.uniform(-2.5, -1.5))
    black = float(rng.uniform(0.03, 0.08))
    was = _luma(img) <= 6  # a black strip or text was black before: not a defect
    while True:
        s = linear_to_srgb(lin * 2**ev).astype(np.float64) / 255.0
        out = _u8((s - black) / (1 - black) * 255.0)
        crushed = float(((_luma(out) <= 6) & ~was).mean())
        if crushed >= 0.15 or black > 0.6:
            return out, {"ev": round(ev, 2), "black": round(black, 3), "crushed": round(crushed, 4)}
        black += 0.03


def inject_cast(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    if rng.random() < 0.5:  # white balance: gains in linear light (temperature or tint)
        t = float(rng.uniform(0.25, 0.45)) * float(rng.choice([-1, 1]))
        if rng.random() < 0.5:
            gains, mode = np.array([1 + t, 1.0, 1 - t]), "temperature"
        else:
            gains, mode = np.array([1.0, 1 + t, 1.0]), "tint"
        return linear_to_srgb(srgb_to_linear(img) * gains), {mode: round(t, 3)}
    ch = int(rng.integers(0, 3))
    amount = float(rng.uniform(22, 40)) * float(rng.choice([-1, 1]))
    out = img.copy()
    out[..., ch] += amount
    return _u8(out), {"channel": float(ch), "offset": round(amount, 1)}


def _blob_alpha(rng: np.random.Generator, r: float) -> tuple[np.ndarray, str]:
    """An irregular shape of mean radius r (alpha in a (2R+1)^2 square)."""
    big = int(np.ceil(r * 1.6)) + 2
    canvas = np.zeros((2 * big + 1, 2 * big + 1), np.float32)
    c = big
    shape = str(rng.choice(["polygon", "star", "ellipse"]))
    if shape == "ellipse":
        ax = (int(r * rng.uniform(1.0, 1.4)), int(r * rng.uniform(0.7, 1.0)))
        cv2.ellipse(canvas, (c, c), ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    else:
        k = int(rng.integers(7, 12))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * (rng.uniform(0.8, 1.25, k) if shape == "polygon"
                   else np.where(np.arange(k) % 2 == 0, 1.35, 0.75))
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1)
        cv2.fillPoly(canvas, [np.rint(pts).astype(np.int32)], 1.0, cv2.LINE_AA)
    return canvas, shape


def inject_stray(img: np.ndarray, frame: Frame, palette: tuple[str, ...],
                 rng: np.random.Generator) -> tuple[np.ndarray, Box, dict]:
    """A saturated blob or a pasted photo fragment on the background, clear of the subject,
    the frame edges and the headline band."""
    n = SIZE
    frac = float(rng.uniform(0.003, 0.025))
    r = float(np.sqrt(frac * n * n / np.pi))
    alpha, shape = _blob_alpha(rng, r)
    half = alpha.shape[0] // 2
    # Clear of the subject (its faint feathered rim included) by 3% of the frame: a blob
    # touching the subject is indistinguishable from a part of it.
    visible = (frame.alpha > 0.05).astype(np.uint8)
    gap = int(0.03 * n)
    free = ~cv2.dilate(visible, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)).astype(bool)
    free[int((1 - BAND) * n) - 8 :] = False
    free[:8], free[:, :8], free[:, n - 8 :] = False, False, False
    dist = cv2.distanceTransform(free.astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.nonzero(dist >= half)
    if xs.size == 0:  # no room: the farthest point
        y, x = (int(v) for v in np.unravel_index(int(np.argmax(dist)), dist.shape))
    else:
        j = int(rng.integers(0, xs.size))
        y, x = int(ys[j]), int(xs[j])
    y0, x0 = y - half, x - half
    sl = (slice(max(0, y0), min(n, y0 + alpha.shape[0])),
          slice(max(0, x0), min(n, x0 + alpha.shape[1])))
    a = alpha[sl[0].start - y0 : sl[0].stop - y0, sl[1].start - x0 : sl[1].stop - x0, None]
    params: dict[str, float | str] = {"shape": shape, "area": round(frac, 4)}
    if rng.random() < 0.6:  # a flat saturated colour, off the palette
        hues = far_hues(palette, 15.0) or list(HUES)
        paint = np.broadcast_to(hex_rgb(str(rng.choice(hues))), a.shape[:2] + (3,))
        params["fill"] = "colour"
    else:  # a fragment of another photograph
        name = str(rng.choice([p for p, _ in PHOTOS if p != frame.params.get("photo")]))
        src = photo(name)
        side = min(src.shape[:2])
        crop = int(rng.uniform(0.25, 0.5) * side)
        oy = int(rng.integers(0, src.shape[0] - crop))
        ox = int(rng.integers(0, src.shape[1] - crop))
        frag = cv2.resize(src[oy : oy + crop, ox : ox + crop], alpha.shape[::-1],
                          interpolation=cv2.INTER_AREA).astype(np.float64)
        paint = frag[sl[0].start - y0 : sl[0].stop - y0, sl[1].start - x0 : sl[1].stop - x0]
        params["fill"] = f"photo:{name}"
    out = img.copy()
    out[sl] = out[sl] * (1 - a) + paint * a
    ys2, xs2 = np.nonzero(a[..., 0] >= 0.5)
    box = (int(xs2.min()) + sl[1].start, int(ys2.min()) + sl[0].start,
           int(xs2.max()) + 1 + sl[1].start, int(ys2.max()) + 1 + sl[0].start)
    return _u8(out), box, params


def inject_lighting(img: np.ndarray, frame: Frame, rng: np.random.Generator
                    ) -> tuple[np.ndarray, dict]:
    """Light from two directions: the background (above the headline band) falls off away from
    a light at angle `theta`, the subject's cast shadow falls away from that light, and the
    subject itself is shaded as if lit from the opposite side. Gains act in linear light."""
    n = SIZE
    theta = float(rng.uniform(0, 2 * np.pi))
    d = np.array([np.cos(theta), np.sin(theta)])  # towards the light, x right, y down
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) / (n - 1) - 0.5
    t = (xx * d[0] + yy * d[1]) / np.abs(d).sum() + 0.5  # 0 far from the light, 1 near it
    bg_low = float(rng.uniform(0.3, 0.5))
    bg_gain = bg_low + (1 - bg_low) * t
    x0, y0, x1, y1 = frame.subject_box or (0, 0, n, n)
    sx = (np.arange(n) - (x0 + x1) / 2) / max(1, x1 - x0)
    sy = (np.arange(n) - (y0 + y1) / 2) / max(1, y1 - y0)
    ts = np.clip(-(sx[None] * d[0] + sy[:, None] * d[1]) / np.abs(d).sum() + 0.5, 0, 1)
    s_low = float(rng.uniform(0.1, 0.2))  # 2.3-3.3 stops between the lit and the shaded side
    s_gain = s_low + (1 - s_low) * ts  # brightest on the side facing away from the light
    off = -d * float(rng.uniform(0.03, 0.05)) * n
    shift = np.float32([[1, 0, off[0]], [0, 1, off[1]]])
    shadow = cv2.warpAffine(frame.alpha, shift, (n, n), borderValue=0.0)
    shadow = cv2.GaussianBlur(shadow, (0, 0), float(rng.uniform(8, 16))) * 0.55
    a = frame.alpha[..., None]
    gain = (bg_gain * (1 - shadow))[..., None] * (1 - a) + s_gain[..., None] * a
    top = int((1 - BAND) * n)
    lin = srgb_to_linear(img)
    lin[:top] *= gain[:top]
    out = linear_to_srgb(lin).astype(np.float64)
    return _u8(out), {"light_deg": round(float(np.degrees(theta)), 1),
                      "background_low": round(bg_low, 3), "subject_low": round(s_low, 3)}


# ---- items -----------------------------------------------------------------------------------


def build(index: int) -> Item:
    """Benchmark item `index` (deterministic)."""
    recipe = recipe_of(index)
    rng = np.random.default_rng([SEED, 2, index])
    palette = PALETTES[int(rng.integers(0, len(PALETTES)))]
    photo_name: str | None = PHOTOS[int(rng.integers(0, len(PHOTOS)))][0]
    label: Label | None = None
    kind = KIND_OF.get(recipe, recipe)
    if recipe == "off_palette":
        hue = str(rng.choice(far_hues(palette)))
        frame = compose(rng, palette, photo_name, bg_color=hue)
        label = Label(kind, None, recipe, {"background": hue})
    elif recipe == "subject_cut":
        side, frac = str(rng.choice(["left", "right", "top"])), float(rng.uniform(0.3, 0.6))
        frame = compose(rng, palette, photo_name, cut=(side, frac))
        label = Label(kind, frame.subject_box, recipe, {"side": side, "off": round(frac, 3)})
    elif recipe == "subject_missing":
        photo_name = None
        frame = compose(rng, palette, None)
        label = Label(kind, None, recipe)
    elif recipe == "wrong_composition":
        how = str(rng.choice(["low", "corner"]))
        frame = compose(rng, palette, photo_name, misplace=how)
        label = Label(kind, frame.subject_box, recipe, {"misplace": how})
    elif recipe == "unreadable_headline":
        frame = compose(rng, palette, photo_name, text_contrast=float(rng.uniform(1.1, 1.5)))
        label = Label(kind, frame.text_box, recipe,
                      {"contrast": frame.params["text_contrast"]})
    else:
        frame = compose(rng, palette, photo_name)
    img = frame.image
    if recipe == "blur":
        out, p = inject_blur(img, rng)
        label = Label(kind, None, recipe, p)
    elif recipe == "soft_patch":
        out, box, p = inject_soft_patch(img, frame, rng)
        label = Label(kind, box, recipe, p)
    elif recipe == "noise":
        out, p = inject_noise(img, rng)
        label = Label(kind, None, recipe, p)
    elif recipe == "overexposed":
        out, p = inject_overexposure(img, rng)
        label = Label(kind, None, recipe, p)
    elif recipe == "underexposed":
        out, p = inject_underexposure(img, rng)
        label = Label(kind, None, recipe, p)
    elif recipe == "color_cast":
        out, p = inject_cast(img, rng)
        label = Label(kind, None, recipe, p)
    elif recipe == "stray_object":
        out, box, p = inject_stray(img, frame, palette, rng)
        label = Label(kind, box, recipe, p)
    elif recipe == "inconsistent_lighting":
        out, p = inject_lighting(img, frame, rng)
        label = Label(kind, None, recipe, p)
    else:
        out = _u8(img)
    labels = () if label is None else (label,)
    expected = ("accept" if not labels else
                "regenerate" if any(lb.recipe in FUNDAMENTAL for lb in labels) else "edit")
    return Item(index, split_of(index), out, palette, labels, photo_name, expected)
