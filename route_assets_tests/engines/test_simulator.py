"""The generation simulator on real photographs: determinism, layout, and measurable flaws.

Every flaw test diffs a flawed frame against the clean frame of the same seed: composition is
drawn before flaws, so the two differ only by the flaw.
"""

import cv2
import numpy as np
import pytest
from skimage import color

from route_assets.engines.simulator import (
    SIMULATED_KINDS,
    SceneSpec,
    SimulatedImage,
    scene_for,
    simulate_generation,
)
from route_assets.imaging.flaws import FlawKind

PALETTE = ("#2D6A4F", "#F4D35E", "#95D5B2")
SUBJECTS = ("smiling woman runner", "a cat", "latte art", "red motorcycle", "rocket launch",
            "sunscreen bottle", "energy drink can", "gift box", "running sneakers", "widget")
SIZES = ((1024, 1024), (1080, 1920), (1920, 1080), (1080, 1350))


def _spec(subject: str = "latte art", width: int = 768, height: int = 768,
          palette: tuple[str, ...] = PALETTE) -> SceneSpec:
    return SceneSpec(subject, "Fresh roast, every morning", palette, width, height)


def _pair(kind: FlawKind, seed: int, spec: SceneSpec | None = None
          ) -> tuple[SimulatedImage, SimulatedImage]:
    spec = spec or _spec()
    clean = simulate_generation(spec, seed=seed, defect_rates={})
    flawed = simulate_generation(spec, seed=seed, defect_rates={kind.value: 1.0})
    return clean, flawed


def _sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def _lum(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def _contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def _de(a: np.ndarray, b: tuple[int, int, int]) -> float:
    lab = color.rgb2lab(np.array([[a, b]], dtype=np.float64) / 255.0)
    return float(color.deltaE_ciede2000(lab[0, 0], lab[0, 1]))


def _hex(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def _white(img: np.ndarray) -> float:
    return float(np.mean(np.all(img == 255, axis=2)))


def _black(img: np.ndarray) -> float:
    return float(np.mean(np.all(img <= 5, axis=2)))


def _top_band_colour(img: np.ndarray) -> np.ndarray:
    return np.median(img[: int(0.06 * img.shape[0])].reshape(-1, 3), axis=0)


@pytest.mark.parametrize(("subject", "scene"), [
    ("Portrait of a woman in sportswear", "photo:astronaut"),
    ("athlete mid-stride", "photo:astronaut"),
    ("two runners at dawn", "photo:astronaut"),
    ("a sleepy cat", "photo:chelsea"),
    ("dogs in the park", "photo:chelsea"),
    ("oat latte to go", "photo:coffee"),
    ("a cup of coffee", "photo:coffee"),
    ("electric scooter", "photo:motorcycle"),
    ("family car", "photo:motorcycle"),
    ("rocket launch at night", "photo:rocket"),
    ("SPF 50 sunscreen", "drawn:bottle"),
    ("vitamin C serum", "drawn:bottle"),
    ("sugar-free soda", "drawn:can"),
    ("energy drink", "drawn:can"),
    ("a holiday gift", "drawn:box"),
    ("subscription package", "drawn:box"),
    ("trail running shoes", "drawn:sneaker"),
    ("white sneakers", "drawn:sneaker"),
    ("woman holding a water bottle", "drawn:bottle"),  # the product wins over the person
    ("quantum widget", "drawn:box"),
    ("", "drawn:box"),
])
def test_scene_for_maps_keywords(subject: str, scene: str) -> None:
    assert scene_for(subject) == scene


def test_same_seed_same_bytes_other_seed_other_image() -> None:
    rates = {k.value: 0.5 for k in SIMULATED_KINDS}
    a = simulate_generation(_spec(), seed=7, defect_rates=rates)
    b = simulate_generation(_spec(), seed=7, defect_rates=rates)
    c = simulate_generation(_spec(), seed=8, defect_rates=rates)
    assert a.image.tobytes() == b.image.tobytes() and a.injected == b.injected
    assert a.image.tobytes() != c.image.tobytes()
    boxes = {simulate_generation(_spec(), seed=s, defect_rates={}).subject_box for s in range(6)}
    assert len(boxes) > 3  # composition is jittered per seed


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_clean_frames_look_like_ads(width: int, height: int) -> None:
    for i, subject in enumerate(SUBJECTS):
        sim = simulate_generation(_spec(subject, width, height), seed=i, defect_rates={})
        assert sim.image.shape == (height, width, 3) and sim.image.dtype == np.uint8
        assert sim.injected == () and sim.scene == scene_for(subject)
        x0, y0, x1, y1 = sim.subject_box
        # Inside the frame with a margin, clear of the logo band and of the headline band.
        assert x0 > 0 and x1 < width and y0 >= 0.12 * height and y1 <= 0.8 * height
        share = (x1 - x0) * (y1 - y0) / (width * height)
        if sim.scene.startswith("photo:"):
            assert 0.33 <= share <= 0.62, (subject, share)
        else:
            assert share >= 0.06, (subject, share)
        band = _lum(sim.image[int(0.8 * height):])
        lo, hi = np.percentile(band, [0.5, 99.5])
        assert _contrast(lo, hi) >= 4.5  # the headline stands out from the background
        assert _de(_top_band_colour(sim.image), _hex(PALETTE[0])) < 12  # brand background


def test_blur_softens_the_frame_or_a_patch() -> None:
    modes = set()
    for seed in range(8):
        clean, blurred = _pair(FlawKind.BLUR, seed)
        (flaw,) = blurred.injected
        if flaw.region is None:
            assert 2.5 <= flaw.strength <= 4.0
            assert _sharpness(blurred.image) < _sharpness(clean.image) / 3
        else:
            x0, y0, x1, y1 = flaw.region
            assert 0.14 <= (x1 - x0) * (y1 - y0) / clean.image[..., 0].size <= 0.31
            patch = np.s_[y0:y1, x0:x1]
            assert _sharpness(blurred.image[patch]) < _sharpness(clean.image[patch]) / 4
        modes.add(flaw.region is None)
    assert modes == {True, False}


def test_noise_adds_grain_of_the_stated_sigma() -> None:
    clean, noisy = _pair(FlawKind.NOISE, 3)
    (flaw,) = noisy.injected
    residual = noisy.image.astype(np.float64) - clean.image
    assert 12 <= flaw.strength <= 25
    assert abs(residual.std() - flaw.strength) < 0.15 * flaw.strength
    assert _sharpness(noisy.image) > 5 * _sharpness(clean.image)


@pytest.mark.parametrize("subject", ["a cat", "gift box", "rocket launch"])
def test_exposure_flaws_clip_highlights_or_crush_shadows(subject: str) -> None:
    spec = _spec(subject, palette=("#1E3A8A", "#F59E0B", "#F8FAFC"))
    clean, over = _pair(FlawKind.OVEREXPOSED, 4, spec)
    _, under = _pair(FlawKind.UNDEREXPOSED, 4, spec)
    assert _white(clean.image) < 0.03 and _black(clean.image) < 0.05
    assert _white(over.image) >= 0.08 and over.injected[0].strength == _white(over.image)
    assert _black(under.image) >= 0.15 and under.injected[0].strength == _black(under.image)


def test_color_cast_tints_the_whole_frame() -> None:
    clean, cast = _pair(FlawKind.COLOR_CAST, 5)
    shift = (cast.image.astype(np.float64) - clean.image).reshape(-1, 3).mean(axis=0)
    assert shift.max() >= 20 and shift.min() <= -10
    assert cast.injected[0].region is None


def test_off_palette_background_is_far_from_every_brand_colour() -> None:
    for seed in range(4):
        clean, off = _pair(FlawKind.OFF_PALETTE, seed)
        bg = _top_band_colour(off.image)
        assert min(_de(bg, _hex(p)) for p in PALETTE) > 25
        assert _de(_top_band_colour(clean.image), _hex(PALETTE[0])) < 12


def test_stray_object_is_a_compact_blob_on_the_background() -> None:
    for seed in range(6):
        clean, stray = _pair(FlawKind.STRAY_OBJECT, seed, _spec(SUBJECTS[seed], 1024, 1024))
        (flaw,) = stray.injected
        assert flaw.region is not None and 0.004 <= flaw.strength <= 0.03
        x0, y0, x1, y1 = flaw.region
        diff = np.abs(stray.image.astype(np.int16) - clean.image).max(axis=2) > 30
        assert diff[y0:y1, x0:x1].mean() > 0.5  # the blob fills its box
        assert diff.sum() == diff[y0:y1, x0:x1].sum()  # and nothing else changed
        sx0, sy0, sx1, sy1 = clean.subject_box
        assert x1 <= sx0 or x0 >= sx1 or y1 <= sy0 or y0 >= sy1  # not on the subject
        hsv = cv2.cvtColor(stray.image[y0:y1, x0:x1], cv2.COLOR_RGB2HSV)
        assert np.median(hsv[..., 1][diff[y0:y1, x0:x1]]) > 150  # saturated


def test_subject_cut_runs_off_the_frame() -> None:
    for seed in range(6):
        spec = _spec(SUBJECTS[seed], 1024, 1024)
        _, cut = _pair(FlawKind.SUBJECT_CUT, seed, spec)
        (flaw,) = cut.injected
        x0, y0, x1, y1 = cut.subject_box
        assert x0 < 0 or y0 < 0 or x1 > 1024 or y1 > 1024
        assert flaw.region == (max(x0, 0), max(y0, 0), min(x1, 1024), min(y1, 1024))
        assert 0.35 <= flaw.strength <= 0.6
        vx0, vy0, vx1, vy1 = flaw.region
        assert 1 - (vx1 - vx0) * (vy1 - vy0) / ((x1 - x0) * (y1 - y0)) >= 0.3


def test_subject_missing_leaves_background_and_headline() -> None:
    clean, missing = _pair(FlawKind.SUBJECT_MISSING, 2)
    assert missing.subject_box == (0, 0, 0, 0) and missing.injected[0].region is None
    x0, y0, x1, y1 = clean.subject_box
    assert _sharpness(missing.image[y0:y1, x0:x1]) < 0.05 * _sharpness(clean.image[y0:y1, x0:x1])
    band = np.s_[int(0.8 * 768):]
    assert np.array_equal(missing.image[band], clean.image[band])
    both = simulate_generation(_spec(), seed=2, defect_rates={"subject_cut": 1.0,
                                                              "subject_missing": 1.0})
    assert [f.kind for f in both.injected] == [FlawKind.SUBJECT_MISSING]


def test_unreadable_headline_has_almost_no_contrast() -> None:
    for seed in range(3):
        clean, bad = _pair(FlawKind.UNREADABLE_HEADLINE, seed)
        (flaw,) = bad.injected
        x0, y0, x1, y1 = flaw.region
        assert y0 >= 0.8 * 768 and flaw.strength < 1.4
        ref, img = clean.image[y0:y1, x0:x1], bad.image[y0:y1, x0:x1]
        diff = np.abs(ref.astype(np.int16) - img).max(axis=2)
        text = diff > 0.7 * diff.max()  # fully covered glyph pixels
        ground = cv2.dilate(diff.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
        bad_lum, ref_lum = _lum(img), _lum(ref)
        assert _contrast(bad_lum[text].mean(), bad_lum[ground].mean()) < 1.4
        assert _contrast(ref_lum[text].mean(), ref_lum[ground].mean()) > 4.5


def test_all_flaws_at_once_and_bad_rates() -> None:
    rates = {k.value: 1.0 for k in SIMULATED_KINDS if k is not FlawKind.SUBJECT_MISSING}
    sim = simulate_generation(_spec("gift box", 1080, 1920), seed=1, defect_rates=rates)
    assert sim.image.shape == (1920, 1080, 3)
    assert {f.kind for f in sim.injected} == SIMULATED_KINDS - {FlawKind.SUBJECT_MISSING}
    silent = SceneSpec("cat", "  ", PALETTE, 512, 512)  # no headline: nothing to make unreadable
    sim = simulate_generation(silent, seed=1, defect_rates={"unreadable_headline": 1.0})
    assert sim.injected == ()
    long = SceneSpec("cat", "word " * 60, PALETTE, 512, 512)
    assert simulate_generation(long, seed=1, defect_rates={}).image.shape == (512, 512, 3)
    with pytest.raises(ValueError):
        simulate_generation(_spec(), seed=1, defect_rates={"blurry": 0.5})
    with pytest.raises(ValueError, match="cannot draw"):  # a real kind the simulator cannot draw
        simulate_generation(_spec(), seed=1, defect_rates={"inconsistent_lighting": 0.5})
    with pytest.raises(ValueError):
        simulate_generation(_spec(), seed=1, defect_rates={"blur": 1.5})
    with pytest.raises(ValueError):
        simulate_generation(_spec(palette=("navy",)), seed=1, defect_rates={})
