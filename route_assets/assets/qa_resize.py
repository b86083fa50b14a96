import dagster as dg
import numpy as np

from route_assets import settings
from route_assets.assets.common import COMMON, cost_metadata, manifest_metadata, stage_input
from route_assets.assets.surgical_edit import surgical_edit
from route_assets.catalog import load_placements
from route_assets.engines.foreground_model import installed as installed_foreground
from route_assets.imaging import codecs, provenance
from route_assets.imaging.compliance import check_rendition
from route_assets.imaging.flaws import Box
from route_assets.imaging.framing import keep_for
from route_assets.imaging.resize import Zone, fit_to_placement, text_band_box
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
            description="Every placement file decodes at its exact size and ratio, is under its "
            "byte cap, shows subject, faces and headline clear of the platform's overlays, and "
            "carries the IPTC DigitalSourceType disclosure (read back from the final bytes).",
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
    mask = (codecs.decode(store.get_blob(edited.subject_mask_blob))[..., 0] > 127
            if edited.subject_mask_blob else None)
    protected = _protected(edited, master)
    foreground = installed_foreground()
    if foreground is None:
        context.log.warning(
            f"no foreground model at {settings.foreground_model_path()}: on busy photographic "
            "masters the crop may bind to the wrong object; run `route-assets install-models`")
    keep = keep_for(master, subject_box=edited.subject_box, subject_mask=mask,
                    faces=[b for n, b in protected.items() if n.startswith("face")],
                    headline=protected.get("headline"), foreground=foreground)
    signing = settings.c2pa_signing()
    credentials = (provenance.load_credentials(signing.cert_path, signing.key_path,
                                               alg=signing.alg, tsa_url=signing.tsa_url)
                   if signing else None)
    edited_any = any(e.accepted for e in edited.edits)
    renditions, problems, details = [], [], {}
    for placement_id in inp.ad_set.placements:
        spec = load_placements().get(placement_id)
        zone = Zone(**spec.safe_zone.model_dump())
        fitted = fit_to_placement(master, width=spec.width, height=spec.height, keep=keep,
                                  zone=zone)
        # Any edit or outpainting makes the file a composite in IPTC's terms.
        source_type = codecs.COMPOSITE if fitted.extended or edited_any else codecs.GENERATED
        data, quality = codecs.encode_for_placement(
            fitted.image, fmt=spec.format, max_bytes=spec.max_bytes, source_type=source_type
        )
        name = f"{placement_id}.{EXTENSIONS[spec.format]}"
        if credentials is not None:  # after the last encode: nothing touches the bytes again
            data = provenance.sign(data, fmt=spec.format, source_type=source_type,
                                   credentials=credentials, title=name)
        found = check_rendition(data, spec, window=fitted.window, protected=protected,
                                source_type=source_type)
        problems += [f"{placement_id}: {p}" for p in found]
        details[placement_id] = {
            "source_type": source_type.rsplit("/", 1)[-1],
            "outpainted_share": fitted.outpainted_share,
            "quality": quality,
            "c2pa": credentials is not None,
            "problems": found,
        }
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
            f"{placement_id}: {spec.width}x{spec.height}, {len(data)} bytes, q{quality}, "
            f"{'outpainted' if fitted.extended else 'cropped'}, {source_type.rsplit('/', 1)[-1]}"
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
            "renditions": dg.MetadataValue.json(details),
            **cost_metadata([]),
            **manifest_metadata(store, key),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SPEC_CHECK,
                passed=not problems,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"problems": problems, "placements": len(renditions),
                          "protected": sorted(protected)},
            )
        ],
    )


def _protected(edited: EditManifest, master: np.ndarray) -> dict[str, Box]:
    """Named boxes every placement must show clear of its overlays: the subject and faces the
    edit stage found on the master, and the headline in the layout's bottom band."""
    out: dict[str, Box] = {}
    if edited.subject_box is not None:
        out["subject"] = edited.subject_box
    for i, face in enumerate(edited.faces):
        out[f"face{i + 1}"] = face
    headline = text_band_box(master)
    if headline is not None:
        out["headline"] = headline
    return out
