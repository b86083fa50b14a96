"""The one Definitions object: everything Dagster sees is listed here."""

import dagster as dg

from route_assets.assets.base_generation import base_generation
from route_assets.assets.cost_report import campaign_cost_report
from route_assets.assets.flaw_classification import flaw_classification
from route_assets.assets.qa_resize import qa_resize
from route_assets.assets.surgical_edit import surgical_edit
from route_assets.assets.video_expansion import video_expansion
from route_assets.automation import SCHEDULES, SENSORS
from route_assets.resources import EnginesResource, LedgerResource, StoreResource

STAGE_ASSETS = [base_generation, flaw_classification, surgical_edit, qa_resize, video_expansion]
ALL_ASSETS = [*STAGE_ASSETS, campaign_cost_report]

creative_job = dg.define_asset_job(
    "creative_job",
    selection=dg.AssetSelection.assets(*STAGE_ASSETS),
    description="All five stages for one ad-set partition.",
)

RESOURCES = {"store": StoreResource(), "engines": EnginesResource(), "ledger": LedgerResource()}

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[creative_job],
    resources=RESOURCES,
    sensors=SENSORS,
    schedules=SCHEDULES,
    # One process per run: the multiprocess executor costs ~3 s per step on 2 cores and
    # parallelism comes from one run per partition.
    executor=dg.in_process_executor,
)
