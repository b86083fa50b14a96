"""Materialize ad-set partitions in process on a persistent instance, re-rolling a partition
with new seeds (bounded by the policy) when no candidate is usable."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from route_assets.assets.flaw_classification import USABLE_CHECK
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
    resources: Mapping[str, object] = RESOURCES,
    provider_tags: Mapping[str, str] | None = None,
) -> AdSetOutcome:
    """Materialize the five stages for one partition, re-rolling (new seeds) while no
    candidate is usable; `provider_tags` (provider/<name>) let run queues cap each provider."""
    provider_tags = provider_tags or {}
    outcome = AdSetOutcome(key)
    for attempt in range(max_rerolls + 1):
        on_attempt(attempt)
        config = {"ops": {"base_generation": {"config": {"attempt": attempt, "variant": variant}}}}
        result = dg.materialize(
            STAGE_ASSETS,
            partition_key=str(key),
            instance=instance,
            resources=dict(resources),
            run_config={**config, **QUIET},
            raise_on_error=False,
            tags={"campaign": key.campaign, "attempt": str(attempt), **provider_tags},
        )
        outcome.attempts, outcome.success = attempt + 1, result.success
        outcome.run_ids.append(result.run_id)
        outcome.metadata.update(_metadata(result))
        if result.success:
            outcome.error = None
            return outcome
        outcome.error = _failure(result)
        unusable = any(
            e.check_name == USABLE_CHECK and not e.passed
            for e in result.get_asset_check_evaluations()
        )
        if not unusable:
            return outcome
    outcome.error = f"no usable candidate after {outcome.attempts} attempt(s) (max_rerolls)"
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
