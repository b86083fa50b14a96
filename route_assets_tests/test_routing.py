import pytest

from route_assets.catalog import HOSTED_PROVIDERS, LOCAL, load_catalog, load_policy
from route_assets.routing import Need, NoRouteError, clip_seconds, route

CATALOG, POLICY = load_catalog(), load_policy()


def test_every_policy_model_is_in_the_catalog():
    listed = {m for prefs in [*POLICY.tiers.values(), *POLICY.motion.values()] for m in prefs}
    assert listed <= CATALOG.ids


def test_catalog_has_the_models_of_the_field():
    assert {"flux-schnell", "flux-dev", "flux-1.1-pro", "flux-kontext-pro", "nano-banana",
            "nano-banana-pro", "seedream-4", "seedream-4.5", "kling-2.1-standard",
            "veo-3.1-fast", "seedance-1-lite", "seedance-1-pro"} <= CATALOG.ids
    for model in CATALOG.models:
        assert set(model.endpoints) <= set(HOSTED_PROVIDERS)
        # Only the local edit engine has no hosted endpoint, and it is free.
        assert model.endpoints or (model.id == "classical" and model.list_price.usd == 0)


def test_offline_everything_routes_to_local_at_list_price():
    decision = route(Need("generate", "hero", count=4), POLICY, CATALOG, frozenset({LOCAL}))
    assert (decision.model, decision.provider) == ("flux-1.1-pro", LOCAL)
    assert decision.estimated_cost_usd == pytest.approx(4 * 0.04)
    assert "hero" in decision.reason and "flux-1.1-pro" in decision.reason


def test_megapixel_prices_bill_every_started_megapixel():
    decision = route(Need("generate", "draft", width=1024, height=1024), POLICY, CATALOG,
                     frozenset({LOCAL}))
    assert decision.model == "flux-schnell"
    assert decision.estimated_cost_usd == pytest.approx(0.003 * 2)  # 1.05 MP -> 2 MP


def test_hosted_provider_wins_when_its_key_is_set():
    decision = route(Need("generate", "hero"), POLICY, CATALOG, frozenset({LOCAL, "bfl"}))
    assert (decision.provider, decision.endpoint) == ("bfl", "/v1/flux-pro-1.1")


def test_falls_through_to_a_model_the_available_providers_serve():
    decision = route(Need("generate", "text"), POLICY, CATALOG, frozenset({"replicate"}))
    assert decision.model == "nano-banana-pro" and decision.provider == "replicate"
    seedream = route(Need("generate", "volume"), POLICY.merged({"tiers": {"volume":
                     ["seedream-4.5", "flux-dev"]}}), CATALOG, frozenset({"replicate"}))
    assert seedream.model == "flux-dev"
    assert "skipped seedream-4.5 (no available provider)" in seedream.reason


def test_video_durations_snap_to_what_the_model_offers():
    veo = CATALOG.get("veo-3.1-fast")
    assert clip_seconds(veo, 5) == 6 and clip_seconds(veo, 9) == 8
    decision = route(Need("video", "realistic", seconds=5), POLICY, CATALOG, frozenset({LOCAL}))
    assert decision.model == "veo-3.1-fast"
    assert decision.estimated_cost_usd == pytest.approx(6 * 0.15)
    kling = route(Need("video", "action", seconds=3), POLICY, CATALOG, frozenset({LOCAL}))
    assert kling.estimated_cost_usd == pytest.approx(5 * 0.07)  # billed at least 5 s


def test_unknown_profile_and_no_provider_are_clear_errors():
    with pytest.raises(NoRouteError, match="known: draft, hero, text, volume"):
        route(Need("generate", "cinematic"), POLICY, CATALOG, frozenset({LOCAL}))
    with pytest.raises(NoRouteError, match="no provider available"):
        route(Need("generate", "hero"), POLICY, CATALOG, frozenset())


def test_brief_policy_overrides_merge():
    merged = POLICY.merged({"tiers": {"hero": ["nano-banana-pro"]}, "max_rerolls": 0})
    assert merged.tiers["hero"] == ("nano-banana-pro",) and merged.tiers["draft"]
    assert merged.max_rerolls == 0


def test_fallback_avoids_what_failed_and_says_why():
    providers = frozenset({LOCAL, "bfl", "fal"})
    first = route(Need("generate", "hero"), POLICY, CATALOG, providers)
    assert (first.model, first.provider) == ("flux-1.1-pro", "bfl")
    second = route(Need("generate", "hero"), POLICY, CATALOG, providers,
                   avoid={("flux-1.1-pro", "bfl"): "moderation refused"})
    assert (second.model, second.provider) == ("flux-1.1-pro", "fal")
    assert "skipped flux-1.1-pro via bfl (moderation refused)" in second.reason
    third = route(Need("generate", "hero"), POLICY, CATALOG, frozenset({"bfl", "gemini"}),
                  avoid={("flux-1.1-pro", "bfl"): "provider unavailable"})
    assert (third.model, third.provider) == ("nano-banana-pro", "gemini")
