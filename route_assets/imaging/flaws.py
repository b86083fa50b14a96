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


class EditKind(StrEnum):
    SHARPEN = "sharpen"
    DENOISE = "denoise"
    EXPOSURE = "exposure"
    WHITE_BALANCE = "white_balance"
    RECOLOR = "recolor"
    ERASE = "erase"
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
}

FUNDAMENTAL: frozenset[FlawKind] = frozenset(
    {FlawKind.SUBJECT_CUT, FlawKind.SUBJECT_MISSING, FlawKind.UNREADABLE_HEADLINE}
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
