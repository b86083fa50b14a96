"""Bytes <-> pixels, with explicit encode parameters. Every encode attaches the AI disclosure,
because a re-encode drops whatever metadata the input carried.

Colour: pixels are sRGB throughout. `decode` converts a tagged non-sRGB input (a Display P3
PNG, say) to sRGB, and every placement file embeds the sRGB ICC profile, so no viewer has to
guess (an untagged file is *assumed* sRGB by browsers but not by every ad platform's
transcoder).
"""

import io
import struct
import xml.etree.ElementTree as ET
from typing import Literal

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

GENERATED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
MAX_PIXELS = 64_000_000  # refuse to decode anything bigger: a decompression bomb, not a creative

_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SRGB = _SRGB_PROFILE.tobytes()
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"  # APP1 signature of an XMP packet
_XMP_PNG = "XML:com.adobe.xmp"  # iTXt keyword of an XMP packet (Pillow ignores xmp= for PNG)


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
    """Any Pillow-readable image to sRGB RGB uint8, refusing oversized ones before decoding."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise EncodeError(f"image of {im.width}x{im.height} px exceeds {MAX_PIXELS} px")
            rgb = im.convert("RGB")
            icc = im.info.get("icc_profile")
            if icc and icc != _SRGB:
                rgb = _to_srgb(rgb, icc)
            return np.asarray(rgb)
    except (OSError, Image.DecompressionBombError) as exc:
        raise EncodeError(f"not a decodable image: {exc}") from None


def _to_srgb(rgb: Image.Image, icc: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        return rgb  # an unreadable profile: the pixels are the best guess we have
    if source.profile.xcolor_space.strip() != "RGB":
        return rgb  # a CMYK/grey profile describes the original, not these converted pixels
    if "srgb" in (source.profile.profile_description or "").lower():
        return rgb
    out = ImageCms.profileToProfile(rgb, source, _SRGB_PROFILE, outputMode="RGB")
    return out if out is not None else rgb


def read_disclosure(data: bytes) -> str | None:
    """IPTC DigitalSourceType from the XMP packet of a JPEG or PNG file, or None.

    Our own reader, used by the asset check on the final bytes; tests confirm it against
    exiftool. Reads the packet where each format keeps it (JPEG APP1, PNG iTXt)."""
    packet = _jpeg_xmp(data) if data[:2] == b"\xff\xd8" else _png_xmp(data)
    if packet is None or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    try:
        root = ET.fromstring(packet.decode("utf-8").strip("\ufeff"))
    except (ET.ParseError, UnicodeDecodeError):
        return None
    tag = f"{{{IPTC_EXT}}}DigitalSourceType"
    for element in root.iter():
        if element.get(tag):  # the attribute form other writers use
            return element.get(tag)
        if element.tag == tag and element.text:
            return element.text.strip()
    return None


def _jpeg_xmp(data: bytes) -> bytes | None:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more metadata segments
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(_XMP_JPEG):
            return segment[len(_XMP_JPEG) :]
        pos += 2 + length
    return None


def _png_xmp(data: bytes) -> bytes | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"iTXt" and body.startswith(_XMP_PNG.encode() + b"\x00"):
            # keyword NUL, compression flag, method, language NUL, translated keyword NUL, text
            rest = body[len(_XMP_PNG) + 1 :]
            if rest[0] != 0:
                return None  # compressed XMP: we never write it that way
            _, _, rest = rest[2:].partition(b"\x00")
            _, _, text = rest.partition(b"\x00")
            return text
        if kind == b"IEND":
            return None
        pos += 12 + length
    return None


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
        info = PngImagePlugin.PngInfo()
        info.add_itxt(_XMP_PNG, xmp.decode("utf-8"), zip=False)
        im.save(out, format="PNG", icc_profile=_SRGB, optimize=True, pnginfo=info)
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
