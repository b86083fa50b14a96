"""flaw_classification with the vision judge enabled by policy, against the emulator over
loopback: the judge's flaws join the measured ones, its cost is recorded and reserved in the
ledger, a repeat costs nothing, and a failing judge leaves the measured verdicts with a warning."""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from route_assets.assets.base_generation import base_generation
from route_assets.assets.flaw_classification import flaw_classification
from route_assets.brief import parse_brief
from route_assets.catalog import load_catalog
from route_assets.db import engine_for
from route_assets.emulator import Emulator
from route_assets.emulator.judge import OPENAI_KEY
from route_assets.engines.registry import Engines, local_engines
from route_assets.ledger import Ledger
from route_assets.manifests import ClassificationManifest
from route_assets.partitions import AdSetKey
from route_assets.runner import register
from route_assets.storage import LocalCreativeStore
from route_assets_tests.fakes import BlankImageGenerator

KEY = AdSetKey("judge-camp", "hero")
PRICE = load_catalog().get("gemini-2.5-flash").list_price.usd


def brief(judge: dict[str, Any]) -> dict[str, Any]:
    return {
        "campaign": KEY.campaign,
        "brand": {"name": "Test", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
        "budget_usd": 5.0,
        "markets": [{"id": "us", "locale": "en-US", "headline": "Glow all summer"}],
        "ad_sets": [{"id": KEY.ad_set, "market": "us", "tier": "draft", "candidates": 2,
                     "prompt": "a sunscreen bottle on sand", "subject": "sunscreen bottle",
                     "placements": ["ig-feed-square"]}],
        "policy": {"classify": {"judge": {"enabled": True, "model": "gemini-2.5-flash",
                                          **judge}}},
    }


def classify(tmp_path: Path, data: dict[str, Any], engines: Any = None
             ) -> tuple[ClassificationManifest, dict[str, Any], Ledger]:
    store = LocalCreativeStore(tmp_path / "store")
    ledger = Ledger(engine_for(f"sqlite:///{tmp_path}/ledger.db"))
    with dg.instance_for_test() as instance:
        register(instance, store, parse_brief(data, source="test"))
        resources = {"store": store, "ledger": ledger,
                     "engines": engines or local_engines(load_catalog())}
        metadata: dict[str, Any] = {}
        for _ in range(2):  # the second run must hit the request cache
            result = dg.materialize([base_generation, flaw_classification],
                                    partition_key=str(KEY), instance=instance,
                                    resources=resources, raise_on_error=False)
            # (an all-regenerate frame set fails the blocking check after materializing)
            event = result.asset_materializations_for_node("flaw_classification")[0]
            metadata = {k: v.value for k, v in event.metadata.items()}
    manifest = ClassificationManifest.model_validate(store.get_manifest(KEY,
                                                                        "flaw_classification"))
    return manifest, metadata, ledger


def test_openai_compatible_judge_flags_a_blank_frame_and_records_its_cost(
        tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_JUDGE_KEY", OPENAI_KEY)
    data = brief({"api": "openai", "base_url": f"{emu.root}/judge/openai/v1",
                  "key_env": "TEST_JUDGE_KEY"})
    # A generator that draws nothing: the judge (not the measures) says the brief is not shown.
    engines = Engines(image_generators={"local": BlankImageGenerator()}, video_generators={})
    manifest, metadata, _ = classify(tmp_path, data, engines)
    # Both candidates are the same blank frame: one paid call, the rest from the request cache.
    assert emu.submissions("openai") == 1
    for verdict in manifest.candidates:
        assert "prompt_mismatch" in {f.kind for f in verdict.flaws}
        assert verdict.verdict == "regenerate"
    lines = metadata["cost_lines"]
    assert [line["provider"] for line in lines] == ["judge-openai", "judge-openai"]
    assert all(line["cached"] and line["usd"] == 0 for line in lines)  # the second run
    assert metadata["judge"]["active"] and metadata["judge"]["warnings"] == []
    assert "anomaly_texture" in metadata["thresholds"]


def test_gemini_judge_failure_keeps_the_measured_verdicts(
        tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_GEMINI_KEY", emu.env()["GEMINI_API_KEY"])
    data = brief({"api": "gemini", "base_url": f"{emu.root}/judge/gemini",
                  "key_env": "TEST_GEMINI_KEY"})
    emu.inject("gemini", "503", model="gemini-2.5-flash", times=2)
    emu.inject("gemini", "malformed", model="gemini-2.5-flash", times=2)
    manifest, metadata, _ = classify(tmp_path, data)
    warnings = metadata["judge"]["warnings"]
    assert len(warnings) == 2 and all("measured verdict kept" in w for w in warnings)
    assert not any(f.kind == "prompt_mismatch" for v in manifest.candidates for f in v.flaws)
    # The 503s were not billed; the unreadable 200s were (one line each, on the second run).
    assert [line["usd"] for line in metadata["cost_lines"]] == [PRICE, PRICE]
    assert emu.env()["GEMINI_API_KEY"] not in str(warnings)


def test_judge_without_a_key_is_a_warning_not_a_failure(
        tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_MISSING_KEY", raising=False)
    data = brief({"api": "openai", "base_url": f"{emu.root}/judge/openai/v1",
                  "key_env": "TEST_MISSING_KEY"})
    _, metadata, _ = classify(tmp_path, data)
    assert metadata["judge"]["active"] is False
    assert "TEST_MISSING_KEY is not set" in metadata["judge"]["warnings"][0]
    assert metadata["cost_lines"] == [] and emu.attempts("openai") == 0
