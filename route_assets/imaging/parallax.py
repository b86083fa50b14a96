"""2.5D parallax over a still: the subject (from its mask) and the background move as two
layers at different depths, so the camera seems to glide past the product.

The background plate is the still with the subject removed: the hole (dilated, so no subject
edge is left behind) is inpainted at low resolution and softened, because the moving subject
uncovers it. The subject layer is cut with a feathered mask so its edge does not shimmer.
"""

import math
from collections.abc import Iterator

import cv2
import numpy as np

from route_assets.imaging.flaws import Box
from route_assets.imaging.video import fit_still

_INPAINT_SIDE = 256  # inpaint on a copy this wide at most: the fill is blurred anyway


def background_plate(canvas: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`canvas` with the masked subject removed and the hole filled from its surroundings."""
    h, w = mask.shape
    grow = max(3, int(0.02 * min(h, w)))
    hole = cv2.dilate((mask > 0.5).astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8))
    k = min(1.0, _INPAINT_SIDE / max(h, w))
    sw, sh = max(8, round(w * k)), max(8, round(h * k))
    small = cv2.resize(canvas, (sw, sh), interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, (sw, sh), interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(filled, (0, 0), 2.0)
    fill = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    soft = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), grow / 2 + 1)[..., None]
    return (canvas * (1 - soft) + fill * soft).astype(np.uint8)


def _about(scale: float, cx: float, cy: float, dx: float, dy: float) -> np.ndarray:
    """Zoom by `scale` about (cx, cy), then shift by (dx, dy)."""
    return np.array([[scale, 0.0, (1 - scale) * cx + dx], [0.0, scale, (1 - scale) * cy + dy]])


def parallax_frames(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    width: int,
    height: int,
    seconds: float,
    fps: int,
    focus_box: Box | None,
    depth: float = 0.03,
    zoom: float = 1.06,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """round(seconds * fps) RGB frames: the background drifts one way and zooms gently, the
    subject drifts the other way and zooms a little more (it is nearer the camera).
    `mask` is the subject mask of `image` (any dtype, > 0 = subject); `depth` is the layers'
    relative travel as a fraction of the shorter side."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("image must be an HxWx3 uint8 RGB array")
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask is {mask.shape[:2]}, image is {image.shape[:2]}")
    if width < 2 or height < 2 or fps <= 0 or seconds <= 0 or zoom < 1.0:
        raise ValueError("need width, height >= 2, fps > 0, seconds > 0 and zoom >= 1")
    count = max(1, round(seconds * fps))
    canvas, (fx0, fy0, fx1, fy1), place = fit_still(image, width, height, focus_box)
    layer = cv2.warpAffine((mask > 0).astype(np.float32), place, (width, height),
                           flags=cv2.INTER_LINEAR)
    feather = max(1.0, 0.004 * min(width, height))
    alpha = cv2.GaussianBlur(layer, (0, 0), feather)
    plate = background_plate(canvas, layer)
    angle = np.random.default_rng(seed).uniform(0.0, 2 * math.pi)
    travel = depth * min(width, height) / 2
    ux, uy = math.cos(angle) * travel, math.sin(angle) * travel
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    for i in range(count):
        t = i / (count - 1) if count > 1 else 0.0
        e = t * t * (3 - 2 * t)  # smoothstep: the move starts and ends at rest
        back = _about(1 + (zoom - 1) * e, cx, cy, -ux * e, -uy * e)
        front = _about(1 + 1.6 * (zoom - 1) * e, cx, cy, ux * e, uy * e)
        bg = cv2.warpAffine(plate, back, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
        fg = cv2.warpAffine(canvas, front, (width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
        a = cv2.warpAffine(alpha, front, (width, height), flags=cv2.INTER_LINEAR)[..., None]
        yield (fg * a + bg * (1 - a)).astype(np.uint8)
