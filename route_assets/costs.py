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


def cost_frame(lines: Iterable[CostLine]) -> pd.DataFrame:
    return pd.DataFrame([line.model_dump() for line in lines], columns=COLUMNS)


def totals(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Spend, call count and cache hits grouped by one column, most expensive first."""
    if frame.empty:
        return pd.DataFrame(columns=[by, "usd", "calls", "cached"])
    grouped = frame.groupby(by, as_index=False).agg(
        usd=("usd", "sum"), calls=("usd", "size"), cached=("cached", "sum")
    )
    grouped["usd"] = grouped["usd"].round(4)
    return grouped.sort_values(["usd", by], ascending=[False, True]).reset_index(drop=True)


def report_csv(frame: pd.DataFrame) -> str:
    """The campaign cost CSV: one row per (ad set, stage, model, provider) plus totals rows."""
    keys = ["ad_set", "stage", "model", "provider"]
    if frame.empty:
        return ",".join([*keys, "usd", "calls", "cached", "simulated"]) + "\n"
    detail = frame.groupby(keys, as_index=False).agg(
        usd=("usd", "sum"),
        calls=("usd", "size"),
        cached=("cached", "sum"),
        simulated=("simulated", "all"),
    )
    rows = [detail]
    for column in ("stage", "model"):
        per = frame.groupby(column, as_index=False).agg(
            usd=("usd", "sum"),
            calls=("usd", "size"),
            cached=("cached", "sum"),
            simulated=("simulated", "all"),
        )
        per.insert(0, "ad_set", f"TOTAL by {column}")
        rows.append(per)
    everything = pd.DataFrame(
        [
            {
                "ad_set": "TOTAL",
                "usd": frame["usd"].sum(),
                "calls": len(frame),
                "cached": int(frame["cached"].sum()),
                "simulated": bool(frame["simulated"].all()),
            }
        ]
    )
    out = pd.concat([*rows, everything], ignore_index=True)[
        [*keys, "usd", "calls", "cached", "simulated"]
    ]
    out["usd"] = out["usd"].round(4)
    return str(out.fillna("").to_csv(index=False))


def markdown_table(frame: pd.DataFrame) -> str:
    """A small markdown table (no tabulate dependency) for metadata and the CLI."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
