"""What video_expansion buys for an ad set, worked out before anything runs (the asset and
`route-assets plan` share it, so the plan prices exactly what the stage pays for): one master
clip per ad set in K seeds, cut into one rendition per video placement afterwards."""

from route_assets.catalog import Placement, Policy
from route_assets.routing import Need


def master_shape(specs: list[Placement], policy: Policy) -> tuple[int, int, float, int]:
    """Size, seconds and fps of the one clip the K seeds make for an ad set: the orientation
    most of its video placements share at the policy's long side, long enough and fast enough
    for the most demanding placement (renditions cut and retime it)."""
    videos = [p.video for p in specs if p.video]
    if not videos:
        raise ValueError("no video placement: nothing to animate")
    portrait = sum(p.height >= p.width for p in specs) * 2 >= len(specs)
    long_side = policy.video.long_side
    short = int(round(long_side * 9 / 16 / 2)) * 2
    width, height = (short, long_side) if portrait else (long_side, short)
    return width, height, max(v.seconds for v in videos), max(v.fps for v in videos)


def video_need(motion: str, specs: list[Placement], policy: Policy) -> Need:
    """What the stage buys: K clips of the master's length (K seeds cost K times)."""
    width, height, seconds, _ = master_shape(specs, policy)
    return Need("video", motion, count=policy.video.seeds, width=width, height=height,
                seconds=seconds)
