import dagster as dg

from route_assets.assets.common import (
    COMMON,
    cost_metadata,
    manifest_metadata,
    seed_for,
    stage_input,
)
from route_assets.assets.paid import Spender
from route_assets.assets.qa_resize import qa_resize
from route_assets.catalog import Placement, load_catalog, load_placements
from route_assets.engines.registry import Engines
from route_assets.imaging import video
from route_assets.ledger import Ledger
from route_assets.manifests import Clip, EditManifest, VideoManifest
from route_assets.partitions import AdSetKey
from route_assets.providers.base import VideoRequest
from route_assets.routing import Decision, Need, clip_seconds
from route_assets.storage import CreativeStore

STAGE = "video_expansion"
DECODE_CHECK = "clips_decode"


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
    pool="video_generation",
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
    ledger: dg.ResourceParam[Ledger],
) -> dg.MaterializeResult:
    """One H.264 clip per video placement, animated from the edited master."""
    inp = stage_input(context, store)
    ad_set, placements = inp.ad_set, load_placements()
    specs = [(p, p.video) for p in map(placements.get, ad_set.placements) if p.video]
    empty = VideoManifest(
        ad_set=str(inp.key), ad_set_sha=ad_set.sha, decision=None, clips=[], skipped=None
    )
    if ad_set.motion is None or not specs:
        reason = "no motion profile" if ad_set.motion is None else "no video placement"
        return _skip(store, inp.key, empty.model_copy(update={"skipped": reason}))
    motion = ad_set.motion
    edited = EditManifest.model_validate(store.get_manifest(inp.key, "surgical_edit"))
    keyframe = store.get_blob(edited.master_blob)
    spender = Spender(
        context=context,
        store=store,
        engines=engines,
        ledger=ledger,
        inp=inp,
        stage=STAGE,
        need=Need("video", motion, seconds=specs[0][1].seconds),
    )
    clips, problems = [], []
    with spender.recording():
        for index, (spec, clip_spec) in enumerate(specs):
            seed = seed_for(inp.key, variant="", attempt=0, index=index)

            def request(
                decision: Decision, spec: Placement = spec, seed: int = seed
            ) -> VideoRequest:
                assert spec.video is not None
                return VideoRequest(
                    model=decision.model,
                    endpoint=decision.endpoint,
                    prompt=ad_set.prompt,
                    keyframe_png=keyframe,
                    width=spec.width,
                    height=spec.height,
                    seconds=clip_seconds(load_catalog().get(decision.model), spec.video.seconds),
                    fps=spec.video.fps,
                    seed=seed,
                    focus_box=edited.subject_box,
                )

            hit = spender.call(
                "video", request, seed=seed, need=Need("video", motion, seconds=clip_spec.seconds)
            )
            data = store.get_blob(hit.blob)
            info = video.probe_video(data)
            if (info.width, info.height, round(info.fps)) != (
                spec.width,
                spec.height,
                clip_spec.fps,
            ):
                # Hosted models return their own size and frame rate: make the placement's.
                data = video.rendition(
                    data,
                    width=spec.width,
                    height=spec.height,
                    fps=clip_spec.fps,
                    max_seconds=clip_spec.max_seconds,
                )
                info = video.probe_video(data)
            if (info.width, info.height) != (spec.width, spec.height) or info.frames < 1:
                problems.append(f"{spec.id}: {info.width}x{info.height}, {info.frames} frames")
            line = spender.lines[-1]
            clips.append(
                Clip(
                    placement=spec.id,
                    blob=store.put_blob(data, suffix=".mp4"),
                    file=store.publish(inp.key, STAGE, f"{spec.id}.mp4", data),
                    width=info.width,
                    height=info.height,
                    seconds=info.seconds,
                    fps=clip_spec.fps,
                    frames=info.frames,
                    bytes=len(data),
                    seed=seed,
                    request_id=hit.request_id,
                )
            )
            context.log.info(
                f"{spec.id}: {info.seconds:g}s clip, {info.frames} frames, "
                f"{line.model} via {line.provider}, "
                + ("cached" if line.cached else f"${line.usd:.4f}")
            )
    manifest = empty.model_copy(
        update={"decision": spender.decision.as_dict(), "clips": clips, "cost_lines": spender.lines}
    )
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    return dg.MaterializeResult(
        metadata={
            **spender.metadata(),
            "seeds": dg.MetadataValue.json([c.seed for c in clips]),
            "request_ids": dg.MetadataValue.json([c.request_id for c in clips]),
            "clips": dg.MetadataValue.int(len(clips)),
            "files": dg.MetadataValue.json({c.placement: store.location(c.file) for c in clips}),
            **cost_metadata(spender.lines),
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
