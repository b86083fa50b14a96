import contextlib
from collections.abc import Callable, Iterator

import dagster as dg
import numpy as np

from route_assets.assets.common import (
    COMMON,
    StageInput,
    cost_metadata,
    manifest_metadata,
    seed_for,
    stage_input,
    thresholds,
)
from route_assets.assets.flaw_classification import USABLE_CHECK, flaw_classification
from route_assets.assets.paid import Spender
from route_assets.catalog import LOCAL, load_placements
from route_assets.costs import CostLine
from route_assets.engines.registry import Engines
from route_assets.imaging import codecs, ora
from route_assets.imaging.classify import assess
from route_assets.imaging.edit import (
    EditOutcome,
    EditStep,
    apply_edit,
    composite,
    edit_mask,
    palette_delta_e,
    upscale_target,
)
from route_assets.imaging.edit_session import Checks, EditorChain, SessionResult, run_session
from route_assets.imaging.flaws import EditKind
from route_assets.ledger import Ledger
from route_assets.manifests import (
    ClassificationManifest,
    EditManifest,
    EditRecord,
    GenerationManifest,
)
from route_assets.providers.base import EditRequest
from route_assets.routing import Decision, Need
from route_assets.storage import CreativeStore

STAGE = "surgical_edit"
MASTER_FILE = "master.png"
ORA_FILE = "master.ora"

# What a hosted editor is asked; the mask (where it applies) travels with the request, and the
# result is composited back through it whatever the editor did elsewhere.
INSTRUCTIONS = {
    EditKind.ERASE: "Remove the object in the masked area and continue the background behind "
                    "it. Change nothing else.",
    EditKind.BACKGROUND: "Replace the background with a clean, smooth {brand} background. Keep "
                         "the subject and the headline exactly as they are.",
    EditKind.RECOLOR: "Recolor the background to the brand colour {brand}, keeping its light "
                      "and gradient. Keep the subject and the text unchanged.",
    EditKind.EXPOSURE: "Correct the exposure: recover the highlights and shadows with natural "
                       "contrast. Change nothing else.",
    EditKind.WHITE_BALANCE: "Remove the colour cast (correct the white balance). Change "
                            "nothing else.",
    EditKind.DENOISE: "Remove the noise and grain while keeping fine detail. Change nothing "
                      "else.",
    EditKind.SHARPEN: "Sharpen the soft area and restore its fine detail. Change nothing else.",
    EditKind.FACE_CARE: "Even out the skin of the face, keeping pores and natural texture; no "
                        "plastic look. Change nothing else.",
    EditKind.UPSCALE: "Upscale faithfully, adding detail without changing content.",
}


class _LocalTurn(Exception):
    """The spender fell back onto the local engine, which is not a hosted call."""


def _chain(context: dg.AssetExecutionContext, store: CreativeStore, engines: Engines,
           ledger: Ledger, inp: StageInput, spenders: list[Spender],
           stack: contextlib.ExitStack) -> EditorChain:
    """The policy's editors for each step, in order: the local engine runs in process, hosted
    editors go through a spender (cache, budget reservation, fallback on outages)."""
    palette = inp.ad_set.palette

    def chain(image: np.ndarray, step: EditStep, subject: np.ndarray
              ) -> Iterator[tuple[str, EditOutcome]]:
        h, w = image.shape[:2]
        tw, th = step.size or (w, h)
        spender = Spender(context=context, store=store, engines=engines, ledger=ledger, inp=inp,
                          stage=STAGE, need=Need("edit", step.edit.value, width=tw, height=th))
        spenders.append(spender)
        stack.enter_context(spender.recording())  # paid, then failed: the spend is recorded
        seed = seed_for(inp.key, variant=f"edit:{step.edit.value}:{step.region}", attempt=0,
                        index=len(spenders))
        while True:
            decision = spender.decision
            if decision.provider == LOCAL:
                outcome = apply_edit(image, step, palette=palette, subject_mask=subject)
            else:
                mask = edit_mask(image, step, palette=palette, subject_mask=subject)
                request = _request(image, mask, step, palette, tw, th, seed)
                try:
                    hit = spender.call("edit", request, seed=seed)
                except _LocalTurn:
                    continue
                result = codecs.decode(store.get_blob(hit.blob))
                outcome = composite(image, result, mask, step)
            yield f"{decision.model} via {decision.provider}", outcome
            if not spender.next_route("failed the edit checks"):
                return

    return chain


def _request(image: np.ndarray, mask: np.ndarray, step: EditStep, palette: tuple[str, ...],
             width: int, height: int, seed: int) -> Callable[[Decision], EditRequest]:
    png, mask_png = codecs.encode_png(image), codecs.encode_gray_png(mask)
    instruction = INSTRUCTIONS[step.edit].format(brand=palette[0] if palette else "brand")

    def build(decision: Decision) -> EditRequest:
        if decision.provider == LOCAL:
            raise _LocalTurn
        return EditRequest(model=decision.model, endpoint=decision.endpoint,
                           instruction=instruction, image_png=png, mask_png=mask_png,
                           width=width, height=height, seed=seed)

    return build


def _records(store: CreativeStore, session: SessionResult) -> list[EditRecord]:
    """Every editor result tried, with its mask; kept edits also keep their patch (the pixels
    they changed, transparent elsewhere), the layers of the OpenRaster export."""
    records = []
    for t in session.tried:
        mask = t.outcome.mask
        patch = None
        if t.accepted:
            rgba = np.concatenate([t.outcome.image * mask[..., None],
                                   mask[..., None].astype(np.uint8) * 255], axis=2)
            patch = store.put_blob(ora.png(rgba), suffix=".png")
        records.append(EditRecord(
            edit=t.step.edit.value,
            flaw=t.step.flaw.value if t.step.flaw else "",
            region=t.step.region,
            mask_blob=store.put_blob(codecs.encode_gray_png(mask), suffix=".png"),
            ssim_outside=round(t.fidelity, 5),
            accepted=t.accepted,
            reason=t.reason,
            editor=t.editor,
            patch_blob=patch,
            brand_delta_e=None if t.brand_delta_e is None else round(t.brand_delta_e, 3),
            measure={k: round(float(v), 4) for k, v in t.outcome.measure.items()},
        ))
    return records


def ora_bytes(store: CreativeStore, manifest: EditManifest) -> bytes:
    """The layered OpenRaster file of an edit manifest: original, kept edits, their masks."""
    original = codecs.decode(store.get_blob(manifest.source_blob))
    patches = []
    for i, r in enumerate(manifest.edits):
        if r.accepted and r.patch_blob:
            rgba = ora.read_png(store.get_blob(r.patch_blob))
            patches.append(ora.Patch(f"{i + 1:02d} {r.edit} ({r.editor})", rgba[..., :3],
                                     rgba[..., 3] > 127))
    return ora.write_ora(ora.edit_layers(original, patches))


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
    code_version="2",
    tags={"stage": "edit"},
    check_specs=[
        dg.AssetCheckSpec(
            USABLE_CHECK,
            asset="surgical_edit",
            blocking=True,
            description="Every edit passed its checks (SSIM outside the mask, brand dE2000, "
            "re-classification); else the ad set is re-rolled and nothing ships.",
        )
    ],
)
def surgical_edit(
    context: dg.AssetExecutionContext,
    store: dg.ResourceParam[CreativeStore],
    engines: dg.ResourceParam[Engines],
    ledger: dg.ResourceParam[Ledger],
) -> dg.MaterializeResult:
    """The edited master: the chosen candidate with its superficial flaws fixed in place,
    each edit proven surgical, upscaled to cover the largest placement."""
    inp = stage_input(context, store)
    classified = ClassificationManifest.model_validate(
        store.get_manifest(inp.key, "flaw_classification")
    )
    if classified.chosen is None or classified.subject_mask_blob is None:
        raise dg.Failure(f"{inp.key}: no usable candidate to edit; re-roll base_generation")
    chosen = classified.candidates[classified.chosen]
    original = codecs.decode(store.get_blob(chosen.blob))
    policy = inp.policy.edit
    checks = Checks(policy.min_ssim_outside, policy.max_palette_delta_e, thresholds(inp.policy))
    sizes = [(p.width, p.height) for p in map(load_placements().get, inp.ad_set.placements)]
    spenders: list[Spender] = []
    with contextlib.ExitStack() as stack:
        session = run_session(
            original, palette=inp.ad_set.palette, checks=checks,
            editors=_chain(context, store, engines, ledger, inp, spenders, stack),
            first=assess(original, palette=inp.ad_set.palette, thresholds=checks.thresholds),
            upscale_to=upscale_target(original.shape, sizes))
    lines: list[CostLine] = [line for s in spenders for line in s.lines]
    records = _records(store, session)
    for r in records:
        context.log.info(f"{r.edit} by {r.editor}: {'kept' if r.accepted else 'rejected'}, "
                         f"{r.reason}")
    image = session.image
    png = codecs.encode_png(image)
    master_blob = store.put_blob(png, suffix=".png")
    # A master that failed its checks is kept for review but never published.
    master_file = store.publish(inp.key, STAGE, MASTER_FILE, png) if session.shipped \
        else master_blob
    subject = session.assessment.subject
    background = ~subject.mask
    delta_e = palette_delta_e(image, inp.ad_set.palette, background) if background.any() else None
    manifest = EditManifest(
        ad_set=str(inp.key),
        ad_set_sha=inp.ad_set.sha,
        cost_lines=lines,
        source_blob=chosen.blob,
        master_blob=master_blob,
        master_file=master_file,
        edits=records,
        remaining_flaws=[f.kind.value for f in session.assessment.flaws],
        subject_box=subject.box or chosen.subject_box,
        subject_mask_blob=store.put_blob(codecs.encode_gray_png(subject.mask), suffix=".png"),
        palette_delta_e=None if delta_e is None else round(delta_e, 3),
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        faces=list(subject.faces),
        verified=session.shipped,
        reason=session.reason,
    )
    ora_file = None
    if session.shipped:
        ora_file = store.publish(inp.key, STAGE, ORA_FILE, ora_bytes(store, manifest))
        manifest = manifest.model_copy(update={"ora_file": ora_file})
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    same = image.shape == original.shape
    changed = float(np.mean(np.any(image != original, axis=2))) if same else 1.0
    kept = [r for r in records if r.accepted]
    return dg.MaterializeResult(
        metadata={
            "model": ", ".join(sorted({r.editor for r in kept})) or "none",
            "provider": ", ".join(sorted({r.editor.rsplit(" via ", 1)[-1] for r in kept}))
            or "local",
            "edits": dg.MetadataValue.json([r.model_dump() for r in records]),
            "edits_applied": dg.MetadataValue.int(len(kept)),
            "changed_pixel_fraction": dg.MetadataValue.float(round(changed, 5)),
            "remaining_flaws": dg.MetadataValue.json(manifest.remaining_flaws),
            "palette_delta_e": dg.MetadataValue.float(delta_e if delta_e is not None else -1.0),
            "master": dg.MetadataValue.path(store.location(master_file)),
            **({"layered": dg.MetadataValue.path(store.location(ora_file))} if ora_file else {}),
            "verified": session.shipped,
            "reroll_avoided_usd": dg.MetadataValue.float(_reroll_avoided(store, inp, classified)),
            "fallbacks": dg.MetadataValue.json([f for s in spenders for f in s.fallbacks]),
            **cost_metadata(lines),
            **manifest_metadata(store, key),
        },
        data_version=dg.DataVersion(master_blob.rsplit("/", 1)[-1][:16]),
        check_results=[
            dg.AssetCheckResult(
                check_name=USABLE_CHECK,
                passed=session.shipped,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"reason": session.reason, "edits_kept": len(kept)},
                description=None if session.shipped
                else f"{session.reason}; re-roll with new seeds",
            )
        ],
    )
