import functools
from collections.abc import Callable

import dagster as dg

from route_assets.assets.common import (
    COMMON,
    cost_metadata,
    manifest_metadata,
    seed_for,
    stage_input,
)
from route_assets.catalog import LOCAL, load_catalog
from route_assets.cost_events import ensure_budget
from route_assets.costs import CostLine
from route_assets.engines.registry import Engines
from route_assets.manifests import Candidate, GenerationManifest
from route_assets.providers.base import GeneratedImage, ImageRequest
from route_assets.request_cache import cached_call
from route_assets.routing import Need, route
from route_assets.storage import CreativeStore

STAGE = "base_generation"


class GenerationConfig(dg.Config):
    attempt: int = 0  # re-rolls raise it, so seeds (and the cache key) change
    variant: str = ""  # the nightly refresh sets the date here to get fresh variants


@dg.asset(**COMMON, kinds={"python", "image"}, code_version="1", tags={"stage": "generate"})
def base_generation(
    context: dg.AssetExecutionContext,
    config: GenerationConfig,
    store: dg.ResourceParam[CreativeStore],
    engines: dg.ResourceParam[Engines],
) -> dg.MaterializeResult:
    """Candidate base images for one ad set, from the generator its tier routes to."""
    inp = stage_input(context, store)
    width, height = inp.policy.image_size
    ad_set = inp.ad_set
    decision = route(
        Need("generate", ad_set.tier, count=ad_set.candidates, width=width, height=height),
        inp.policy,
        load_catalog(),
        engines.available_providers,
    )
    ensure_budget(
        context.instance,
        campaign=inp.key.campaign,
        budget_usd=inp.brief.budget_usd,
        estimate_usd=decision.estimated_cost_usd,
    )
    generator = engines.image_generator(decision.provider)
    candidates, lines = [], []
    for index in range(ad_set.candidates):
        seed = seed_for(inp.key, variant=config.variant, attempt=config.attempt, index=index)
        request = ImageRequest(
            model=decision.model,
            endpoint=decision.endpoint,
            prompt=ad_set.prompt,
            subject=ad_set.subject,
            headline=ad_set.headline,
            palette=ad_set.palette,
            width=width,
            height=height,
            seed=seed,
        )
        hit, cached = cached_call(
            store,
            kind="image",
            payload={"provider": decision.provider, **request.__dict__},
            suffix=".png",
            seed=seed,
            make=functools.partial(_made, generator.generate, request),
        )
        lines.append(
            CostLine(
                campaign=inp.key.campaign,
                ad_set=inp.key.ad_set,
                stage=STAGE,
                model=decision.model,
                provider=decision.provider,
                usd=0.0 if cached else hit.cost_usd,
                request_id=hit.request_id,
                cached=cached,
                simulated=decision.provider == LOCAL,
            )
        )
        candidates.append(
            Candidate(index=index, seed=seed, blob=hit.blob, request_id=hit.request_id)
        )
        context.log.info(
            f"candidate {index + 1}/{ad_set.candidates}: seed {seed}, "
            + ("cached, $0" if cached else f"${hit.cost_usd:.4f} via {decision.provider}")
        )
    manifest = GenerationManifest(
        ad_set=str(inp.key),
        ad_set_sha=ad_set.sha,
        attempt=config.attempt,
        variant=config.variant,
        decision=decision.as_dict(),
        prompt=ad_set.prompt,
        width=width,
        height=height,
        candidates=candidates,
        cost_lines=lines,
    )
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    return dg.MaterializeResult(
        metadata={
            "model": decision.model,
            "provider": decision.provider,
            "routing_reason": decision.reason,
            "estimated_cost_usd": dg.MetadataValue.float(decision.estimated_cost_usd),
            "seeds": dg.MetadataValue.json([c.seed for c in candidates]),
            "attempt": dg.MetadataValue.int(config.attempt),
            "candidates": dg.MetadataValue.int(len(candidates)),
            "ad_set_sha": ad_set.sha,
            **cost_metadata(lines),
            **manifest_metadata(store, key),
        },
        data_version=dg.DataVersion(ad_set.sha + ":" + ",".join(c.blob[-12:] for c in candidates)),
    )


def _made(
    generate: Callable[[ImageRequest], GeneratedImage], request: ImageRequest
) -> tuple[bytes, str, float]:
    image = generate(request)
    return image.png, image.request_id, image.cost_usd
