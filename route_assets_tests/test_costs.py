import io

import pandas as pd

from route_assets.costs import CostLine, cost_frame, markdown_table, report_csv, totals


def line(ad_set: str, stage: str, model: str, usd: float, cached: bool = False) -> CostLine:
    return CostLine(campaign="c", ad_set=ad_set, stage=stage, model=model, provider="local",
                    usd=usd, request_id=f"r-{ad_set}-{stage}-{usd}", cached=cached,
                    simulated=True, saved_usd=0.03 if cached else 0.0)


LINES = [
    line("a", "base_generation", "flux-1.1-pro", 0.04),
    line("a", "base_generation", "flux-1.1-pro", 0.04),
    line("a", "video_expansion", "veo-3.1-fast", 1.2),
    line("b", "base_generation", "seedream-4", 0.03),
    line("b", "base_generation", "seedream-4", 0.0, cached=True),
]


def test_totals_by_stage_and_model():
    frame = cost_frame(LINES)
    by_stage = totals(frame, "stage").set_index("stage")
    assert by_stage.loc["base_generation", "usd"] == 0.11
    assert by_stage.loc["video_expansion", "calls"] == 1
    by_model = totals(frame, "model")
    assert list(by_model["model"]) == ["veo-3.1-fast", "flux-1.1-pro", "seedream-4"]
    assert by_model.set_index("model").loc["seedream-4", "cached"] == 1


def test_csv_has_detail_and_per_stage_and_per_model_totals():
    table = pd.read_csv(io.StringIO(report_csv(cost_frame(LINES), edit_savings_usd=0.12,
                                               budget_usd=2.0)))
    assert table.loc[table["ad_set"] == "TOTAL", "usd"].item() == 1.31
    per_stage = table[table["ad_set"] == "TOTAL by stage"].set_index("stage")["usd"]
    assert per_stage.to_dict() == {"base_generation": 0.11, "video_expansion": 1.2}
    per_model = table[table["ad_set"] == "TOTAL by model"].set_index("model")["usd"]
    assert per_model["veo-3.1-fast"] == 1.2
    detail = table[table["ad_set"] == "a"]
    assert len(detail) == 2
    per_provider = table[table["ad_set"] == "TOTAL by provider"].set_index("provider")["usd"]
    assert per_provider.to_dict() == {"local": 1.31}
    assert table.loc[table["ad_set"] == "TOTAL", "saved_usd"].item() == 0.03  # the cache hit
    edits = table.loc[table["ad_set"] == "SAVED by edits instead of re-rolls", "saved_usd"]
    assert edits.item() == 0.12
    assert table.loc[table["ad_set"] == "BUDGET left", "usd"].item() == 0.69


def test_empty_frame_still_gives_a_header():
    assert report_csv(cost_frame([])).startswith("ad_set,stage,model,provider,usd")
    assert "TOTAL,,,,0.0,0" in report_csv(cost_frame([]))
    assert "| stage | usd |" in markdown_table(totals(cost_frame([]), "stage"))
