"""Annotated previews: flaw boxes and labels drawn over a candidate, for people to look at."""

from collections.abc import Sequence

import cv2
import numpy as np

from route_assets.imaging.flaws import Box, Flaw

FUNDAMENTAL_RGB = (230, 40, 40)
SUPERFICIAL_RGB = (250, 190, 20)
SUBJECT_RGB = (40, 200, 90)


def annotate(
    image: np.ndarray, flaws: Sequence[Flaw], *, subject_box: Box | None, verdict: str
) -> np.ndarray:
    out = image.copy()
    thick = max(2, image.shape[1] // 300)
    scale = image.shape[1] / 1400
    if subject_box:
        cv2.rectangle(out, subject_box[:2], subject_box[2:], SUBJECT_RGB, thick)
    for flaw in flaws:
        colour = FUNDAMENTAL_RGB if flaw.fundamental else SUPERFICIAL_RGB
        box = flaw.region or (0, 0, image.shape[1] - 1, image.shape[0] - 1)
        cv2.rectangle(out, box[:2], box[2:], colour, thick)
        label = f"{flaw.kind.value} {flaw.severity:.2f} -> {flaw.fix.value}"
        origin = (box[0] + 6, max(box[1] + int(30 * scale) + 6, int(30 * scale)))
        cv2.putText(out, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2)
        cv2.putText(out, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick)
    cv2.putText(
        out,
        verdict.upper(),
        (10, image.shape[0] - 12),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale * 1.4,
        (255, 255, 255),
        thick + 1,
    )
    return out
