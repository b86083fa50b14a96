"""bench/video keeps working: one set of clips built, encoded, scored and curated."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.video import run  # noqa: E402
from bench.video.clips import build  # noqa: E402
from route_assets.catalog import load_policy  # noqa: E402


def test_curation_on_a_set_with_a_good_clip_and_an_all_broken_set() -> None:
    limits = load_policy().video.thresholds
    assert build(0).has_good and not build(2).has_good
    result = run.curation([0, 2], limits)
    assert result["picked_good"] == (1, 1) and result["rejected"] == (1, 1)
    assert sum(result["total"].values()) == 3 - sum(c.defect is None for c in build(0).clips) + 3
