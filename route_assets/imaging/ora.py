"""Layered OpenRaster (.ora) export of an edited master, for GIMP and Krita.

The file keeps what the pipeline knew: the original frame at the bottom, one layer per kept edit
holding that edit's pixels inside its mask (transparent elsewhere), and every mask as a hidden
layer on top. Stacked, the visible layers give the master exactly, so a designer can switch an
edit off, repaint a mask, or carry on where automation stopped.

Format (OpenRaster 0.0.5): a ZIP whose first entry is `mimetype` (stored, uncompressed, no extra
field), then `stack.xml` (first child = topmost layer), one PNG per layer under `data/`,
`mergedimage.png` and `Thumbnails/thumbnail.png` (at most 256 px).
"""

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

import cv2
import numpy as np
from PIL import Image

MIMETYPE = b"image/openraster"
THUMB_SIDE = 256


@dataclass(frozen=True)
class Layer:
    name: str
    rgba: np.ndarray  # HxWx4 uint8, the size of the image
    visible: bool = True


@dataclass(frozen=True)
class Patch:
    """One kept edit: the frame after it, and the pixels it was allowed to change."""

    name: str
    image: np.ndarray  # HxWx3 uint8
    mask: np.ndarray  # HxW bool


def png(rgba: np.ndarray) -> bytes:
    """RGB or RGBA pixels as PNG bytes."""
    out = io.BytesIO()
    mode = "RGBA" if rgba.shape[-1] == 4 else "RGB"
    Image.fromarray(np.ascontiguousarray(rgba), mode).save(out, format="PNG", compress_level=6)
    return out.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """PNG bytes as HxWx4 RGBA (opaque when the file has no alpha)."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA")).copy()


def _fit(a: np.ndarray, w: int, h: int, nearest: bool = False) -> np.ndarray:
    if a.shape[1] == w and a.shape[0] == h:
        return a
    flag = cv2.INTER_NEAREST if nearest else cv2.INTER_LANCZOS4
    return cv2.resize(a.astype(np.uint8), (w, h), interpolation=flag)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "layer"


def edit_layers(original: np.ndarray, patches: Sequence[Patch]) -> list[Layer]:
    """Bottom-to-top layers at the size of the last patch (an upscale's): the original, each
    patch's masked pixels, then each mask as a hidden white-on-transparent layer."""
    last = patches[-1].image if patches else original
    h, w = last.shape[:2]
    opaque = np.full((h, w, 1), 255, np.uint8)
    layers = [Layer("original", np.concatenate([_fit(original, w, h), opaque], axis=2))]
    masks = []
    for p in patches:
        alpha = _fit(p.mask.astype(np.uint8) * 255, w, h, nearest=True)[..., None]
        layers.append(Layer(p.name, np.concatenate([_fit(p.image, w, h), alpha], axis=2)))
        white = np.full((h, w, 3), 255, np.uint8)
        masks.append(Layer(f"mask: {p.name}", np.concatenate([white, alpha], axis=2), False))
    return layers + masks


def flatten(layers: Sequence[Layer]) -> np.ndarray:
    """The visible layers composited bottom to top ("source over"), as RGB."""
    h, w = layers[0].rgba.shape[:2]
    out = np.zeros((h, w, 3), np.float32)
    for layer in layers:
        if layer.visible:
            a = layer.rgba[..., 3:4].astype(np.float32) / 255.0
            out = layer.rgba[..., :3] * a + out * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_ora(layers: Sequence[Layer]) -> bytes:
    """The .ora bytes for bottom-to-top `layers` (all the same size)."""
    if not layers:
        raise ValueError("an OpenRaster file needs at least one layer")
    h, w = layers[0].rgba.shape[:2]
    if any(layer.rgba.shape != (h, w, 4) for layer in layers):
        raise ValueError("every layer must be an HxWx4 array of the image's size")
    image = ET.Element("image", {"version": "0.0.5", "w": str(w), "h": str(h)})
    stack = ET.SubElement(image, "stack")
    files: list[tuple[str, bytes]] = []
    for i, layer in reversed(list(enumerate(layers))):  # stack.xml lists the top layer first
        src = f"data/{i:03d}-{_slug(layer.name)}.png"
        ET.SubElement(stack, "layer", {
            "name": layer.name, "src": src, "x": "0", "y": "0", "opacity": "1.0",
            "visibility": "visible" if layer.visible else "hidden",
            "composite-op": "svg:src-over"})
        files.append((src, png(layer.rgba)))
    merged = flatten(layers)
    scale = min(1.0, THUMB_SIDE / max(w, h))
    thumb = cv2.resize(merged, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        xml = ET.tostring(image, encoding="UTF-8", xml_declaration=True)
        z.writestr("stack.xml", xml)
        for name, data in files:
            z.writestr(name, data)
        z.writestr("mergedimage.png", png(merged))
        z.writestr("Thumbnails/thumbnail.png", png(thumb))
    return out.getvalue()
