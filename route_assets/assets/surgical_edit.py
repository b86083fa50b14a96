import dagster as dg
import numpy as np

from route_assets.assets.common import (
    COMMON,
    StageInput,
    cost_metadata,
    manifest_metadata,
    stage_input,
    thresholds,
)
from route_assets.assets.flaw_classification import flaw_classification
from route_assets.imaging import codecs
from route_assets.imaging.classify import Assessment, assess
from route_assets.imaging.edit import apply_edit, palette_delta_e, plan_edits
from route_assets.imaging.flaws import Flaw, FlawKind
from route_assets.manifests import (
    ClassificationManifest,
    EditManifest,
    EditRecord,
    GenerationManifest,
)
from route_assets.storage import CreativeStore

STAGE = "surgical_edit"
MASTER_FILE = "master.png"


MAX_ROUNDS = 2  # fixing exposure can reveal a colour cast that only a second round sees


def _edit_rounds(
    context: dg.AssetExecutionContext,
    store: CreativeStore,
    inp: StageInput,
    image: np.ndarray,
    flaws: list[Flaw],
    subject_mask: np.ndarray,
) -> tuple[np.ndarray, list[EditRecord], Assessment]:
    """Plan, apply and re-classify until no superficial flaw is left (at most MAX_ROUNDS).
    An edit that changes pixels outside its mask beyond the policy's SSIM floor is rejected."""
    records: list[EditRecord] = []
    floor = inp.policy.edit.min_ssim_outside
    after = None
    for _ in range(MAX_ROUNDS):
        steps = plan_edits(flaws)
        if not steps:
            break
        for step in steps:
            outcome = apply_edit(image, step, palette=inp.ad_set.palette, subject_mask=subject_mask)
            accepted = outcome.ssim_outside >= floor
            reason = f"SSIM outside mask {outcome.ssim_outside:.4f}" + (
                "" if accepted else f" < {floor}: rejected"
            )
            image = outcome.image if accepted else image
            mask_blob = store.put_blob(codecs.encode_gray_png(outcome.mask), suffix=".png")
            records.append(
                EditRecord(
                    edit=step.edit.value,
                    flaw=step.flaw.value,
                    region=step.region,
                    mask_blob=mask_blob,
                    ssim_outside=round(outcome.ssim_outside, 5),
                    accepted=accepted,
                    reason=reason,
                )
            )
            context.log.info(f"{step.edit.value} for {step.flaw.value}: {reason}")
        after = assess(image, palette=inp.ad_set.palette, thresholds=thresholds(inp.policy))
        flaws = list(after.flaws)
    if after is None:
        after = assess(image, palette=inp.ad_set.palette, thresholds=thresholds(inp.policy))
    return image, records, after


def _reroll_avoided(
    store: CreativeStore, inp: StageInput, classified: ClassificationManifest
) -> float:
    """What editing saved: with no candidate acceptable as generated, the alternative to an
    edit was another attempt at the same generation cost."""
    if any(c.verdict == "accept" for c in classified.candidates):
        return 0.0
    generation = GenerationManifest.model_validate(store.get_manifest(inp.key, "base_generation"))
    return round(float(generation.decision.get("estimated_cost_usd", 0.0)), 6)


@dg.asset(
    **COMMON,
    deps=[flaw_classification],
    kinds={"python", "opencv"},
    code_version="1",
    tags={"stage": "edit"},
)
def surgical_edit(
    context: dg.AssetExecutionContext, store: dg.ResourceParam[CreativeStore]
) -> dg.MaterializeResult:
    """The edited master: the chosen candidate with its superficial flaws fixed in place."""
    inp = stage_input(context, store)
    classified = ClassificationManifest.model_validate(
        store.get_manifest(inp.key, "flaw_classification")
    )
    if classified.chosen is None or classified.subject_mask_blob is None:
        raise dg.Failure(f"{inp.key}: no usable candidate to edit; re-roll base_generation")
    chosen = classified.candidates[classified.chosen]
    original = codecs.decode(store.get_blob(chosen.blob))
    subject_mask = codecs.decode(store.get_blob(classified.subject_mask_blob))[..., 0] > 127
    flaws = [Flaw(FlawKind(f.kind), f.severity, f.region, f.measure) for f in chosen.flaws]
    image, records, after = _edit_rounds(context, store, inp, original, flaws, subject_mask)
    background = ~subject_mask
    delta_e = palette_delta_e(image, inp.ad_set.palette, background) if background.any() else None
    png = codecs.encode_png(image)
    master_blob = store.put_blob(png, suffix=".png")
    master_file = store.publish(inp.key, STAGE, MASTER_FILE, png)
    manifest = EditManifest(
        ad_set=str(inp.key),
        ad_set_sha=inp.ad_set.sha,
        source_blob=chosen.blob,
        master_blob=master_blob,
        master_file=master_file,
        edits=records,
        remaining_flaws=[f.kind.value for f in after.flaws],
        subject_box=after.subject.box or chosen.subject_box,
        subject_mask_blob=classified.subject_mask_blob,
        palette_delta_e=None if delta_e is None else round(delta_e, 3),
        width=int(image.shape[1]),
        height=int(image.shape[0]),
    )
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    changed = float(np.mean(np.any(image != original, axis=2)))
    return dg.MaterializeResult(
        metadata={
            "model": "opencv-classical",
            "provider": "local",
            "edits": dg.MetadataValue.json([r.model_dump() for r in records]),
            "edits_applied": dg.MetadataValue.int(sum(r.accepted for r in records)),
            "changed_pixel_fraction": dg.MetadataValue.float(round(changed, 5)),
            "remaining_flaws": dg.MetadataValue.json(manifest.remaining_flaws),
            "palette_delta_e": dg.MetadataValue.float(delta_e if delta_e is not None else -1.0),
            "master": dg.MetadataValue.path(store.location(master_file)),
            "reroll_avoided_usd": dg.MetadataValue.float(_reroll_avoided(store, inp, classified)),
            **cost_metadata([]),
            **manifest_metadata(store, key),
        },
        data_version=dg.DataVersion(master_blob.rsplit("/", 1)[-1][:16]),
    )
