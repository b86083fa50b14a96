"""The box of a mask's heavy components: how the planner turns a map into a protected box."""

import cv2
import numpy as np

FloatBox = tuple[float, float, float, float]


def heavy_box(mask: np.ndarray, weights: np.ndarray, *, rel: float, pad: float, width: int,
              height: int) -> FloatBox | None:
    """The box, in the pixels of a width x height frame the mask covers, of the 8-connected
    components of `mask` holding at least `rel` of the heaviest one's `weights` mass (a second
    object of similar weight is kept too; specks are not), grown by `pad` of its size per
    side. Not rounded or clipped: each caller rounds its own way. None when `mask` is empty."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    mass = np.bincount(labels.ravel(), weights=weights.ravel(), minlength=count)[1:]
    ys, xs = np.nonzero(np.isin(labels, np.flatnonzero(mass >= rel * mass.max()) + 1))
    sx, sy = width / mask.shape[1], height / mask.shape[0]
    x0, y0, x1, y1 = xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy
    px, py = pad * (x1 - x0), pad * (y1 - y0)
    return x0 - px, y0 - py, x1 + px, y1 + py
