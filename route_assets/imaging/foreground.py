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

from route_assets.imaging.components import heavy_box
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
    box = heavy_box(probability >= THRESHOLD, probability, rel=MIN_SHARE, pad=PAD, width=width,
                    height=height)
    if box is None:
        return None
    return (max(0, int(box[0])), max(0, int(box[1])),
            min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3]))))
