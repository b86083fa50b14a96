"""The foreground box of a photograph from a learned salient-object model (IS-Net).

Which object a full-bleed photograph is about is learned, not measured: colour contrast and
detail saliency bind to a flower rather than the bee on it, to reflections rather than the lit
tower. IS-Net (Qin et al., "Highly Accurate Dichotomous Image Segmentation", ECCV 2022; MIT
licence) segments the foreground objects of any photograph. Its weights come from the npm
package @imgly/background-removal-data (the fp16 "medium" model), which `route-assets
install-models` fetches and converts (engines/foreground_model.py); without them the crop
planner keeps to the classical boxes in framing.py.

The network runs on a SIDE-pixel square copy on one thread: at 1024 px (its training size) it
costs ~3 s of CPU, at 192 px ~0.1 s, and a crop needs a box, not a hair-accurate matte. On
bench/crop's development parts 128, 192 and 256 px kept 0.993, 0.997 and 0.995 of subjects.
"""

from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from route_assets.imaging.flaws import Box

SIDE = 192  # network input side; any multiple of 64 (the converted graph scales its resizes)
THRESHOLD = 0.5  # foreground probability, after the min-max normalisation IS-Net's authors use
MIN_SHARE = 0.1  # a component with less than this share of the largest one's mass is a speck
PAD = 0.04  # growth of the box per side: the matte stops short of soft rims


class Matte(Protocol):
    def probability(self, image: np.ndarray) -> np.ndarray: ...


class ForegroundModel:
    """An onnxruntime session on the converted IS-Net graph; `probability` is its matte. The
    88 MB session is opened on first use: frames with a trusted subject never pay for it."""

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        self.path, self._threads = path, threads
        self._session: Any = None

    def _open(self) -> Any:
        import onnxruntime as ort  # imported here: the planner runs without it too

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.path), options,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise RuntimeError(f"{self.path}: not a loadable foreground model ({exc}); run "
                               "`route-assets install-models --force`") from exc

    def probability(self, image: np.ndarray) -> np.ndarray:
        """Foreground probability on a SIDE square (0..1, min-max normalised)."""
        small = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        x = (small.astype(np.float32) / 255.0 - 0.5).transpose(2, 0, 1)[None]
        if self._session is None:
            self._session = self._open()
        name = self._session.get_inputs()[0].name
        out = np.asarray(self._session.run(None, {name: x})[0], np.float32)[0, 0]
        lo, hi = float(out.min()), float(out.max())
        return (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)


def foreground_box(probability: np.ndarray, width: int, height: int) -> Box | None:
    """The padded box (master pixels) of the matte's foreground components, specks dropped;
    None when nothing stands out."""
    fg = (probability >= THRESHOLD).astype(np.uint8)
    count, labels = cv2.connectedComponents(fg, connectivity=8)
    if count <= 1:
        return None
    mass = np.bincount(labels.ravel(), weights=probability.ravel(), minlength=count)[1:]
    ys, xs = np.nonzero(np.isin(labels, np.flatnonzero(mass >= MIN_SHARE * mass.max()) + 1))
    sx, sy = width / probability.shape[1], height / probability.shape[0]
    x0, y0, x1, y1 = xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy
    px, py = PAD * (x1 - x0), PAD * (y1 - y0)
    return (max(0, int(x0 - px)), max(0, int(y0 - py)),
            min(width, int(np.ceil(x1 + px))), min(height, int(np.ceil(y1 + py))))
