"""Stage manifests: everything the next stage needs, as JSON (never pickle).

Blobs are referenced by their content-addressed store keys; boxes are (x0, y0, x1, y1) in the
pixels of the image they describe.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict

from route_assets.costs import CostLine

Box = tuple[int, int, int, int]


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ad_set: str
    ad_set_sha: str
    cost_lines: list[CostLine] = []


class Candidate(BaseModel):
    index: int
    seed: int
    blob: str
    request_id: str


class GenerationManifest(_Manifest):
    attempt: int
    variant: str
    decision: dict[str, Any]
    prompt: str
    width: int
    height: int
    candidates: list[Candidate]


class FlawRecord(BaseModel):
    kind: str
    severity: float
    region: Box | None
    fix: str
    fundamental: bool
    measure: dict[str, float]


class Verdict(BaseModel):
    index: int
    blob: str
    verdict: str
    score: float
    flaws: list[FlawRecord]
    subject_box: Box | None
    faces: list[Box]
    preview_blob: str


class ClassificationManifest(_Manifest):
    attempt: int
    candidates: list[Verdict]
    chosen: int | None
    subject_mask_blob: str | None


class EditRecord(BaseModel):
    edit: str
    flaw: str
    region: Box | None
    mask_blob: str
    ssim_outside: float  # an upscale's round-trip SSIM (its mask is the whole frame)
    accepted: bool
    reason: str
    editor: str = "classical via local"  # model via provider
    patch_blob: str | None = None  # kept edits: RGBA, the changed pixels inside the mask
    brand_delta_e: float | None = None
    measure: dict[str, float] = {}


class EditManifest(_Manifest):
    source_blob: str
    master_blob: str
    master_file: str
    edits: list[EditRecord]
    remaining_flaws: list[str]
    subject_box: Box | None
    subject_mask_blob: str | None
    palette_delta_e: float | None
    width: int
    height: int
    faces: list[Box] = []  # head boxes on the master (after any upscale)
    verified: bool = True  # every edit passed its checks; False: re-rolled, never shipped
    reason: str = ""
    ora_file: str | None = None  # layered OpenRaster export next to the master


class Rendition(BaseModel):
    placement: str
    blob: str
    file: str
    width: int
    height: int
    bytes: int
    format: str
    quality: int
    crop_box: Box
    extended: bool
    retained: float


class ResizeManifest(_Manifest):
    renditions: list[Rendition]


class Clip(BaseModel):
    placement: str
    blob: str
    file: str
    width: int
    height: int
    seconds: float
    fps: int
    frames: int
    bytes: int
    seed: int
    request_id: str
    kbps: float = 0.0
    poster_file: str | None = None  # JPEG poster frame with the same AI disclosure


class SeedClip(BaseModel):
    """One of the K generated clips and how it scored (imaging.video_scores)."""

    seed: int
    blob: str
    request_id: str
    scores: dict[str, float]
    failures: list[str]
    risk: float


class VideoManifest(_Manifest):
    decision: dict[str, Any] | None
    clips: list[Clip]
    skipped: str | None
    seeds: list[SeedClip] = []
    kept_seed: int | None = None  # index into seeds of the clip the renditions come from
    verdict: str = ""  # "accept", or "regenerate" when every seed failed
    retry_cost_usd: float = 0.0  # what another K-seed try would cost
