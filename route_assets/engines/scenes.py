"""Building blocks of simulated ad scenes: real photographs, drawn products, brand backgrounds.

The photographs are scikit-image's bundled public-domain samples (offline-toolkit §3), so the
simulator needs no network. Products are drawn rather than photographed so they can wear any
brand colour.
"""

import math
import re
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from skimage import color, data

RGB = tuple[int, int, int]


def _forms(words: str) -> frozenset[str]:
    # Briefs use plurals ("two cats", "running shoes"); add the regular English plural forms.
    base = words.split()
    return frozenset(base + [w + "s" for w in base] + [w + "es" for w in base])


# The first group with a matching word wins. Products come before people and pets because in an
# ad brief the product is what must be on screen ("woman applying sunscreen" sells sunscreen).
# A bare "can" comes last: in a brief it is usually the verb ("runners can ...").
_SCENE_KEYWORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("drawn:bottle", _forms("bottle sunscreen serum water lotion shampoo perfume")),
    ("drawn:can", _forms("soda energy cola seltzer")),
    ("drawn:sneaker", _forms("sneaker shoe footwear")),
    ("drawn:box", _forms("box package gift parcel")),
    ("photo:coffee", _forms("coffee cup latte drink espresso cappuccino cafe café mug")),
    ("photo:motorcycle", _forms("motorcycle motorbike bike scooter vehicle car moped")),
    ("photo:rocket", _forms("rocket launch spaceship space")),
    ("photo:chelsea", _forms("cat dog pet kitten puppy") | {"puppies"}),
    (
        "photo:astronaut",
        _forms("person woman man model athlete runner astronaut girl boy lady guy portrait")
        | {"people", "women", "men"},
    ),
    ("drawn:can", _forms("can")),
)


def scene_for(subject: str) -> str:
    """Scene id ("photo:<skimage name>" or "drawn:<product>") for a brief's free-text subject."""
    words = set(re.findall(r"[^\W\d_]+", subject.lower()))
    for scene, keys in _SCENE_KEYWORDS:
        if words & keys:
            return scene
    return "drawn:box"  # an unknown product still gets a plausible packshot


def hex_to_rgb(value: str) -> RGB:
    m = re.fullmatch(r"#?([0-9a-fA-F]{6})", value.strip())
    if m is None:
        raise ValueError(f"not a '#RRGGBB' colour: {value!r}")
    h = m.group(1)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def delta_e(a: RGB, b: RGB) -> float:
    """CIEDE2000 distance between two sRGB colours."""
    lab = color.rgb2lab(np.array([[a, b]], dtype=np.float64) / 255.0)
    return float(color.deltaE_ciede2000(lab[0, 0], lab[0, 1]))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB values in 0..255 (last axis = channels)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def contrast_ratio(a: RGB, b: RGB) -> float:
    la, lb = float(luminance(np.array(a))), float(luminance(np.array(b)))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    r, g, b_ = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return r, g, b_


# Where the interesting part of each photograph is (fractions of width, height), so cover-crops to
# other aspects keep the face / cup / bike rather than the photo's centre.
_PHOTO_FOCUS: dict[str, tuple[float, float]] = {
    "astronaut": (0.36, 0.28),
    "chelsea": (0.55, 0.50),
    "coffee": (0.45, 0.45),
    "motorcycle": (0.66, 0.58),
    "rocket": (0.52, 0.50),
}


@lru_cache(maxsize=len(_PHOTO_FOCUS))
def photo(name: str) -> np.ndarray:
    """The decoded sample photo (read-only; decoding costs up to 350 ms, hence the cache)."""
    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    img = np.ascontiguousarray(img[..., :3])
    img.setflags(write=False)
    return img


def photo_aspect(name: str) -> float:
    h, w = photo(name).shape[:2]
    return w / h


@lru_cache(maxsize=32)
def photo_crop(name: str, width: int, height: int) -> np.ndarray:
    """The photograph cover-cropped around its focus to exactly width x height (read-only)."""
    src = photo(name)
    ph, pw = src.shape[:2]
    scale = max(width / pw, height / ph)
    cw, ch = min(pw, round(width / scale)), min(ph, round(height / scale))
    fx, fy = _PHOTO_FOCUS[name]
    x0 = int(min(max(fx * pw - cw / 2, 0), pw - cw))
    y0 = int(min(max(fy * ph - ch / 2, 0), ph - ch))
    crop = src[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    out = cv2.resize(crop, (width, height), interpolation=interp)
    if scale > 1.05:
        # The samples are 300-740 px; upscaled they look soft next to generator output, which is
        # crisp. A mild unsharp mask keeps a clean frame clearly sharper than an injected blur.
        out = cv2.addWeighted(out, 1.6, cv2.GaussianBlur(out, (0, 0), 1.1), -0.6, 0)
    out.setflags(write=False)
    return out


PRODUCT_ASPECT: dict[str, float] = {"bottle": 0.4, "can": 0.56, "box": 1.0, "sneaker": 2.3}


def _revolve(half: np.ndarray, width: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A glossy solid of revolution: half-width per row (px) and base colour per row."""
    x = np.arange(width, dtype=np.float32) + 0.5 - width / 2
    hw = half[:, None].astype(np.float32)
    alpha = np.clip(hw - np.abs(x)[None] + 0.5, 0.0, 1.0)
    t = np.clip(x[None] / np.maximum(hw, 1.0), -1.0, 1.0)
    # Lambert-like falloff toward the silhouette plus a specular stripe reads as a glossy can.
    shade = 0.5 + 0.5 * np.sqrt(1.0 - t * t)
    spec = 0.6 * np.exp(-(((t + 0.42) / 0.11) ** 2))
    rgb = rows[:, None, :].astype(np.float32) * shade[..., None]
    rgb += (255.0 - rgb) * spec[..., None]
    return rgb, alpha


def _rows(y: np.ndarray, base: RGB, bands: list[tuple[float, float, RGB]]) -> np.ndarray:
    rows = np.tile(np.array(base, np.float32), (len(y), 1))
    for lo, hi, c in bands:
        rows[(y >= lo) & (y < hi)] = c
    return rows


def _bottle(w: int, h: int, body: RGB, accent: RGB, label: RGB) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(h, dtype=np.float32) + 0.5) / h
    s = np.clip((y - 0.2) / 0.16, 0, 1)
    half = np.where(y < 0.13, 0.21, 0.17 + 0.33 * s * s * (3 - 2 * s))
    half -= 0.06 * np.clip((y - 0.96) / 0.04, 0, 1) ** 2 + 0.03 * np.clip(1 - y / 0.015, 0, 1)
    rows = _rows(y, body, [(0, 0.13, accent), (0.46, 0.84, label), (0.62, 0.66, accent)])
    return _revolve(half * w, w, rows)


def _can(w: int, h: int, body: RGB, accent: RGB, label: RGB) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(h, dtype=np.float32) + 0.5) / h
    half = np.full(h, 0.5, np.float32)
    half = np.where(y < 0.07, 0.44 + 0.06 * y / 0.07, half)
    half = np.where(y > 0.93, 0.5 - 0.07 * (y - 0.93) / 0.07, half)
    metal = (196, 198, 204)
    bands = [(0, 0.06, metal), (0.94, 1.01, metal), (0.40, 0.70, label)]
    bands += [(0.40, 0.43, accent), (0.67, 0.70, accent)]
    rgb, alpha = _revolve(half * w, w, _rows(y, body, bands))
    lid = ((w / 2, 0.045 * h), (0.88 * w, 0.07 * h), 0.0)
    cv2.ellipse(rgb, lid, (226.0, 228.0, 232.0), -1)  # the lid seen slightly from above
    cv2.ellipse(alpha, lid, 1.0, -1)
    return rgb, alpha


def _poly(img: np.ndarray, pts: list[tuple[float, float]], w: int, h: int,
          c: Sequence[float] | float) -> None:
    # 4 fractional bits: sub-pixel vertices keep antialiased edges straight at any size.
    p = (np.array(pts, np.float64) * (w - 1, h - 1) * 16).round().astype(np.int32)
    cv2.fillPoly(img, [p], c, lineType=cv2.LINE_AA, shift=4)


def _flat(w: int, h: int, shapes: list[tuple[list[tuple[float, float]], RGB]],
          outline: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat polygons with a top-lit vertical gradient; returns float layer and alpha."""
    layer = np.zeros((h, w, 3), np.uint8)
    for pts, c in shapes:
        _poly(layer, pts, w, h, c)
    mask = np.zeros((h, w), np.uint8)
    _poly(mask, outline, w, h, 255)
    grad = np.linspace(1.08, 0.82, h, dtype=np.float32)[:, None, None]
    return np.clip(layer.astype(np.float32) * grad, 0, 255), mask.astype(np.float32) / 255.0


def _box(w: int, h: int, body: RGB, accent: RGB, label: RGB) -> tuple[np.ndarray, np.ndarray]:
    d, t = 0.22, 0.16  # isometric depth of the side face and top face, as frame fractions
    fx, r, ym, r2 = (1 - d) / 2, 0.06, (1 + t) / 2, 0.05
    dark, light = mix(body, (0, 0, 0), 0.3), mix(body, (255, 255, 255), 0.25)
    ribbon_side = mix(accent, (0, 0, 0), 0.3)
    shapes = [
        ([(0, t), (1 - d, t), (1 - d, 1), (0, 1)], body),
        ([(0, t), (d, 0), (1, 0), (1 - d, t)], light),
        ([(1 - d, t), (1, 0), (1, 1 - t), (1 - d, 1)], dark),
        ([(fx - r, t), (fx - r + d, 0), (fx + r + d, 0), (fx + r, t)], mix(accent, label, 0.2)),
        ([(fx - r, t), (fx + r, t), (fx + r, 1), (fx - r, 1)], accent),
        ([(0, ym - r2), (1 - d, ym - r2), (1 - d, ym + r2), (0, ym + r2)], accent),
        ([(1 - d, ym - r2), (1, ym - r2 - t), (1, ym + r2 - t), (1 - d, ym + r2)], ribbon_side),
    ]
    outline = [(0, t), (d, 0), (1, 0), (1, 1 - t), (1 - d, 1), (0, 1)]
    return _flat(w, h, shapes, outline)


def _sneaker(w: int, h: int, body: RGB, accent: RGB, label: RGB) -> tuple[np.ndarray, np.ndarray]:
    upper = [(0.03, 0.80), (0.0, 0.50), (0.03, 0.22), (0.12, 0.08), (0.24, 0.10), (0.30, 0.22),
             (0.40, 0.16), (0.46, 0.02), (0.54, 0.04), (0.58, 0.22), (0.72, 0.40), (0.86, 0.50),
             (0.96, 0.58), (1.0, 0.70), (0.99, 0.80)]
    # Cupsole with toe spring, drawn over the bottom of the upper.
    sole = [(0.02, 0.77), (0.985, 0.76), (1.0, 0.83), (0.97, 0.93), (0.90, 0.97), (0.10, 0.97),
            (0.02, 0.94), (0.0, 0.85)]
    trim = mix(body, label, 0.3)  # toe cap
    shapes = [
        (upper, body),
        ([(0.11, 0.10), (0.24, 0.11), (0.29, 0.21), (0.16, 0.19)], mix(body, (0, 0, 0), 0.6)),
        ([(0.80, 0.54), (0.96, 0.58), (1.0, 0.70), (0.99, 0.80), (0.74, 0.80)], trim),
        ([(0.18, 0.66), (0.50, 0.54), (0.84, 0.34), (0.56, 0.62), (0.22, 0.73)], accent),
        (sole, (238, 238, 234)),
        ([(0.01, 0.86), (0.995, 0.86), (0.99, 0.885), (0.01, 0.885)], accent),
    ]
    layer, alpha = _flat(w, h, shapes, upper + sole[2:])
    for k in range(4):  # laces across the throat
        a = ((0.47 + 0.035 * k) * w, (0.10 + 0.06 * k) * h)
        b = ((0.57 + 0.04 * k) * w, (0.16 + 0.07 * k) * h)
        lw = max(2, round(0.025 * h))
        cv2.line(layer, tuple(map(round, a)), tuple(map(round, b)), (244.0, 244.0, 240.0), lw)
    return layer, alpha


_DRAWERS = {"bottle": _bottle, "can": _can, "box": _box, "sneaker": _sneaker}


def draw_product(kind: str, width: int, height: int, body: RGB, accent: RGB,
                 label: RGB) -> tuple[np.ndarray, np.ndarray]:
    """Packshot of a product: float32 HxWx3 layer (0..255) and float32 HxW coverage alpha."""
    return _DRAWERS[kind](width, height, body, accent, label)


def brand_background(width: int, height: int, base: RGB, *, angle: float,
                     glow: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Float32 HxWx3: a diagonal gradient of one brand colour, a soft glow and a faint mottle."""
    # Everything here is low-frequency, so compute it at 1/8 size and upscale: ~1 ms, not ~20.
    sw, sh = max(2, width // 8), max(2, height // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xx, yy = xx / (sw - 1), yy / (sh - 1)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    u = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    b = np.array(base, np.float32)
    light, dark = b + (255 - b) * 0.14, b * 0.84
    img = light + (dark - light) * u[..., None]
    g = np.exp(-((xx - glow[0]) ** 2 + (yy - glow[1]) ** 2) / (2 * 0.22**2))
    img += (255 - img) * (0.10 * g)[..., None]
    tex = rng.normal(0.0, 2.0, (6, 6)).astype(np.float32)
    img += cv2.resize(tex, (sw, sh), interpolation=cv2.INTER_CUBIC)[..., None]
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
