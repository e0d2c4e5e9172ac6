"""Real EXR files of every kind the format allows, written for the tests (and the fuzzer's seeds).

OpenEXR's Python bindings write scanline, tiled, luminance/chroma, multipart, multi-view and deep
files (deep from object arrays of per-pixel samples). They cannot write mip- or rip-mapped files
(only level 0 goes out, and the file is unreadable), so `write_tiled_levels` writes those byte by
byte, uncompressed, as the format's specification lays them out.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import OpenEXR

MAGIC = b"\x76\x2f\x31\x01"


def tile_description(size: int = 16, mode: OpenEXR.LevelMode = OpenEXR.ONE_LEVEL) -> OpenEXR.TileDescription:
    tiles = OpenEXR.TileDescription()
    tiles.xSize = tiles.ySize = size
    tiles.mode = mode
    tiles.roundingMode = OpenEXR.ROUND_DOWN
    return tiles


def write_image(path: Path, channels: dict[str, np.ndarray], *, tiled: bool = False,
                compression: OpenEXR.Compression = OpenEXR.ZIP_COMPRESSION, half: bool = False) -> Path:
    """One flat part, scanline or tiled, every channel float32 (or half)."""
    dtype = np.float16 if half else np.float32
    header: dict = {"compression": compression,
                    "type": OpenEXR.tiledimage if tiled else OpenEXR.scanlineimage}
    if tiled:
        header["tiles"] = tile_description()
    pixels = {name: np.ascontiguousarray(values, dtype=dtype) for name, values in channels.items()}
    OpenEXR.File(header, pixels).write(str(path))
    return path


def write_luminance_chroma(path: Path, luminance: np.ndarray) -> Path:
    """Y at full resolution, RY and BY at one value per 2x2 block (the bindings subsample them).
    The format wants sides that are multiples of the sampling: odd ones are cropped."""
    luminance = luminance[: luminance.shape[0] // 2 * 2, : luminance.shape[1] // 2 * 2]
    chroma = np.zeros_like(luminance, dtype=np.float16)
    channels = {"Y": OpenEXR.Channel("Y", np.ascontiguousarray(luminance, np.float16)),
                "RY": OpenEXR.Channel("RY", chroma, 2, 2), "BY": OpenEXR.Channel("BY", chroma.copy(), 2, 2)}
    OpenEXR.File({"compression": OpenEXR.PIZ_COMPRESSION}, channels).write(str(path))
    return path


def write_multipart(path: Path, parts: list[tuple[str, dict[str, np.ndarray], dict]]) -> Path:
    """Parts as (name, channels, extra header), e.g. a beauty part before a depth part."""
    made = [OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION, **extra},
                         {n: np.ascontiguousarray(v, np.float32) for n, v in channels.items()}, name)
            for name, channels, extra in parts]
    OpenEXR.File(made).write(str(path))
    return path


def write_multiview(path: Path, left: np.ndarray, right: np.ndarray) -> Path:
    """One part, `multiView` = [left, right]: the default view's `Z`, and `right.Z`."""
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "multiView": ["left", "right"]}
    OpenEXR.File(header, {"Z": np.ascontiguousarray(left, np.float32),
                          "right.Z": np.ascontiguousarray(right, np.float32)}).write(str(path))
    return path


def deep_samples(depth: np.ndarray, rng: np.random.Generator, empty: np.ndarray | None = None) -> np.ndarray:
    """Per pixel 1-3 samples with `depth` the smallest (in shuffled order); none where `empty`."""
    samples = np.empty(depth.shape, dtype=object)
    for (y, x), front in np.ndenumerate(depth):
        if empty is not None and empty[y, x]:
            continue
        behind = front + rng.uniform(0.5, 50, size=int(rng.integers(0, 3)))
        samples[y, x] = rng.permutation(np.append(behind, front)).astype(np.float32)
    return samples


def write_deep(path: Path, channels: dict[str, np.ndarray], *, tiled: bool = False) -> Path:
    """A deep scanline (or tiled) part from object arrays of per-pixel sample arrays."""
    header: dict = {"compression": OpenEXR.ZIPS_COMPRESSION,
                    "type": OpenEXR.deeptile if tiled else OpenEXR.deepscanline}
    if tiled:
        header["tiles"] = tile_description(8)
    OpenEXR.File(header, dict(channels)).write(str(path))
    return path


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _levels(width: int, height: int, mode: OpenEXR.LevelMode) -> list[tuple[int, int, int, int]]:
    """(level x, level y, width, height) in file order; sizes round down, as ROUND_DOWN says."""
    if mode == OpenEXR.MIPMAP_LEVELS:
        count = max(width, height).bit_length()
        return [(n, n, max(1, width >> n), max(1, height >> n)) for n in range(count)]
    return [(lx, ly, max(1, width >> lx), max(1, height >> ly))
            for ly in range(height.bit_length()) for lx in range(width.bit_length())]


def write_tiled_levels(path: Path, depth: np.ndarray, mode: OpenEXR.LevelMode, tile: int = 8) -> Path:
    """A mip- or rip-mapped tiled file with one float channel `Z`, uncompressed. Level 0 is
    `depth`; the smaller levels hold a strided copy plus 1000 so that reading one is noticed."""
    height, width = depth.shape
    header = b"".join([
        _attribute("channels", "chlist", b"Z\0" + struct.pack("<iB3xii", 2, 0, 1, 1) + b"\0"),
        _attribute("compression", "compression", b"\0"),
        _attribute("dataWindow", "box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
        _attribute("displayWindow", "box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
        _attribute("lineOrder", "lineOrder", b"\0"),
        _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        _attribute("screenWindowCenter", "v2f", struct.pack("<2f", 0, 0)),
        _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        _attribute("tiles", "tiledesc", struct.pack("<IIB", tile, tile, int(mode.value))),
    ]) + b"\0"
    chunks: list[bytes] = []
    for lx, ly, w, h in _levels(width, height, mode):
        level = depth[:: 1 << ly, :: 1 << lx][:h, :w].astype(np.float32) + (0 if lx == ly == 0 else 1000)
        for ty in range(-(-h // tile)):
            for tx in range(-(-w // tile)):
                data = np.ascontiguousarray(level[ty * tile : (ty + 1) * tile, tx * tile : (tx + 1) * tile]).tobytes()
                chunks.append(struct.pack("<5i", tx, ty, lx, ly, len(data)) + data)
    start = 8 + len(header) + 8 * len(chunks)
    offsets = np.cumsum([start] + [len(c) for c in chunks[:-1]]).astype("<u8")
    path.write_bytes(MAGIC + struct.pack("<i", 2 | 0x200) + header + offsets.tobytes() + b"".join(chunks))
    return path


def attributes(data: bytes) -> Iterator[tuple[str, int, int]]:
    """(name, offset of its size field, offset of its value) for the first header's attributes:
    the fuzzer uses them to make sizes lie and windows absurd."""
    pos = 8
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        size_at = type_end + 1
        (size,) = struct.unpack_from("<i", data, size_at)
        yield data[pos:name_end].decode(), size_at, size_at + 4
        pos = size_at + 4 + size


def header_end(data: bytes) -> int:
    """Offset just past the first header's terminating null byte (where a single part's offset table starts)."""
    last = 8
    for _name, size_at, value_at in attributes(data):
        (size,) = struct.unpack_from("<i", data, size_at)
        last = value_at + size
    return last + 1
