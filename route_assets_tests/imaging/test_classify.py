"""The flaw classifier on real photographs composed like the generator simulator's frames."""

import dataclasses
import time
from functools import cache

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000

from route_assets.imaging.classify import Assessment, Thresholds, assess, pick_best
from route_assets.imaging.flaws import FlawKind
from route_assets.imaging.measures import palette_lab, rgb_to_lab
from route_assets.imaging.subject import find_subject
from route_assets_tests.imaging import synth

# (subject, palette, style, gradient): every photograph, both drawn products, all palettes.
CASES = [
    ("astronaut", "navy", "card", "vertical"),
    ("chelsea", "teal", "cutout", "diagonal"),
    ("coffee", "rust", "card", "radial"),
    ("motorcycle", "plum", "cutout", "vertical"),
    ("rocket", "navy", "card", "diagonal"),
    ("bottle", "teal", "card", "vertical"),
    ("box", "plum", "card", "radial"),
]
ALL = range(len(CASES))
# Background colours more than 25 CIEDE2000 from every colour of the palette.
OFF_PALETTE = {"navy": "#16A34A", "teal": "#DB2777", "rust": "#2563EB", "plum": "#65A30D"}


@cache
def frame(i: int, scale: float = 0.6) -> synth.Composite:
    subject, pal, style, grad = CASES[i]
    return synth.compose(subject, synth.PALETTES[pal], style=style, gradient_kind=grad,
                         scale=scale)


def judge(image: np.ndarray, i: int) -> Assessment:
    return assess(image, palette=synth.PALETTES[CASES[i][1]])


def kinds(a: Assessment) -> set[FlawKind]:
    return {f.kind for f in a.flaws}


@pytest.mark.parametrize("i", ALL)
def test_clean_frames_are_accepted(i: int) -> None:
    c = frame(i)
    a = judge(c.image, i)
    assert a.verdict == "accept", a.flaws
    assert a.subject.box is not None and synth.iou(a.subject.box, c.subject_box) >= 0.8
    assert a.score > 1.0


@pytest.mark.parametrize("i, sigma", [(0, 2.5), (2, 4.0), (3, 3.0), (5, 2.5), (6, 4.0)])
def test_global_blur_is_an_edit(i: int, sigma: float) -> None:
    a = judge(synth.blur(frame(i).image, sigma), i)
    blur = [f for f in a.flaws if f.kind == FlawKind.BLUR]
    assert blur and blur[0].region is None
    assert a.verdict == "edit"


@pytest.mark.parametrize("i, radius, sigma", [(0, 0.2, 9), (1, 0.25, 7), (2, 0.22, 12),
                                              (3, 0.2, 9), (5, 0.22, 8)])
def test_soft_patch_is_found_where_it_is(i: int, radius: float, sigma: float) -> None:
    c = frame(i)
    x0, y0, x1, y1 = c.subject_box
    cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, int(radius * c.image.shape[0])
    image, box = synth.soft_patch_blur(c.image, (cx - r, cy - r, cx + r, cy + r), sigma)
    a = judge(image, i)
    blur = [f for f in a.flaws if f.kind == FlawKind.BLUR]
    assert blur and blur[0].region is not None
    assert synth.iou(blur[0].region, box) >= 0.3
    assert a.verdict == "edit"


@pytest.mark.parametrize("i, sigma", [(0, 12), (2, 25), (4, 18), (6, 12)])
def test_noise_is_an_edit(i: int, sigma: float) -> None:
    a = judge(synth.noise(frame(i).image, sigma, seed=i), i)
    assert kinds(a) == {FlawKind.NOISE}
    assert abs(a.measures["noise_sigma"] - sigma) < 0.2 * sigma


# The weakest gain that clips 8% barely changes a frame whose only near-white content is the
# headline and a drawn label: the drawn products are tested from 10% up.
@pytest.mark.parametrize("i, target", [(0, 0.08), (1, 0.08), (2, 0.08), (3, 0.08), (4, 0.08),
                                       (5, 0.10), (6, 0.10), (0, 0.2)])
def test_overexposed_is_an_edit(i: int, target: float) -> None:
    a = judge(synth.overexpose(frame(i).image, target), i)
    assert kinds(a) == {FlawKind.OVEREXPOSED}
    assert a.verdict == "edit"


@pytest.mark.parametrize("i", ALL)
def test_underexposed_is_an_edit(i: int) -> None:
    a = judge(synth.underexpose(frame(i).image, 0.15), i)
    assert kinds(a) == {FlawKind.UNDEREXPOSED}
    assert a.verdict == "edit"


@pytest.mark.parametrize("i, channel, amount", [(0, 0, 25), (1, 1, 40), (2, 2, 30), (3, 0, 40),
                                                (4, 1, 25), (5, 2, 40), (6, 1, 32)])
def test_color_cast_is_not_off_palette(i: int, channel: int, amount: int) -> None:
    a = judge(synth.color_cast(frame(i).image, channel, amount), i)
    assert kinds(a) == {FlawKind.COLOR_CAST}


@pytest.mark.parametrize("i", ALL)
def test_off_palette_background(i: int) -> None:
    subject, pal, style, grad = CASES[i]
    off = OFF_PALETTE[pal]
    off_lab = np.broadcast_to(palette_lab([off]), (len(synth.PALETTES[pal]), 3))
    assert deltaE_ciede2000(off_lab, palette_lab(synth.PALETTES[pal])).min() > 25
    c = synth.compose(subject, synth.PALETTES[pal], style=style, gradient_kind=grad,
                      background=off)
    a = judge(c.image, i)
    assert kinds(a) == {FlawKind.OFF_PALETTE}
    assert a.measures["palette_de"] > 25


@pytest.mark.parametrize("i, frac", [(0, 0.005), (1, 0.015), (2, 0.03), (3, 0.005), (5, 0.03),
                                     (6, 0.015)])
def test_stray_object_is_located(i: int, frac: float) -> None:
    c = frame(i, scale=0.45)
    spot, _ = synth.background_spot(c)
    image, box = synth.stray_object(c.image, spot, frac)
    a = judge(image, i)
    assert kinds(a) == {FlawKind.STRAY_OBJECT}
    assert synth.iou(a.flaws[0].region, box) >= 0.3


@pytest.mark.parametrize("i, side, frac", [(0, "left", 0.35), (1, "right", 0.6), (2, "top", 0.45),
                                           (3, "left", 0.5), (5, "right", 0.35),
                                           (6, "top", 0.6)])
def test_cut_subject_needs_a_new_generation(i: int, side: str, frac: float) -> None:
    subject, pal, style, grad = CASES[i]
    c = synth.compose(subject, synth.PALETTES[pal], style=style, gradient_kind=grad,
                      cut=(side, frac))
    a = judge(c.image, i)
    assert FlawKind.SUBJECT_CUT in kinds(a)
    assert a.verdict == "regenerate"


@pytest.mark.parametrize("pal", sorted(synth.PALETTES))
def test_missing_subject_needs_a_new_generation(pal: str) -> None:
    a = assess(synth.compose(None, synth.PALETTES[pal]).image, palette=synth.PALETTES[pal])
    assert kinds(a) == {FlawKind.SUBJECT_MISSING}
    assert a.verdict == "regenerate" and a.subject.method == "none"


@pytest.mark.parametrize("i", ALL)
def test_unreadable_headline_needs_a_new_generation(i: int) -> None:
    subject, pal, style, grad = CASES[i]
    base = frame(i)
    h, w = base.image.shape[:2]
    near_bg = np.clip(base.image[int(0.9 * h), w // 2].astype(float) + [8, 10, 6], 0, 255)
    c = synth.compose(subject, synth.PALETTES[pal], style=style, gradient_kind=grad,
                      text_color=near_bg)
    a = judge(c.image, i)
    assert kinds(a) == {FlawKind.UNREADABLE_HEADLINE}
    assert a.verdict == "regenerate"
    assert a.flaws[0].region is not None and a.flaws[0].region[1] >= 0.75 * h


def test_face_is_found_on_the_astronaut_and_inside_the_subject() -> None:
    est = find_subject(frame(0).image, palette=synth.PALETTES["navy"])
    assert est.method == "face+background"
    assert len(est.faces) == 1
    (fx0, fy0, fx1, fy1), (x0, y0, x1, y1) = est.faces[0], est.box
    assert x0 <= fx0 and y0 <= fy0 and fx1 <= x1 and fy1 <= y1
    assert est.mask.shape == frame(0).image.shape[:2] and est.mask.dtype == bool


def test_no_face_on_products() -> None:
    assert find_subject(frame(5).image).faces == ()


def test_pick_best_prefers_accept_then_edit_and_skips_regenerate() -> None:
    clean = judge(frame(2).image, 2)
    noisy = judge(synth.noise(frame(2).image, 15), 2)
    worse = judge(synth.noise(synth.blur(frame(2).image, 3.0), 20), 2)
    missing = assess(synth.compose(None).image, palette=synth.PALETTES["navy"])
    assert clean.score > noisy.score > worse.score > missing.score
    assert pick_best([missing, worse, noisy, clean]) == 3
    assert pick_best([missing, worse, noisy]) == 2
    assert pick_best([missing, missing]) is None
    assert pick_best([]) is None


def test_thresholds_come_from_a_plain_dict() -> None:
    d = dataclasses.asdict(Thresholds())
    assert Thresholds(**d) == Thresholds()
    lenient = Thresholds(**{**d, "noise_sigma": 40.0})
    noisy = synth.noise(frame(2).image, 15)
    assert FlawKind.NOISE not in kinds(assess(noisy, palette=synth.PALETTES["rust"],
                                              thresholds=lenient))
    with pytest.raises(ValueError, match="unknown threshold"):
        Thresholds.from_dict({"noise": 3.0})


def test_assessment_is_fast_on_1024() -> None:
    images = [frame(i).image for i in ALL]
    judge(images[0], 0)  # warm-up: cascades, thread pools
    times = []
    for i, image in enumerate(images):
        start = time.perf_counter()
        judge(image, i)
        times.append(time.perf_counter() - start)
    # ~110 ms median on the 2-core dev box; the bound leaves room for a busy CI machine.
    assert float(np.median(times)) < 0.6


def test_lab_helper_matches_skimage() -> None:
    from skimage.color import rgb2lab

    rgb = np.array([[[30, 58, 138], [245, 158, 11], [255, 255, 255]]], np.uint8)
    assert np.allclose(rgb_to_lab(rgb), rgb2lab(rgb), atol=0.2)
