import dagster as dg
import pandas as pd

from route_assets.assets.base_generation import base_generation
from route_assets.assets.common import GROUP, OWNERS, STAGES
from route_assets.assets.flaw_classification import flaw_classification
from route_assets.assets.qa_resize import qa_resize
from route_assets.assets.surgical_edit import surgical_edit
from route_assets.assets.video_expansion import video_expansion
from route_assets.brief import BriefError, registered_brief
from route_assets.cost_events import cost_lines, edit_savings
from route_assets.costs import cost_frame, markdown_table, report_csv, totals
from route_assets.review import review_sheet
from route_assets.storage import CreativeStore

REVIEW_FILE = "review.html"
CSV_FILE = "cost_report.csv"
MD_FILE = "cost_report.md"


def _write_review(store: CreativeStore, campaign: str, part: pd.DataFrame, spent: float) -> str:
    """The campaign's review sheet, from the manifests of every registered ad set."""
    try:
        keys = registered_brief(store, campaign).partition_keys()
    except BriefError:
        keys = []
    ad_sets = {
        key.ad_set: {stage: m for stage in STAGES if (m := store.get_manifest(key, stage))}
        for key in keys
    }
    by_ad_set = part.groupby("ad_set")["usd"].sum()
    page = store.campaign_key(campaign, REVIEW_FILE)
    sheet = review_sheet(
        campaign=campaign,
        page_key=page,
        ad_sets=ad_sets,
        spent_usd=spent,
        cost_rows_by_ad_set=[(str(k), float(v)) for k, v in by_ad_set.items()],
    )
    return store.put_campaign_file(campaign, REVIEW_FILE, sheet.encode())


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    deps=[base_generation, flaw_classification, surgical_edit, qa_resize, video_expansion],
    kinds={"pandas", "csv"},
    code_version="1",
)
def campaign_cost_report(
    context: dg.AssetExecutionContext, store: dg.ResourceParam[CreativeStore]
) -> dg.MaterializeResult:
    """Spend per campaign by ad set, stage, model and provider, with savings and budget left."""
    frame = cost_frame(cost_lines(context.instance))
    savings = edit_savings(context.instance)
    metadata: dict[str, dg.RawMetadataValue] = {}
    sections = []
    for campaign, part in frame.groupby("campaign"):
        campaign = str(campaign)
        try:
            budget: float | None = registered_brief(store, campaign).budget_usd
        except BriefError:
            budget = None
        spent, by_cache = float(part["usd"].sum()), float(part["saved_usd"].sum())
        by_edits = savings.get(campaign, 0.0)
        csv = report_csv(part, edit_savings_usd=by_edits, budget_usd=budget)
        csv_key = store.put_campaign_file(campaign, CSV_FILE, csv.encode())
        left = "unknown" if budget is None else f"${budget - spent:.4f}"
        md = (
            f"## {campaign}: ${spent:.4f} spent, {left} of budget left\n\n"
            f"Saved ${by_cache:.4f} by cache hits and ${by_edits:.4f} by editing instead of "
            "re-rolling.\n\n"
            + "\n\n".join(
                markdown_table(totals(part, by)) for by in ("ad_set", "stage", "model", "provider")
            )
        )
        store.put_campaign_file(campaign, MD_FILE, md.encode())
        review_key = _write_review(store, campaign, part, spent)
        metadata[f"review/{campaign}"] = dg.MetadataValue.path(store.location(review_key))
        sections.append(md)
        metadata[f"cost_usd/{campaign}"] = dg.MetadataValue.float(round(spent, 4))
        metadata[f"saved_by_cache_usd/{campaign}"] = dg.MetadataValue.float(round(by_cache, 4))
        metadata[f"saved_by_edits_usd/{campaign}"] = dg.MetadataValue.float(round(by_edits, 4))
        if budget is not None:
            metadata[f"budget_left_usd/{campaign}"] = dg.MetadataValue.float(
                round(budget - spent, 4)
            )
        metadata[f"report/{campaign}"] = dg.MetadataValue.path(store.location(csv_key))
        context.log.info(f"{campaign}: ${spent:.4f} over {len(part)} calls")
    return dg.MaterializeResult(
        metadata={
            # The report itself costs nothing; campaign spend is under cost_usd/<campaign>.
            "cost_usd": dg.MetadataValue.float(0.0),
            "total_spend_usd": dg.MetadataValue.float(round(float(frame["usd"].sum()), 4)),
            "campaigns": dg.MetadataValue.int(len(sections)),
            "summary": dg.MetadataValue.md("\n\n".join(sections) or "no spend recorded yet"),
            **metadata,
        }
    )
