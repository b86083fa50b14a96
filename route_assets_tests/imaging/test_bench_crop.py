"""The crop benchmark keeps working: a few masters through every method and ratio."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.crop import run  # noqa: E402
from bench.crop.dataset import annotations, cases  # noqa: E402


def test_annotations_match_their_photographs_and_give_off_centre_masters():
    assert len(annotations()) >= 6 and all(p["licence"] and p["source"] for p in annotations())
    all_cases = cases()
    assert len(all_cases) >= 12
    assert all(0 <= c.box[0] < c.box[2] <= 1024 and 0 <= c.box[1] < c.box[3] <= 1024
               for c in all_cases)


def test_benchmark_runs_on_a_subset(capsys):
    figures = run.main(["--n", "2", "--simulated", "1"])
    out = capsys.readouterr().out
    assert "subject retention" in out and "ms/placement" in out and "SIMULATED" in out
    assert 0.0 <= figures["simulated/planner/all"] <= 1.0
    for method in run.METHODS:
        for ratio in run.RATIOS:
            assert 0.0 <= figures[f"{method}/{ratio}"] <= 1.0
    # The first masters put the astronaut's head in a corner: centre crops lose it.
    assert figures["planner/all"] > figures["centre/all"]
    assert figures["planner/median_ms"] > 0
