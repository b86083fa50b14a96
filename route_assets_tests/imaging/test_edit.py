"""Surgical edits: each superficial flaw is gone on re-assessment, and only its mask changed."""

from collections.abc import Callable
from functools import cache

import cv2
import numpy as np
import pytest

from route_assets.imaging import tone
from route_assets.imaging.classify import Assessment, assess
from route_assets.imaging.deblur import gaussian_deblur, within_local_range
from route_assets.imaging.edit import (
    EditOutcome,
    EditStep,
    apply_edit,
    palette_delta_e,
    plan_edits,
    ssim_outside,
)
from route_assets.imaging.flaws import EditKind, Flaw, FlawKind
from route_assets.imaging.measures import morph
from route_assets_tests.imaging import synth

NAVY, TEAL, RUST, PLUM = (synth.PALETTES[k] for k in ("navy", "teal", "rust", "plum"))


@cache
def base(subject: str, palette: tuple[str, ...], style: str = "card", scale: float = 0.6
         ) -> synth.Composite:
    return synth.compose(subject, palette, style=style, scale=scale)


def fix(image: np.ndarray, palette: tuple[str, ...]) -> tuple[Assessment, list[EditOutcome],
                                                               Assessment]:
    """Assess, apply the whole plan, assess again."""
    before = assess(image, palette=palette)
    outcomes, current = [], image
    for step in plan_edits(before.flaws):
        outcomes.append(apply_edit(current, step, palette=palette,
                                   subject_mask=before.subject.mask))
        current = outcomes[-1].image
    return before, outcomes, assess(current, palette=palette)


def kinds(a: Assessment) -> set[FlawKind]:
    return {f.kind for f in a.flaws}


def patch(c: synth.Composite) -> np.ndarray:
    x0, y0, x1, y1 = c.subject_box
    cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, int(0.2 * c.image.shape[0])
    return synth.soft_patch_blur(c.image, (cx - r, cy - r, cx + r, cy + r), 9)[0]


SUPERFICIAL: list[tuple[str, FlawKind, Callable[[], np.ndarray], tuple[str, ...]]] = [
    ("blur", FlawKind.BLUR, lambda: synth.blur(base("coffee", RUST).image, 3.5), RUST),
    ("soft-patch", FlawKind.BLUR, lambda: patch(base("astronaut", NAVY)), NAVY),
    ("noise", FlawKind.NOISE, lambda: synth.noise(base("chelsea", TEAL).image, 22), TEAL),
    ("overexposed", FlawKind.OVEREXPOSED,
     lambda: synth.overexpose(base("motorcycle", PLUM).image), PLUM),
    ("underexposed", FlawKind.UNDEREXPOSED,
     lambda: synth.underexpose(base("astronaut", NAVY).image), NAVY),
    ("color-cast", FlawKind.COLOR_CAST,
     lambda: synth.color_cast(base("bottle", TEAL).image, 0, 35), TEAL),
    ("off-palette", FlawKind.OFF_PALETTE,
     lambda: synth.compose("coffee", RUST, background="#2563EB").image, RUST),
]


@pytest.mark.parametrize("name, kind, make, palette", SUPERFICIAL, ids=[s[0] for s in SUPERFICIAL])
def test_superficial_flaw_is_gone_after_its_edit(
    name: str, kind: FlawKind, make: Callable[[], np.ndarray], palette: tuple[str, ...]
) -> None:
    before, outcomes, after = fix(make(), palette)
    assert kind in kinds(before) and before.verdict == "edit"
    assert outcomes and all(o.step.flaw in kinds(before) for o in outcomes)
    assert kind not in kinds(after), after.flaws
    assert after.verdict != "regenerate", after.flaws


def test_erase_touches_only_the_stray_object() -> None:
    c = base("chelsea", RUST, "cutout", 0.45)
    spot, _ = synth.background_spot(c)
    image, box = synth.stray_object(c.image, spot, 0.02)
    before, (out,), after = fix(image, RUST)
    assert out.step.edit == EditKind.ERASE
    assert FlawKind.STRAY_OBJECT not in kinds(after) and after.verdict == "accept"
    assert out.ssim_outside >= 0.98
    assert np.array_equal(out.image[~out.mask], image[~out.mask])
    # The mask is the blob plus a thin margin: inside its box (grown by 3%), never the subject.
    x0, y0, x1, y1 = box
    pad = int(0.03 * image.shape[0])
    assert not out.mask[: max(0, y0 - pad)].any() and not out.mask[y1 + pad :].any()
    assert not out.mask[:, : max(0, x0 - pad)].any() and not out.mask[:, x1 + pad :].any()
    assert not (out.mask & c.subject_mask).any()
    # What was the blob now looks like the background around it.
    x, y = spot
    assert np.abs(out.image[y, x].astype(int) - c.image[y, x].astype(int)).max() <= 12


@pytest.mark.parametrize("subject, palette, off", [("coffee", RUST, "#2563EB"),
                                                   ("chelsea", TEAL, "#DB2777"),
                                                   ("bottle", PLUM, "#65A30D")])
def test_recolor_lands_on_the_brand_and_spares_the_subject(
    subject: str, palette: tuple[str, ...], off: str
) -> None:
    c = synth.compose(subject, palette, style="cutout" if subject == "chelsea" else "card",
                      background=off)
    before, (out,), after = fix(c.image, palette)
    assert out.step.edit == EditKind.RECOLOR
    assert palette_delta_e(c.image, palette, out.mask) > 25
    # Measured at 0.0-1.3 on these frames.
    assert palette_delta_e(out.image, palette, out.mask) <= 3.0
    assert after.verdict == "accept", after.flaws
    assert out.ssim_outside >= 0.98
    assert np.array_equal(out.image[~out.mask], c.image[~out.mask])
    # The subject as composed, less the rim whose old-background share the edit may remove.
    core = morph(c.subject_mask, cv2.MORPH_ERODE, int(0.08 * c.image.shape[0]))
    assert core.any() and np.array_equal(out.image[core], c.image[core])


def test_region_sharpen_leaves_the_rest_identical() -> None:
    c = base("astronaut", NAVY)
    image = patch(c)
    before = assess(image, palette=NAVY)
    (step,) = plan_edits(before.flaws)
    assert step.edit == EditKind.SHARPEN and step.region is not None
    out = apply_edit(image, step, palette=NAVY, subject_mask=before.subject.mask)
    x0, y0, x1, y1 = step.region
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out.mask, ~outside)
    assert np.array_equal(out.image[outside], image[outside])
    assert out.ssim_outside == pytest.approx(1.0)


def test_plan_orders_edits_and_leaves_out_fundamental_flaws() -> None:
    flaws = [
        Flaw(FlawKind.BLUR, 0.5, None),
        Flaw(FlawKind.SUBJECT_CUT, 1.0, (0, 0, 10, 10)),
        Flaw(FlawKind.NOISE, 0.5, None),
        Flaw(FlawKind.COLOR_CAST, 0.5, None),
        Flaw(FlawKind.UNDEREXPOSED, 0.5, None),
        Flaw(FlawKind.OVEREXPOSED, 0.5, None),
        Flaw(FlawKind.OFF_PALETTE, 0.5, None),
        Flaw(FlawKind.STRAY_OBJECT, 0.5, (5, 5, 9, 9)),
        Flaw(FlawKind.STRAY_OBJECT, 0.5, (50, 5, 59, 9)),
        Flaw(FlawKind.UNREADABLE_HEADLINE, 1.0, None),
    ]
    plan = plan_edits(flaws)
    assert [s.edit for s in plan] == [
        EditKind.ERASE, EditKind.ERASE, EditKind.RECOLOR, EditKind.EXPOSURE,
        EditKind.WHITE_BALANCE, EditKind.DENOISE, EditKind.SHARPEN,
    ]
    assert [s.region for s in plan[:2]] == [(5, 5, 9, 9), (50, 5, 59, 9)]
    assert plan_edits([Flaw(FlawKind.SUBJECT_MISSING, 1.0, None)]) == []


def test_regenerate_is_not_an_edit() -> None:
    image = base("coffee", RUST).image
    with pytest.raises(ValueError, match="regenerate"):
        apply_edit(image, EditStep(EditKind.REGENERATE, FlawKind.SUBJECT_CUT, None),
                   palette=RUST, subject_mask=np.zeros(image.shape[:2], bool))


def test_ssim_outside() -> None:
    image = base("coffee", RUST).image
    mask = np.zeros(image.shape[:2], bool)
    mask[100:200, 100:200] = True
    changed = image.copy()
    changed[mask] = 0
    assert ssim_outside(image, changed, mask) == pytest.approx(1.0)
    assert ssim_outside(image, changed, np.ones_like(mask)) == 1.0
    assert ssim_outside(image, synth.noise(image, 20), mask) < 0.9


def test_exposure_restores_a_squeezed_headline() -> None:
    """A deep exposure cut crushes dark text and its light band together; the classifier reads
    the headline only after the exposure edit, so that edit must leave it readable again."""
    c = base("coffee", RUST)
    top = int(0.8 * c.image.shape[0])
    img = c.image.copy()
    img[top:] = 235  # a light band with near-black text, then the whole frame ~3 EV darker
    cv2.putText(img, "SHOP NOW", (40, img.shape[0] - 25), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                (10, 10, 10), 4, cv2.LINE_AA)
    dark = np.clip(np.rint(((img / 255.0) ** 2.2 / 8) ** (1 / 2.2) * 255 - 30), 0, 255)
    dark = dark.astype(np.uint8)
    step = EditStep(EditKind.EXPOSURE, FlawKind.UNDEREXPOSED, None)
    out = apply_edit(dark, step, palette=RUST, subject_mask=np.zeros(dark.shape[:2], bool))
    after = assess(out.image, palette=RUST)
    assert after.measures["headline_contrast"] >= 3.0
    assert FlawKind.UNREADABLE_HEADLINE not in kinds(after)


def test_exposure_never_splits_one_surface_at_the_headline_band() -> None:
    """When the band is the background itself, giving it a curve of its own would ship a seam:
    the edit leaves it one surface and re-inks only the strokes in a brand colour that reads."""
    c = base("coffee", RUST)
    img = c.image.copy()
    cv2.putText(img, "SHOP NOW", (40, img.shape[0] - 25), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                (90, 40, 20), 4, cv2.LINE_AA)
    dark = np.clip(np.rint(((img / 255.0) ** 2.2 / 8) ** (1 / 2.2) * 255 - 30), 0, 255)
    dark = dark.astype(np.uint8)
    none = np.zeros(dark.shape[:2], bool)
    step = EditStep(EditKind.EXPOSURE, FlawKind.UNDEREXPOSED, None)
    out = apply_edit(dark, step, palette=RUST, subject_mask=none)
    top = int(round(0.8 * dark.shape[0]))
    assert tone.band_edge(dark, top, none) < tone.SEAM_DE
    assert tone.band_edge(out.image, top, none) < tone.SEAM_DE
    after = assess(out.image, palette=RUST)
    assert after.measures["headline_contrast"] >= tone.MIN_HEADLINE_CONTRAST
    assert FlawKind.UNREADABLE_HEADLINE not in kinds(after)
    # Away from the text the band is just the frame's curve: equal to the row above it.
    assert np.abs(out.image[top:top + 20].astype(int) - out.image[top - 1].astype(int)).max() <= 4


def test_reink_refuses_a_headline_clipped_away_with_its_ground() -> None:
    """Letters blown out with the band behind them are gone; re-inking what is left would
    ship half a headline, so the edit leaves it to the re-check (and regenerate)."""
    c = base("coffee", RUST)
    img = c.image.copy()
    h, w = img.shape[:2]
    cv2.putText(img, "SHOP NOW", (40, h - 25), cv2.FONT_HERSHEY_SIMPLEX, 1.4,
                (90, 40, 20), 4, cv2.LINE_AA)
    dark = np.clip(np.rint(((img / 255.0) ** 2.2 / 8) ** (1 / 2.2) * 255 - 30), 0, 255)
    dark = dark.astype(np.uint8)
    lut = tone.tone_lut(0.5, 14, 255)
    luts = [lut] * 3
    none = np.zeros(dark.shape[:2], bool)
    head = tone.read_headline(dark, RUST)
    assert head is not None and tone.reink(dark, head, RUST, none, luts) is not None
    dark[int(0.8 * h):, w // 2:] = 0  # the right half of the band (and its letters) crushed
    head = tone.read_headline(dark, RUST)
    assert head is not None and tone.reink(dark, head, RUST, none, luts) is None



def test_deconvolution_is_kept_within_the_local_range() -> None:
    """Deconvolving a blurred hard edge (a headline strip) with too wide a PSF overshoots it: a
    bright halo and a band clipped to black, which the re-check reads as a new stray object.
    The sharpen ladder keeps the restored frame within the blurred frame's local range."""
    img = np.full((256, 256, 3), (48, 100, 96), np.uint8)
    img[200:] = (16, 25, 43)
    soft = cv2.GaussianBlur(img, (0, 0), 4.8)
    raw = gaussian_deblur(soft, 7.0, 0.01)
    kept = within_local_range(soft, raw, 7.0)
    col_raw, col = raw[150:250, 128].astype(int), kept[150:250, 128].astype(int)
    assert (col_raw.max(0) > np.array([48, 100, 96]) + 12).any()  # the failure it guards
    hi, lo = np.array([48, 100, 96]), np.array([16, 25, 43])
    slack = (hi - lo) // 10  # the overshoot that reads as crisp is allowed
    assert (col.max(0) <= hi + slack).all() and (col.min(0) >= lo - slack).all()
    steepest = np.abs(np.diff(soft[150:250, 128, 1].astype(int))).max()
    assert np.abs(np.diff(col[:, 1])).max() > steepest  # still sharper than the input


def _temperature(image: np.ndarray, k: int) -> np.ndarray:
    out = image.astype(np.int16)
    out[..., 0] += k
    out[..., 2] -= k
    return np.clip(out, 0, 255).astype(np.uint8)


def test_white_balance_removes_a_cast_along_two_channels() -> None:
    """A temperature shift moves red and blue; one pass explains one channel at a time, so
    the correction is measured again on its own result until nothing is left."""
    c = base("coffee", RUST)
    warm = _temperature(c.image, 22)
    assert FlawKind.COLOR_CAST in kinds(assess(warm, palette=RUST))
    step = EditStep(EditKind.WHITE_BALANCE, FlawKind.COLOR_CAST, None)
    out = apply_edit(warm, step, palette=RUST, subject_mask=c.subject_mask)
    assert FlawKind.COLOR_CAST not in kinds(assess(out.image, palette=RUST))
    def error(image: np.ndarray) -> float:
        return float(np.abs(image.astype(int) - c.image.astype(int)).mean())

    assert error(out.image) < 0.5 * error(warm)


def test_white_balance_leaves_a_gap_too_big_for_a_cast() -> None:
    """Moving every colour by more than any lighting error would recolour the subject: the
    edit leaves the frame as it was and the re-check sends it on (next editor, regenerate)."""
    c = base("coffee", RUST)
    far = _temperature(c.image, 90)
    step = EditStep(EditKind.WHITE_BALANCE, FlawKind.COLOR_CAST, None)
    out = apply_edit(far, step, palette=RUST, subject_mask=c.subject_mask)
    assert np.array_equal(out.image, far)
