"""MP4 box-level facts and the AI disclosure in an MP4: no re-encode, no rewrite of offsets.

The XMP packet goes into a top-level `uuid` box with Adobe's XMP UUID (XMP Specification Part 3,
MPEG-4), which exiftool, Adobe tools and Meta's uploader read. It is appended after the last
box: nothing before it moves, so the chunk offsets in moov stay right and moov stays in front
of mdat (faststart).
"""

import struct
from collections.abc import Iterator

XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


class Mp4Error(ValueError):
    """Bytes that are not a well-formed sequence of top-level MP4 boxes."""


def boxes(data: bytes) -> Iterator[tuple[str, int, int]]:
    """(type, offset, size) of every top-level box, checking sizes as it goes."""
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise Mp4Error(f"{end - pos} trailing bytes at offset {pos} are not a box")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:  # 64-bit size follows the type
            if end - pos < 16:
                raise Mp4Error(f"truncated 64-bit box header at offset {pos}")
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:  # the box runs to the end of the file
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4Error(f"box {kind!r} at offset {pos} claims {size} bytes; "
                           f"{end - pos} remain")
        yield kind.decode("latin-1"), pos, size
        pos += size


def box_order(data: bytes) -> list[str]:
    return [kind for kind, _, _ in boxes(data)]


def is_faststart(data: bytes) -> bool:
    """moov (the index) comes before mdat (the media), so playback can start while loading."""
    order = box_order(data)
    return "moov" in order and "mdat" in order and order.index("moov") < order.index("mdat")


def with_xmp(data: bytes, xmp: bytes) -> bytes:
    """The MP4 with `xmp` in a top-level XMP uuid box; an earlier XMP box is replaced."""
    kept = [data[o : o + s] for kind, o, s in boxes(data)
            if not (kind == "uuid" and data[o + 8 : o + 24] == XMP_UUID)]
    box = struct.pack(">I4s", 8 + 16 + len(xmp), b"uuid") + XMP_UUID + xmp
    return b"".join(kept) + box


def read_xmp(data: bytes) -> bytes | None:
    """The packet of the top-level XMP uuid box, if any."""
    for kind, offset, size in boxes(data):
        if kind == "uuid" and data[offset + 8 : offset + 24] == XMP_UUID:
            return data[offset + 24 : offset + size]
    return None
