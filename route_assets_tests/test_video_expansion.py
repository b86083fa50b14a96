"""video_expansion on its own: K seeds on the local engine, scored, the best one cut into one
rendition per video placement; when every seed fails, nothing ships and the verdict says what
another try would cost."""

import dagster as dg
import numpy as np
import pytest
from skimage import data

from route_assets.assets.video_expansion import STAGE, video_expansion, video_need
from route_assets.brief import parse_brief
from route_assets.catalog import load_catalog, load_placements, load_policy
from route_assets.db import engine_for
from route_assets.engines.registry import local_engines
from route_assets.imaging import codecs, mp4_meta, video
from route_assets.ledger import Ledger
from route_assets.manifests import EditManifest
from route_assets.partitions import AdSetKey
from route_assets.routing import route
from route_assets.runner import register
from route_assets.storage import LocalCreativeStore

KEY = AdSetKey("vid", "hero")
PLACEMENTS = ["snapchat-single"]  # 1080x1920, 3-180 s: one full-size rendition keeps it quick


def _brief(thresholds: dict[str, float] | None = None) -> dict:
    policy: dict = {"video": {"seeds": 2, "long_side": 320}}
    if thresholds:
        policy["video"]["thresholds"] = thresholds
    return {
        "campaign": "vid", "brand": {"name": "T", "palette": ["#F2C14E", "#F78154"]},
        "budget_usd": 5.0, "policy": policy,
        "markets": [{"id": "us", "locale": "en-US", "headline": "Hi"}],
        "ad_sets": [{"id": "hero", "market": "us", "tier": "hero", "prompt": "an astronaut",
                     "subject": "astronaut", "motion": "budget", "placements": PLACEMENTS}],
    }


def _run(tmp_path, brief: dict) -> tuple[dg.MaterializeResult, LocalCreativeStore]:
    store = LocalCreativeStore(tmp_path / "store")
    image = data.astronaut()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[20:380, 120:360] = 1
    master = store.put_blob(codecs.encode_png(image), suffix=".png")
    mask_blob = store.put_blob(codecs.encode_gray_png(mask), suffix=".png")
    edit = EditManifest(ad_set=str(KEY), ad_set_sha="x", source_blob=master, master_blob=master,
                        master_file=master, edits=[], remaining_flaws=[],
                        subject_box=(120, 20, 360, 380),
                        subject_mask_blob=mask_blob,
                        palette_delta_e=None, width=512, height=512)
    store.put_manifest(KEY, "surgical_edit", edit.model_dump(mode="json"))
    ledger = Ledger(engine_for(f"sqlite:///{tmp_path}/ledger.db"))
    with dg.instance_for_test() as instance:
        register(instance, store, parse_brief(brief, source="test"))
        result = dg.materialize(
            [video_expansion], instance=instance, partition_key=str(KEY),
            resources={"store": store, "engines": local_engines(load_catalog()),
                       "ledger": ledger},
            raise_on_error=False)
    return result, store


def test_best_seed_ships_one_checked_rendition_per_placement(tmp_path) -> None:
    result, store = _run(tmp_path, _brief())
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"clips_decode": True, "usable_seed": True}
    manifest = store.get_manifest(KEY, STAGE)
    assert manifest["verdict"] == "accept" and len(manifest["seeds"]) == 2
    assert all(set(s["scores"]) >= {"coherence", "flicker", "drift", "jitter"}
               for s in manifest["seeds"])
    assert manifest["kept_seed"] in (0, 1)
    for clip in manifest["clips"]:
        spec = load_placements().get(clip["placement"])
        mp4 = store.get(clip["file"])
        info = video.probe_video(mp4)
        assert (info.width, info.height) == (spec.width, spec.height)
        assert spec.video.min_seconds <= info.seconds <= spec.video.max_seconds
        assert mp4_meta.is_faststart(mp4) and codecs.GENERATED.encode() in mp4_meta.read_xmp(mp4)
        assert b"trainedAlgorithmicMedia" in store.get(clip["poster_file"])
    lines = manifest["cost_lines"]
    assert len(lines) == 2 and all(line["usd"] > 0 for line in lines)  # K seeds, K payments


def test_all_seeds_failing_ships_nothing_and_prices_the_retry(tmp_path) -> None:
    # Thresholds no clip can meet: every seed fails, as a broken batch from a model would.
    result, store = _run(tmp_path, _brief({"coherence": 0.999999, "motion": 1e9}))
    assert not result.success  # the blocking check holds anything downstream
    manifest = store.get_manifest(KEY, STAGE)
    assert manifest["verdict"] == "regenerate" and manifest["clips"] == []
    assert all(s["failures"] for s in manifest["seeds"])
    assert manifest["retry_cost_usd"] == pytest.approx(
        sum(line["usd"] for line in manifest["cost_lines"]), rel=1e-6)
    published = tmp_path / "store" / "vid" / "hero" / STAGE
    assert not list(published.rglob("*.mp4"))  # no rendition shipped (seed clips stay as blobs)


def test_plan_prices_k_seeds() -> None:
    policy = load_policy()
    specs = [load_placements().get(p) for p in PLACEMENTS]
    one = route(video_need("budget", specs, policy.merged({"video": {"seeds": 1}})), policy,
                load_catalog(), frozenset({"local"}))
    three = route(video_need("budget", specs, policy.merged({"video": {"seeds": 3}})), policy,
                  load_catalog(), frozenset({"local"}))
    assert three.estimated_cost_usd == pytest.approx(3 * one.estimated_cost_usd)
