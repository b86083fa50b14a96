"""Does a delivered file meet its placement? Checked on the final bytes, not on our intentions:
size, byte cap, ratio, the protected boxes inside the clear area, the AI disclosure."""

from collections.abc import Mapping

from route_assets.catalog import Placement
from route_assets.imaging import codecs
from route_assets.imaging.flaws import Box
from route_assets.imaging.resize import Window, Zone, clear_area, overlap_fraction

FULLY = 0.99  # share of a protected box that must be visible (one pixel of rounding forgiven)


def to_frame(box: Box, window: Window, width: int, height: int) -> Window:
    """A master-pixel box in the coordinates of the placement frame cut from `window`."""
    sx, sy = width / (window[2] - window[0]), height / (window[3] - window[1])
    return ((box[0] - window[0]) * sx, (box[1] - window[1]) * sy,
            (box[2] - window[0]) * sx, (box[3] - window[1]) * sy)


def check_rendition(data: bytes, spec: Placement, *, window: Window,
                    protected: Mapping[str, Box], source_type: str) -> list[str]:
    """Problems with one placement file, each naming what is wrong; empty when it passes.
    `protected` names the boxes (master pixels) that must be clear of the overlays."""
    problems = []
    try:
        pixels = codecs.decode(data)
    except codecs.EncodeError as exc:
        return [f"does not decode: {exc}"]
    h, w = pixels.shape[:2]
    if (w, h) != (spec.width, spec.height):
        problems.append(f"is {w}x{h}, not {spec.width}x{spec.height}")
    num, den = (float(x) for x in spec.ratio.split(":"))
    if abs(w / h - num / den) > 0.01 * num / den:
        problems.append(f"ratio {w / h:.3f} is not {spec.ratio}")
    if len(data) > spec.max_bytes:
        problems.append(f"{len(data)} bytes, over the {spec.max_bytes}-byte cap")
    clear = clear_area((0, 0, spec.width, spec.height), Zone(**spec.safe_zone.model_dump()))
    for name, box in protected.items():
        shown = overlap_fraction(to_frame(box, window, spec.width, spec.height), clear)
        if shown < FULLY:
            problems.append(f"{name} only {shown:.0%} inside the area clear of overlays")
    found = codecs.read_disclosure(data)
    if found != source_type:
        problems.append(f"DigitalSourceType is {found!r}, expected {source_type!r}")
    return problems
