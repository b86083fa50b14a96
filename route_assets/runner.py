"""Materialize ad-set partitions in process on a persistent instance, re-rolling a partition
with new seeds (bounded by the policy) when no candidate is usable, and its video alone (new
clip seeds, same keyframe) when every clip seed failed."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from route_assets.assets.flaw_classification import USABLE_CHECK
from route_assets.assets.video_expansion import ATTEMPT_TAG as VIDEO_ATTEMPT_TAG
from route_assets.assets.video_expansion import SEED_CHECK
from route_assets.assets.video_expansion import STAGE as VIDEO_STAGE
from route_assets.brief import Brief, save_brief
from route_assets.catalog import LOCAL, load_catalog
from route_assets.definitions import RESOURCES, STAGE_ASSETS, campaign_cost_report
from route_assets.partitions import PARTITIONS_NAME, AdSetKey
from route_assets.routing import Need, route
from route_assets.storage import CreativeStore

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class AdSetOutcome:
    key: AdSetKey
    attempts: int = 0
    success: bool = False
    run_ids: list[str] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset -> metadata
    error: str | None = None


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The message a user can act on: a Failure's description, else the root exception."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            return f"{event.step_key}: {data.user_failure_data.description}"
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            return f"{event.step_key}: {error.message.strip()}"
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    return f"failed check(s): {', '.join(failed)}" if failed else "run failed"


def _failed(result: dg.ExecuteInProcessResult, check: str) -> bool:
    return any(e.check_name == check and not e.passed
               for e in result.get_asset_check_evaluations())


def register(instance: dg.DagsterInstance, store: CreativeStore, brief: Brief) -> list[AdSetKey]:
    """Save the brief where runs read it and add its partitions (idempotent)."""
    save_brief(store, brief)
    keys = brief.partition_keys()
    instance.add_dynamic_partitions(PARTITIONS_NAME, [str(k) for k in keys])
    return keys


def run_ad_set(
    instance: dg.DagsterInstance,
    key: AdSetKey,
    *,
    max_rerolls: int,
    variant: str = "",
    on_attempt: Callable[[int], None] = lambda attempt: None,
    on_video_attempt: Callable[[int], None] = lambda video_attempt: None,
    resources: Mapping[str, object] = RESOURCES,
    provider_tags: Mapping[str, str] | None = None,
) -> AdSetOutcome:
    """Materialize the five stages for one partition, re-rolling (new seeds) while no
    candidate is usable, and the video alone while every clip seed fails (each bounded by
    `max_rerolls`); `provider_tags` (provider/<name>) let run queues cap each provider."""
    tags = {"campaign": key.campaign, **(provider_tags or {})}
    outcome = AdSetOutcome(key)

    def materialize(run_config: dict[str, Any], run_tags: dict[str, str],
                    selection: list[str] | None = None) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            STAGE_ASSETS, selection=selection, partition_key=str(key), instance=instance,
            resources=dict(resources), run_config={**run_config, **QUIET},
            raise_on_error=False, tags={**tags, **run_tags})
        outcome.success = result.success
        outcome.run_ids.append(result.run_id)
        outcome.metadata.update(_metadata(result))
        outcome.error = None if result.success else _failure(result)
        return result

    for attempt in range(max_rerolls + 1):
        on_attempt(attempt)
        config = {"ops": {"base_generation": {"config": {"attempt": attempt, "variant": variant}}}}
        result = materialize(config, {"attempt": str(attempt)})
        outcome.attempts = attempt + 1
        if result.success:
            return outcome
        if _failed(result, SEED_CHECK):
            return _reroll_video(materialize, outcome, attempt, max_rerolls, on_video_attempt)
        if not _failed(result, USABLE_CHECK):
            return outcome
    outcome.error = f"no usable candidate after {outcome.attempts} attempt(s) (max_rerolls)"
    return outcome


def _reroll_video(materialize: Callable[..., dg.ExecuteInProcessResult], outcome: AdSetOutcome,
                  attempt: int, max_rerolls: int, on_video_attempt: Callable[[int], None]
                  ) -> AdSetOutcome:
    """video_expansion alone with new clip seeds (the keyframe and images are kept and not
    paid for again), as the re-roll sensor does for scheduled runs; the budget is enforced
    where each clip is bought."""
    for video_attempt in range(1, max_rerolls + 1):
        on_video_attempt(video_attempt)
        result = materialize({}, {"attempt": str(attempt), VIDEO_ATTEMPT_TAG: str(video_attempt)},
                             selection=[VIDEO_STAGE])
        if result.success or not _failed(result, SEED_CHECK):
            return outcome
    outcome.error = (f"every video seed failed on {max_rerolls + 1} video attempt(s) "
                     f"(max_rerolls); images and placements were kept")
    return outcome


def run_cost_report(
    instance: dg.DagsterInstance, resources: Mapping[str, object] = RESOURCES
) -> dict[str, Any]:
    result = dg.materialize(
        [campaign_cost_report],
        instance=instance,
        resources={"store": resources["store"]},
        run_config=QUIET,
    )
    return _metadata(result)["campaign_cost_report"]


def provider_tags(brief: Brief, ad_set_id: str, available: frozenset[str]) -> dict[str, str]:
    """provider/<name> tags for every hosted provider this ad set's routing would use."""
    policy, ad_set = brief.effective_policy(), brief.ad_set(ad_set_id)
    width, height = policy.image_size
    needs = [Need("generate", ad_set.tier, width=width, height=height)]
    if ad_set.motion:
        needs.append(Need("video", ad_set.motion, seconds=policy.video_seconds))
    providers = {route(n, policy, load_catalog(), available).provider for n in needs}
    return {f"provider/{p}": "1" for p in sorted(providers - {LOCAL})}
