import dataclasses

import dagster as dg

from route_assets.assets.base_generation import base_generation
from route_assets.assets.common import (
    COMMON,
    cost_metadata,
    manifest_metadata,
    stage_input,
    thresholds,
)
from route_assets.assets.judging import STAGE, Judging
from route_assets.imaging import codecs
from route_assets.imaging.classify import (
    Assessment,
    Thresholds,
    assess,
    combine,
    pick_best,
    threshold_notes,
)
from route_assets.imaging.preview import annotate
from route_assets.ledger import Ledger
from route_assets.manifests import ClassificationManifest, FlawRecord, GenerationManifest, Verdict
from route_assets.storage import CreativeStore

USABLE_CHECK = "usable_candidate"


def _record(index: int, blob: str, preview: str, assessment: Assessment) -> Verdict:
    return Verdict(
        index=index,
        blob=blob,
        verdict=assessment.verdict,
        score=round(assessment.score, 4),
        flaws=[
            FlawRecord(
                kind=f.kind.value,
                severity=round(f.severity, 3),
                region=f.region,
                fix=f.fix.value,
                fundamental=f.fundamental,
                measure={k: round(float(v), 4) for k, v in f.measure.items()},
            )
            for f in assessment.flaws
        ],
        subject_box=assessment.subject.box,
        faces=list(assessment.subject.faces),
        preview_blob=preview,
    )


def _flaw_table(verdicts: list[Verdict]) -> str:
    rows = ["| candidate | verdict | score | flaws |", "|---|---|---|---|"]
    for v in verdicts:
        flaws = ", ".join(f"{f.kind} ({f.severity:.2f}, fix: {f.fix})" for f in v.flaws) or "none"
        rows.append(f"| {v.index} | {v.verdict} | {v.score:.3f} | {flaws} |")
    return "\n".join(rows)


def _threshold_table(limits: Thresholds) -> str:
    notes = threshold_notes()
    rows = ["| threshold | value | meaning |", "|---|---|---|"]
    rows += [f"| {k} | {v} | {notes.get(k, '')} |" for k, v in dataclasses.asdict(limits).items()]
    return "\n".join(rows)


@dg.asset(
    **COMMON,
    deps=[base_generation],
    kinds={"python", "opencv"},
    code_version="2",
    tags={"stage": "classify"},
    check_specs=[
        dg.AssetCheckSpec(
            USABLE_CHECK,
            asset="flaw_classification",
            blocking=True,
            description="At least one candidate is usable (accept or edit); else hold downstream.",
        )
    ],
)
def flaw_classification(
    context: dg.AssetExecutionContext,
    store: dg.ResourceParam[CreativeStore],
    ledger: dg.ResourceParam[Ledger],
) -> dg.MaterializeResult:
    """Flaws and a verdict (accept / edit / regenerate) for every candidate, and the best pick."""
    inp = stage_input(context, store)
    generation = GenerationManifest.model_validate(store.get_manifest(inp.key, "base_generation"))
    limits = thresholds(inp.policy)
    judging = Judging(inp.policy.classify.judge, inp, store, ledger)
    verdicts, assessments = [], []
    for candidate in generation.candidates:
        png = store.get_blob(candidate.blob)
        image = codecs.decode(png)
        assessment = assess(image, palette=inp.ad_set.palette, thresholds=limits)
        if judging.judge is not None:
            size = (image.shape[1], image.shape[0])
            found = judging.flaws(candidate.index, candidate.blob, png, size)
            assessment = combine(assessment, found, limits)
        preview = annotate(
            image, assessment.flaws, subject_box=assessment.subject.box, verdict=assessment.verdict
        )
        preview_blob = store.put_blob(codecs.encode_png(preview), suffix=".png")
        verdicts.append(_record(candidate.index, candidate.blob, preview_blob, assessment))
        assessments.append(assessment)
        context.log.info(
            f"candidate {candidate.index}: {assessment.verdict}, {len(assessment.flaws)} flaw(s)"
        )
    for warning in judging.warnings:
        context.log.warning(warning)
    chosen = pick_best(assessments)
    mask_blob = None
    if chosen is not None:
        mask = assessments[chosen].subject.mask
        mask_blob = store.put_blob(codecs.encode_gray_png(mask), suffix=".png")
    manifest = ClassificationManifest(
        ad_set=str(inp.key),
        ad_set_sha=inp.ad_set.sha,
        attempt=generation.attempt,
        candidates=verdicts,
        chosen=chosen,
        subject_mask_blob=mask_blob,
    )
    key = store.put_manifest(inp.key, STAGE, manifest.model_dump(mode="json"))
    counts = {v: sum(x.verdict == v for x in verdicts) for v in ("accept", "edit", "regenerate")}
    return dg.MaterializeResult(
        metadata={
            "model": "classical-measures",
            "provider": "local",
            "attempt": dg.MetadataValue.int(generation.attempt),
            "verdicts": dg.MetadataValue.json([v.verdict for v in verdicts]),
            "chosen": dg.MetadataValue.int(-1 if chosen is None else chosen),
            "flaw_table": dg.MetadataValue.md(_flaw_table(verdicts)),
            **{f"{name}_count": dg.MetadataValue.int(n) for name, n in counts.items()},
            "thresholds": dg.MetadataValue.md(_threshold_table(limits)),
            **judging.metadata(),
            **cost_metadata(judging.lines),
            **manifest_metadata(store, key),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=USABLE_CHECK,
                passed=chosen is not None,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"attempt": generation.attempt, "verdicts": [v.verdict for v in verdicts]},
                description=None
                if chosen is not None
                else (f"all {len(verdicts)} candidates need regeneration; re-roll with new seeds"),
            )
        ],
    )
