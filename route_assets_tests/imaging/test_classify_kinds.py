"""The measurements added to the classifier: textured stray fragments, wrong composition,
inconsistent lighting; the policy file's thresholds; combining the vision judge's flaws."""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.classify import dataset  # noqa: E402
from route_assets.imaging.classify import (  # noqa: E402
    Thresholds,
    assess,
    combine,
    pick_best,
    threshold_notes,
)
from route_assets.imaging.flaws import Flaw, FlawKind  # noqa: E402
from route_assets.imaging.measures import rgb_to_lab  # noqa: E402
from route_assets_tests.imaging import synth  # noqa: E402
from route_assets_tests.imaging.test_classify import CASES, frame, judge, kinds  # noqa: E402


@pytest.mark.parametrize("i", [0, 2, 5])
def test_grey_photo_fragment_is_found_by_its_texture(i: int) -> None:
    c = frame(i, scale=0.45)
    (cx, cy), _ = synth.background_spot(c)
    side = 90
    crop = skimage.data.camera()[200 : 200 + side, 200 : 200 + side]  # grey: no chroma at all
    image = c.image.copy()
    x0, y0 = cx - side // 2, cy - side // 2
    image[y0 : y0 + side, x0 : x0 + side] = crop[..., None]
    box = (x0, y0, x0 + side, y0 + side)
    chroma = np.hypot(*rgb_to_lab(image[y0 : y0 + side, x0 : x0 + side])[..., 1:].T)
    assert np.median(chroma) < Thresholds().anomaly_chroma  # so saturation cannot be the cue
    a = judge(image, i)
    assert kinds(a) == {FlawKind.STRAY_OBJECT}
    assert a.flaws[0].region is not None
    assert synth.iou(a.flaws[0].region, box) >= 0.3
    blind = Thresholds(anomaly_texture=1e6)
    assert FlawKind.STRAY_OBJECT not in kinds(assess(image, palette=synth.PALETTES[CASES[i][1]],
                                                     thresholds=blind))


@pytest.mark.parametrize("seed, how", [(1, "low"), (2, "low"), (3, "corner"), (4, "corner")])
def test_misplaced_subject_is_a_wrong_composition(seed: int, how: str) -> None:
    palette, photo = dataset.PALETTES[seed], dataset.PHOTOS[seed][0]
    bad = dataset.compose(np.random.default_rng(seed), palette, photo, misplace=how)
    a = assess(dataset._u8(bad.image), palette=palette)
    found = [f for f in a.flaws if f.kind == FlawKind.WRONG_COMPOSITION]
    assert found and a.verdict == "regenerate"
    assert bad.subject_box is not None and found[0].region is not None
    assert synth.iou(found[0].region, bad.subject_box) >= 0.3
    good = dataset.compose(np.random.default_rng(seed), palette, photo)
    assert a.measures["subject_offset"] > 0 or a.measures["band_touch"] > 0
    assert FlawKind.WRONG_COMPOSITION not in kinds(assess(dataset._u8(good.image),
                                                          palette=palette))


def _clean_twin(index: int) -> np.ndarray:
    """Benchmark item `index` composed the same way but without its injected flaw."""
    rng = np.random.default_rng([dataset.SEED, 2, index])
    palette = dataset.PALETTES[int(rng.integers(0, len(dataset.PALETTES)))]
    photo = dataset.PHOTOS[int(rng.integers(0, len(dataset.PHOTOS)))][0]
    return dataset._u8(dataset.compose(rng, palette, photo).image)


@pytest.mark.parametrize("index", [81, 102])  # tune-half items (the detector's clear cases)
def test_subject_lit_against_the_background_is_inconsistent_lighting(index: int) -> None:
    item = dataset.build(index)
    assert item.labels[0].recipe == "inconsistent_lighting"
    a = assess(item.image, palette=item.palette)
    assert FlawKind.INCONSISTENT_LIGHTING in kinds(a) and a.verdict == "regenerate"
    t = Thresholds()
    assert a.measures["light_shadow"] >= t.light_shadow
    assert a.measures["light_agree"] >= t.light_agree
    assert a.measures["light_opposed"] >= t.light_subject_gradient
    clean = assess(_clean_twin(index), palette=item.palette)
    assert FlawKind.INCONSISTENT_LIGHTING not in kinds(clean)


def test_policy_file_holds_every_threshold_at_its_default() -> None:
    text = (Path(__file__).resolve().parents[2] / "route_assets/data/policy.yaml").read_text()
    assert yaml.safe_load(text)["thresholds"] == dataclasses.asdict(Thresholds())
    notes = threshold_notes()
    assert set(notes) == {f.name for f in dataclasses.fields(Thresholds)}
    assert all(len(note) > 10 for note in notes.values())


def test_judge_flaws_combine_with_the_measurements() -> None:
    measured = judge(frame(2).image, 2)
    assert measured.verdict == "accept"
    anatomy = Flaw(FlawKind.BAD_ANATOMY, 0.7, (10, 10, 50, 50), {"judge_severity": 0.7})
    combined = combine(measured, [anatomy])
    assert combined.verdict == "regenerate" and combined.flaws[-1] == anatomy
    assert combined.score < measured.score and combined.subject is measured.subject
    assert combine(measured, []) == measured
    assert pick_best([combined, measured]) == 1
