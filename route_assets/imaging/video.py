"""Local image-to-video engine: a Ken Burns move over a still, encoded to H.264 MP4 in memory.

The recipe is the one measured in offline-toolkit §6: an eased zoom with sub-pixel
cv2.warpAffine, encoded by PyAV's bundled libx264 (veryfast, crf 23, yuv420p, +faststart).
When the still cannot be cover-cropped to the clip's aspect without losing the focus box, it is
extended with a blurred, darkened copy of itself (§9) rather than cropped.
"""

import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from route_assets.imaging import mp4_meta
from route_assets.imaging.flaws import Box
from route_assets.imaging.resize import blurred_extension

_PAN = 0.025  # largest drift of the view centre, as a fraction of the frame's shorter side
_MIN_ZOOM = 1.04


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float
    frames: int  # frames actually decoded
    seconds: float  # frames / fps
    pix_fmt: str


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    shrink = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    )


def _blur_extend(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float, int, int]:
    """The whole still over a blurred copy (the placement fit's own extension), with the scale
    and offset that place the still in it, to map the focus box."""
    ih, iw = image.shape[:2]
    fit = min(width / iw, height / ih)
    fw, fh = max(1, int(round(iw * fit))), max(1, int(round(ih * fit)))
    return (
        blurred_extension(image, width=width, height=height),
        fit,
        (width - fw) // 2,
        (height - fh) // 2,
    )


def _fit_still(
    image: np.ndarray, width: int, height: int, focus_box: Box | None
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The still at exactly width x height, and the focus box in its coordinates."""
    canvas, focus, _ = fit_still(image, width, height, focus_box)
    return canvas, focus


def fit_still(
    image: np.ndarray, width: int, height: int, focus_box: Box | None
) -> tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]:
    """The still at exactly width x height, the focus box in its coordinates, and the 2x3
    affine map from still pixels to canvas pixels (to fit a mask the same way)."""
    ih, iw = image.shape[:2]
    # No focus given: allow a cover-crop that loses at most 10% of the still on each side.
    fx0, fy0, fx1, fy1 = focus_box or (0.1 * iw, 0.1 * ih, 0.9 * iw, 0.9 * ih)
    fx0, fy0, fx1, fy1 = max(fx0, 0), max(fy0, 0), min(fx1, iw), min(fy1, ih)
    if fx1 <= fx0 or fy1 <= fy0:  # a focus box outside the still means no usable focus
        fx0, fy0, fx1, fy1 = 0, 0, iw, ih
    scale = max(width / iw, height / ih)
    cw, ch = min(iw, round(width / scale)), min(ih, round(height / scale))
    x0 = int(min(max(round((fx0 + fx1 - cw) / 2), 0), iw - cw))
    y0 = int(min(max(round((fy0 + fy1 - ch) / 2), 0), ih - ch))
    if x0 <= fx0 and fx1 <= x0 + cw and y0 <= fy0 and fy1 <= y0 + ch:
        canvas = _resize(image[y0 : y0 + ch, x0 : x0 + cw], width, height)
        sx, sy = width / cw, height / ch
        m = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])
        return canvas, ((fx0 - x0) * sx, (fy0 - y0) * sy, (fx1 - x0) * sx, (fy1 - y0) * sy), m
    canvas, fit, ox, oy = _blur_extend(image, width, height)
    m = np.array([[fit, 0.0, ox], [0.0, fit, oy]])
    return canvas, (ox + fx0 * fit, oy + fy0 * fit, ox + fx1 * fit, oy + fy1 * fit), m


def _centre(lo: float, hi: float, half_view: float, extent: float, want: float) -> float:
    """View centre nearest `want` that keeps [lo, hi] in view and the view inside [0, extent]."""
    c = want
    if hi - lo <= 2 * half_view:  # the focus fits the view: keep all of it visible
        c = min(max(c, hi - half_view), lo + half_view)
    else:
        c = (lo + hi) / 2
    return min(max(c, half_view), extent - half_view)


def ken_burns_frames(
    image: np.ndarray,
    *,
    width: int,
    height: int,
    seconds: float,
    fps: int,
    focus_box: Box | None,
    zoom: float = 1.12,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """round(seconds * fps) RGB frames of an eased zoom toward the focus box, with a slight pan."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("image must be an HxWx3 uint8 RGB array")
    if width < 2 or height < 2 or fps <= 0 or seconds <= 0 or zoom < 1.0:
        raise ValueError("need width, height >= 2, fps > 0, seconds > 0 and zoom >= 1")
    count = max(1, round(seconds * fps))
    angle = np.random.default_rng(seed).uniform(0.0, 2 * math.pi)
    return _frames(image, width, height, count, focus_box, zoom, angle)


def _frames(
    image: np.ndarray,
    width: int,
    height: int,
    count: int,
    focus_box: Box | None,
    zoom: float,
    angle: float,
) -> Iterator[np.ndarray]:
    canvas, (fx0, fy0, fx1, fy1) = _fit_still(image, width, height, focus_box)
    # Do not zoom past the point where the focus box stops fitting in the view, but keep at
    # least a 4% push-in: a clip that does not move reads as broken, while a focus box that
    # fills the frame loses at most 2% per side.
    room = 0.98 * min(width / max(fx1 - fx0, 1.0), height / max(fy1 - fy0, 1.0))
    zoom = max(min(zoom, room), min(zoom, _MIN_ZOOM))
    drift = _PAN * min(width, height)
    for i in range(count):
        t = i / (count - 1) if count > 1 else 0.0
        e = t * t * (3 - 2 * t)  # smoothstep: the move starts and ends at rest
        s = 1.0 + (zoom - 1.0) * e
        # Head for the focus centre while drifting a little in a seed-chosen direction.
        want_x = width / 2 + e * ((fx0 + fx1 - width) / 2 + drift * math.cos(angle))
        want_y = height / 2 + e * ((fy0 + fy1 - height) / 2 + drift * math.sin(angle))
        cx = _centre(fx0, fx1, width / (2 * s), width, want_x)
        cy = _centre(fy0, fy1, height / (2 * s), height, want_y)
        m = np.array([[s, 0.0, width / 2 - s * cx], [0.0, s, height / 2 - s * cy]])
        yield cv2.warpAffine(
            canvas, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )


class _ReadBack:
    """A second, read-only cursor over the BytesIO being written.

    +faststart moves the moov atom to the front after encoding by reopening the output for
    reading (FFmpeg's shift_data). In memory there is no file name to reopen, so PyAV's io_open
    hook hands FFmpeg this cursor, which sees the writes just as a reopened file would.
    """

    def __init__(self, buf: io.BytesIO) -> None:
        self._buf, self._pos = buf, 0

    def read(self, n: int = -1) -> bytes:
        with self._buf.getbuffer() as view:  # released at once so the BytesIO can still grow
            end = len(view) if n < 0 else self._pos + n
            out = bytes(view[self._pos : end])
        self._pos += len(out)
        return out

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._buf.getbuffer() as view:
            size = view.nbytes
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: size}[whence] + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        pass


def encode_h264(
    frames: Iterable[np.ndarray],
    *,
    width: int,
    height: int,
    fps: int,
    crf: int = 23,
    preset: str = "veryfast",
    maxrate_kbps: int | None = None,
) -> bytes:
    """MP4 (H.264 High, yuv420p, moov atom first for streaming) of the frames, in memory.
    `maxrate_kbps` caps the bitrate (VBV) on top of the constant-quality target."""
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(f"yuv420p needs an even width and height, got {width}x{height}")
    if fps <= 0:
        raise ValueError("fps must be positive")
    buf = io.BytesIO()
    count = 0
    # movflags is a muxer option, so it goes on the container, not on the stream.
    with av.open(
        buf,
        mode="w",
        format="mp4",
        options={"movflags": "+faststart"},
        io_open=lambda url, flags, options: _ReadBack(buf),
    ) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"crf": str(crf), "preset": preset}
        if maxrate_kbps:
            stream.options |= {"maxrate": f"{maxrate_kbps}k", "bufsize": f"{2 * maxrate_kbps}k"}
        for frame in frames:
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise ValueError(
                    f"frame {count} is {frame.shape} {frame.dtype}, expected "
                    f"({height}, {width}, 3) uint8"
                )
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts = count
            container.mux(stream.encode(vf))
            count += 1
        container.mux(stream.encode(None))
    if count == 0:
        raise ValueError("no frames to encode")
    return buf.getvalue()


def probe_video(data: bytes) -> VideoInfo:
    """Stream facts of an encoded clip, with the frame count from decoding every frame."""
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames, pix_fmt = 0, stream.codec_context.pix_fmt or ""
        for frame in container.decode(stream):
            frames += 1
            pix_fmt = frame.format.name
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        return VideoInfo(
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=fps,
            frames=frames,
            seconds=frames / fps if fps else 0.0,
            pix_fmt=pix_fmt,
        )


@dataclass(frozen=True)
class ClipLimits:
    """What one placement takes: exact size, frame rate, duration range (and the length we
    aim for inside it), byte cap and bitrate floor/ceiling."""

    width: int
    height: int
    fps: int
    seconds: float
    min_seconds: float
    max_seconds: float
    max_bytes: int
    min_kbps: float = 0.0
    max_kbps: float = 0.0  # 0: no ceiling beyond the byte cap


def _source_frames(data: bytes) -> Iterator[tuple[float, np.ndarray]]:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is not None:
                yield frame.time, frame.to_ndarray(format="rgb24")


def retimed_frames(
    data: bytes, limits: ClipLimits, focus_box: Box | None = None
) -> Iterator[np.ndarray]:
    """The clip at the placement's size and frame rate (frames picked by time), cut to the
    length the placement wants; a clip shorter than the placement's minimum is extended by
    playing its end backwards (a ping-pong: no jump, since the move ends at rest)."""
    info = probe_video(data)
    source_s = info.seconds
    length = min(limits.seconds, limits.max_seconds, source_s)
    length = max(length, limits.min_seconds)
    total = max(1, round(length * limits.fps))
    forward = min(total, round(source_s * limits.fps))
    spare = total - forward  # frames to add after the forward pass
    step = 1 / info.fps if info.fps else 1 / 24
    kept: list[np.ndarray] = []
    emitted = 0
    for time, rgb in _source_frames(data):
        fitted = _fit_still(rgb, limits.width, limits.height, focus_box)[0]
        while emitted < forward and emitted / limits.fps < time + step - 1e-6:
            yield fitted
            emitted += 1
            if spare:
                kept = (kept + [fitted])[-(spare + 1) :]
        if emitted >= forward:
            break
    if not kept and spare:
        raise ValueError("the clip has no frames to extend")
    # Ping-pong: walk back through the kept tail (without repeating the turning frame).
    back = kept[-2::-1] or kept
    for i in range(spare):
        yield back[i % len(back)]


def encode_rendition(
    data: bytes, limits: ClipLimits, focus_box: Box | None = None, *, xmp: bytes
) -> bytes:
    """The placement's rendition: retimed, encoded at constant quality, then re-encoded with a
    lower quality or a bitrate cap while it misses the bitrate floor or the byte cap; the XMP
    packet (AI disclosure) is attached to the result."""
    crf, maxrate = 23, int(limits.max_kbps) or None
    for _ in range(5):
        data_out = encode_h264(retimed_frames(data, limits, focus_box), width=limits.width,
                               height=limits.height, fps=limits.fps, crf=crf,
                               maxrate_kbps=maxrate)
        seconds = probe_seconds(data_out, limits.fps)
        kbps = len(data_out) * 8 / 1000 / seconds
        if len(data_out) > limits.max_bytes:
            # Scale the rate by the overshoot (10% headroom: VBV lets the first frames burst),
            # and give up a little quality so the cap holds on every frame.
            maxrate = int(0.9 * kbps * limits.max_bytes / len(data_out))
            crf = min(40, crf + 4)
            if maxrate < 50:
                raise ValueError(f"{limits.max_bytes} bytes is too small for {seconds:g} s")
            continue
        if kbps < limits.min_kbps and crf > 10:
            crf = max(10, crf - 6)  # too little data for the platform: spend more on quality
            continue
        return mp4_meta.with_xmp(data_out, xmp)
    raise ValueError(f"no encoding of the clip meets {limits} (last: {len(data_out)} bytes)")


def probe_seconds(data: bytes, fps: int) -> float:
    """Duration from the stream's packet count, without decoding."""
    with av.open(io.BytesIO(data), mode="r") as container:
        count = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    return max(count, 1) / fps


def first_frame(data: bytes) -> np.ndarray:
    for _, rgb in _source_frames(data):
        return rgb
    raise ValueError("the clip has no frames")
