"""Rule-based flaw classifier: measure a candidate frame, list its flaws, give a verdict.

Thresholds were tuned on scikit-image photographs and drawn products composed on brand
gradients (route_assets_tests/imaging/synth.py) with the defect ranges of the generator
simulator, and on the tune half of bench/classify (never its evaluation half); they live in the
routing policy (route_assets/data/policy.yaml `thresholds`) so a brand can tighten or relax them.
"""

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import cache

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.color import deltaE_ciede2000

from route_assets.imaging.flaws import Box, Flaw, FlawKind
from route_assets.imaging.measures import (
    SHARP_TILE,
    anomaly_blobs,
    brand_gain,
    brand_nearest,
    brand_segments,
    cast_shadow,
    channel_offset,
    clipping,
    colorfulness,
    headline_contrast,
    laplacian_variance,
    luminance_plane,
    mask_box,
    morph,
    neutral_cast,
    noise_sigma,
    palette_distance,
    palette_lab,
    rgb_to_lab,
    shading_plane,
    sharpness_tiles,
    sharpness_view,
    texture_contrast,
    to_full_box,
)
from route_assets.imaging.subject import Scene, SubjectEstimate, analyse_scene, subject_from_scene


@dataclass(frozen=True)
class Thresholds:
    bottom_band: float = 0.20  # headline band height, fraction of the frame (layout rule)
    blur_sharpness: float = 0.08  # median tile fine/coarse energy ratio below which all is blurred
    patch_ratio: float = 0.02  # tile ratio below which a structured tile is soft
    patch_structure: float = 10.0  # coarse-band energy a tile needs before its sharpness counts
    patch_min_area: float = 0.009  # share of the frame in a group of soft tiles: a soft patch
    noise_sigma: float = 5.0  # Immerkær noise sigma (grey levels, full resolution)
    clip_high: float = 0.008  # share of the frame in blown areas (all channels >= 253)
    clip_high_weak: float = 0.002  # blown share that is overexposed if the background is bright
    exposure_gain: float = 1.1  # gain over the brand colour that makes the background bright
    clip_low: float = 0.10  # share of the frame in crushed areas (luma <= 8)
    cast_ab: float = 5.0  # a*b* distance of the background from the brand gamut that is a cast
    cast_fit: float = 4.0  # RGB residual under which a one-channel offset explains that shift
    cast_offset: float = 60.0  # largest one-channel offset still read as a cast
    cast_grayworld: float = 15.0  # without a brand background: near-neutral pixels' a*b* chroma
    palette_de: float = 18.0  # CIEDE2000 from the dominant background colour to the brand gamut
    palette_blends: bool = True  # blends of two brand colours (two-colour gradients) are on-brand
    anomaly_de: float = 20.0  # dE76 off the background surface that marks a stray-object pixel
    anomaly_min_area: float = 0.002  # smallest stray object, share of the frame
    anomaly_max_area: float = 0.05  # largest stray object, share of the frame
    anomaly_chroma: float = 25.0  # a stray object is saturated: its median chroma is above this
    anomaly_fill: float = 0.4  # and compact: its area over its bounding-box area is above this
    anomaly_texture: float = 1.0  # or textured (a pasted photo fragment): median fine L* texture
    anomaly_texture_ratio: float = 3.0  # ... at least this many times the background's around it
    comp_band_touch: float = 0.3  # share of the subject's width crossing into the headline band
    comp_offset: float = 0.3  # subject centre's distance from the layout centre (frame sides)
    light_bg_gradient: float = 0.3  # background luminance falloff (log units across the frame)
    light_shadow: float = 0.05  # depth (log luminance) of the subject's cast shadow ...
    light_agree: float = 0.5  # ... on the background's dark side: cosine of the two light cues
    light_subject_gradient: float = 0.4  # subject shading rising away from that light (log units)
    subject_min_area: float = 0.03  # a subject covers at least this share of the frame
    edge_touch: float = 0.25  # share of the subject's side lying on a frame edge that is a cut
    headline_contrast: float = 2.0  # WCAG contrast ratio below which the headline is unreadable
    require_headline: bool = True  # a frame with no detectable headline text is unreadable

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "Thresholds":
        """Like Thresholds(**d) but names an unknown key instead of a bare TypeError."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown threshold(s): {sorted(unknown)}")
        return cls(**d)  # type: ignore[arg-type]


@cache
def threshold_notes() -> dict[str, str]:
    """Each threshold's meaning, read from the comment beside it above (one source of truth)."""
    pattern = re.compile(r"^\s+(\w+): \w+ = [^#]+#\s*(.+)$")
    return {m.group(1): m.group(2) for line in inspect.getsource(Thresholds).splitlines()
            if (m := pattern.match(line))}


@dataclass(frozen=True)
class Assessment:
    flaws: tuple[Flaw, ...]
    verdict: str  # "accept" | "edit" | "regenerate"
    score: float  # higher is better; used to pick the best candidate
    subject: SubjectEstimate
    measures: dict[str, float]


def _over(value: float, limit: float) -> float:
    """Severity 0..1 of a measure above its limit (1.0 at twice the limit)."""
    return float(np.clip((value - limit) / max(abs(limit), 1e-6), 0.0, 1.0))


def _under(value: float, limit: float) -> float:
    return float(np.clip((limit - value) / max(abs(limit), 1e-6), 0.0, 1.0))


def soft_patch(ratio: np.ndarray, structured: np.ndarray, t: Thresholds) -> Box | None:
    """Sharpness-view box of the largest group of soft tiles, if it covers enough of the frame.

    Soft tiles two tiles apart belong to one group: flat tiles inside a blurred patch cannot be
    judged and would otherwise split it.
    """
    soft = structured & (ratio < t.patch_ratio)
    labels, n = ndi.label(ndi.binary_dilation(soft, np.ones((5, 5))), np.ones((3, 3)))
    if n == 0:
        return None
    counts = np.bincount(labels[soft], minlength=n + 1)
    best = int(np.argmax(counts))
    if counts[best] < t.patch_min_area * soft.size:
        return None
    ys, xs = np.nonzero(soft & (labels == best))
    # One tile of margin: the soft rim of the patch is not counted as soft.
    x0, y0 = (max(0, int(xs.min()) - 1), max(0, int(ys.min()) - 1))
    x1, y1 = (int(xs.max()) + 2, int(ys.max()) + 2)
    return (x0 * SHARP_TILE, y0 * SHARP_TILE, x1 * SHARP_TILE, y1 * SHARP_TILE)


def _strays(scene: Scene, subject: np.ndarray, t: Thresholds) -> list[tuple[Box, float]]:
    """Compact blobs on the background (above the headline band) that are saturated or carry a
    photograph's texture, with their area."""
    h, w = scene.foreground.shape
    allowed = ~morph(subject, cv2.MORPH_DILATE, max(3, int(0.02 * max(h, w))))
    allowed[scene.band_top :] = False
    chroma = np.hypot(scene.lab[..., 1], scene.lab[..., 2])
    found = []
    for box, mask in anomaly_blobs(scene.residual, allowed, t.anomaly_de):
        area = float(mask.sum())
        fill = area / max(1, (box[2] - box[0]) * (box[3] - box[1]))
        share = area / (h * w)
        if not (t.anomaly_min_area <= share <= t.anomaly_max_area and fill >= t.anomaly_fill):
            continue
        if float(np.median(chroma[mask])) >= t.anomaly_chroma:
            found.append((box, share))
            continue
        # The ring 5-10 px out: the blob's own anti-aliased rim stays out of the comparison.
        ring = morph(mask, cv2.MORPH_DILATE, 21) & ~morph(mask, cv2.MORPH_DILATE, 11) & allowed
        inside, around = texture_contrast(scene.lab, mask, ring)
        if inside >= t.anomaly_texture and inside >= t.anomaly_texture_ratio * around:
            found.append((box, share))
    return found


def _edge_touch(small: np.ndarray, band_top: int) -> float:
    """Largest share of the subject's extent that lies along the left, right or top frame edge,
    judged above the headline band: in the band the mask merges with the headline's strokes,
    and a subject that reaches into the band is a composition flaw, not a cut."""
    above = small[:band_top]
    ys, xs = np.nonzero(above)
    if xs.size == 0:
        return 0.0
    bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    sides = [above[:, :2].any(1).sum() / bh, above[:, -2:].any(1).sum() / bh,
             above[:2].any(0).sum() / bw]
    return float(max(sides))


def _composition(
    scene: Scene, small: np.ndarray, t: Thresholds, m: dict[str, float], flag: Callable[..., None]
) -> None:
    """Layout rule of the generators: the subject sits in the frame above the headline band,
    near its centre. A subject that runs into the band collides with the headline; one far from
    the centre (shrunk into a corner) leaves the frame unbalanced."""
    ys, xs = np.nonzero(small)
    bt, (h, w) = scene.band_top, small.shape
    width = xs.max() - xs.min() + 1
    m["band_touch"] = touch = float(small[bt - 2 : bt].any(0).sum() / width)
    dx, dy = xs.mean() / w - 0.5, (ys.mean() - bt / 2) / h
    m["subject_offset"] = offset = float(np.hypot(dx, dy))
    if touch > t.comp_band_touch or offset > t.comp_offset:
        sev = max(_over(touch, t.comp_band_touch), _over(offset, t.comp_offset))
        flag(FlawKind.WRONG_COMPOSITION, sev, mask_box(small), band_touch=touch,
             subject_offset=offset)


def _lighting(
    scene: Scene, small: np.ndarray, t: Thresholds, m: dict[str, float], flag: Callable[..., None]
) -> None:
    """One light cannot brighten the subject on the side it darkens the background.

    The light's direction is read twice off the background: its luminance falloff (brighter
    towards the light) and the shadow the subject casts (on the side away from the light). Only
    when both agree -- a directional light is plainly there -- is the subject's own shading
    compared with it. A photograph's content has light and dark parts of its own, so the
    subject's shading is measured within each material (pixels of one chromaticity: the same
    surface under different light, see `shading_plane`); shading that rises away from the light
    by `light_subject_gradient` across the subject is lit from elsewhere.
    """
    bt, w = scene.band_top, small.shape[1]
    background = ~scene.foreground & ~morph(small, cv2.MORPH_DILATE, 9)
    background[bt:] = False
    g_bg, _ = luminance_plane(scene.lab, background, (0, 0, w, bt))
    m["light_bg_gradient"] = n_bg = float(np.linalg.norm(g_bg))
    if n_bg < t.light_bg_gradient:
        return
    allowed = ~scene.foreground
    allowed[bt:] = False
    towards, depth = cast_shadow(scene.lab, scene.model, small, allowed)
    m["light_shadow"] = depth
    m["light_agree"] = agree = float(towards @ g_bg / n_bg)
    if depth < t.light_shadow or agree < t.light_agree:
        return
    inner = morph(small, cv2.MORPH_ERODE, 5)
    inner[bt:] = False
    box = mask_box(small)
    assert box is not None
    g_s = shading_plane(scene.view.rgb, inner, box)
    m["light_opposed"] = opposed = float(-g_s @ g_bg / n_bg)
    if opposed >= t.light_subject_gradient:
        flag(FlawKind.INCONSISTENT_LIGHTING, _over(opposed, t.light_subject_gradient), None,
             light_opposed=opposed, light_shadow=depth)


def _colour(
    scene: Scene,
    background: np.ndarray,
    palette: Sequence[str],
    t: Thresholds,
    m: dict[str, float],
    flag: Callable[..., None],
) -> None:
    """Colour cast and off-palette, judged on the background against the brand colours.

    Gray-world on the photo alone misreads warm or cool subjects as casts, so the brand
    background is the reference: a cast moves it a little, along one channel; an off-palette
    background is far from every brand colour.
    """
    lab = scene.lab
    m["neutral_a"], m["neutral_b"] = na, nb = neutral_cast(lab, np.ones(lab.shape[:2], bool))
    if not palette or background.mean() < 0.05 or scene.explained < 0.25:
        if (gray := float(np.hypot(na, nb))) > t.cast_grayworld:  # no brand background to use
            flag(FlawKind.COLOR_CAST, _over(gray, t.cast_grayworld), None, neutral_chroma=gray)
        return
    dom = np.median(scene.view.rgb[background].astype(np.float64), axis=0)
    segs = brand_segments(palette, t.palette_blends)
    near = brand_nearest(dom, segs)
    dom_lab, near_lab = (rgb_to_lab(np.array([[c]], np.float32)).reshape(3) for c in (dom, near))
    m["palette_de"] = palette_distance(dom_lab, palette_lab(palette))
    m["palette_gamut_de"] = gamut = float(deltaE_ciede2000(dom_lab, near_lab))
    m["cast_ab"] = shift = float(np.hypot(*(dom_lab[1:] - near_lab[1:])))
    res, ch, k = channel_offset(dom, segs)
    m["cast_fit"], m["cast_channel"], m["cast_offset"] = res, float(ch), k
    if shift < t.cast_ab:
        return
    if res <= t.cast_fit and abs(k) <= t.cast_offset:
        flag(FlawKind.COLOR_CAST, _over(shift, t.cast_ab), None, cast_ab=shift, channel=float(ch),
             offset=k)
    elif gamut > t.palette_de:
        flag(FlawKind.OFF_PALETTE, _over(gamut, t.palette_de), None, palette_de=gamut)
    else:
        flag(FlawKind.COLOR_CAST, _over(shift, t.cast_ab), None, cast_ab=shift)


def _layout(
    scene: Scene,
    subject: SubjectEstimate,
    small: np.ndarray,
    t: Thresholds,
    m: dict[str, float],
    flag: Callable[..., None],
) -> None:
    """Stray objects, subject missing or cut, composition and lighting, headline readability.

    Without a smooth background (saliency fallback) there is no "background" to hold a stray
    object, and the subject mask is too rough to say the subject runs off the frame.
    """
    rough = "saliency" in subject.method
    for box, share in [] if rough else _strays(scene, small, t):
        flag(FlawKind.STRAY_OBJECT, _over(share, t.anomaly_min_area), box, area=share)
    if subject.box is None:
        flag(FlawKind.SUBJECT_MISSING, 1.0, None, subject_area=m["subject_area"])
    else:
        m["edge_touch"] = touch = 0.0 if rough else _edge_touch(small, scene.band_top)
        if touch > t.edge_touch:
            cut = mask_box(small)
            flag(FlawKind.SUBJECT_CUT, _over(touch, t.edge_touch), cut, edge_touch=touch)
        elif not rough and small.any():  # (a cut subject is off-centre by construction)
            _composition(scene, small, t, m, flag)
            _lighting(scene, small, t, m, flag)
    bt = scene.band_top
    contrast, text = headline_contrast(scene.lab[bt:], scene.model[bt:], ~small[bt:])
    text_box = (text[0], text[1] + bt, text[2], text[3] + bt) if text is not None else None
    m["headline_contrast"] = contrast
    if (text_box is not None or t.require_headline) and contrast < t.headline_contrast:
        band = (0, scene.band_top, scene.lab.shape[1], scene.lab.shape[0])
        flag(FlawKind.UNREADABLE_HEADLINE, _under(contrast, t.headline_contrast),
             text_box or band, headline_contrast=contrast)


def assess(
    image: np.ndarray, *, palette: Sequence[str], thresholds: Thresholds = Thresholds()
) -> Assessment:
    t = thresholds
    scene = analyse_scene(image, palette, t.bottom_band)
    subject, small = subject_from_scene(scene, t.subject_min_area)
    view, lab = scene.view, scene.lab
    pal = palette_lab(palette) if palette else np.zeros((0, 3), np.float32)
    flaws: list[Flaw] = []
    m: dict[str, float] = {}

    def flag(kind: FlawKind, sev: float, region: Box | None, **measure: float) -> None:
        full = to_full_box(region, view) if region is not None else None
        flaws.append(Flaw(kind, round(sev, 3), full, {k: round(v, 4) for k, v in measure.items()}))

    m["noise_sigma"] = sigma = noise_sigma(image)
    if sigma > t.noise_sigma:
        flag(FlawKind.NOISE, _over(sigma, t.noise_sigma), None, noise_sigma=sigma)

    sview = sharpness_view(image)
    ratio, coarse = sharpness_tiles(sview.rgb)
    structured = coarse > t.patch_structure
    m["sharpness"] = sharp = float(np.median(ratio[structured])) if structured.sum() >= 4 else 1.0
    m["laplacian_var"] = laplacian_variance(view.rgb)
    if sharp < t.blur_sharpness:
        flag(FlawKind.BLUR, _under(sharp, t.blur_sharpness), None, sharpness=sharp)
    elif sigma <= t.noise_sigma and (patch := soft_patch(ratio, structured, t)) is not None:
        # (under heavy noise the tile map is unreliable: judged again once denoised)
        flaws.append(Flaw(FlawKind.BLUR, 0.5, to_full_box(patch, sview),
                          {"sharpness": round(sharp, 4), "soft_patch": 1.0}))

    background = ~scene.foreground
    background[scene.band_top :] = False
    hi, lo = clipping(image, view, ~scene.foreground, lab, pal)  # band included: a white band
    m["clip_high"], m["clip_low"] = hi, lo
    over = hi > t.clip_high
    if not over and hi > t.clip_high_weak and len(pal) and background.mean() > 0.05:
        # A little clipping plus a background that is the brand colour times a gain > 1: the
        # frame was brightened (mild gains clip little when nothing was near white before).
        res, m["exposure_gain"] = brand_gain(np.median(view.rgb[background], axis=0), palette)
        over = res <= 2 * t.cast_fit and m["exposure_gain"] >= t.exposure_gain
    if over:
        flag(FlawKind.OVEREXPOSED, _over(hi, t.clip_high_weak), None, clip_high=hi)
    if lo > t.clip_low:
        flag(FlawKind.UNDEREXPOSED, _over(lo, t.clip_low), None, clip_low=lo)

    m["subject_area"] = float(small.mean())
    m["faces"] = float(len(subject.faces))
    if over or lo > t.clip_low:
        # Blown or crushed frames cannot be segmented or colour-judged reliably: everything below
        # is judged again after the exposure edit (the caller must re-assess edited frames).
        m["deferred"] = 1.0
    else:
        _colour(scene, background, palette, t, m, flag)
        _layout(scene, subject, small, t, m, flag)

    m["colorfulness"] = colorfulness(view.rgb)
    verdict, score = _verdict(flaws, sharp, t)
    return Assessment(tuple(flaws), verdict, score, subject, m)


def _verdict(flaws: Sequence[Flaw], sharp: float, t: Thresholds) -> tuple[str, float]:
    verdict = "regenerate" if any(f.fundamental for f in flaws) else "edit" if flaws else "accept"
    penalty = sum(1.0 + f.severity if f.fundamental else 0.2 + 0.3 * f.severity for f in flaws)
    quality = 0.05 * min(1.0, sharp / (3 * t.blur_sharpness))  # tie-break among equals
    return verdict, round(1.0 - penalty + quality, 4)


def combine(assessment: Assessment, extra: Sequence[Flaw], thresholds: Thresholds = Thresholds()
            ) -> Assessment:
    """The measured assessment with flaws found elsewhere (the vision judge) added: verdict and
    score are recomputed the same way."""
    flaws = (*assessment.flaws, *extra)
    verdict, score = _verdict(flaws, assessment.measures.get("sharpness", 1.0), thresholds)
    return Assessment(flaws, verdict, score, assessment.subject, assessment.measures)


def pick_best(assessments: Sequence[Assessment]) -> int | None:
    """Index of the best usable (non-regenerate) candidate; None when none is usable."""
    usable = [i for i, a in enumerate(assessments) if a.verdict != "regenerate"]
    return max(usable, key=lambda i: assessments[i].score) if usable else None
