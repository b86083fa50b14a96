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
from route_assets.assets.qa_resize import qa_resize
from route_assets.catalog import LOCAL, load_catalog, load_placements
from route_assets.cost_events import ensure_budget
from route_assets.costs import CostLine
from route_assets.engines.registry import Engines
from route_assets.imaging import video
from route_assets.manifests import Clip, EditManifest, VideoManifest
from route_assets.partitions import AdSetKey
from route_assets.providers.base import GeneratedVideo, VideoRequest
from route_assets.request_cache import cached_call
from route_assets.routing import Decision, Need, clip_seconds, route
from route_assets.storage import CreativeStore

STAGE = "video_expansion"
DECODE_CHECK = "clips_decode"


def _made(
    animate: Callable[[VideoRequest], GeneratedVideo], request: VideoRequest
) -> tuple[bytes, str, float]:
    clip = animate(request)
    return clip.mp4, clip.request_id, clip.cost_usd


def _skip(store: CreativeStore, ad_set: AdSetKey, manifest: VideoManifest) -> dg.MaterializeResult:
    reason = manifest.skipped or ""
    key = store.put_manifest(ad_set, STAGE, manifest.model_dump(mode="json"))
    return dg.MaterializeResult(
        metadata={
            "skipped": reason,
            "clips": dg.MetadataValue.int(0),
            **cost_metadata([]),
            **manifest_metadata(store, key),
        },
        check_results=[
            dg.AssetCheckResult(check_name=DECODE_CHECK, passed=True, metadata={"clips": 0})
        ],
    )


@dg.asset(
    **COMMON,
    deps=[qa_resize],
    kinds={"python", "video"},
    code_version="1",
    tags={"stage": "video"},
    check_specs=[
        dg.AssetCheckSpec(
            DECODE_CHECK,
            asset="video_expansion",
            description="Every clip decodes fully at its placement's size and frame count.",
        )
    ],
)
def video_expansion(
    context: dg.AssetExecutionContext,
    store: dg.ResourceParam[CreativeStore],
    engines: dg.ResourceParam[Engines],
) -> dg.MaterializeResult:
    """One H.264 clip per video placement, animated from the edited master."""
    inp = stage_input(context, store)
    ad_set, placements = inp.ad_set, load_placements()
    specs = [placements.get(p) for p in ad_set.placements if placements.get(p).video]
    empty = VideoManifest(
        ad_set=str(inp.key), ad_set_sha=ad_set.sha, decision=None, clips=[], skipped=None
    )
    if ad_set.motion is None or not specs:
        reason = "no motion profile" if ad_set.motion is None else "no video placement"
        return _skip(store, inp.key, empty.model_copy(update={"skipped": reason}))
    catalog = load_catalog()
    decisions = [
        route(
            Need("video", ad_set.motion, seconds=s.video.seconds),
            inp.policy,
            catalog,
            engines.available_providers,
        )
        for s in specs
        if s.video
    ]
    decision = decisions[0]
    model = catalog.get(decision.model)
    edited = EditManifest.model_validate(store.get_manifest(inp.key, "surgical_edit"))
    keyframe = store.get_blob(edited.master_blob)
    generator = engines.video_generator(decision.provider)
    clips, lines, problems = [], [], []
    for index, spec in enumerate(specs):
        assert spec.video is not None
        seconds = clip_seconds(model, spec.video.seconds)
        request = VideoRequest(
            model=decision.model,
            endpoint=decision.endpoint,
            prompt=ad_set.prompt,
            keyframe_png=keyframe,
            width=spec.width,
            height=spec.height,
            seconds=seconds,
            fps=spec.video.fps,
            seed=seed_for(inp.key, variant="", attempt=0, index=index),
            focus_box=edited.subject_box,
        )
        ensure_budget(
            context.instance,
            campaign=inp.key.campaign,
            budget_usd=inp.brief.budget_usd,
            estimate_usd=decisions[index].estimated_cost_usd,
        )
        payload = {
            "provider": decision.provider,
            **request.__dict__,
            "keyframe_png": edited.master_blob,
        }
        hit, cached = cached_call(
            store,
            kind="video",
            payload=payload,
            suffix=".mp4",
            seed=request.seed,
            make=functools.partial(_made, generator.animate, request),
        )
        data = store.get_blob(hit.blob)
        info = video.probe_video(data)
        expected = round(seconds * spec.video.fps)
        if (info.width, info.height) != (spec.width, spec.height) or abs(
            info.frames - expected
        ) > 1:
            problems.append(
                f"{spec.id}: {info.width}x{info.height}, {info.frames}/{expected} frames"
            )
        clips.append(
            Clip(
                placement=spec.id,
                blob=hit.blob,
                file=store.publish(inp.key, STAGE, f"{spec.id}.mp4", data),
                width=info.width,
                height=info.height,
                seconds=info.seconds,
                fps=spec.video.fps,
                frames=info.frames,
                bytes=len(data),
                seed=request.seed,
                request_id=hit.request_id,
            )
        )
        lines.append(
            _line(
                inp.key.campaign,
                inp.key.ad_set,
                decision,
                hit.request_id,
                0.0 if cached else hit.cost_usd,
                cached,
            )
        )
        context.log.info(
            f"{spec.id}: {seconds:g}s clip, {info.frames} frames, "
            + ("cached" if cached else f"${hit.cost_usd:.4f}")
        )
    manifest = empty.model_copy(
        update={"decision": decision.as_dict(), "clips": clips, "cost_lines": lines}
    )
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    return dg.MaterializeResult(
        metadata={
            "model": decision.model,
            "provider": decision.provider,
            "routing_reason": decision.reason,
            "seeds": dg.MetadataValue.json([c.seed for c in clips]),
            "clips": dg.MetadataValue.int(len(clips)),
            "files": dg.MetadataValue.json({c.placement: store.location(c.file) for c in clips}),
            **cost_metadata(lines),
            **manifest_metadata(store, key),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=DECODE_CHECK,
                passed=not problems,
                metadata={"problems": problems, "clips": len(clips)},
            )
        ],
    )


def _line(
    campaign: str, ad_set: str, decision: Decision, request_id: str, usd: float, cached: bool
) -> CostLine:
    return CostLine(
        campaign=campaign,
        ad_set=ad_set,
        stage=STAGE,
        model=decision.model,
        provider=decision.provider,
        usd=usd,
        request_id=request_id,
        cached=cached,
        simulated=decision.provider == LOCAL,
    )
