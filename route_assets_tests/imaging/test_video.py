"""The local Ken Burns engine on a real photograph (scikit-image's astronaut, public domain)."""

import cv2
import numpy as np
import pytest
from skimage import data

from route_assets.imaging.video import encode_h264, ken_burns_frames, probe_video

FACE = (170, 40, 310, 200)  # hand-annotated on the 512x512 photograph


def _marked(box: tuple[int, int, int, int]) -> np.ndarray:
    """The astronaut with pure-green 14x14 markers just inside the corners of box."""
    img = data.astronaut().copy()
    x0, y0, x1, y1 = box
    for x, y in ((x0, y0), (x1 - 14, y0), (x0, y1 - 14), (x1 - 14, y1 - 14)):
        img[y : y + 14, x : x + 14] = (0, 255, 0)
    return img


def _markers(frame: np.ndarray) -> int:
    green = (frame[..., 1] > 180) & (frame[..., 0] < 90) & (frame[..., 2] < 90)
    count, _, stats, _ = cv2.connectedComponentsWithStats(green.astype(np.uint8))
    return int(np.sum(stats[1:, cv2.CC_STAT_AREA] >= 12))


@pytest.mark.parametrize(("width", "height", "seconds", "fps"),
                         [(320, 180, 2.0, 12), (180, 320, 1.5, 10), (256, 256, 1.0, 25),
                          (200, 250, 0.5, 24)])
def test_exact_size_and_frame_count(width: int, height: int, seconds: float, fps: int) -> None:
    frames = list(ken_burns_frames(data.astronaut(), width=width, height=height,
                                   seconds=seconds, fps=fps, focus_box=FACE))
    assert len(frames) == round(seconds * fps)
    assert all(f.shape == (height, width, 3) and f.dtype == np.uint8 for f in frames)


def test_encode_probe_roundtrip() -> None:
    frames = ken_burns_frames(data.coffee(), width=360, height=640, seconds=2.0, fps=24,
                              focus_box=(200, 50, 450, 300), seed=3)
    mp4 = encode_h264(frames, width=360, height=640, fps=24)
    info = probe_video(mp4)
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 360, 640)
    assert info.frames == 48 and info.fps == 24.0 and info.seconds == pytest.approx(2.0)
    assert mp4[4:8] == b"ftyp" and mp4.find(b"moov") < mp4.find(b"mdat")  # +faststart


def test_zoom_moves_pixels_smoothly() -> None:
    frames = list(ken_burns_frames(data.astronaut(), width=320, height=320, seconds=2.0,
                                   fps=12, focus_box=FACE, zoom=1.15))
    steps = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(frames, frames[1:],
                                                                     strict=False)]
    assert np.abs(frames[0].astype(np.int16) - frames[-1]).mean() > 8
    assert max(steps) < 2 * np.mean(steps)  # no jumps between neighbouring frames
    mid = len(steps) // 2
    assert steps[0] < steps[mid] / 2 and steps[-1] < steps[mid] / 2  # eased in and out
    first = cv2.resize(data.astronaut(), (320, 320), interpolation=cv2.INTER_AREA)
    assert np.abs(frames[0].astype(np.int16) - first).mean() < 3  # starts on the whole still


@pytest.mark.parametrize(("width", "height", "box"), [
    (480, 270, FACE),  # cover-crop path: the face fits a 16:9 crop
    (270, 480, (20, 60, 500, 300)),  # too wide for 9:16: blurred-background extension
    (300, 300, (300, 300, 500, 500)),  # focus in a corner
])
def test_focus_stays_in_every_frame(width: int, height: int,
                                    box: tuple[int, int, int, int]) -> None:
    for seed in (0, 1, 2):
        frames = ken_burns_frames(_marked(box), width=width, height=height, seconds=1.0,
                                  fps=12, focus_box=box, zoom=1.2, seed=seed)
        assert all(_markers(f) == 4 for f in frames)


def test_a_focus_filling_the_frame_still_moves() -> None:
    frames = list(ken_burns_frames(data.astronaut(), width=256, height=256, seconds=1.0, fps=8,
                                   focus_box=(0, 0, 512, 512)))
    assert np.abs(frames[0].astype(np.int16) - frames[-1]).mean() > 4


def test_pan_depends_on_the_seed_and_no_focus_is_fine() -> None:
    def last(seed: int) -> np.ndarray:
        return list(ken_burns_frames(data.rocket(), width=240, height=240, seconds=0.5, fps=8,
                                     focus_box=None, seed=seed))[-1]

    assert not np.array_equal(last(1), last(2))
    assert np.array_equal(last(1), last(1))


def test_rejects_bad_input() -> None:
    frames = list(ken_burns_frames(data.astronaut(), width=64, height=64, seconds=0.25, fps=8,
                                   focus_box=None))
    with pytest.raises(ValueError):
        encode_h264(frames, width=63, height=64, fps=8)
    with pytest.raises(ValueError):
        encode_h264(frames, width=96, height=64, fps=8)  # frames of another size
    with pytest.raises(ValueError):
        encode_h264([], width=64, height=64, fps=8)
    with pytest.raises(ValueError):
        ken_burns_frames(data.camera(), width=64, height=64, seconds=1, fps=8, focus_box=None)
