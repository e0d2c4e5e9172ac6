"""The EXR header, parsed from its bytes before OpenEXR decodes anything, and the size bounds.

OpenEXR allocates what the header claims: a lying data window (or display window, which
`read_depth` allocates itself) makes it try to allocate up to 4 TiB before it finds the pixel data
missing. The header is a simple table (magic, version, then per part `name\\0type\\0size value`
attributes ending with a null byte; multipart files end the list with an empty header), so it is
read here with every size checked against the bytes really there, and refused when too large.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DepthError, ImageTooLarge

MAGIC = b"\x76\x2f\x31\x01"

#: Pixels a header may claim per part (data window and display window alike): 16384 x 16384.
#: A parameter of `read_depth` (`--max-pixels`, a WebUI setting): renders larger than 16K are rare.
DEFAULT_MAX_PIXELS = 2**28

#: Values to decode (every channel of every part) may reach this many times `max_pixels`:
#: a max-size render with a few layers passes, a header claiming a million channels does not.
VALUES_PER_PIXEL = 8

#: Channels per part: real renders have tens to a few hundred (Cryptomatte included); OpenEXR spends
#: seconds to minutes opening a header that lists a million.
MAX_CHANNELS = 4096

_TILED, _LONG_NAMES, _DEEP, _MULTIPART = 0x200, 0x400, 0x800, 0x1000
_MAX_ATTRIBUTES = 100_000
_FIRST_READ = 1 << 16
_MAX_HEADER_BYTES = 1 << 26  # headers are kilobytes; 64 MiB is far beyond any real one


@dataclass(frozen=True)
class ChannelInfo:
    name: str
    pixel_type: int  # 0 uint, 1 half, 2 float
    x_sampling: int
    y_sampling: int


@dataclass
class PartHeader:
    """The attributes `read_depth` needs; windows are (x0, y0, x1, y1), inclusive."""

    data_window: tuple[int, int, int, int] | None = None
    display_window: tuple[int, int, int, int] | None = None
    channels: list[ChannelInfo] = field(default_factory=list)
    type: str | None = None
    name: str | None = None
    view: str | None = None
    multi_view: list[str] | None = None

    @property
    def deep(self) -> bool:
        return self.type in ("deepscanline", "deeptile")


class _Short(Exception):
    """The bytes read so far end inside the header: read more, or the file is truncated."""


class _TooManyChannels(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Short
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def cstring(self, limit: int) -> bytes:
        end = self.data.find(b"\0", self.pos, self.pos + limit + 1)
        if end < 0:
            if len(self.data) - self.pos <= limit:
                raise _Short
            raise ValueError(f"a name longer than {limit} bytes")
        text = self.data[self.pos : end]
        self.pos = end + 1
        return text


def _box(value: bytes) -> tuple[int, int, int, int]:
    if len(value) != 16:
        raise ValueError(f"a box2i of {len(value)} bytes")
    return struct.unpack("<4i", value)


def _chlist(value: bytes, limit: int) -> list[ChannelInfo]:
    reader, found = _Reader(value), []
    while True:
        try:
            name = reader.cstring(limit)
        except _Short:
            raise ValueError("a channel list without its end") from None
        if not name:
            return found
        if len(found) == MAX_CHANNELS:
            raise _TooManyChannels
        try:
            pixel_type, _linear, xs, ys = struct.unpack("<iB3xii", reader.take(16))
        except _Short:
            raise ValueError("a channel list cut short") from None
        found.append(ChannelInfo(name.decode("utf-8", "replace"), pixel_type, xs, ys))


def _strings(value: bytes) -> list[str]:
    reader, found = _Reader(value), []
    try:
        while reader.pos < len(value):
            (n,) = struct.unpack("<i", reader.take(4))
            found.append(reader.take(n).decode("utf-8", "replace"))
    except _Short:
        raise ValueError("a string vector cut short") from None
    return found


def _parse(data: bytes) -> list[PartHeader]:
    reader = _Reader(data)
    if reader.take(4) != MAGIC:
        raise ValueError("wrong signature")
    (version,) = struct.unpack("<i", reader.take(4))
    if version & 0xFF != 2:
        raise ValueError(f"file format version {version & 0xFF}, not 2")
    limit = 255 if version & _LONG_NAMES else 31
    parts: list[PartHeader] = []
    count = 0
    while True:
        part = PartHeader(type="tiledimage" if version & _TILED else "scanlineimage")
        name = reader.cstring(limit)
        if not name and parts:  # the empty header that ends a multipart list
            return parts
        while name:
            count += 1
            if count > _MAX_ATTRIBUTES:
                raise ValueError(f"more than {_MAX_ATTRIBUTES} attributes")
            kind = reader.cstring(limit)
            (size,) = struct.unpack("<i", reader.take(4))
            if size < 0:
                raise ValueError(f"attribute {name.decode('utf-8', 'replace')!r} claims {size} bytes")
            _apply(part, name.decode("utf-8", "replace"), kind, reader.take(size), limit)
            name = reader.cstring(limit)
        if not parts and not part.channels and part.data_window is None:
            raise ValueError("an empty header")
        parts.append(part)
        if not version & _MULTIPART:
            return parts


def _apply(part: PartHeader, name: str, kind: bytes, value: bytes, limit: int) -> None:
    if kind == b"box2i" and name in ("dataWindow", "displayWindow"):
        setattr(part, "data_window" if name == "dataWindow" else "display_window", _box(value))
    elif kind == b"chlist" and name == "channels":
        part.channels = _chlist(value, limit)
    elif kind == b"string" and name in ("type", "name", "view"):
        setattr(part, name, value.decode("utf-8", "replace"))
    elif kind == b"stringvector" and name == "multiView":
        part.multi_view = _strings(value)


def read_header(path: Path) -> list[PartHeader]:
    """Every part's header, from the file's bytes alone (no pixel is read)."""
    size = path.stat().st_size
    want = _FIRST_READ
    while True:
        with path.open("rb") as fh:
            data = fh.read(min(want, size, _MAX_HEADER_BYTES))
        try:
            return _parse(data)
        except _Short:
            if len(data) >= size:
                raise DepthError("damaged or truncated EXR (the file ends inside its header)", path) from None
            if len(data) >= _MAX_HEADER_BYTES:
                raise DepthError(f"damaged EXR (a header over {_MAX_HEADER_BYTES >> 20} MiB)", path) from None
            want *= 8
        except _TooManyChannels:
            raise DepthError(f"too many channels: the header lists more than {MAX_CHANNELS:,} in one part "
                             "(refused before decoding)", path) from None
        except (ValueError, struct.error) as exc:
            raise DepthError(f"damaged EXR header ({exc})", path) from None


def _extent(box: tuple[int, int, int, int]) -> tuple[int, int]:
    x0, y0, x1, y1 = box
    return x1 - x0 + 1, y1 - y0 + 1


def check_bounds(parts: list[PartHeader], path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse, before any decoding, a header whose windows or channels would need absurd memory."""
    values = 0
    for index, part in enumerate(parts):
        where = f" in part {index}" if len(parts) > 1 else ""
        if part.data_window is None:
            raise DepthError(f"damaged EXR header (no data window{where})", path)
        for label, box in (("data", part.data_window), ("display", part.display_window)):
            if box is None:
                continue
            w, h = _extent(box)
            if w < 1 or h < 1:
                raise DepthError(f"damaged EXR header (an empty {label} window{where}: {box})", path)
            if w * h > max_pixels:
                raise ImageTooLarge(
                    f"image too large: the header claims a {label} window of {w} x {h} = {w * h:,} pixels"
                    f"{where}, over the limit of {max_pixels:,} (max_pixels, --max-pixels)", path)
        w, h = _extent(part.data_window)
        for channel in part.channels:
            if channel.x_sampling < 1 or channel.y_sampling < 1:
                raise DepthError(f"damaged EXR header (channel {channel.name!r} has sampling "
                                 f"{channel.x_sampling} x {channel.y_sampling})", path)
            values += -(-w // channel.x_sampling) * -(-h // channel.y_sampling)
    if values > VALUES_PER_PIXEL * max_pixels:
        channels = sum(len(p.channels) for p in parts)
        raise ImageTooLarge(
            f"image too large: the header claims {channels:,} channels, {values:,} values to decode, over the "
            f"limit of {VALUES_PER_PIXEL} x {max_pixels:,} (max_pixels, --max-pixels)", path)
