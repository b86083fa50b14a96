"""What every stage asset shares: the partition, the registered brief, the policy, seeds and
metadata shapes."""

import hashlib
from dataclasses import dataclass
from typing import Any

import dagster as dg

from route_assets.brief import Brief, ResolvedAdSet, registered_brief
from route_assets.catalog import Policy
from route_assets.costs import CostLine
from route_assets.imaging.classify import Thresholds
from route_assets.partitions import PARTITIONS_NAME, AdSetKey
from route_assets.storage import CreativeStore

GROUP = "creative"
OWNERS = ["team:creative-ops"]
ad_set_partitions = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)

STAGES = ("base_generation", "flaw_classification", "surgical_edit", "qa_resize", "video_expansion")

COMMON: dict[str, Any] = {
    "partitions_def": ad_set_partitions,
    "group_name": GROUP,
    "owners": OWNERS,
}


@dataclass(frozen=True)
class StageInput:
    key: AdSetKey
    brief: Brief
    ad_set: ResolvedAdSet
    policy: Policy


def stage_input(context: dg.AssetExecutionContext, store: CreativeStore) -> StageInput:
    key = AdSetKey.parse(context.partition_key)
    brief = registered_brief(store, key.campaign)
    return StageInput(key, brief, brief.ad_set(key.ad_set), brief.effective_policy())


def thresholds(policy: Policy) -> Thresholds:
    """The classifier thresholds: the policy file's, with any brief overrides."""
    return Thresholds.from_dict(dict(policy.thresholds))


def seed_for(key: AdSetKey, *, variant: str, attempt: int, index: int) -> int:
    """Deterministic seeds: the same partition, variant and attempt always ask for the same
    images (so re-materializing hits the cache), and a new attempt or variant never does."""
    digest = hashlib.sha256(f"{key}|{variant}|{attempt}|{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def cost_metadata(lines: list[CostLine]) -> dict[str, dg.MetadataValue]:
    return {
        "cost_usd": dg.MetadataValue.float(round(float(sum(line.usd for line in lines)), 6)),
        "cost_lines": dg.MetadataValue.json([line.model_dump() for line in lines]),
        "cached_calls": dg.MetadataValue.int(sum(line.cached for line in lines)),
    }


def manifest_metadata(store: CreativeStore, key: str) -> dict[str, dg.MetadataValue]:
    return {"manifest": dg.MetadataValue.path(store.location(key))}
