"""Bytes <-> pixels, with explicit encode parameters. Every encode attaches the AI disclosure,
because a re-encode drops whatever metadata the input carried."""

import io
from typing import Literal

import numpy as np
from PIL import Image, ImageCms

GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
MAX_PIXELS = 64_000_000  # refuse to decode anything bigger: a decompression bomb, not a creative

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


class EncodeError(ValueError):
    """An image that cannot meet its placement's byte cap or cannot be decoded."""


def disclosure_xmp(source_type: str) -> bytes:
    """An XMP packet carrying IPTC DigitalSourceType (what Meta and TikTok read)."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f"<Iptc4xmpExt:DigitalSourceType>{source_type}</Iptc4xmpExt:DigitalSourceType>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def decode(data: bytes) -> np.ndarray:
    """Any Pillow-readable image to RGB uint8, refusing oversized ones before decoding."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise EncodeError(f"image of {im.width}x{im.height} px exceeds {MAX_PIXELS} px")
            return np.asarray(im.convert("RGB"))
    except (OSError, Image.DecompressionBombError) as exc:
        raise EncodeError(f"not a decodable image: {exc}") from None


def encode_png(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", compress_level=3)
    return out.getvalue()


def encode_gray_png(mask: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray((mask > 0).astype(np.uint8) * 255, mode="L").save(out, format="PNG")
    return out.getvalue()


def _jpeg(im: Image.Image, quality: int, xmp: bytes) -> bytes:
    out = io.BytesIO()
    im.save(
        out,
        format="JPEG",
        quality=quality,
        optimize=True,
        progressive=True,
        icc_profile=_SRGB,
        xmp=xmp,
    )
    return out.getvalue()


def encode_for_placement(
    image: np.ndarray, *, fmt: Literal["jpeg", "png"], max_bytes: int, source_type: str
) -> tuple[bytes, int]:
    """Encode under `max_bytes`, searching JPEG quality from the top down (binary search), and
    return (bytes, quality). PNG is lossless: it fits or fails."""
    im = Image.fromarray(image)
    xmp = disclosure_xmp(source_type)
    if fmt == "png":
        out = io.BytesIO()
        im.save(out, format="PNG", icc_profile=_SRGB, optimize=True)
        data = out.getvalue()
        if len(data) > max_bytes:
            raise EncodeError(f"PNG is {len(data)} bytes, over the {max_bytes}-byte cap")
        return data, 100
    best: tuple[bytes, int] | None = None
    low, high = 40, 95
    while low <= high:
        quality = (low + high) // 2
        data = _jpeg(im, quality, xmp)
        if len(data) <= max_bytes:
            best, low = (data, quality), quality + 1
        else:
            high = quality - 1
    if best is None:
        raise EncodeError(f"even JPEG quality 40 is over the {max_bytes}-byte cap")
    return best
