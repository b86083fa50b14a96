"""Offline stand-in for hosted image generators: ad-like frames with injectable flaws.

A frame is a brand-gradient background, a real photograph (rounded card or feathered cut-out) or
a drawn product, and the headline in the bottom band. Flaws look the way real generators produce
them. The ground truth (subject box, injected flaws) is for benchmarks only; the classifier must
never see it. `InjectedDefect.strength` is in each kind's natural unit: blur / noise -> sigma,
overexposed / underexposed -> fraction of pixels at 255 / <= 5, color_cast -> largest channel
shift, off_palette -> CIEDE2000 to the nearest palette colour, stray_object -> fraction of the
frame, subject_cut -> fraction of the subject outside the frame, subject_missing -> 1.0,
unreadable_headline -> WCAG contrast ratio of text to background.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from route_assets.engines import sim_layers as px
from route_assets.engines.scenes import (
    PRODUCT_ASPECT,
    RGB,
    brand_background,
    delta_e,
    draw_product,
    hex_to_rgb,
    luminance,
    mix,
    photo_aspect,
    photo_crop,
    scene_for,
)
from route_assets.imaging.flaws import Box, FlawKind

__all__ = ["SIMULATED_KINDS", "InjectedDefect", "SceneSpec", "SimulatedImage", "scene_for",
           "simulate_generation"]

_TOP, _BOTTOM = 0.12, 0.20  # bands kept free of the subject: logo space and the headline band
# The flaws the simulator can draw (composition, lighting and the judge's kinds are not drawn).
# Order matters: each kind's random stream is seeded by its index here.
_KINDS = (
    FlawKind.BLUR, FlawKind.NOISE, FlawKind.OVEREXPOSED, FlawKind.UNDEREXPOSED,
    FlawKind.COLOR_CAST, FlawKind.OFF_PALETTE, FlawKind.STRAY_OBJECT, FlawKind.SUBJECT_CUT,
    FlawKind.SUBJECT_MISSING, FlawKind.UNREADABLE_HEADLINE,
)
SIMULATED_KINDS = frozenset(_KINDS)


@dataclass(frozen=True)
class SceneSpec:
    subject: str  # free text from the brief
    headline: str
    palette: tuple[str, ...]  # '#RRGGBB' brand colours; palette[0] is the main background colour
    width: int
    height: int


@dataclass(frozen=True)
class InjectedDefect:
    kind: FlawKind
    region: Box | None  # None for whole-frame defects
    strength: float


@dataclass(frozen=True)
class SimulatedImage:
    image: np.ndarray  # HxWx3 uint8 RGB
    seed: int
    scene: str  # e.g. "photo:astronaut" or "drawn:bottle"
    subject_box: Box  # unclipped (may leave the frame); (0, 0, 0, 0) when the subject is missing
    injected: tuple[InjectedDefect, ...]


def _rng(seed: int, kind: FlawKind) -> np.random.Generator:
    # One stream per flaw kind, so turning one flaw on never changes how another one looks.
    return np.random.default_rng([seed, 2, _KINDS.index(kind)])


def _draw_flaws(seed: int, rates: Mapping[str, float]) -> set[FlawKind]:
    unknown = {str(k) for k in rates} - {k.value for k in _KINDS}
    if unknown:
        raise ValueError(f"defect_rates name flaw kinds the simulator cannot draw: "
                         f"{sorted(unknown)} (it draws {sorted(k.value for k in _KINDS)})")
    draws = np.random.default_rng([seed, 1]).random(len(_KINDS))
    on = set()
    for kind, u in zip(_KINDS, draws, strict=True):
        p = float(rates.get(kind.value, 0.0))
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"defect rate for {kind.value} must be in [0, 1], got {p}")
        if u < p:
            on.add(kind)
    if FlawKind.SUBJECT_MISSING in on:  # a missing subject cannot also be cut
        on.discard(FlawKind.SUBJECT_CUT)
    return on


@lru_cache(maxsize=32)
def _photo_mask(w: int, h: int, style: str) -> np.ndarray:
    px = np.abs(np.arange(w, dtype=np.float32) + 0.5 - w / 2)[None, :]
    py = np.abs(np.arange(h, dtype=np.float32) + 0.5 - h / 2)[:, None]
    if style == "card":  # rounded rectangle from its signed distance, one pixel of antialiasing
        r = max(2.0, 0.06 * min(w, h))
        qx, qy = px - (w / 2 - r), py - (h / 2 - r)
        d = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r
        m = np.clip(0.5 - d, 0.0, 1.0)
    else:  # feathered ellipse: the photo fades into the brand background
        rho = np.sqrt((px / (w / 2)) ** 2 + (py / (h / 2)) ** 2)
        m = np.clip((1.0 - rho) / 0.12, 0.0, 1.0)
        m = m * m * (3 - 2 * m)
    m.setflags(write=False)
    return m


def _fit(aspect: float, area: float, rw: float, rh: float) -> tuple[float, float]:
    ar = math.sqrt(aspect * rw / rh)  # halfway (geometrically) between photo and free-space aspect
    w = math.sqrt(area * ar)
    h = w / ar
    if w > rw:
        w, h = rw, min(area / rw, rh)
    if h > rh:
        h, w = rh, min(area / rh, rw)
    return w, h


def _ellipse_box_fraction(area_frac: float) -> float:
    """How much of an ellipse's box must leave the frame for area_frac of its area to leave."""
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        c = 1 - 2 * mid
        seg = (math.acos(c) - c * math.sqrt(1 - c * c)) / math.pi
        lo, hi = (mid, hi) if seg < area_frac else (lo, mid)
    return (lo + hi) / 2


def _product_colours(palette: list[RGB], bg: RGB) -> tuple[RGB, RGB, RGB]:
    body = palette[1] if len(palette) > 1 else bg
    if delta_e(body, bg) < 15:  # the product must stand out from the background
        light_bg = luminance(np.array(bg)) > 0.3
        body = mix(bg, (0, 0, 0), 0.55) if light_bg else mix(bg, (255, 255, 255), 0.7)
    accent = palette[2] if len(palette) > 2 else palette[0]
    label: RGB = (246, 244, 238)  # off-white paper, unless the product itself is that light
    if delta_e(label, body) < 20:
        label = palette[0] if delta_e(palette[0], body) >= 20 else mix(body, (0, 0, 0), 0.3)
    return body, accent, label


def _place_subject(canvas: np.ndarray, name: str, style: str, box: Box, palette: list[RGB],
                   bg: RGB) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    s = min(canvas.shape[:2])
    if style == "drawn":  # packshot on a soft contact shadow
        ax, ay = 0.6 * w + 0.05 * h, 0.05 * h + 0.02 * w
        yy = np.linspace(-1, 1, int(2 * ay) + 1, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, int(2 * ax) + 1, dtype=np.float32)[None, :]
        shadow = (0.45 * np.clip(1 - np.sqrt(xx * xx + yy * yy), 0, 1) ** 1.2).astype(np.float32)
        px.composite(canvas, 0.0, shadow, round(x0 + w / 2 - ax), round(y0 + 0.985 * h - ay))
        layer, alpha = draw_product(name, w, h, *_product_colours(palette, bg))
        px.composite(canvas, layer, alpha, x0, y0)
        return
    alpha = _photo_mask(w, h, style)
    if style == "card":  # drop shadow, blurred at quarter size because it is smooth anyway
        sig, pad = 0.018 * s, int(0.06 * s)
        big = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        quarter = (big.shape[1] // 4, big.shape[0] // 4)
        small = cv2.resize(big, quarter, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sig / 4)
        shadow = 0.4 * cv2.resize(small, (big.shape[1], big.shape[0]))
        px.composite(canvas, 0.0, shadow, x0 - pad, y0 - pad + int(0.012 * s))
    px.composite(canvas, photo_crop(name, w, h), alpha, x0, y0)




def _layout(scene: str, ww: int, hh: int, u: np.ndarray) -> tuple[str, Box]:
    """Style and box of the subject in the free middle of the frame, jittered by u (5 uniforms)."""
    area, style_u, jx, jy, scale_u = (float(v) for v in u)
    rx0, ry0, rx1, ry1 = 0.04 * ww, (_TOP + 0.015) * hh, 0.96 * ww, (1 - _BOTTOM - 0.015) * hh
    rw, rh = rx1 - rx0, ry1 - ry0
    kind, name = scene.split(":")
    if kind == "photo":
        style = "card" if style_u < 0.5 else "ellipse"
        # An ellipse shows pi/4 of its box, so its box is a little larger for the same presence.
        share = 0.38 + 0.14 * area + (0.04 if style == "ellipse" else 0.0)
        w, h = _fit(photo_aspect(name), share * ww * hh, rw, rh)
    else:
        style, aspect = "drawn", PRODUCT_ASPECT[name]
        h = rh * (0.82 + 0.14 * scale_u)
        w = h * aspect
        if w > 0.92 * rw:
            w, h = 0.92 * rw, 0.92 * rw / aspect
    w, h = max(8, round(w)), max(8, round(h))
    # Jitter uses part of the slack only: a subject pushed against the bands looks accidental.
    x0 = round((rx0 + rx1 - w) / 2 + (2 * jx - 1) * (rw - w) / 2 * 0.7)
    y0 = round((ry0 + ry1 - h) / 2 + (2 * jy - 1) * (rh - h) / 2 * 0.35)
    return style, (x0, y0, x0 + w, y0 + h)


def _cut(box: Box, style: str, ww: int, hh: int, rng: np.random.Generator) -> tuple[Box, float]:
    """Shift the subject off the left, right or top edge so 38-57% of it leaves the frame."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    frac = float(rng.uniform(0.38, 0.57))
    fb = _ellipse_box_fraction(frac) if style == "ellipse" else frac
    edge = int(rng.integers(3))
    if edge == 0:
        x0 = -round(fb * w)
    elif edge == 1:
        x0 = ww - w + round(fb * w)
    else:
        y0 = -round(fb * h)
    return (x0, y0, x0 + w, y0 + h), frac


def simulate_generation(spec: SceneSpec, *, seed: int,
                        defect_rates: Mapping[str, float]) -> SimulatedImage:
    """One simulated generator output for spec; flaws are drawn from defect_rates with seed."""
    if spec.width < 64 or spec.height < 64 or not spec.palette or seed < 0:
        raise ValueError("need width, height >= 64, a non-empty palette and a seed >= 0")
    on = _draw_flaws(seed, defect_rates)
    ww, hh = spec.width, spec.height
    palette = [hex_to_rgb(c) for c in spec.palette]
    scene = scene_for(spec.subject)
    # Composition draws come first and in a fixed order, so a seed composes the same frame with
    # and without flaws and benchmarks can diff the two.
    comp = np.random.default_rng([seed, 0])
    u = comp.random(7)
    found: dict[FlawKind, InjectedDefect] = {}

    def add(kind: FlawKind, region: Box | None, strength: float) -> None:
        found[kind] = InjectedDefect(kind, region, float(strength))

    bg = palette[0]
    if FlawKind.OFF_PALETTE in on:
        bg, de = px.pick_colour(palette, _rng(seed, FlawKind.OFF_PALETTE), (0.35, 0.8),
                                (0.35, 0.85), 35.0)
        add(FlawKind.OFF_PALETTE, None, de)
    glow = (0.35 + 0.3 * float(u[5]), 0.45)
    canvas = brand_background(ww, hh, bg, angle=float(u[6]) * math.pi, glow=glow, rng=comp)

    style, subject_box = _layout(scene, ww, hh, u[:5])
    if FlawKind.SUBJECT_CUT in on:
        subject_box, frac = _cut(subject_box, style, ww, hh, _rng(seed, FlawKind.SUBJECT_CUT))
        add(FlawKind.SUBJECT_CUT, px.clip_box(subject_box, ww, hh), frac)
    visible: Box | None = px.clip_box(subject_box, ww, hh)
    if FlawKind.SUBJECT_MISSING in on:
        subject_box, visible = (0, 0, 0, 0), None
        add(FlawKind.SUBJECT_MISSING, None, 1.0)
    else:
        _place_subject(canvas, scene.split(":")[1], style, subject_box, palette, bg)

    unreadable = FlawKind.UNREADABLE_HEADLINE in on
    head = px.headline(canvas, spec.headline, palette, round((1 - _BOTTOM) * hh),
                       _rng(seed, FlawKind.UNREADABLE_HEADLINE) if unreadable else None)
    if unreadable and head is not None:
        add(FlawKind.UNREADABLE_HEADLINE, *head)
    if FlawKind.STRAY_OBJECT in on:
        m = int(0.025 * min(ww, hh))  # clear of the subject's drop shadow and of the text
        avoid = [px.grow(b, m) for b in (visible, head[0] if head else None) if b is not None]
        stray = px.stray_object(canvas, avoid, [bg, *palette], _rng(seed, FlawKind.STRAY_OBJECT))
        if stray is not None:
            add(FlawKind.STRAY_OBJECT, *stray)

    # Photometric flaws in camera-pipeline order: white balance, optics, sensor noise, then the
    # tone curve, so clipped highlights stay clipped whatever else was injected.
    if FlawKind.COLOR_CAST in on:
        add(FlawKind.COLOR_CAST, None, px.color_cast(canvas, _rng(seed, FlawKind.COLOR_CAST)))
    if FlawKind.BLUR in on:
        add(FlawKind.BLUR, *px.blur(canvas, visible, _rng(seed, FlawKind.BLUR)))
    if FlawKind.NOISE in on:
        add(FlawKind.NOISE, None, px.noise(canvas, _rng(seed, FlawKind.NOISE)))
    over, under = FlawKind.OVEREXPOSED in on, FlawKind.UNDEREXPOSED in on
    px.expose(canvas, _rng(seed, FlawKind.OVEREXPOSED) if over else None,
              _rng(seed, FlawKind.UNDEREXPOSED) if under else None)
    image = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    if over:
        white = cv2.countNonZero(cv2.inRange(image, (255, 255, 255), (255, 255, 255)))
        add(FlawKind.OVEREXPOSED, None, white / (ww * hh))
    if under:
        black = cv2.countNonZero(cv2.inRange(image, (0, 0, 0), (5, 5, 5)))
        add(FlawKind.UNDEREXPOSED, None, black / (ww * hh))
    injected = tuple(found[k] for k in _KINDS if k in found)
    return SimulatedImage(image, seed, scene, subject_box, injected)
