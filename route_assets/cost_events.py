"""Cost lines read back from the orchestrator's materialization events: the spend of record."""

from collections.abc import Iterator

import dagster as dg

from route_assets.assets.common import STAGES
from route_assets.costs import CostLine

PAGE = 1000


def _records(instance: dg.DagsterInstance, asset: str) -> Iterator[dg.EventLogRecord]:
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=PAGE, cursor=cursor
        )
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def cost_lines(instance: dg.DagsterInstance, *, campaign: str | None = None) -> list[CostLine]:
    """Every cost line of every materialization (re-runs cost money, so all events count)."""
    lines: list[CostLine] = []
    for asset in STAGES:
        for record in _records(instance, asset):
            materialization = record.asset_materialization
            value = materialization.metadata.get("cost_lines") if materialization else None
            if value is None:
                continue
            for raw in value.value or []:  # type: ignore[union-attr]
                line = CostLine.model_validate(raw)
                if campaign is None or line.campaign == campaign:
                    lines.append(line)
    return lines
