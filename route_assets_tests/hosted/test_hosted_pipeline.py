"""The whole pipeline against the provider emulator over real loopback HTTP, with only base
URLs and dummy keys set: routing to hosted models, money safety and secrets."""

import json

import dagster as dg
import httpx
import pytest

from route_assets import settings
from route_assets.brief import parse_brief
from route_assets.catalog import load_catalog
from route_assets.db import engine_for
from route_assets.emulator.server import Emulator
from route_assets.engines.registry import engines_for
from route_assets.journal import SqlRequestJournal
from route_assets.ledger import Ledger
from route_assets.partitions import AdSetKey
from route_assets.providers.hosted import HostedProvider
from route_assets.runner import register, run_ad_set
from route_assets.storage import LocalCreativeStore

KEYS = {"fal": "fal-KEY-7d1e-SECRET", "replicate": "r8_SECRET_d00d", "bfl": "bfl-SECRET-42",
        "gemini": "AIza-SECRET-gem"}
BRIEF = {
    "campaign": "hosted",
    "brand": {"name": "Test", "palette": ["#F2C14E", "#F78154", "#4D9078"]},
    "budget_usd": 20.0,
    "markets": [{"id": "us", "locale": "en-US", "headline": "Glow all summer"}],
    "ad_sets": [
        {"id": "hero", "market": "us", "tier": "hero", "prompt": "a sunscreen bottle",
         "subject": "sunscreen bottle", "candidates": 2, "motion": "realistic",
         "placements": ["ig-feed-square", "snapchat-single"]},
        {"id": "volume", "market": "us", "tier": "volume", "prompt": "a sunscreen bottle",
         "subject": "sunscreen bottle", "candidates": 2, "placements": ["ig-feed-square"]},
    ],
}
# video_expansion pays for K seeds (one submission each) and keeps the best.
SEEDS = parse_brief(BRIEF, source="test").effective_policy().video.seeds


@pytest.fixture(scope="module")
def emulator():
    with Emulator(keys=KEYS) as emu:
        yield emu


@pytest.fixture()
def hosted(emulator, tmp_path, monkeypatch):
    emulator.reset()
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ROUTE_ASSETS_HOME", str(tmp_path))
    db = engine_for(f"sqlite:///{tmp_path}/money.db")
    store = LocalCreativeStore(tmp_path / "store")
    engines = engines_for(load_catalog(), settings.providers(), SqlRequestJournal(db),
                          poll_interval_s=0.02)
    with dg.instance_for_test() as instance:
        register(instance, store, parse_brief(BRIEF, source="test"))
        yield {"instance": instance, "store": store, "ledger": Ledger(db),
               "resources": {"store": store, "engines": engines, "ledger": Ledger(db)},
               "emulator": emulator, "journal": SqlRequestJournal(db)}


def run(h, ad_set: str):
    return run_ad_set(h["instance"], AdSetKey("hosted", ad_set), max_rerolls=1,
                      resources=h["resources"])


def test_keys_enable_hosted_providers(hosted):
    assert set(settings.providers()) == {"fal", "replicate", "bfl", "gemini"}
    assert all(p.trusted_base for p in settings.providers().values())


def test_pipeline_runs_on_hosted_providers_and_records_spend(hosted):
    outcome = run(hosted, "hero")
    assert outcome.success, outcome.error
    gen, vid = outcome.metadata["base_generation"], outcome.metadata["video_expansion"]
    assert (gen["model"], gen["provider"]) == ("flux-1.1-pro", "bfl")
    assert (vid["model"], vid["provider"]) == ("veo-3.1-fast", "gemini")
    emu = hosted["emulator"]
    assert emu.submissions("bfl") == 2 and emu.submissions("gemini") == SEEDS
    assert len(vid["request_ids"]) == SEEDS and len(set(vid["seeds"])) == SEEDS
    assert gen["cost_usd"] == pytest.approx(0.08)  # BFL's reported 4 credits each
    assert hosted["ledger"].spent("hosted") == pytest.approx(gen["cost_usd"] + vid["cost_usd"])
    lines = gen["cost_lines"]
    assert {line["request_id"] for line in lines} == set(gen["request_ids"])
    clip = hosted["store"].get("hosted/hero/video_expansion/snapchat-single.mp4")
    from route_assets.imaging import video

    info = video.probe_video(clip)
    assert (info.width, info.height, info.codec) == (1080, 1920, "h264")


def test_rematerializing_unchanged_partition_submits_nothing(hosted):
    first = run(hosted, "volume")
    assert first.success, first.error
    submitted = hosted["emulator"].submissions()
    second = run(hosted, "volume")
    assert second.success, second.error
    assert hosted["emulator"].submissions() == submitted
    gen = second.metadata["base_generation"]
    assert gen["cost_usd"] == 0.0
    assert all(line["cached"] for line in gen["cost_lines"])


@pytest.mark.parametrize(("fault", "phase"), [("moderation", "submit"), ("429", "submit"),
                                              ("500", "submit"), ("503", "submit"),
                                              ("402", "submit")])
def test_refusals_and_outages_fall_back_to_the_next_model(hosted, fault, phase):
    emu = hosted["emulator"]
    emu.inject("bfl", fault, phase=phase, times=10)
    outcome = run(hosted, "hero")
    assert outcome.success, outcome.error
    gen = outcome.metadata["base_generation"]
    assert gen["provider"] != "bfl"
    assert gen["fallbacks"] and "flux-1.1-pro via bfl" in gen["fallbacks"][0]
    # BFL moderates after accepting the job (a status), so that one job exists; refused
    # submissions (429/503/402) create none. Nothing is ever submitted twice.
    assert emu.submissions("bfl") == (1 if fault == "moderation" else 0)
    assert emu.submissions(gen["provider"]) == 2 + (SEEDS if gen["provider"] == "gemini" else 0)


@pytest.mark.parametrize(("fault", "phase"), [("503", "status"), ("429", "status"),
                                              ("500", "status"), ("truncated", "download"),
                                              ("503", "download")])
def test_transient_poll_errors_are_retried_without_resubmitting(hosted, fault, phase):
    emu = hosted["emulator"]
    emu.inject("bfl", fault, phase=phase, times=2, retry_after_s=0.1)
    outcome = run(hosted, "hero")
    assert outcome.success, outcome.error
    assert emu.submissions("bfl") == 2
    assert outcome.metadata["base_generation"]["fallbacks"] == []


@pytest.mark.parametrize(("fault", "phase"), [("malformed", "status"),
                                              ("wrong_type", "download"),
                                              ("oversized", "download")])
def test_lost_answers_fail_clearly_then_resume_the_same_request(hosted, fault, phase):
    emu = hosted["emulator"]
    emu.inject("bfl", fault, phase=phase, times=1)
    first = run(hosted, "hero")
    assert not first.success
    assert "bfl flux-1.1-pro request" in first.error
    assert emu.submissions("bfl") in (1, 2)
    second = run(hosted, "hero")
    assert second.success, second.error
    assert emu.submissions("bfl") == 2  # the interrupted request resumed, never re-submitted


def test_api_keys_never_reach_logs_events_or_manifests(hosted, capfd, caplog):
    emu = hosted["emulator"]
    emu.inject("bfl", "moderation", phase="submit", times=1)
    emu.inject("fal", "402", phase="submit", times=1)
    assert run(hosted, "hero").success
    run(hosted, "volume")
    out, err = capfd.readouterr()
    haystacks = [out, err, caplog.text]
    instance = hosted["instance"]
    for record in instance.get_run_records():
        haystacks.append(json.dumps([str(e) for e in instance.all_logs(record.dagster_run.run_id)]))
    root = hosted["store"].root_location
    from pathlib import Path

    haystacks += [p.read_text(errors="replace") for p in Path(root).rglob("*.json")]
    for key in KEYS.values():
        assert not any(key in text for text in haystacks), "an API key leaked"


@pytest.fixture()
def short_timeouts(monkeypatch):
    """A 1 s read timeout instead of 60 s, so a hanging provider is seen quickly."""
    monkeypatch.setattr(HostedProvider, "api_timeout", httpx.Timeout(1.0))


def test_a_hanging_status_request_is_retried(hosted, short_timeouts):
    emu = hosted["emulator"]
    emu.inject("bfl", "hang", phase="status", times=1, hang_s=3.0)
    outcome = run(hosted, "hero")
    assert outcome.success, outcome.error
    assert emu.submissions("bfl") == 2


def test_a_hanging_submit_is_never_resubmitted(hosted, short_timeouts):
    emu = hosted["emulator"]
    emu.inject("bfl", "hang", phase="submit", times=1, hang_s=3.0)
    first = run(hosted, "hero")
    assert not first.success
    assert "bfl flux-1.1-pro" in first.error and "requests forget" in first.error
    second = run(hosted, "hero")
    assert not second.success and "requests forget" in second.error
    assert emu.attempts("bfl") == 1  # the ambiguous POST was never sent again
    stuck = hosted["journal"].entries("submitting")
    assert len(stuck) == 1


def test_an_expired_result_fails_clearly_naming_the_request(hosted):
    emu = hosted["emulator"]
    emu.inject("fal", "expired", phase="result", times=1)
    brief_volume = run(hosted, "volume")  # volume routes to seedream-4 on fal
    assert not brief_volume.success
    assert "fal seedream-4 request" in brief_volume.error
    assert emu.submissions("fal") == 1
