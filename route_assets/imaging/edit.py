"""Classical surgical edits for superficial flaws, each with the mask it was allowed to change.

Every edit is composited back through its mask, so pixels outside it are bit-identical to the
input (`ssim_outside` proves it). Strengths adapt to the measured flaw (noise sigma, the brand
background's exposure or cast, softness): one setting cannot cover the generators' ranges.
A hosted editor's result goes through `composite` with the mask `edit_mask` gives, so it can
change nothing outside the mask either.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import structural_similarity

from route_assets.imaging.classify import Thresholds, soft_patch
from route_assets.imaging.deblur import gaussian_deblur, within_local_range
from route_assets.imaging.flaws import Box, EditKind, Flaw, FlawKind
from route_assets.imaging.measures import (
    brand_nearest,
    brand_segments,
    channel_offset,
    lab_to_rgb,
    luma,
    morph,
    neutral_cast,
    noise_sigma,
    palette_distance,
    palette_lab,
    rgb_to_lab,
    sharpness_tiles,
    sharpness_view,
    to_full_mask,
    wcag_contrast,
)
from route_assets.imaging.subject import FOREGROUND_DE, Scene, analyse_scene
from route_assets.imaging.tone import (
    SEAM_DE,
    band_edge,
    band_fix,
    read_headline,
    reink,
    tone_lut,
)

ORDER = (EditKind.ERASE, EditKind.BACKGROUND, EditKind.RECOLOR, EditKind.EXPOSURE,
         EditKind.WHITE_BALANCE, EditKind.DENOISE, EditKind.FACE_CARE, EditKind.SHARPEN,
         EditKind.UPSCALE)
MANY_STRAYS = 3  # this many stray objects: rebuild the background once instead of erasing each
MAX_UPSCALE = 4.0
FACE_STRENGTH = 0.6  # blend of the edge-preserving smoothing on a face, at most
MIN_TEXTURE = 0.6  # share of a face's fine texture a retouch must keep (no plastic skin)


@dataclass(frozen=True)
class EditStep:
    edit: EditKind
    flaw: FlawKind | None  # None for a planned step no flaw asked for (upscale)
    region: Box | None
    size: tuple[int, int] | None = None  # upscale target (width, height)
    exclude: tuple[Box, ...] = ()  # left alone (faces get FACE_CARE instead of denoising)


@dataclass(frozen=True)
class EditOutcome:
    image: np.ndarray
    mask: np.ndarray  # bool HxW: the pixels this edit was allowed to change
    step: EditStep
    ssim_outside: float  # SSIM between before/after outside the mask (1.0 if mask covers all)
    measure: dict[str, float] = field(default_factory=dict)  # e.g. texture kept, round trip


def plan_edits(flaws: Sequence[Flaw], *, faces: Sequence[Box] = (),
               upscale_to: tuple[int, int] | None = None) -> list[EditStep]:
    """Superficial flaws as ordered edit steps; fundamental flaws need a new generation.

    Local repairs come first so global statistics are measured on a clean frame, and denoise
    precedes sharpen so sharpening does not amplify noise. One step per edit and region. Many
    strays become one background rebuild; noise on a frame with faces is denoised around them
    and the faces get a texture-keeping retouch. Upscaling comes last, on the clean frame.
    """
    steps: dict[tuple[EditKind, Box | None], EditStep] = {}
    strays = [f for f in flaws if f.fix == EditKind.ERASE]
    for f in flaws:
        if f.fundamental or f.fix not in ORDER:
            continue
        if f.fix == EditKind.ERASE and len(strays) >= MANY_STRAYS:
            steps.setdefault((EditKind.BACKGROUND, None),
                             EditStep(EditKind.BACKGROUND, f.kind, None))
        elif f.fix == EditKind.DENOISE and faces:
            steps[f.fix, None] = EditStep(f.fix, f.kind, None, exclude=tuple(faces))
            for face in faces:
                steps[EditKind.FACE_CARE, face] = EditStep(EditKind.FACE_CARE, f.kind, face)
        else:
            steps.setdefault((f.fix, f.region), EditStep(f.fix, f.kind, f.region))
    if upscale_to is not None:
        steps[EditKind.UPSCALE, None] = EditStep(EditKind.UPSCALE, None, None, size=upscale_to)
    return sorted(steps.values(), key=lambda s: ORDER.index(s.edit))


def upscale_target(shape: tuple[int, ...], placements: Sequence[tuple[int, int]]
                   ) -> tuple[int, int] | None:
    """The size that covers the largest placement (a crop filling it needs no enlarging
    later), or None when the frame is already big enough."""
    h, w = shape[:2]
    scale = max((max(pw / w, ph / h) for pw, ph in placements), default=1.0)
    if scale <= 1.0 + 1e-3:
        return None
    scale = min(scale, MAX_UPSCALE)
    return int(np.ceil(w * scale)), int(np.ceil(h * scale))


def ssim_outside(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM over the pixels whose whole 7x7 SSIM window lies outside `mask`."""
    outside = ~morph(mask, cv2.MORPH_DILATE, 7)
    if not outside.any():
        return 1.0
    _, smap = structural_similarity(luma(before), luma(after), win_size=7, full=True,
                                    data_range=255)
    return float(smap[outside].mean())


def palette_delta_e(
    image: np.ndarray, palette: Sequence[str], background_mask: np.ndarray
) -> float:
    """CIEDE2000 of the dominant (median Lab) background colour to the nearest brand colour."""
    lab = rgb_to_lab(image[background_mask].reshape(-1, 1, 3)).reshape(-1, 3)
    return palette_distance(np.median(lab, axis=0), palette_lab(palette))


def _outcome(before: np.ndarray, after: np.ndarray, mask: np.ndarray, step: EditStep
             ) -> EditOutcome:
    out = np.where(mask[..., None], after, before).astype(np.uint8)
    return EditOutcome(out, mask, step, ssim_outside(before, out, mask))


def _box_mask(shape: tuple[int, ...], box: Box | None) -> np.ndarray:
    """Full-resolution mask of a box (everything when None)."""
    mask = np.zeros(shape[:2], bool)
    mask[(slice(None),) * 2 if box is None else (slice(box[1], box[3]), slice(box[0], box[2]))] = 1
    return mask


def _brand_background(image: np.ndarray, palette: Sequence[str]
                      ) -> tuple[Scene, np.ndarray | None]:
    """The scene and the median RGB of its background (None without a brand background)."""
    scene = analyse_scene(image, palette)
    bg = ~scene.foreground
    bg[scene.band_top :] = False
    if not palette or bg.mean() <= 0.05:
        return scene, None
    return scene, np.median(scene.view.rgb[bg].astype(np.float64), axis=0)


def _erase(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
           ) -> EditOutcome:
    """Inpaint (Telea) what differs from the smooth background inside the flaw's region."""
    if step.region is None:  # without a region everything off-background (text!) would go
        return _outcome(image, image, np.zeros(image.shape[:2], bool), step)
    scene = analyse_scene(image, palette)
    region = cv2.resize(_box_mask(image.shape, step.region).astype(np.uint8),
                        scene.residual.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    blob = to_full_mask((scene.residual > FOREGROUND_DE) & region, scene.view)
    grow = max(3, int(0.008 * max(image.shape[:2])))  # cover the blob's anti-aliased rim
    mask = morph(blob & ~subject, cv2.MORPH_DILATE, 2 * grow + 1) & ~subject
    if not mask.any():
        return _outcome(image, image, mask, step)
    ys, xs = np.nonzero(mask)
    pad = 4 * grow  # inpaint a crop around the blob: the result is the same, much faster
    y0, y1 = max(0, ys.min() - pad), min(image.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(image.shape[1], xs.max() + pad + 1)
    after = image.copy()
    after[y0:y1, x0:x1] = cv2.inpaint(
        image[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8), grow, cv2.INPAINT_TELEA
    )
    return _outcome(image, after, mask, step)


def _brand_paint(lightness: np.ndarray, brand_lab: np.ndarray, median_l: float) -> np.ndarray:
    """RGB tints (lighter than the median) or shades (darker) of one brand colour."""
    brand = lab_to_rgb(brand_lab[None, None]).reshape(3).astype(np.float32)
    d_l = (lightness - median_l)[..., None]
    tint = np.clip(d_l / max(100.0 - float(brand_lab[0]), 1.0), 0, 1)
    shade = np.clip(-d_l / max(float(brand_lab[0]), 1.0), 0, 1)
    return brand + tint * (255.0 - brand) - shade * brand


def _recolor(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
             ) -> EditOutcome:
    """Repaint the background as tints/shades of the nearest brand colour that keeps the
    headline readable: each pixel keeps its lightness offset from the median, so the gradient
    survives in gamut. Anti-aliased rims (feathered cut-out, headline strokes) are part old
    background and get that share of the change, so no halo is left; cores are untouched."""
    scene = analyse_scene(image, palette)
    h, w = image.shape[:2]
    lab = rgb_to_lab(image)
    model = cv2.resize(scene.model, (w, h), interpolation=cv2.INTER_LINEAR)
    band_top = int(round(scene.band_top * scene.view.scale))
    strokes = np.zeros((h, w), bool)  # headline ink, at full resolution
    strokes[band_top:] = np.linalg.norm(lab[band_top:] - model[band_top:], axis=-1) > 12.0
    strokes &= ~subject
    background = ~subject & ~morph(strokes, cv2.MORPH_DILATE, 5)
    if not background.any() or not palette:
        return _outcome(image, image, np.zeros_like(background), step)
    dom = np.median(lab[background], axis=0)
    pal = palette_lab(palette)
    order = np.argsort(deltaE_ciede2000(np.broadcast_to(dom, pal.shape), pal))
    brand = pal[order[0]]
    if strokes.any():
        ink = np.median(image[strokes], axis=0)
        ok = [i for i in order if wcag_contrast(ink, lab_to_rgb(pal[i][None, None])[0, 0]) >= 3]
        brand = pal[ok[0]] if ok else brand
    after = _brand_paint(lab[..., 0], brand, float(dom[0]))
    # Rims: a rim pixel mixes the nearest core colour with the old background; it gets the
    # background's change in proportion to the background's share of that mix.
    old = lab_to_rgb(model).astype(np.float32)
    change = _brand_paint(model[..., 0], brand, float(dom[0])) - old
    core = morph(subject, cv2.MORPH_ERODE, max(3, int(0.03 * max(h, w)))) | strokes
    rim = ~background & ~core
    weight = np.zeros((h, w), np.float32)
    if core.any() and rim.any():
        _, near = cv2.distanceTransformWithLabels(
            (~core).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
        )
        pts = np.argwhere(core)[near[rim] - 1]
        ink = image[pts[:, 0], pts[:, 1]].astype(np.float32) - old[rim]
        mix = image[rim].astype(np.float32) - old[rim]
        alpha = np.sum(mix * ink, -1) / np.maximum(np.sum(ink * ink, -1), 1e-6)
        # A core colour close to the old background says nothing about the mix: leave it.
        weight[rim] = np.where(np.sum(ink * ink, -1) > 400.0, 1.0 - np.clip(alpha, 0, 1), 0.0)
    rims = image + weight[..., None] * change
    after = np.where(background[..., None], after, rims)
    mask = background | (weight > 0.02)
    return _outcome(image, np.clip(np.rint(after), 0, 255), mask, step)


def _exposure(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
              ) -> EditOutcome:
    """A tone curve whose end points leave the clip levels and whose gamma restores mid-tones.

    Clipped detail is gone for good; the end points roll flat areas off 255 (or 0) so they stop
    reading as blown (crushed). The gamma is the one that brings the background back onto the
    brand colours (the brand background is the frame's grey card); without a brand background
    it moves the median toward mid-grey. The headline band gets its own curve when the frame's
    leaves the headline unreadable (`tone.band_fix`): the classifier only reads the headline
    once the frame is no longer blown or crushed, so this edit is what must restore it.
    """
    over = step.flaw == FlawKind.OVEREXPOSED
    black, white = (0.0, 236.0) if over else (14.0, 255.0)
    gammas = np.geomspace(1.0, 3.0, 23) if over else np.geomspace(0.3, 1.0, 23)
    _, dom = _brand_background(image, palette)
    if dom is not None:
        segs = brand_segments(palette)

        def miss(g: float) -> float:
            c = tone_lut(g, black, white)[dom.astype(np.uint8)].astype(np.float64)
            return float(np.linalg.norm(c - brand_nearest(c, segs)))

        gamma = float(min(gammas, key=miss))
        # Per-channel gammas near the shared one put the background exactly on the brand:
        # a shared curve leaves a few dE of drift on deep exposure errors.
        mapped = tone_lut(gamma, black, white)[dom.astype(np.uint8)].astype(np.float64)
        target = brand_nearest(mapped, segs)
        luts = []
        for c in range(3):
            x, t = dom[c] / 255.0, (target[c] - black) / (white - black)
            g = np.log(t) / np.log(x) if 0.003 < x < 0.98 and 0.01 < t < 0.99 else gamma
            luts.append(tone_lut(float(np.clip(g, gamma / 1.5, gamma * 1.5)), black, white))
    else:
        mid = float(np.clip(np.median(luma(image)) / 255.0, 0.01, 0.99))
        gamma = float(np.clip(np.log(0.5 if over else 0.4) / np.log(mid), gammas[0], gammas[-1]))
        luts = [tone_lut(gamma, black, white)] * 3
    after = np.stack([cv2.LUT(image[..., c], luts[c]) for c in range(3)], axis=-1)
    head = read_headline(image, palette)
    band = None if head is None else band_fix(image, head, palette, subject, luts, black, white)
    if head is not None and band is not None:
        fixed = after.copy()
        fixed[image.shape[0] - band.shape[0] :] = band
        # A band that was one surface with the background above must stay one: a new edge
        # at its top would ship a visible seam (then the headline stays unreadable and the
        # frame goes to regenerate instead).
        top = image.shape[0] - band.shape[0]
        was = band_edge(image, top, subject)
        if was >= SEAM_DE or band_edge(fixed, top, subject) <= was + SEAM_DE:
            after = fixed
        else:
            inked = reink(image, head, palette, subject, luts)
            if inked is not None:
                after[top:] = inked
    return _outcome(image, after, _box_mask(image.shape, None), step)


WB_PASSES = 3  # a cast measured on the corrected frame again is removed again, this often
# The largest chroma move (dE76 in a*b*) white balance makes. Tungsten light on a daylight
# setting is about 20-30; a bigger gap to the brand is a different colour, not a cast, and
# "correcting" it recolours the whole subject.
MAX_CAST_SHIFT = 30.0


def _wb_pass(image: np.ndarray, palette: Sequence[str]) -> tuple[np.ndarray, float]:
    """One white-balance correction and its size (levels of the channel offset, or the chroma
    shift in dE76)."""
    scene, dom = _brand_background(image, palette)
    if dom is not None:
        segs = brand_segments(palette)
        res, ch, k = channel_offset(dom, segs)
        if res <= Thresholds().cast_fit:
            after = image.astype(np.int16)
            after[..., ch] -= int(round(k))
            return np.clip(after, 0, 255).astype(np.uint8), abs(k)
        near = brand_nearest(dom, segs)
        pair = rgb_to_lab(np.array([[near, dom]], np.float32))[0]
        shift = pair[0] - pair[1]
    else:
        a, b = neutral_cast(scene.lab, np.ones(scene.lab.shape[:2], bool))
        shift = np.array([0.0, -a, -b])
    shift[0] = 0.0  # white balance moves chroma only
    after = lab_to_rgb(rgb_to_lab(image) + shift.astype(np.float32))
    return np.clip(np.rint(after), 0, 255).astype(np.uint8), float(np.linalg.norm(shift))


def _white_balance(image: np.ndarray, step: EditStep, palette: Sequence[str],
                   subject: np.ndarray) -> EditOutcome:
    """Undo the cast measured on the brand background (one-channel offset or a*b* shift).

    A cast along two channels (a temperature shift) is explained by one channel at a time,
    so the correction is measured again on its own result and repeated while it still moves
    the frame by more than a level."""
    after = image
    for _ in range(WB_PASSES):
        after, size = _wb_pass(after, palette)
        if size < 1.5:
            break
    moved = np.linalg.norm(rgb_to_lab(after)[..., 1:] - rgb_to_lab(image)[..., 1:], axis=-1)
    if float(moved.mean()) > MAX_CAST_SHIFT:
        after = image  # not a cast: left to the re-check (next editor, or regenerate)
    return _outcome(image, after, _box_mask(image.shape, None), step)


_DENOISE_LADDER = (0.6, 0.8, 1.0)  # NLM strength h as a multiple of the measured sigma


def _denoise(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
             ) -> EditOutcome:
    """Non-local means, h = 0.6 sigma first: removes the noise, keeps edges and texture. Heavy
    noise can leave more than the classifier tolerates at that strength, so h rises step by
    step until the residual noise is clearly under the threshold (texture is spared as long as
    the mild setting suffices)."""
    sigma = noise_sigma(image)
    limit = 0.9 * Thresholds().noise_sigma
    after = image
    for k in _DENOISE_LADDER:
        h = max(3.0, k * sigma)
        after = cv2.fastNlMeansDenoisingColored(image, None, h, h, 7, 21)
        if noise_sigma(after) <= limit:
            break
    mask = _box_mask(image.shape, None)
    for box in step.exclude:
        mask &= ~_box_mask(image.shape, box)
    return _outcome(image, after, mask, step)


# Sharpening ladder, mildest first: an unsharp mask (radius, amount) restores mild softness;
# stronger softness (a defocused generator patch) needs deconvolution (PSF sigma, Wiener k);
# the strongest unsharp masks come last because their halos are what a re-check rejects.
_SHARPEN_LADDER: tuple[tuple[str, float, float], ...] = (
    ("unsharp", 1.0, 1.5), ("unsharp", 1.5, 3.0), ("wiener", 2.0, 0.01), ("wiener", 3.0, 0.01),
    ("wiener", 3.0, 0.003), ("wiener", 4.0, 0.003), ("wiener", 6.0, 0.002),
    ("wiener", 8.0, 0.001), ("unsharp", 2.0, 5.0), ("unsharp", 3.0, 8.0), ("unsharp", 4.0, 14.0),
)


def _sharpen(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
             ) -> EditOutcome:
    """Unsharp mask or Gaussian deconvolution on the soft region (or the frame), stronger step
    by step until it no longer reads as soft; the unsharp mask leaves flat areas alone so
    background noise is not amplified."""
    t = Thresholds()
    mask = _box_mask(image.shape, step.region)
    scale = sharpness_view(image).scale
    img = image.astype(np.float32)
    gray = cv2.GaussianBlur(luma(image).astype(np.float32), (0, 0), scale)
    grad = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    detail = cv2.GaussianBlur((grad > 8.0).astype(np.float32), (0, 0), 2 * scale)[..., None]
    # Deconvolve a window a little larger than the region: its rim needs real neighbours.
    h, w = image.shape[:2]
    x0, y0, x1, y1 = step.region or (0, 0, w, h)
    m = int(np.ceil(16 * scale))
    win = (slice(max(0, y0 - m), min(h, y1 + m)), slice(max(0, x0 - m), min(w, x1 + m)))
    after = image
    for method, a, b in _SHARPEN_LADDER:
        if method == "unsharp":
            blurred = cv2.GaussianBlur(img, (0, 0), a * scale)
            after = np.clip(img + b * detail * (img - blurred), 0, 255).astype(np.uint8)
        else:
            after = image.copy()
            after[win] = within_local_range(image[win], gaussian_deblur(image[win], a * scale, b),
                                             a * scale)
        trial = np.where(mask[..., None], after, image).astype(np.uint8)
        ratio, coarse = sharpness_tiles(sharpness_view(trial).rgb)
        structured = coarse > t.patch_structure
        sharp = float(np.median(ratio[structured])) if structured.sum() >= 4 else 1.0
        soft = step.region is not None and soft_patch(ratio, structured, t) is not None
        if sharp >= 1.5 * t.blur_sharpness and not soft:
            break
    return _outcome(image, after, mask, step)


def _background_mask(image: np.ndarray, palette: Sequence[str], subject: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The background above the headline band, kept clear of the subject's rim (and its
    shadow), and the fitted background surface in RGB at full resolution."""
    scene = analyse_scene(image, palette)
    h, w = image.shape[:2]
    surface = lab_to_rgb(cv2.resize(scene.model, (w, h), interpolation=cv2.INTER_LINEAR))
    margin = max(5, int(0.02 * max(h, w)))
    mask = ~morph(subject, cv2.MORPH_DILATE, 2 * margin + 1)
    mask[int(round(scene.band_top * scene.view.scale)) :] = False
    return mask, surface


def _background(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
                ) -> EditOutcome:
    """Rebuild the background from its fitted smooth surface: every stray goes at once, the
    brand gradient stays, the subject and the headline band are not touched."""
    mask, surface = _background_mask(image, palette, subject)
    return _outcome(image, surface, mask, step)


def _face_care(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
               ) -> EditOutcome:
    """Edge-preserving smoothing blended into the face at low strength, inside a feathered
    ellipse. The blend backs off until the face keeps MIN_TEXTURE of its fine detail
    (Laplacian energy), so skin is evened out without the plastic look."""
    if step.region is None:
        return _outcome(image, image, np.zeros(image.shape[:2], bool), step)
    x0, y0, x1, y1 = step.region
    crop = image[y0:y1, x0:x1]
    bh, bw = crop.shape[:2]
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    rho = np.hypot((xx + 0.5 - bw / 2) / (bw / 2), (yy + 0.5 - bh / 2) / (bh / 2))
    weight = np.clip((1.0 - rho) / 0.3, 0.0, 1.0)
    d = max(5, int(0.05 * min(bw, bh)) | 1)
    smooth = cv2.bilateralFilter(crop, d, 25, d).astype(np.float32)
    core = weight > 0.5

    def texture(rgb: np.ndarray) -> float:
        return float(np.std(cv2.Laplacian(luma(rgb).astype(np.float32), cv2.CV_32F)[core]))

    before = max(texture(crop), 1e-6)
    strength, kept, out = FACE_STRENGTH, 1.0, crop
    while strength > 0.05:
        a = (strength * weight)[..., None]
        out = np.clip(np.rint(crop * (1 - a) + smooth * a), 0, 255).astype(np.uint8)
        kept = texture(out) / before
        if kept >= MIN_TEXTURE:
            break
        strength *= 0.7
    after = image.copy()
    after[y0:y1, x0:x1] = out
    mask = np.zeros(image.shape[:2], bool)
    mask[y0:y1, x0:x1] = weight > 0
    result = _outcome(image, after, mask, step)
    return EditOutcome(result.image, mask, step, result.ssim_outside,
                       {"texture_kept": round(kept, 4), "strength": round(strength, 4)})


def round_trip_ssim(before: np.ndarray, upscaled: np.ndarray) -> float:
    """SSIM of the frame against its upscale brought back to the frame's size: what an
    upscale changed besides adding pixels."""
    back = cv2.resize(upscaled, before.shape[1::-1], interpolation=cv2.INTER_AREA)
    return float(structural_similarity(luma(before), luma(back), win_size=7, data_range=255))


def _upscale(image: np.ndarray, step: EditStep, palette: Sequence[str], subject: np.ndarray
             ) -> EditOutcome:
    """Lanczos to the target size, then a mild unsharp mask at the new scale."""
    if step.size is None:
        raise ValueError("an upscale step needs its target size")
    w, h = step.size
    up = cv2.resize(image, (w, h), interpolation=cv2.INTER_LANCZOS4).astype(np.float32)
    scale = w / image.shape[1]
    blurred = cv2.GaussianBlur(up, (0, 0), 0.8 * scale)
    out = np.clip(np.rint(up + 0.5 * (up - blurred)), 0, 255).astype(np.uint8)
    return EditOutcome(out, np.ones((h, w), bool), step, 1.0,
                       {"scale": round(scale, 4), "round_trip_ssim": round_trip_ssim(image, out)})


def edit_mask(image: np.ndarray, step: EditStep, *, palette: Sequence[str],
              subject_mask: np.ndarray) -> np.ndarray:
    """Where a hosted editor's result may land for this step: the same mask the classical
    edit would use (the stray's blob, the background, the face or soft region, or all)."""
    subject = subject_mask.astype(bool)
    if step.edit in (EditKind.ERASE, EditKind.RECOLOR):
        return _EDITS[step.edit](image, step, palette, subject).mask
    if step.edit == EditKind.BACKGROUND:
        return _background_mask(image, palette, subject)[0]
    mask = _box_mask(image.shape, step.region)
    for box in step.exclude:
        mask &= ~_box_mask(image.shape, box)
    return mask


def composite(before: np.ndarray, result: np.ndarray, mask: np.ndarray, step: EditStep
              ) -> EditOutcome:
    """A hosted result laid over `before` through `mask`, feathered inward: pixels outside the
    mask are bit-identical to `before` whatever the editor did to them. The result is resized
    to the frame first (editors snap sizes); an upscale is taken whole."""
    if step.edit == EditKind.UPSCALE and step.size is not None:
        out = cv2.resize(result, step.size, interpolation=cv2.INTER_LANCZOS4)
        return EditOutcome(out, np.ones(out.shape[:2], bool), step, 1.0,
                           {"round_trip_ssim": round_trip_ssim(before, out)})
    if result.shape[:2] != before.shape[:2]:
        result = cv2.resize(result, before.shape[1::-1], interpolation=cv2.INTER_LANCZOS4)
    feather = max(1.0, 0.004 * max(before.shape[:2]))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), feather) * mask
    if mask.all():
        alpha = mask.astype(np.float32)
    a = alpha[..., None]
    out = np.clip(np.rint(before * (1 - a) + result.astype(np.float32) * a), 0, 255)
    return _outcome(before, out.astype(np.uint8), mask, step)


_EDITS: dict[EditKind, Callable[..., EditOutcome]] = {
    EditKind.ERASE: _erase,
    EditKind.RECOLOR: _recolor,
    EditKind.EXPOSURE: _exposure,
    EditKind.WHITE_BALANCE: _white_balance,
    EditKind.DENOISE: _denoise,
    EditKind.SHARPEN: _sharpen,
    EditKind.BACKGROUND: _background,
    EditKind.FACE_CARE: _face_care,
    EditKind.UPSCALE: _upscale,
}


def apply_edit(
    image: np.ndarray, step: EditStep, *, palette: Sequence[str], subject_mask: np.ndarray
) -> EditOutcome:
    """Apply one planned edit; `subject_mask` (full resolution) is never changed by local edits."""
    if step.edit not in _EDITS:
        raise ValueError(f"{step.edit} is not an edit (regenerate instead)")
    return _EDITS[step.edit](image, step, palette, subject_mask.astype(bool))
