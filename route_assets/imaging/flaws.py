"""The flaw taxonomy shared by the simulator, the classifier and the editor.

A flaw is *superficial* when an editor can fix it without touching the approved rest of the
frame, and *fundamental* when only a new generation can (DESIGN "flaw_classification").
"""

from dataclasses import dataclass, field
from enum import StrEnum

Box = tuple[int, int, int, int]
"""Pixel box (x0, y0, x1, y1), x1/y1 exclusive, in the coordinates of the image it describes."""


class FlawKind(StrEnum):
    BLUR = "blur"  # whole frame or a soft patch
    NOISE = "noise"
    OVEREXPOSED = "overexposed"  # clipped highlights
    UNDEREXPOSED = "underexposed"  # crushed shadows
    COLOR_CAST = "color_cast"
    OFF_PALETTE = "off_palette"  # background far from every brand colour
    STRAY_OBJECT = "stray_object"  # localized artifact on the background
    SUBJECT_CUT = "subject_cut"  # subject runs off the frame edge
    SUBJECT_MISSING = "subject_missing"
    UNREADABLE_HEADLINE = "unreadable_headline"
    WRONG_COMPOSITION = "wrong_composition"  # subject in the headline band, or small off-centre
    INCONSISTENT_LIGHTING = "inconsistent_lighting"  # subject lit from the other side
    PROMPT_MISMATCH = "prompt_mismatch"  # the vision judge: the frame does not show the brief
    BAD_ANATOMY = "bad_anatomy"  # the vision judge: malformed hands, faces, bodies


class EditKind(StrEnum):
    SHARPEN = "sharpen"
    DENOISE = "denoise"
    EXPOSURE = "exposure"
    WHITE_BALANCE = "white_balance"
    RECOLOR = "recolor"
    ERASE = "erase"
    BACKGROUND = "background"  # rebuild the whole background clean (many strays at once)
    FACE_CARE = "face_care"  # texture-keeping skin smoothing on faces, instead of denoising them
    UPSCALE = "upscale"  # to the largest placement the ad set needs (not a flaw: a plan step)
    REGENERATE = "regenerate"


FIX_FOR: dict[FlawKind, EditKind] = {
    FlawKind.BLUR: EditKind.SHARPEN,
    FlawKind.NOISE: EditKind.DENOISE,
    FlawKind.OVEREXPOSED: EditKind.EXPOSURE,
    FlawKind.UNDEREXPOSED: EditKind.EXPOSURE,
    FlawKind.COLOR_CAST: EditKind.WHITE_BALANCE,
    FlawKind.OFF_PALETTE: EditKind.RECOLOR,
    FlawKind.STRAY_OBJECT: EditKind.ERASE,
    FlawKind.SUBJECT_CUT: EditKind.REGENERATE,
    FlawKind.SUBJECT_MISSING: EditKind.REGENERATE,
    FlawKind.UNREADABLE_HEADLINE: EditKind.REGENERATE,
    FlawKind.WRONG_COMPOSITION: EditKind.REGENERATE,
    FlawKind.INCONSISTENT_LIGHTING: EditKind.REGENERATE,
    FlawKind.PROMPT_MISMATCH: EditKind.REGENERATE,
    FlawKind.BAD_ANATOMY: EditKind.REGENERATE,
}

FUNDAMENTAL: frozenset[FlawKind] = frozenset(
    {FlawKind.SUBJECT_CUT, FlawKind.SUBJECT_MISSING, FlawKind.UNREADABLE_HEADLINE,
     FlawKind.WRONG_COMPOSITION, FlawKind.INCONSISTENT_LIGHTING, FlawKind.PROMPT_MISMATCH,
     FlawKind.BAD_ANATOMY}
)


@dataclass(frozen=True)
class Flaw:
    kind: FlawKind
    severity: float  # 0..1, how far past the threshold the measurement is
    region: Box | None  # None for whole-frame flaws
    measure: dict[str, float] = field(default_factory=dict)  # the numbers behind the call

    @property
    def fundamental(self) -> bool:
        return self.kind in FUNDAMENTAL

    @property
    def fix(self) -> EditKind:
        return FIX_FOR[self.kind]
