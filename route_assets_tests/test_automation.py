"""The brief sensor, the re-roll sensor and the nightly schedule, on a real SQLite instance and a
local store under tmp dirs (everything found through the same environment variables as prod)."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from route_assets import settings
from route_assets.automation import (
    SCHEDULES,
    SENSORS,
    brief_sensor,
    nightly_refresh,
    reroll_sensor,
)
from route_assets.brief import parse_brief, save_brief
from route_assets.catalog import load_catalog
from route_assets.definitions import ALL_ASSETS, RESOURCES, creative_job
from route_assets.engines.local import LocalVideoGenerator
from route_assets.engines.registry import Engines
from route_assets.partitions import PARTITIONS_NAME
from route_assets.storage import open_store
from route_assets_tests.fakes import BlankImageGenerator, DefectiveGenerator

AD_SET = {"market": "us", "tier": "volume", "subject": "sunscreen bottle", "candidates": 1,
          "placements": ["ig-feed-square"]}
BRIEF: dict[str, Any] = {
    "campaign": "acme",
    "brand": {"name": "Acme", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
    "budget_usd": 5.0,
    "markets": [{"id": "us", "locale": "en-US", "headline": "Glow all summer"}],
    "ad_sets": [{"id": "hero", "prompt": "a sunscreen bottle on sand", **AD_SET},
                {"id": "promo", "prompt": "a sunscreen bottle by a pool", **AD_SET}],
    "policy": {"max_rerolls": 1},
}


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("ROUTE_ASSETS_STORE", "ROUTE_ASSETS_S3_ENDPOINT_URL", "ROUTE_ASSETS_DB_URL",
                *(key for key, _, _ in settings.PROVIDER_ENV.values())):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROUTE_ASSETS_BRIEFS", str(tmp_path / "briefs"))
    (tmp_path / "briefs").mkdir()
    return tmp_path / "briefs"


@pytest.fixture()
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def write(folder: Path, name: str, brief: dict[str, Any]) -> None:
    (folder / name).write_text(yaml.safe_dump(brief), encoding="utf-8")


def tick(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    result = brief_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the daemon does with the result (build_sensor_context does not add partitions)."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(PARTITIONS_NAME, list(request.partition_keys or []))


def job_with(resources: dict[str, Any]) -> dg.JobDefinition:
    defs = dg.Definitions(assets=ALL_ASSETS, jobs=[creative_job], resources=resources,
                          sensors=SENSORS, schedules=SCHEDULES, executor=dg.in_process_executor)
    dg.Definitions.validate_loadable(defs)
    return defs.resolve_job_def("creative_job")


def execute(job: dg.JobDefinition, instance: dg.DagsterInstance,
            request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return job.execute_in_process(
        run_config=request.run_config, partition_key=request.partition_key, tags=request.tags,
        instance=instance, raise_on_error=False,
    )


def test_missing_briefs_folder_skips(env: Path, instance, monkeypatch) -> None:
    monkeypatch.setenv("ROUTE_ASSETS_BRIEFS", str(env / "nowhere"))
    result = brief_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and "does not exist" in (result.skip_message or "")


def test_new_unchanged_and_edited_briefs(env: Path, instance) -> None:
    write(env, "acme.yaml", BRIEF)
    first = tick(instance)
    assert first.dynamic_partitions_requests[0].partition_keys == ["acme/hero", "acme/promo"]
    assert [r.partition_key for r in first.run_requests] == ["acme/hero", "acme/promo"]
    hero = first.run_requests[0]
    sha = parse_brief(BRIEF, source="t").ad_set("hero").sha
    assert hero.run_key == f"brief:acme/hero:{sha}"
    assert hero.tags["campaign"] == "acme" and hero.tags["attempt"] == "0"
    assert hero.run_config == {"ops": {"base_generation": {"config": {"attempt": 0,
                                                                      "variant": ""}}}}
    store = open_store(settings.store_url())
    assert store.get_campaign_file("acme", "brief.json") is not None  # snapshot registered

    apply(instance, first)
    again = tick(instance, first.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests
    assert again.skip_reason is not None

    edited = copy.deepcopy(BRIEF)
    edited["ad_sets"][1]["prompt"] = "a sunscreen bottle on a boat"
    write(env, "acme.yaml", edited)
    third = tick(instance, again.cursor)
    assert [r.partition_key for r in third.run_requests] == ["acme/promo"]
    assert third.run_requests[0].run_key != first.run_requests[1].run_key
    assert not third.dynamic_partitions_requests
    assert b"on a boat" in (store.get_campaign_file("acme", "brief.json") or b"")


def test_invalid_brief_is_reported_and_the_valid_one_processed(env: Path, instance,
                                                               capfd) -> None:
    write(env, "acme.yaml", BRIEF)
    broken = copy.deepcopy(BRIEF) | {"campaign": "other", "budget_usd": -1}
    write(env, "broken.yaml", broken)
    write(env, "twin.yaml", BRIEF)  # a second file for the same campaign
    result = tick(instance)
    assert len(result.run_requests) == 2
    assert json.loads(result.cursor or "")["invalid"] == ["broken.yaml", "twin.yaml"]
    # context.log goes to the tick's log in the UI; the dagster logger does not propagate to
    # the root logger, so caplog cannot see it: read the console handler's stderr instead.
    err = capfd.readouterr().err
    assert "budget_usd: Input should be greater than 0" in err
    assert "acme.yaml; give each campaign one brief file" in err
    apply(instance, result)
    quiet = tick(instance, result.cursor)
    assert "broken.yaml, twin.yaml" in (quiet.skip_reason.skip_message or "")  # type: ignore


def test_sensor_run_request_executes(env: Path, instance) -> None:
    write(env, "acme.yaml", BRIEF)
    result = tick(instance)
    apply(instance, result)
    # Flawless frames from the real simulator: whether the requested run goes through end to end
    # must not hang on a random draw of the catalog's defect rates (re-rolls are tested below).
    clean = Engines(image_generators={"local": DefectiveGenerator(defects=())},
                    video_generators={"local": LocalVideoGenerator(load_catalog())})
    run = execute(job_with({**RESOURCES, "engines": clean}), instance, result.run_requests[0])
    assert run.success
    assert run.dagster_run.tags["dagster/partition"] == "acme/hero"


def test_reroll_requests_next_attempt_until_max_rerolls(env: Path, instance, capfd) -> None:
    write(env, "acme.yaml", BRIEF)
    first = tick(instance)
    apply(instance, first)
    generator = BlankImageGenerator()
    blank = Engines(image_generators={"local": generator},
                    video_generators={"local": LocalVideoGenerator(load_catalog())})
    job = job_with({**RESOURCES, "engines": blank})
    assert not execute(job, instance, first.run_requests[0]).success

    result = reroll_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
    reroll = result.run_requests[0]
    sha = first.run_requests[0].tags["ad_set_sha"]
    assert reroll.run_key == f"reroll:acme/hero::1:{sha}" and reroll.tags["attempt"] == "1"
    assert reroll.partition_key == "acme/hero" and reroll.tags["campaign"] == "acme"
    assert reroll.run_config["ops"]["base_generation"]["config"] == {"attempt": 1,
                                                                     "variant": ""}
    assert not execute(job, instance, reroll).success  # attempt 1 == max_rerolls, fails too
    assert len({r.seed for r in generator.requests}) == 2  # the re-roll asked for new seeds

    capfd.readouterr()
    last = reroll_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
    assert isinstance(last, dg.SensorResult) and not last.run_requests
    assert "max_rerolls=1 reached" in capfd.readouterr().err


def register_campaign(instance: dg.DagsterInstance, campaign: str, refresh: dict) -> None:
    brief = parse_brief(copy.deepcopy(BRIEF) | {"campaign": campaign, "refresh": refresh},
                        source="t")
    save_brief(open_store(settings.store_url()), brief)
    instance.add_dynamic_partitions(PARTITIONS_NAME, [str(k) for k in brief.partition_keys()])


def schedule_at(instance: dg.DagsterInstance, when: datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    result = nightly_refresh(context)
    return result if isinstance(result, list) else []


def test_nightly_refresh_at_each_campaigns_local_hour(env: Path, instance) -> None:
    register_campaign(instance, "ny", {"nightly": True, "timezone": "America/New_York",
                                       "hour": 3})
    register_campaign(instance, "tokyo", {"nightly": True, "timezone": "Asia/Tokyo", "hour": 3})
    register_campaign(instance, "off", {"nightly": False, "timezone": "UTC", "hour": 8})

    at_8 = schedule_at(instance, datetime(2026, 1, 15, 8, tzinfo=UTC))  # 03:00 in New York
    assert [r.run_key for r in at_8] == ["nightly:2026-01-15:ny/hero",
                                         "nightly:2026-01-15:ny/promo"]
    assert all(r.tags["refresh"] == "nightly" for r in at_8)
    job = job_with(RESOURCES)
    for request in at_8:
        assert request.run_config["ops"]["base_generation"]["config"]["variant"] == "2026-01-15"
        assert dg.validate_run_config(job, request.run_config)
    assert [r.run_key for r in schedule_at(instance, datetime(2026, 1, 15, 8,
                                                                  tzinfo=UTC))] == \
        [r.run_key for r in at_8]  # same tick twice: same keys, Dagster launches them once

    at_18 = schedule_at(instance, datetime(2026, 1, 15, 18, tzinfo=UTC))  # 03:00 next day, Tokyo
    assert [r.run_key for r in at_18] == ["nightly:2026-01-16:tokyo/hero",
                                          "nightly:2026-01-16:tokyo/promo"]
    skipped = nightly_refresh(dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 1, 15, 9, tzinfo=UTC)))
    assert isinstance(skipped, dg.SkipReason)


def test_briefs_in_an_s3_prefix(env: Path, instance, monkeypatch, s3_server, s3_bucket,
                                s3_client) -> None:
    """ROUTE_ASSETS_BRIEFS=s3://bucket/prefix, read from a real S3-compatible server."""
    monkeypatch.setenv("ROUTE_ASSETS_BRIEFS", f"s3://{s3_bucket}/briefs/")
    monkeypatch.setenv("ROUTE_ASSETS_S3_ENDPOINT_URL", s3_server)
    s3_client.put_object(Bucket=s3_bucket, Key="briefs/acme.yaml", Body=yaml.safe_dump(BRIEF))
    broken = copy.deepcopy(BRIEF) | {"campaign": "other", "budget_usd": -1}
    s3_client.put_object(Bucket=s3_bucket, Key="briefs/other.yaml", Body=yaml.safe_dump(broken))
    s3_client.put_object(Bucket=s3_bucket, Key="elsewhere/x.yaml", Body=b"not: [a brief")
    result = tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["acme/hero", "acme/promo"]
    assert "other.yaml" in (result.cursor or "")
