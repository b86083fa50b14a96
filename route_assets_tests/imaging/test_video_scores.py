"""Clip scores: the drift measure sees a subject, or only part of it (even a small one), sliding
off."""

import numpy as np
import pytest
from skimage import data

from route_assets.catalog import load_policy
from route_assets.imaging import video_scores
from route_assets.imaging.parallax import parallax_frames

BOX = (120, 10, 360, 380)  # the astronaut, head to waist


def _drift(mask: np.ndarray, depth: float) -> float:
    image = data.astronaut()
    frames = video_scores.shrink(parallax_frames(
        image, mask, width=288, height=512, seconds=2.0, fps=12, focus_box=BOX, seed=3,
        depth=depth, zoom=1.06))
    return video_scores.score_clip(frames, 12, image, BOX).drift


@pytest.mark.parametrize("part", ["whole", "head", "small"])
def test_drift_catches_the_subject_or_a_part_of_it_sliding_off(part: str) -> None:
    limit = load_policy().video.thresholds["drift"]
    mask = np.zeros((512, 512), np.uint8)
    if part == "whole":
        mask[BOX[1]:BOX[3], BOX[0]:BOX[2]] = 1
    elif part == "head":  # a head sliding off a body that moves with the background
        mask[20:190, 170:300] = 1
    else:  # a patch about 80 px square at scoring size, like a cup's rim (bench set 62)
        mask[200:320, 180:300] = 1
    assert _drift(mask, depth=0.03) < limit  # a gentle parallax move is not drift
    assert _drift(mask, depth=0.25) > limit
