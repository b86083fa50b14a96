"""Cost lines read back from the orchestrator's materialization events: the spend of record."""

from collections.abc import Iterator

import dagster as dg

from route_assets.assets.common import STAGES
from route_assets.costs import CostLine
from route_assets.partitions import AdSetKey

PAGE = 1000


def _records(instance: dg.DagsterInstance, asset: str) -> Iterator[dg.EventLogRecord]:
    # Materializations carry the spend of successful stages; observations carry what a failed
    # stage paid for before it failed.
    for fetch in (instance.fetch_materializations, instance.fetch_observations):
        cursor = None
        while True:
            page = fetch(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=PAGE, cursor=cursor
            )
            yield from page.records
            if not page.has_more:
                break
            cursor = page.cursor


def cost_lines(instance: dg.DagsterInstance, *, campaign: str | None = None) -> list[CostLine]:
    """Every cost line of every materialization (re-runs cost money, so all events count)."""
    lines: list[CostLine] = []
    for asset in STAGES:
        for record in _records(instance, asset):
            event = record.asset_materialization or record.asset_observation
            value = event.metadata.get("cost_lines") if event else None
            if value is None:
                continue
            for raw in value.value or []:  # type: ignore[union-attr]
                line = CostLine.model_validate(raw)
                if campaign is None or line.campaign == campaign:
                    lines.append(line)
    return lines


def edit_savings(instance: dg.DagsterInstance) -> dict[str, float]:
    """Per campaign, the generation cost that edits made unnecessary (surgical_edit metadata)."""
    out: dict[str, float] = {}
    for record in _records(instance, "surgical_edit"):
        event = record.asset_materialization
        value = event.metadata.get("reroll_avoided_usd") if event else None
        if event is None or value is None or event.partition is None:
            continue
        campaign = AdSetKey.parse(event.partition).campaign
        out[campaign] = out.get(campaign, 0.0) + float(value.value)  # type: ignore[arg-type]
    return out
