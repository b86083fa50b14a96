"""Deconvolution for the sharpen edit: a Gaussian point-spread function undone by a Wiener
filter, and the clamp that keeps its ringing out of the frame."""

import cv2
import numpy as np


def gaussian_deblur(image: np.ndarray, sigma: float, k: float) -> np.ndarray:
    """Wiener deconvolution with a Gaussian point-spread function of `sigma` pixels; `k` is the
    noise-to-signal ratio that bounds the gain (smaller restores more and rings more). Edges
    are mirrored first so the frame border does not ring."""
    pad = int(np.ceil(4 * sigma))
    f = cv2.copyMakeBorder(image.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    h, w = f.shape[:2]
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    otf = np.exp(-2 * np.pi**2 * sigma**2 * (fx**2 + fy**2)).astype(np.float32)
    gain = otf / (otf**2 + k)
    out = np.stack([np.fft.irfft2(np.fft.rfft2(f[..., c]) * gain, s=(h, w))
                    for c in range(f.shape[2])], -1)
    return np.clip(out[pad:-pad, pad:-pad], 0, 255).astype(np.uint8)


def within_local_range(blurred: np.ndarray, restored: np.ndarray, sigma: float) -> np.ndarray:
    """Deconvolution clamped to the range the blurred frame spans within ~2 sigma: blurring
    only averages, so a sharp edge lies between the levels on either side of it. What goes
    beyond is ringing (a halo, or a band clipped to black along a strong edge that a re-check
    would read as a new object), not detail."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * int(np.ceil(2 * sigma)) + 1,) * 2)
    lo, hi = cv2.erode(blurred, k).astype(np.int16), cv2.dilate(blurred, k).astype(np.int16)
    slack = (hi - lo) // 10  # a little overshoot is what reads as crisp; the ringing is far more
    return np.clip(restored, np.clip(lo - slack, 0, 255), np.clip(hi + slack, 0, 255)
                   ).astype(np.uint8)
