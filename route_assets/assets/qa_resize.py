import dagster as dg

from route_assets.assets.common import COMMON, cost_metadata, manifest_metadata, stage_input
from route_assets.assets.surgical_edit import surgical_edit
from route_assets.catalog import load_placements
from route_assets.imaging import codecs
from route_assets.imaging.resize import Zone, fit_to_placement, text_band_box, union
from route_assets.manifests import EditManifest, Rendition, ResizeManifest
from route_assets.storage import CreativeStore

STAGE = "qa_resize"
SPEC_CHECK = "renditions_meet_spec"
EXTENSIONS = {"jpeg": "jpg", "png": "png"}


@dg.asset(
    **COMMON,
    deps=[surgical_edit],
    kinds={"python", "pillow"},
    code_version="1",
    tags={"stage": "resize"},
    check_specs=[
        dg.AssetCheckSpec(
            SPEC_CHECK,
            asset="qa_resize",
            blocking=True,
            description="Every placement file decodes at its exact size and is under its byte cap.",
        )
    ],
)
def qa_resize(
    context: dg.AssetExecutionContext, store: dg.ResourceParam[CreativeStore]
) -> dg.MaterializeResult:
    """One file per placement of the ad set, cropped around the subject, exact size, under cap."""
    inp = stage_input(context, store)
    edited = EditManifest.model_validate(store.get_manifest(inp.key, "surgical_edit"))
    master = codecs.decode(store.get_blob(edited.master_blob))
    keep = union(edited.subject_box, text_band_box(master))
    renditions, problems = [], []
    for placement_id in inp.ad_set.placements:
        spec = load_placements().get(placement_id)
        fitted = fit_to_placement(
            master,
            width=spec.width,
            height=spec.height,
            keep=keep,
            zone=Zone(**spec.safe_zone.model_dump()),
        )
        # Any edit or extension makes the file a composite in IPTC's terms.
        composite = fitted.extended or any(e.accepted for e in edited.edits)
        data, quality = codecs.encode_for_placement(
            fitted.image,
            fmt=spec.format,
            max_bytes=spec.max_bytes,
            source_type=codecs.COMPOSITE if composite else codecs.GENERATED,
        )
        name = f"{placement_id}.{EXTENSIONS[spec.format]}"
        out = codecs.decode(data)
        if out.shape[:2] != (spec.height, spec.width) or len(data) > spec.max_bytes:
            problems.append(f"{placement_id}: {out.shape[1]}x{out.shape[0]}, {len(data)} bytes")
        renditions.append(
            Rendition(
                placement=placement_id,
                blob=store.put_blob(data, suffix=f".{EXTENSIONS[spec.format]}"),
                file=store.publish(inp.key, STAGE, name, data),
                width=spec.width,
                height=spec.height,
                bytes=len(data),
                format=spec.format,
                quality=quality,
                crop_box=fitted.crop_box,
                extended=fitted.extended,
                retained=round(fitted.retained, 4),
            )
        )
        context.log.info(
            f"{placement_id}: {spec.width}x{spec.height}, {len(data)} bytes, "
            f"{'extended' if fitted.extended else 'cropped'}"
        )
    manifest = ResizeManifest(ad_set=str(inp.key), ad_set_sha=inp.ad_set.sha, renditions=renditions)
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    return dg.MaterializeResult(
        metadata={
            "model": "subject-aware-crop",
            "provider": "local",
            "placements": dg.MetadataValue.int(len(renditions)),
            "extended": dg.MetadataValue.int(sum(r.extended for r in renditions)),
            "min_retained": dg.MetadataValue.float(
                min((r.retained for r in renditions), default=1.0)
            ),
            "files": dg.MetadataValue.json(
                {r.placement: store.location(r.file) for r in renditions}
            ),
            **cost_metadata([]),
            **manifest_metadata(store, key),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SPEC_CHECK,
                passed=not problems,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"problems": problems, "placements": len(renditions)},
            )
        ],
    )
