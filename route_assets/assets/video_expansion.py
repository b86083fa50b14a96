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
from route_assets.catalog import LOCAL, Placement, load_catalog, load_placements
from route_assets.engines.registry import Engines
from route_assets.imaging import codecs, mp4_meta, video, video_scores
from route_assets.ledger import Ledger
from route_assets.manifests import Clip, EditManifest, SeedClip, VideoManifest
from route_assets.partitions import AdSetKey
from route_assets.providers.base import VideoRequest
from route_assets.routing import Decision, clip_seconds
from route_assets.storage import CreativeStore
from route_assets.video_plan import master_shape, video_need

STAGE = "video_expansion"
DECODE_CHECK = "clips_decode"
SEED_CHECK = "usable_seed"
ATTEMPT_TAG = "video_attempt"  # a re-roll of the clips only: new seeds, same keyframe


def clip_limits(p: Placement, fps: int = 30) -> video.ClipLimits:
    """What a placement asks of its video rendition (fps: when the placement names none)."""
    assert p.video is not None
    v = p.video
    return video.ClipLimits(width=p.width, height=p.height, fps=v.fps or fps, seconds=v.seconds,
                            min_seconds=v.min_seconds, max_seconds=v.max_seconds,
                            max_bytes=v.max_bytes, min_kbps=v.min_kbps, max_kbps=v.max_kbps)


def rendition_problems(data: bytes, limits: video.ClipLimits) -> list[str]:
    """Everything a placement checks, read back from the file (PyAV decodes every frame)."""
    info = video.probe_video(data)
    seconds = info.frames / limits.fps if limits.fps else 0.0
    kbps = len(data) * 8 / 1000 / max(seconds, 1e-6)
    xmp = mp4_meta.read_xmp(data) or b""
    checks = {
        f"size {info.width}x{info.height}": (info.width, info.height)
        == (limits.width, limits.height),
        f"fps {info.fps:g}": round(info.fps) == limits.fps,
        f"{seconds:g}s outside {limits.min_seconds:g}-{limits.max_seconds:g}s": limits.min_seconds
        - 1e-6 <= seconds <= limits.max_seconds + 1e-6,
        f"{len(data)} bytes over {limits.max_bytes}": len(data) <= limits.max_bytes,
        f"{kbps:.0f} kbps under {limits.min_kbps:g}": kbps >= limits.min_kbps,
        f"pixel format {info.pix_fmt}": info.pix_fmt == "yuv420p",
        "moov after mdat (no faststart)": mp4_meta.is_faststart(data),
        "no AI disclosure (XMP DigitalSourceType)": codecs.GENERATED.encode() in xmp,
    }
    return [what for what, ok in checks.items() if not ok]


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
            dg.AssetCheckResult(check_name=DECODE_CHECK, passed=True, metadata={"clips": 0}),
            dg.AssetCheckResult(check_name=SEED_CHECK, passed=True, metadata={"clips": 0}),
        ],
    )


@dg.asset(
    **COMMON,
    deps=[qa_resize],
    kinds={"python", "video"},
    code_version="2",
    tags={"stage": "video"},
    pool="video_generation",
    check_specs=[
        dg.AssetCheckSpec(
            DECODE_CHECK,
            asset="video_expansion",
            description="Every rendition meets its placement (size, fps, duration, bytes, "
            "bitrate, yuv420p, faststart, AI disclosure) and decodes fully.",
        ),
        dg.AssetCheckSpec(
            SEED_CHECK,
            asset="video_expansion",
            blocking=True,
            description="At least one of the K seeds passed the clip checks; else nothing "
            "ships and the clips are re-rolled with new seeds.",
        ),
    ],
)
def video_expansion(
    context: dg.AssetExecutionContext,
    store: dg.ResourceParam[CreativeStore],
    engines: dg.ResourceParam[Engines],
    ledger: dg.ResourceParam[Ledger],
) -> dg.MaterializeResult:
    """K clips animated from the edited master, scored; the best one is cut into one rendition
    per video placement."""
    inp = stage_input(context, store)
    ad_set, placements = inp.ad_set, load_placements()
    specs = [p for p in map(placements.get, ad_set.placements) if p.video]
    empty = VideoManifest(
        ad_set=str(inp.key), ad_set_sha=ad_set.sha, decision=None, clips=[], skipped=None
    )
    if ad_set.motion is None or not specs:
        reason = "no motion profile" if ad_set.motion is None else "no video placement"
        return _skip(store, inp.key, empty.model_copy(update={"skipped": reason}))
    policy, catalog = inp.policy, load_catalog()
    edited = EditManifest.model_validate(store.get_manifest(inp.key, "surgical_edit"))
    keyframe_png = store.get_blob(edited.master_blob)
    mask_png = store.get_blob(edited.subject_mask_blob) if edited.subject_mask_blob else None
    width, height, seconds, fps = master_shape(specs, policy)
    need = video_need(ad_set.motion, specs, policy)
    spender = Spender(context=context, store=store, engines=engines, ledger=ledger, inp=inp,
                      stage=STAGE, need=need)
    attempt = int(context.run.tags.get(ATTEMPT_TAG, "0"))
    keyframe = codecs.decode(keyframe_png)
    limits = dict(policy.video.thresholds)
    seeds: list[SeedClip] = []
    with spender.recording():
        for index in range(policy.video.seeds):
            seed = seed_for(inp.key, variant="video", attempt=attempt, index=index)

            def request(decision: Decision, seed: int = seed) -> VideoRequest:
                return VideoRequest(
                    model=decision.model, endpoint=decision.endpoint, prompt=ad_set.prompt,
                    keyframe_png=keyframe_png, width=width, height=height,
                    seconds=clip_seconds(catalog.get(decision.model), seconds), fps=fps,
                    seed=seed, focus_box=edited.subject_box,
                    subject_mask_png=mask_png if decision.provider == LOCAL else None,
                )

            hit = spender.call("video", request, seed=seed)
            frames, clip_fps = video_scores.decode_small(store.get_blob(hit.blob))
            scores = video_scores.score_clip(frames, clip_fps, keyframe, edited.subject_box)
            fails = video_scores.failures(scores, limits)
            seeds.append(SeedClip(seed=seed, blob=hit.blob, request_id=hit.request_id,
                                  scores=scores.as_dict(), failures=fails,
                                  risk=round(video_scores.risk(scores, limits), 4)))
            context.log.info(f"seed {seed}: " + ("; ".join(fails) or "passed") +
                             f" ({spender.lines[-1].model} via {spender.lines[-1].provider})")
        passing = [i for i, s in enumerate(seeds) if not s.failures]
        kept = min(passing, key=lambda i: seeds[i].risk) if passing else None
        clips, problems = [], []
        if kept is not None:
            master = store.get_blob(seeds[kept].blob)
            xmp = codecs.disclosure_xmp(codecs.GENERATED)
            for spec in specs:
                wanted = clip_limits(spec, fps)
                data = video.encode_rendition(master, wanted, xmp=xmp)
                problems += [f"{spec.id}: {p}" for p in rendition_problems(data, wanted)]
                info = video.probe_video(data)
                poster, _ = codecs.encode_for_placement(
                    video.first_frame(data), fmt="jpeg", max_bytes=spec.max_bytes,
                    source_type=codecs.GENERATED)
                clips.append(Clip(
                    placement=spec.id, blob=store.put_blob(data, suffix=".mp4"),
                    file=store.publish(inp.key, STAGE, f"{spec.id}.mp4", data),
                    width=info.width, height=info.height, seconds=info.seconds,
                    fps=wanted.fps, frames=info.frames, bytes=len(data),
                    seed=seeds[kept].seed, request_id=seeds[kept].request_id,
                    kbps=round(len(data) * 8 / 1000 / max(info.seconds, 1e-6), 1),
                    poster_file=store.publish(inp.key, STAGE, f"{spec.id}.poster.jpg", poster),
                ))
    retry = spender.decision.estimated_cost_usd
    verdict = "accept" if kept is not None else "regenerate"
    manifest = empty.model_copy(update={
        "decision": spender.decision.as_dict(), "clips": clips, "cost_lines": spender.lines,
        "seeds": seeds, "kept_seed": kept, "verdict": verdict, "retry_cost_usd": retry})
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    why = None if kept is not None else (
        f"all {len(seeds)} seeds failed the clip checks; nothing shipped. Another "
        f"{len(seeds)}-seed try with {spender.decision.model} would cost ${retry:.2f}")
    return dg.MaterializeResult(
        metadata={
            **spender.metadata(),
            "verdict": verdict,
            "video_attempt": dg.MetadataValue.int(attempt),
            "seeds": dg.MetadataValue.json([s.seed for s in seeds]),
            "seed_scores": dg.MetadataValue.json([s.model_dump() for s in seeds]),
            "kept_seed": dg.MetadataValue.int(-1 if kept is None else kept),
            "retry_cost_usd": dg.MetadataValue.float(retry),
            "request_ids": dg.MetadataValue.json([s.request_id for s in seeds]),
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
            ),
            dg.AssetCheckResult(
                check_name=SEED_CHECK,
                passed=kept is not None,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"failures": [s.failures for s in seeds], "retry_cost_usd": retry},
                description=why,
            ),
        ],
    )
