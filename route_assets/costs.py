"""Cost as data: one CostLine per call, and pure pandas roll-ups of them."""

from collections.abc import Iterable

import pandas as pd
from pydantic import BaseModel, ConfigDict

COLUMNS = [
    "campaign",
    "ad_set",
    "stage",
    "model",
    "provider",
    "usd",
    "request_id",
    "cached",
    "simulated",
    "saved_usd",
]


class CostLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign: str
    ad_set: str
    stage: str
    model: str
    provider: str
    usd: float
    request_id: str
    cached: bool = False
    simulated: bool = False  # local engines charge the hosted list price as simulated spend
    saved_usd: float = 0.0  # a cache hit: what the original call cost, not paid again


def cost_frame(lines: Iterable[CostLine]) -> pd.DataFrame:
    return pd.DataFrame([line.model_dump() for line in lines], columns=COLUMNS)


def totals(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Spend, call count and cache hits grouped by one column, most expensive first."""
    if frame.empty:
        return pd.DataFrame(columns=[by, "usd", "calls", "cached", "saved_usd"])
    grouped = frame.groupby(by, as_index=False).agg(
        usd=("usd", "sum"),
        calls=("usd", "size"),
        cached=("cached", "sum"),
        saved_usd=("saved_usd", "sum"),
    )
    grouped[["usd", "saved_usd"]] = grouped[["usd", "saved_usd"]].round(4)
    return grouped.sort_values(["usd", by], ascending=[False, True]).reset_index(drop=True)


AGGREGATES = {
    "usd": ("usd", "sum"),
    "calls": ("usd", "size"),
    "cached": ("cached", "sum"),
    "saved_usd": ("saved_usd", "sum"),
    "simulated": ("simulated", "all"),
}
REPORT_KEYS = ["ad_set", "stage", "model", "provider"]
REPORT_COLUMNS = [*REPORT_KEYS, *AGGREGATES]


def report_csv(
    frame: pd.DataFrame, *, edit_savings_usd: float = 0.0, budget_usd: float | None = None
) -> str:
    """The campaign cost CSV: one row per (ad set, stage, model, provider), totals by stage, by
    model and by provider, then the campaign's total, its savings and the budget left."""
    rows = [frame.groupby(REPORT_KEYS, as_index=False).agg(**AGGREGATES)] if len(frame) else []
    for column in ("stage", "model", "provider"):
        if len(frame):
            per = frame.groupby(column, as_index=False).agg(**AGGREGATES)
            per.insert(0, "ad_set", f"TOTAL by {column}")
            rows.append(per)
    spent = float(frame["usd"].sum()) if len(frame) else 0.0
    summary = [
        {
            "ad_set": "TOTAL",
            "usd": spent,
            "calls": len(frame),
            "cached": int(frame["cached"].sum()) if len(frame) else 0,
            "saved_usd": float(frame["saved_usd"].sum()) if len(frame) else 0.0,
        },
        {"ad_set": "SAVED by edits instead of re-rolls", "saved_usd": edit_savings_usd},
    ]
    if budget_usd is not None:
        summary.append({"ad_set": "BUDGET left", "usd": budget_usd - spent})
    out = pd.concat([*rows, pd.DataFrame(summary)], ignore_index=True)
    out = out.reindex(columns=REPORT_COLUMNS)
    out[["usd", "saved_usd"]] = out[["usd", "saved_usd"]].round(4)
    return str(out.to_csv(index=False))


def markdown_table(frame: pd.DataFrame) -> str:
    """A small markdown table (no tabulate dependency) for metadata and the CLI."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
