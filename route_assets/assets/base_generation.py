import dagster as dg

from route_assets.assets.common import (
    COMMON,
    cost_metadata,
    manifest_metadata,
    seed_for,
    stage_input,
)
from route_assets.assets.paid import Spender
from route_assets.brief import ResolvedAdSet
from route_assets.engines.registry import Engines
from route_assets.ledger import Ledger
from route_assets.manifests import Candidate, GenerationManifest
from route_assets.providers.base import ImageRequest
from route_assets.routing import Decision, Need
from route_assets.storage import CreativeStore

STAGE = "base_generation"


class GenerationConfig(dg.Config):
    attempt: int = 0  # re-rolls raise it, so seeds (and the cache key) change
    variant: str = ""  # the nightly refresh sets the date here to get fresh variants


def full_prompt(ad_set: ResolvedAdSet) -> str:
    """What a hosted model needs to hear: the brief's prompt, the subject, the exact headline
    text and the brand colours."""
    return (
        f'{ad_set.prompt}. Subject: {ad_set.subject}. Headline text: "{ad_set.headline}". '
        f"Brand colours: {', '.join(ad_set.palette)}."
    )


@dg.asset(
    **COMMON,
    kinds={"python", "image"},
    code_version="1",
    tags={"stage": "generate"},
    pool="image_generation",
)
def base_generation(
    context: dg.AssetExecutionContext,
    config: GenerationConfig,
    store: dg.ResourceParam[CreativeStore],
    engines: dg.ResourceParam[Engines],
    ledger: dg.ResourceParam[Ledger],
) -> dg.MaterializeResult:
    """Candidate base images for one ad set, from the generator its tier routes to."""
    inp = stage_input(context, store)
    width, height = inp.policy.image_size
    ad_set = inp.ad_set
    need = Need("generate", ad_set.tier, count=ad_set.candidates, width=width, height=height)
    spender = Spender(
        context=context,
        store=store,
        engines=engines,
        ledger=ledger,
        inp=inp,
        stage=STAGE,
        need=need,
    )
    candidates = []
    with spender.recording():
        for index in range(ad_set.candidates):
            seed = seed_for(inp.key, variant=config.variant, attempt=config.attempt, index=index)

            def request(decision: Decision, seed: int = seed) -> ImageRequest:
                return ImageRequest(
                    model=decision.model,
                    endpoint=decision.endpoint,
                    prompt=full_prompt(ad_set),
                    subject=ad_set.subject,
                    headline=ad_set.headline,
                    palette=ad_set.palette,
                    width=width,
                    height=height,
                    seed=seed,
                )

            hit = spender.call("image", request, seed=seed)
            line = spender.lines[-1]
            candidates.append(
                Candidate(index=index, seed=seed, blob=hit.blob, request_id=hit.request_id)
            )
            context.log.info(
                f"candidate {index + 1}/{ad_set.candidates}: seed {seed}, {line.model} via "
                f"{line.provider}, " + ("cached, $0" if line.cached else f"${line.usd:.4f}")
            )
    manifest = GenerationManifest(
        ad_set=str(inp.key),
        ad_set_sha=ad_set.sha,
        attempt=config.attempt,
        variant=config.variant,
        decision=spender.decision.as_dict(),
        prompt=ad_set.prompt,
        width=width,
        height=height,
        candidates=candidates,
        cost_lines=spender.lines,
    )
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    return dg.MaterializeResult(
        metadata={
            **spender.metadata(),
            "estimated_cost_usd": dg.MetadataValue.float(spender.decision.estimated_cost_usd),
            "seeds": dg.MetadataValue.json([c.seed for c in candidates]),
            "request_ids": dg.MetadataValue.json([c.request_id for c in candidates]),
            "attempt": dg.MetadataValue.int(config.attempt),
            "candidates": dg.MetadataValue.int(len(candidates)),
            "ad_set_sha": ad_set.sha,
            **cost_metadata(spender.lines),
            **manifest_metadata(store, key),
        },
        data_version=dg.DataVersion(ad_set.sha + ":" + ",".join(c.blob[-12:] for c in candidates)),
    )
