"""Renditions per video placement, read back by tools we did not write (ffprobe, exiftool), and
the parallax engine. The tools are required: a missing one fails the test, it never skips."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from skimage import data

from route_assets.assets.video_expansion import rendition_problems
from route_assets.catalog import load_placements
from route_assets.imaging import codecs, mp4_meta
from route_assets.imaging.parallax import parallax_frames
from route_assets.imaging.video import (
    ClipLimits,
    encode_h264,
    encode_rendition,
    ken_burns_frames,
    probe_video,
)

FACE = (170, 40, 310, 200)
XMP = codecs.disclosure_xmp(codecs.GENERATED)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is required (Debian: ffmpeg / libimage-exiftool-perl)"
    return path


@pytest.fixture(scope="module")
def master() -> bytes:
    frames = ken_burns_frames(data.astronaut(), width=180, height=320, seconds=2.0, fps=24,
                              focus_box=FACE, seed=1)
    return encode_h264(frames, width=180, height=320, fps=24)


def _limits(**kw: float) -> ClipLimits:
    base = dict(width=270, height=480, fps=30, seconds=3.0, min_seconds=1.0, max_seconds=60.0,
                max_bytes=10_000_000)
    return ClipLimits(**{**base, **kw})  # type: ignore[arg-type]


def _boxes(data_: bytes) -> list[str]:
    return mp4_meta.box_order(data_)


def test_rendition_meets_its_placement_and_ffprobe_decodes_it(master: bytes) -> None:
    limits = _limits(seconds=1.5)
    mp4 = encode_rendition(master, limits, xmp=XMP)
    assert rendition_problems(mp4, limits) == []
    order = _boxes(mp4)
    assert order.index("moov") < order.index("mdat") and order[-1] == "uuid"
    out = subprocess.run(
        [_tool("ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,width,height,pix_fmt,nb_read_frames,r_frame_rate",
         "-of", "json", "-"], input=mp4, capture_output=True, check=True)
    assert out.stderr == b""  # no decode error anywhere in the stream
    stream = json.loads(out.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"], stream["pix_fmt"]) == (
        "h264", 270, 480, "yuv420p")
    assert stream["r_frame_rate"] == "30/1" and int(stream["nb_read_frames"]) == 45


def test_exiftool_reads_the_disclosure_from_the_mp4(master: bytes, tmp_path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_rendition(master, _limits(), xmp=XMP))
    out = subprocess.run([_tool("exiftool"), "-j", "-XMP:DigitalSourceType", str(path)],
                         capture_output=True, check=True)
    assert json.loads(out.stdout)[0]["DigitalSourceType"] == codecs.GENERATED


def test_short_clip_is_extended_to_the_minimum_and_long_one_cut(master: bytes) -> None:
    longer = encode_rendition(master, _limits(seconds=6.0, min_seconds=3.5), xmp=XMP)
    assert probe_video(longer).frames == 105  # 3.5 s at 30 fps: ping-pong past the 2 s source
    shorter = encode_rendition(master, _limits(seconds=1.0), xmp=XMP)
    assert probe_video(shorter).frames == 30


def test_byte_cap_and_bitrate_floor_are_met_by_re_encoding(master: bytes) -> None:
    free = encode_rendition(master, _limits(seconds=2.0), xmp=XMP)
    capped = _limits(seconds=2.0, max_bytes=len(free) // 2)
    small = encode_rendition(master, capped, xmp=XMP)
    assert len(small) <= capped.max_bytes and rendition_problems(small, capped) == []
    rate = len(free) * 8 / 1000 / 2.0
    floor = _limits(seconds=2.0, min_kbps=rate * 1.3)
    rich = encode_rendition(master, floor, xmp=XMP)
    assert rendition_problems(rich, floor) == []


def test_checks_catch_a_plain_encode() -> None:
    frames = ken_burns_frames(data.astronaut(), width=270, height=480, seconds=1.0, fps=30,
                              focus_box=FACE)
    plain = encode_h264(frames, width=270, height=480, fps=30)
    assert rendition_problems(plain, _limits()) == ["no AI disclosure (XMP DigitalSourceType)"]
    assert rendition_problems(plain, _limits(width=200)) [0].startswith("size 270x480")


def test_mp4_boxes_reject_truncation(master: bytes) -> None:
    with pytest.raises(mp4_meta.Mp4Error):
        mp4_meta.box_order(master[:-10])
    again = mp4_meta.with_xmp(mp4_meta.with_xmp(master, b"<a/>"), XMP)
    assert mp4_meta.read_xmp(again) == XMP and _boxes(again).count("uuid") == 1


def test_placement_video_specs_are_reachable() -> None:
    specs = [p for p in load_placements().placements if p.video]
    assert specs and all(p.video and p.video.min_seconds <= p.video.seconds <= p.video.max_seconds
                         for p in specs)


def test_parallax_moves_subject_and_background_apart() -> None:
    image = data.astronaut()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[40:300, 150:330] = 1
    frames = list(parallax_frames(image, mask, width=256, height=256, seconds=1.0, fps=12,
                                  focus_box=FACE, depth=0.08, zoom=1.0, seed=2))
    assert len(frames) == 12 and frames[0].shape == (256, 256, 3)
    first, last = frames[0].astype(np.int16), frames[-1].astype(np.int16)
    # The start is the still itself; by the end both layers have moved (not one rigid shift).
    fitted = frames[0]
    assert np.abs(first - fitted).mean() == 0
    import cv2

    def shift(region: tuple[slice, slice]) -> np.ndarray:
        a = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)[region].astype(np.float32)
        b = cv2.cvtColor(frames[-1], cv2.COLOR_RGB2GRAY)[region].astype(np.float32)
        return np.array(cv2.phaseCorrelate(a, b)[0])

    subject = shift((slice(60, 140), slice(100, 180)))
    background = shift((slice(180, 256), slice(0, 80)))
    assert np.linalg.norm(subject - background) > 3  # the layers travel differently
    assert np.abs(last - first).mean() > 2
