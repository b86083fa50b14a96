"""`route()`: one pure function from a need to a model, a provider and a reason."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from route_assets.catalog import LOCAL, Catalog, Model, Policy, Price


class NoRouteError(ValueError):
    """No model in the policy's preference list is reachable with the available providers."""


@dataclass(frozen=True)
class Need:
    stage: Literal["generate", "video", "edit"]
    profile: str  # tier for generation, motion profile for video, edit kind for edits
    count: int = 1
    width: int = 1024
    height: int = 1024
    seconds: float = 0.0


@dataclass(frozen=True)
class Decision:
    model: str
    provider: str
    endpoint: str
    estimated_cost_usd: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _price(model: Model, provider: str) -> tuple[str, Price]:
    if provider == LOCAL:
        # The simulator mirrors the model's list price so offline plans show real money.
        return f"simulator:{model.id}", model.list_price
    endpoint = model.endpoints[provider]
    return endpoint.endpoint, endpoint


def clip_seconds(model: Model, wanted: float) -> float:
    """The shortest duration the model offers that covers `wanted` (its longest if none does)."""
    if not model.durations_s or wanted <= 0:
        return wanted
    longer = [d for d in sorted(model.durations_s) if d >= wanted]
    return longer[0] if longer else max(model.durations_s)


def route(
    need: Need,
    policy: Policy,
    catalog: Catalog,
    available_providers: frozenset[str],
    *,
    avoid: Mapping[tuple[str, str], str] | None = None,
) -> Decision:
    """Pick the first model in the policy's preference list that an available provider serves,
    taking providers in the policy's order (local last, so hosted keys win when set).
    `avoid` maps (model, provider) pairs that already failed to why, for fallback."""
    table = {"generate": policy.tiers, "video": policy.motion,
             "edit": policy.edit.editors}[need.stage]
    if need.profile not in table:
        raise NoRouteError(
            f"no {need.stage} preferences for {need.profile!r} in the policy; "
            f"known: {', '.join(sorted(table))}"
        )
    avoid = avoid or {}
    skipped: list[str] = []
    for rank, model_id in enumerate(table[need.profile], start=1):
        model = catalog.get(model_id)
        offered = [p for p in policy.providers if p in available_providers]
        providers = [p for p in offered if p == LOCAL or p in model.endpoints]
        if need.stage == "edit":
            # The local engine edits for real and only as itself: it does not stand in for a
            # hosted editor (nothing would be simulated but the bill).
            providers = [p for p in providers if (p == LOCAL) == (not model.endpoints)]
        skipped += [f"{model_id} via {p} ({avoid[model_id, p]})" for p in providers
                    if (model_id, p) in avoid]
        usable = [p for p in providers if (model_id, p) not in avoid]
        if not usable:
            if not providers:
                skipped.append(f"{model_id} (no available provider)")
            continue
        providers = usable
        provider = providers[0]
        endpoint, price = _price(model, provider)
        seconds = clip_seconds(model, need.seconds)
        cost = price.cost(width=need.width, height=need.height, seconds=seconds, count=need.count)
        reason = (
            f"{need.profile} {need.stage}: preference #{rank} {model_id} "
            f"({', '.join(model.strengths)}) via {provider}"
        )
        if skipped:
            reason += "; skipped " + ", ".join(skipped)
        return Decision(model_id, provider, endpoint, cost, reason)
    raise NoRouteError(
        f"no provider available for any {need.profile} {need.stage} model: " + ", ".join(skipped)
    )
