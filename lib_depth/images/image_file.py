"""PNG, JPEG and WebP files read from their bytes before decoding: the size the header claims
(so a decompression bomb is refused before a decoder allocates for it) and whether the file
ends early (so a truncated download is named as such, not as "damaged or not an image").

Only the few fields needed are parsed, each read checked against the bytes really there: no
Pillow (its bomb check is a process-wide setting and a warning) and no decoder runs here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (SOF0..SOF15 except DHT C4, JPG C8, DAC CC): they carry the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class ImageHeader:
    kind: str  # "PNG", "JPEG" or "WebP"
    width: int
    height: int
    frames: int = 1  # WebP animations: >1 (only the first frame is used)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _png(data: bytes) -> ImageHeader | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("PNG", width, height)


def _jpeg(data: bytes) -> ImageHeader | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageHeader("JPEG", width, height)
        if marker in (0xDA, 0xD9) or length < 2:  # image data before any frame header: damaged
            return None
        i += 2 + length
    return None


def _webp(data: bytes) -> ImageHeader | None:
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        frames = data.count(b"ANMF") if data[20] & 0x02 else 1  # the animation flag
        return ImageHeader("WebP", width, height, max(frames, 1))
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("WebP", 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("WebP", width & 0x3FFF, height & 0x3FFF)
    return None


def read_header(data: bytes) -> ImageHeader | None:
    """The header of a PNG, JPEG or WebP file's bytes; None when it is none of those (or its
    header is damaged): the decoder then decides, and its failure is the error."""
    if data.startswith(PNG_MAGIC):
        return _png(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp(data)
    return None


def is_truncated(data: bytes, kind: str) -> bool:
    """Whether the file stops before its end marker: PNG's IEND chunk, JPEG's EOI after the last
    scan (an EXIF thumbnail has its own, earlier), WebP's RIFF length."""
    if kind == "PNG":
        return b"IEND" not in data[-16:]
    if kind == "JPEG":
        return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")
    if kind == "WebP":
        return len(data) < 8 + int.from_bytes(data[4:8], "little")
    return False
