"""video_expansion on its own: K seeds on the local engine, scored, the best one cut into one
rendition per video placement; when every seed fails, nothing ships and the verdict says what
another try would cost."""

import dagster as dg
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from skimage import data

from route_assets import settings
from route_assets.assets.video_expansion import STAGE, video_expansion
from route_assets.automation import SHA_TAG, reroll_sensor
from route_assets.brief import parse_brief
from route_assets.catalog import load_catalog, load_placements, load_policy
from route_assets.cli import main
from route_assets.db import engine_for
from route_assets.definitions import defs
from route_assets.engines.registry import local_engines
from route_assets.imaging import codecs, mp4_meta, video
from route_assets.ledger import Ledger
from route_assets.manifests import EditManifest
from route_assets.partitions import AdSetKey
from route_assets.routing import route
from route_assets.runner import register
from route_assets.storage import CreativeStore, LocalCreativeStore, open_store
from route_assets.video_plan import video_need

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


def _keyframe(store: CreativeStore) -> None:
    """The surgical_edit manifest video_expansion animates: the astronaut and her mask."""
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


def _run(tmp_path, brief: dict) -> tuple[dg.MaterializeResult, LocalCreativeStore]:
    store = LocalCreativeStore(tmp_path / "store")
    _keyframe(store)
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


def test_plan_prices_the_k_seeds_the_stage_buys(tmp_path) -> None:
    brief = _brief()
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(brief), encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(tmp_path / "b.yaml")],
                                env={"ROUTE_ASSETS_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.split()[1:2] == ["video"]]
    assert len(rows) == 1 and "2 seeds x" in " ".join(rows[0])  # one master clip, K seeds
    policy = parse_brief(brief, source="test").effective_policy()
    specs = [load_placements().get(p) for p in PLACEMENTS]
    expected = route(video_need("budget", specs, policy), policy, load_catalog(),
                     frozenset({"local"})).estimated_cost_usd
    assert f"${expected:.4f}" in rows[0]


@pytest.fixture()
def home(tmp_path, monkeypatch) -> CreativeStore:
    """Everything (store, ledger, briefs) where the sensor finds it, as in production."""
    for var in ("ROUTE_ASSETS_STORE", "ROUTE_ASSETS_S3_ENDPOINT_URL", "ROUTE_ASSETS_DB_URL",
                *(key for key, _, _ in settings.PROVIDER_ENV.values())):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(tmp_path / "home"))
    store = open_store(settings.store_url())
    _keyframe(store)
    return store


def test_every_seed_failing_rerolls_the_video_alone_within_policy_and_budget(
        home: CreativeStore, capfd) -> None:
    raw = _brief({"coherence": 0.999999, "motion": 1e9})  # every seed fails
    raw["policy"]["max_rerolls"] = 1
    brief = parse_brief(raw, source="test")
    policy = brief.effective_policy()
    job = defs.resolve_job_def("creative_job")
    only_video = [dg.AssetKey(STAGE)]
    with dg.instance_for_test() as instance:
        register(instance, home, brief)
        tags = {"campaign": "vid", "attempt": "0", SHA_TAG: brief.ad_set("hero").sha}
        first = job.execute_in_process(partition_key=str(KEY), asset_selection=only_video,
                                       tags=tags, instance=instance, raise_on_error=False)
        assert not first.success
        seeds = [s["seed"] for s in home.get_manifest(KEY, STAGE)["seeds"]]
        retry = home.get_manifest(KEY, STAGE)["retry_cost_usd"]
        assert len(seeds) == policy.video.seeds and retry > 0

        result = reroll_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
        again = reroll_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(again, dg.SensorResult)
        request = result.run_requests[0]
        # The same failure always yields the same run key: the daemon never submits it twice.
        assert [r.run_key for r in again.run_requests] == [request.run_key]
        assert request.run_key == f"video-reroll:{KEY}:1:{first.run_id}"
        assert request.asset_selection == only_video  # the keyframe is not paid for again
        assert request.tags["video_attempt"] == "1" and request.tags["attempt"] == "0"
        assert request.partition_key == str(KEY) and not request.run_config

        # A retry the budget cannot cover is not requested.
        ledger = Ledger(engine_for(settings.db_url()))
        left = brief.budget_usd - ledger.committed("vid")
        hold = ledger.reserve(campaign="vid", budget_usd=brief.budget_usd,
                              amount_usd=left - retry / 2, stage="test", model="m", provider="p")
        capfd.readouterr()
        broke = reroll_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(broke, dg.SensorResult) and not broke.run_requests
        assert "budget left" in capfd.readouterr().err
        ledger.release(hold)

        second = job.execute_in_process(
            partition_key=request.partition_key, asset_selection=request.asset_selection,
            tags=request.tags, instance=instance, raise_on_error=False)
        assert not second.success
        manifest = home.get_manifest(KEY, STAGE)
        assert not set(seeds) & {s["seed"] for s in manifest["seeds"]}  # new seeds
        assert all(not line["cached"] for line in manifest["cost_lines"])

        capfd.readouterr()
        last = reroll_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert isinstance(last, dg.SensorResult) and not last.run_requests
        assert f"max_rerolls={policy.max_rerolls} reached" in capfd.readouterr().err
