"""One verified edit session: each planned step is tried on the editors the policy lists, in
order, and a result is kept only when it proves itself: the pixels outside its mask kept their
structure (SSIM), the brand colour did not drift (CIEDE2000), and re-classification finds the
targeted flaw gone and no new fundamental one. A step no editor can do, or flaws still left after
the last round, send the frame back to regeneration: it is never shipped.

Editors are supplied by the caller as a chain (the local engine, hosted editors through the
spender), so the benchmark and the asset run the same session.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000

from route_assets.imaging.classify import Assessment, Thresholds, assess
from route_assets.imaging.edit import (
    EditOutcome,
    EditStep,
    apply_edit,
    plan_edits,
)
from route_assets.imaging.flaws import Box, EditKind, Flaw
from route_assets.imaging.measures import (
    brand_nearest,
    brand_segments,
    morph,
    rgb_to_lab,
)

MAX_ROUNDS = 3  # fixing exposure can reveal a cast or a stray the blown frame hid
LOCAL_EDITOR = "classical"

# (frame, step, subject mask) -> the editors' results, in the policy's order. The chain is
# resumed only when the previous result failed its checks, so a hosted editor is paid for
# only when everything before it failed.
EditorChain = Callable[[np.ndarray, EditStep, np.ndarray], Iterator[tuple[str, EditOutcome]]]


@dataclass(frozen=True)
class Checks:
    min_ssim_outside: float = 0.98
    max_palette_delta_e: float = 3.0
    thresholds: Thresholds = Thresholds()


@dataclass(frozen=True)
class Tried:
    """One editor's result for one step, and what the checks said."""

    step: EditStep
    editor: str
    outcome: EditOutcome
    fidelity: float  # SSIM outside the mask (an upscale: its round trip to the old size)
    brand_delta_e: float | None  # after the edit; None without a brand background
    accepted: bool
    reason: str


@dataclass(frozen=True)
class SessionResult:
    image: np.ndarray
    tried: tuple[Tried, ...]
    assessment: Assessment  # of `image`
    shipped: bool
    reason: str

    @property
    def accepted(self) -> tuple[Tried, ...]:
        return tuple(t for t in self.tried if t.accepted)


def local_chain(palette: Sequence[str]) -> EditorChain:
    """The classical engine alone (offline, free)."""

    def chain(image: np.ndarray, step: EditStep, subject: np.ndarray
              ) -> Iterator[tuple[str, EditOutcome]]:
        yield LOCAL_EDITOR, apply_edit(image, step, palette=palette, subject_mask=subject)

    return chain


def brand_delta_e(image: np.ndarray, palette: Sequence[str], subject: np.ndarray,
                  band: float) -> float | None:
    """CIEDE2000 from the background's median colour to the nearest on-brand colour (a brand
    colour, its tints and shades, or a blend of two: gradients are on-brand). None when the
    frame has no background to speak of."""
    h = image.shape[0]
    background = ~morph(subject, cv2.MORPH_DILATE, max(5, int(0.02 * h)))
    background[int(round(h * (1 - band))) :] = False
    if not palette or background.mean() < 0.05:
        return None
    median = np.median(image[background].astype(np.float64), axis=0)
    near = brand_nearest(median, brand_segments(palette))
    lab = rgb_to_lab(np.array([[median, near]], np.float32))[0].astype(np.float64)
    return float(deltaE_ciede2000(lab[0], lab[1]))


def _overlaps(a: Box | None, b: Box | None) -> bool:
    if a is None or b is None:
        return True
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _still_there(step: EditStep, flaws: Sequence[Flaw]) -> list[Flaw]:
    return [f for f in flaws if f.kind == step.flaw and _overlaps(f.region, step.region)]


def _judge(before: np.ndarray, outcome: EditOutcome, step: EditStep, *, later: Sequence[EditStep],
           palette: Sequence[str], subject: np.ndarray, before_flaws: Sequence[Flaw],
           checks: Checks) -> tuple[bool, str, float, float | None]:
    """Accepted?, why, fidelity and the brand dE of one result."""
    band = checks.thresholds.bottom_band
    fidelity = outcome.measure.get("round_trip_ssim", outcome.ssim_outside)
    if step.edit == EditKind.UPSCALE:
        de_before = brand_delta_e(before, palette, subject, band)
        small = cv2.resize(outcome.image, before.shape[1::-1], interpolation=cv2.INTER_AREA)
        de_after = brand_delta_e(small, palette, subject, band)
    else:
        de_before = brand_delta_e(before, palette, subject, band)
        de_after = brand_delta_e(outcome.image, palette, subject, band)
    what = "round-trip SSIM" if step.edit == EditKind.UPSCALE else "SSIM outside mask"
    if fidelity < checks.min_ssim_outside:
        return False, f"{what} {fidelity:.4f} < {checks.min_ssim_outside}", fidelity, de_after
    limit = checks.max_palette_delta_e
    if de_after is not None:
        # A recolor must land on the brand; any other edit must not move it off (or further).
        allowed = limit if step.edit == EditKind.RECOLOR else max(limit, (de_before or 0) + 0.5)
        if de_after > allowed:
            return False, f"brand dE2000 {de_after:.2f} > {allowed:.2f}", fidelity, de_after
    if "texture_kept" in outcome.measure and outcome.measure["texture_kept"] < 0.5:
        return False, f"face texture kept {outcome.measure['texture_kept']:.2f} < 0.5", \
            fidelity, de_after
    after = assess(outcome.image, palette=palette, thresholds=checks.thresholds)
    known = {f.kind for f in before_flaws}
    new_fundamental = [f.kind.value for f in after.flaws if f.fundamental and f.kind not in known]
    if new_fundamental:
        return False, f"new flaw {', '.join(new_fundamental)}", fidelity, de_after
    # The flaw must be gone once the last step aimed at it has run (denoise + face care).
    finishes = step.flaw is not None and not any(
        s.flaw == step.flaw and _overlaps(s.region, step.region) for s in later)
    if finishes and (left := _still_there(step, after.flaws)):
        return False, f"{left[0].kind.value} still found", fidelity, de_after
    if step.edit == EditKind.UPSCALE and after.verdict != "accept":
        return False, f"upscaled frame flagged {[f.kind.value for f in after.flaws]}", \
            fidelity, de_after
    de = "" if de_after is None else f", brand dE2000 {de_after:.2f}"
    return True, f"{what} {fidelity:.4f}{de}", fidelity, de_after


def _run_step(image: np.ndarray, step: EditStep, later: Sequence[EditStep], editors: EditorChain,
              palette: Sequence[str], current: Assessment, checks: Checks
              ) -> tuple[np.ndarray | None, list[Tried]]:
    tried: list[Tried] = []
    subject = current.subject.mask
    for editor, outcome in editors(image, step, subject):
        ok, reason, fidelity, de = _judge(image, outcome, step, later=later, palette=palette,
                                          subject=subject, before_flaws=current.flaws,
                                          checks=checks)
        tried.append(Tried(step, editor, outcome, fidelity, de, ok, reason))
        if ok:
            return outcome.image, tried
    return None, tried


def run_session(image: np.ndarray, *, palette: Sequence[str], editors: EditorChain,
                checks: Checks = Checks(), first: Assessment | None = None,
                upscale_to: tuple[int, int] | None = None) -> SessionResult:
    """Plan, try, check and re-plan until the frame is clean (at most MAX_ROUNDS), then
    upscale. `first` is the classifier's assessment of `image`, if already known."""
    current = first or assess(image, palette=palette, thresholds=checks.thresholds)
    tried: list[Tried] = []

    def done(shipped: bool, reason: str) -> SessionResult:
        return SessionResult(image, tuple(tried), current, shipped, reason)

    if current.verdict == "regenerate":
        return done(False, "fundamental flaw: " + ", ".join(
            f.kind.value for f in current.flaws if f.fundamental))
    for _ in range(MAX_ROUNDS):
        if current.verdict == "accept":
            break
        steps = plan_edits(current.flaws, faces=current.subject.faces)
        if not steps:
            break
        for i, step in enumerate(steps):
            edited, log = _run_step(image, step, steps[i + 1 :], editors, palette, current,
                                    checks)
            tried += log
            if edited is None:
                why = log[-1].reason if log else "no editor for it"
                return done(False, f"{step.edit.value} failed on every editor ({why})")
            image = edited
        current = assess(image, palette=palette, thresholds=checks.thresholds)
        if current.verdict == "regenerate":
            return done(False, "edits left a fundamental flaw: " + ", ".join(
                f.kind.value for f in current.flaws if f.fundamental))
    if current.verdict != "accept":
        return done(False, "flaws left after editing: " + ", ".join(
            f.kind.value for f in current.flaws))
    de = brand_delta_e(image, palette, current.subject.mask, checks.thresholds.bottom_band)
    if tried and de is not None and de > checks.max_palette_delta_e:
        return done(False, f"edited background off the brand: dE2000 {de:.2f} > "
                           f"{checks.max_palette_delta_e}")
    if upscale_to is not None:
        (step,) = plan_edits([], upscale_to=upscale_to)
        edited, log = _run_step(image, step, [], editors, palette, current, checks)
        tried += log
        if edited is None:
            return done(False, f"upscale failed on every editor ({log[-1].reason})")
        image = edited
        current = assess(image, palette=palette, thresholds=checks.thresholds)
    return done(True, f"{sum(t.accepted for t in tried)} edit(s) verified")
