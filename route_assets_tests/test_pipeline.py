"""One campaign through all five stages on the embedded default: real simulator, real classical
engines, real H.264, a SQLite instance and a local store."""

import dagster as dg
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from route_assets.brief import parse_brief
from route_assets.catalog import load_catalog, load_placements
from route_assets.cli import main
from route_assets.cost_events import cost_lines
from route_assets.db import engine_for
from route_assets.engines.local import LocalImageGenerator, LocalVideoGenerator
from route_assets.engines.registry import Engines, local_engines
from route_assets.imaging import codecs, video
from route_assets.ledger import Ledger
from route_assets.partitions import AdSetKey
from route_assets.runner import register, run_ad_set, run_cost_report
from route_assets.storage import LocalCreativeStore
from route_assets_tests.fakes import (
    BlankImageGenerator,
    DefectiveGenerator,
    StrobingVideoGenerator,
)

BRIEF = {
    "campaign": "test-camp",
    "brand": {"name": "Test", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
    "budget_usd": 5.0,
    "markets": [{"id": "us", "locale": "en-US", "headline": "Glow all summer"}],
    "ad_sets": [
        {"id": "hero", "market": "us", "tier": "hero", "prompt": "a sunscreen bottle",
         "subject": "sunscreen bottle", "candidates": 2, "motion": "budget",
         "placements": ["ig-feed-square", "fb-feed-landscape", "snapchat-single"]},
    ],
}
KEY = AdSetKey("test-camp", "hero")


@pytest.fixture()
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture()
def store(tmp_path):
    return LocalCreativeStore(tmp_path / "store")


def resources(store, engines=None):
    ledger = Ledger(engine_for(f"sqlite:///{store.root_location}/../ledger.db"))
    return {"store": store, "engines": engines or local_engines(load_catalog()), "ledger": ledger}


def test_one_partition_end_to_end(instance, store):
    brief = parse_brief(BRIEF, source="test")
    register(instance, store, brief)
    outcome = run_ad_set(instance, KEY, max_rerolls=2, resources=resources(store))
    assert outcome.success, outcome.error

    edit = store.get_manifest(KEY, "surgical_edit")
    master = codecs.decode(store.get_blob(edit["master_blob"]))
    assert master.shape == (1920, 1920, 3)  # upscaled to cover snapchat-single (1080x1920)
    assert edit["verified"] and edit["ora_file"].endswith("master.ora")
    for x0, y0, x1, y1 in [edit["subject_box"], *edit["faces"]]:  # on the master, not the draw
        assert 0 <= x0 < x1 <= master.shape[1] and 0 <= y0 < y1 <= master.shape[0]
    assert edit["subject_box"][2] > 1024 or edit["subject_box"][3] > 1024  # scaled with it
    for placement in ["ig-feed-square", "fb-feed-landscape", "snapchat-single"]:
        spec = load_placements().get(placement)
        data = store.get(f"test-camp/hero/qa_resize/{placement}.jpg")
        assert codecs.decode(data).shape == (spec.height, spec.width, 3)
        assert len(data) <= spec.max_bytes and b"AlgorithmicMedia" in data
    clip = video.probe_video(store.get("test-camp/hero/video_expansion/snapchat-single.mp4"))
    assert (clip.codec, clip.width, clip.height, clip.pix_fmt) == ("h264", 1080, 1920, "yuv420p")
    assert clip.frames == round(clip.seconds * 30) and clip.seconds >= 3

    meta = outcome.metadata
    assert meta["base_generation"]["model"] == "flux-1.1-pro"
    assert meta["base_generation"]["cost_usd"] == pytest.approx(0.08)
    assert "hero generate" in meta["base_generation"]["routing_reason"]
    assert meta["video_expansion"]["model"] == "seedance-1-lite"
    assert meta["video_expansion"]["cost_usd"] > 0
    assert len(meta["flaw_classification"]["verdicts"]) == 2
    assert meta["qa_resize"]["placements"] == 3
    for asset in ["flaw_classification", "surgical_edit", "qa_resize"]:
        assert meta[asset]["cost_usd"] == 0.0

    report = run_cost_report(instance, resources(store))
    spent = meta["base_generation"]["cost_usd"] + meta["video_expansion"]["cost_usd"]
    assert report["cost_usd/test-camp"] == pytest.approx(spent, abs=1e-4)
    csv = pd.read_csv(store.location("test-camp/cost_report.csv"))
    by_stage = csv[csv["ad_set"] == "TOTAL by stage"].set_index("stage")["usd"]
    assert set(by_stage.index) == {"base_generation", "video_expansion"}


def test_rematerializing_unchanged_inputs_costs_nothing(instance, store):
    brief = parse_brief(BRIEF, source="test")
    register(instance, store, brief)
    first = run_ad_set(instance, KEY, max_rerolls=2, resources=resources(store))
    second = run_ad_set(instance, KEY, max_rerolls=2, resources=resources(store))
    assert first.success and second.success
    for asset in ["base_generation", "video_expansion"]:
        assert first.metadata[asset]["cost_usd"] > 0
        assert second.metadata[asset]["cost_usd"] == 0.0
        assert second.metadata[asset]["cached_calls"] == len(second.metadata[asset]["cost_lines"])
    # A new variant (the nightly refresh) misses the cache on purpose.
    third = run_ad_set(instance, KEY, max_rerolls=2, variant="2026-11-22",
                       resources=resources(store))
    assert third.metadata["base_generation"]["cost_usd"] > 0
    lines = cost_lines(instance, campaign="test-camp")
    assert sum(line.cached for line in lines) >= 2
    report = run_cost_report(instance, resources(store))
    saved = sum(line.saved_usd for line in lines)
    assert saved == pytest.approx(first.metadata["base_generation"]["cost_usd"]
                                  + first.metadata["video_expansion"]["cost_usd"])
    assert report["saved_by_cache_usd/test-camp"] == pytest.approx(saved, abs=1e-4)


def test_unusable_candidates_are_rerolled_then_held(instance, store):
    """A generator that drops the subject: every attempt is 'regenerate', downstream is held."""
    blank = BlankImageGenerator()
    engines = Engines(image_generators={"local": blank},
                      video_generators={"local": LocalVideoGenerator(load_catalog())})
    register(instance, store, parse_brief(BRIEF, source="test"))
    outcome = run_ad_set(instance, KEY, max_rerolls=1, resources=resources(store, engines))
    assert not outcome.success and outcome.attempts == 2
    assert "no usable candidate after 2 attempt(s)" in outcome.error
    assert len({r.seed for r in blank.requests}) == 4  # new seeds on the re-roll
    assert store.get_manifest(KEY, "surgical_edit") is None
    assert set(outcome.metadata) == {"base_generation", "flaw_classification"}
    assert outcome.metadata["flaw_classification"]["verdicts"] == ["regenerate", "regenerate"]


@pytest.mark.parametrize("broken", [2, 4])
def test_a_broken_clip_batch_rerolls_the_video_alone(instance, store, broken):
    """Every seed of the first batch strobes: only video_expansion runs again, with new seeds
    (the images are kept and not bought again), within max_rerolls."""
    strobing = StrobingVideoGenerator(LocalVideoGenerator(load_catalog()), broken=broken)
    engines = Engines(image_generators={"local": LocalImageGenerator(load_catalog())},
                      video_generators={"local": strobing})
    light = {**BRIEF, "policy": {"video": {"seeds": 2, "long_side": 320}},
             "ad_sets": [{**BRIEF["ad_sets"][0], "candidates": 1,
                          "placements": ["ig-feed-square", "snapchat-single"]}]}
    register(instance, store, parse_brief(light, source="test"))
    seen: list[int] = []
    outcome = run_ad_set(instance, KEY, max_rerolls=1, resources=resources(store, engines),
                         on_video_attempt=seen.append)
    assert seen == [1] and outcome.attempts == 1 and len(outcome.run_ids) == 2
    again = instance.get_run_by_id(outcome.run_ids[1])
    assert {e.step_key for e in instance.all_logs(again.run_id) if e.step_key} == {
        "video_expansion"}
    assert again.tags["video_attempt"] == "1" and again.tags["attempt"] == "0"
    seeds = [r.seed for r in strobing.requests]
    assert len(seeds) == 4 and len(set(seeds)) == 4  # two per batch, all new on the re-roll
    manifest = store.get_manifest(KEY, "video_expansion")
    if broken == 2:  # the second batch is good: the ad set ships its video
        assert outcome.success, outcome.error
        assert manifest["verdict"] == "accept"
        assert outcome.metadata["video_expansion"]["video_attempt"] == 1
    else:  # both batches broken: the policy's bound ends it, with a clear reason
        assert not outcome.success
        assert "every video seed failed on 2 video attempt(s)" in outcome.error
        assert manifest["verdict"] == "regenerate"
    assert (store.root / "test-camp/hero/qa_resize/ig-feed-square.jpg").is_file()


def test_budget_stops_paid_steps_before_overspending(instance, store):
    tight = {**BRIEF, "budget_usd": 0.05}
    register(instance, store, parse_brief(tight, source="test"))
    outcome = run_ad_set(instance, KEY, max_rerolls=0, resources=resources(store))
    assert not outcome.success
    assert "would exceed its budget of $0.05" in outcome.error
    # The first $0.04 candidate fit and was paid for; that spend is on record even though the
    # stage failed, and nothing beyond the budget was spent.
    assert [line.usd for line in cost_lines(instance, campaign="test-camp")] == [0.04]


def test_cli_run_and_report(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.delenv("ROUTE_ASSETS_STORE", raising=False)
    brief = tmp_path / "brief.yaml"
    small = {**BRIEF, "ad_sets": [{**BRIEF["ad_sets"][0], "motion": None}]}
    brief.write_text(yaml.safe_dump(small))
    result = CliRunner().invoke(main, ["run", str(brief)])
    assert result.exit_code == 0, result.output
    assert "[1/1] test-camp/hero: ok" in result.output and "flux-1.1-pro" in result.output
    assert (tmp_path / "home/store/test-camp/hero/qa_resize/ig-feed-square.jpg").is_file()
    assert (tmp_path / "home/store/test-camp/cost_report.csv").is_file()
    assert (tmp_path / "home/dagster/dagster.yaml").is_file()
    report = CliRunner().invoke(main, ["report", "test-camp"])
    assert report.exit_code == 0 and "base_generation" in report.output
    assert "| flux-1.1-pro |" in report.output
    bad = CliRunner().invoke(main, ["run", str(brief), "--ad-set", "nope"])
    assert bad.exit_code == 2 and "no ad set ['nope']" in bad.output


@pytest.mark.parametrize(("defect", "edit"), [("noise", "denoise"), ("stray_object", "erase"),
                                              ("color_cast", "white_balance")])
def test_superficial_flaws_are_edited_surgically(instance, store, defect, edit):
    engines = Engines(image_generators={"local": DefectiveGenerator(defects=(defect,))},
                      video_generators={"local": LocalVideoGenerator(load_catalog())})
    register(instance, store, parse_brief({**BRIEF, "ad_sets": [{**BRIEF["ad_sets"][0],
                                                                "motion": None}]}, source="t"))
    outcome = run_ad_set(instance, KEY, max_rerolls=0, resources=resources(store, engines))
    assert outcome.success, outcome.error
    assert set(outcome.metadata["flaw_classification"]["verdicts"]) == {"edit"}
    manifest = store.get_manifest(KEY, "surgical_edit")
    applied = [e for e in manifest["edits"] if e["accepted"]]
    assert edit in [e["edit"] for e in applied]
    assert all(e["ssim_outside"] >= 0.98 for e in applied)
    assert manifest["remaining_flaws"] == []
    assert outcome.metadata["surgical_edit"]["changed_pixel_fraction"] > 0
    assert manifest["master_blob"] != manifest["source_blob"]
    # No candidate was acceptable as generated: editing saved a whole re-roll.
    assert outcome.metadata["surgical_edit"]["reroll_avoided_usd"] == pytest.approx(0.08)
    report = run_cost_report(instance, resources(store))
    assert report["saved_by_edits_usd/test-camp"] == pytest.approx(0.08)
