"""The flaw benchmark's items (bench/classify/dataset.py): well-formed labels, deterministic."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.classify import dataset  # noqa: E402
from route_assets.imaging.flaws import FUNDAMENTAL, FlawKind  # noqa: E402

# One block holds every recipe once; a few from the evaluation half as well.
INDICES = [*range(len(dataset.BLOCK)), 200, dataset.N_ITEMS - 1]


@pytest.fixture(scope="module")
def items() -> dict[int, dataset.Item]:
    return {i: dataset.build(i) for i in INDICES}


def test_labels_are_well_formed(items: dict[int, dataset.Item]) -> None:
    recipes = set()
    for i, item in items.items():
        assert item.image.shape == (dataset.SIZE, dataset.SIZE, 3)
        assert item.image.dtype == np.uint8
        assert item.split == ("tune" if i < dataset.N_ITEMS // 2 else "eval")
        assert len(item.labels) <= 1
        for lab in item.labels:
            FlawKind(lab.kind)  # a taxonomy kind
            recipes.add(lab.recipe)
            assert (lab.region is not None) == (lab.recipe in dataset.LOCALIZED)
            if lab.region is not None:
                x0, y0, x1, y1 = lab.region
                assert all(isinstance(v, int) for v in lab.region)
                assert 0 <= x0 < x1 <= dataset.SIZE and 0 <= y0 < y1 <= dataset.SIZE
            assert (FlawKind(lab.kind) in FUNDAMENTAL) == (lab.recipe in dataset.FUNDAMENTAL)
        want = ("accept" if not item.labels else "regenerate"
                if FlawKind(item.labels[0].kind) in FUNDAMENTAL else "edit")
        assert item.expected == want
    assert recipes == set(dataset.BLOCK) - {"clean"}
    clean = sum(dataset.recipe_of(i) == "clean" for i in range(dataset.N_ITEMS))
    assert clean >= 0.2 * dataset.N_ITEMS


def test_items_are_deterministic(items: dict[int, dataset.Item]) -> None:
    for i in (3, 11, 200):
        again = dataset.build(i)
        assert np.array_equal(again.image, items[i].image)
        assert again.labels == items[i].labels and again.palette == items[i].palette


def test_halves_hold_the_same_mix() -> None:
    half = dataset.N_ITEMS // 2
    tune = sorted(dataset.recipe_of(i) for i in range(half))
    evaluation = sorted(dataset.recipe_of(i) for i in range(half, dataset.N_ITEMS))
    assert tune == evaluation
