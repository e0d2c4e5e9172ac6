"""Read one float depth channel from an OpenEXR file (and write one, for samples and tests).

Renderers disagree on where depth lives: Daz iray writes it to `Y`, Blender to `Z` or
`<layer>.Depth.Z`, RGB exports repeat it in R/G/B. `pick_channel` encodes that knowledge once.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dependencies import LazyModule
from .errors import DepthError

#: imported on first use: without OpenEXR everything but reading EXR files still works
OpenEXR = LazyModule("OpenEXR", "reading EXR files")

EXR_SUFFIX = ".exr"


@dataclass(frozen=True)
class ExrDepth:
    """A depth channel as float32 HxW (display-window sized), with where it came from."""

    depth: np.ndarray
    channel: str
    channels: tuple[str, ...]


def is_exr_path(path: str | Path) -> bool:
    """`.exr` in any case: Windows users' renders often come out as `.EXR`."""
    return Path(path).suffix.lower() == EXR_SUFFIX


def _is_depth_layer(name: str) -> bool:
    return any(part.lower() == "depth" for part in name.split(".")[:-1])


def pick_channel(names: Iterable[str], wanted: str | None = None) -> str | None:
    """The depth channel among `names`: `wanted` if given (exact, then case-insensitive), else
    `Y`, `Z`, `<layer>.Depth.Z`, any channel of a `depth` layer, `R`, or the only channel."""
    names = list(names)
    if wanted:
        if wanted in names:
            return wanted
        folded = [n for n in names if n.lower() == wanted.lower()]
        return folded[0] if len(folded) == 1 else None
    for exact in ("Y", "Z"):
        if exact in names:
            return exact
    layered = [n for n in names if _is_depth_layer(n)]
    for name in layered:
        if name.split(".")[-1].upper() == "Z":
            return name
    if layered:
        return sorted(layered)[0]
    if "R" in names:
        return "R"
    return names[0] if len(names) == 1 else None


@contextmanager
def _native_output_captured() -> Iterator[list[str]]:
    """OpenEXR's C++ core prints its complaints straight to fd 1 and 2 (stdout, even): capture
    them so `--json` output stays parseable and the text can go into our one-line error.

    Only in a single-threaded process: swapping fds under other threads would swallow their output.
    """
    captured: list[str] = []
    if threading.active_count() > 1:
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1), os.dup(2)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace").strip())


def _native_detail(captured: list[str], path: Path) -> str:
    """The first line OpenEXR printed, without its own copy of the path."""
    lines = [line.strip() for text in captured for line in text.splitlines() if line.strip()]
    return f" ({lines[0].replace(f'{path}: ', '')[:160]})" if lines else ""


def _open(path: Path, header_only: bool = False) -> OpenEXR.File:
    if not path.exists():
        raise DepthError("file not found", path)
    if path.is_dir():
        raise DepthError("is a folder, not an EXR file", path)
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DepthError(f"cannot read file ({exc.strerror})", path) from None
    if not magic:
        raise DepthError("empty file (0 bytes): not an OpenEXR image", path)
    if magic != b"\x76\x2f\x31\x01":
        raise DepthError("not an OpenEXR file (wrong signature)", path)
    with _native_output_captured() as captured:
        try:
            exr = OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
        except (RuntimeError, ValueError, OSError, TypeError) as exc:
            exr, error = None, str(exc)
    if exr is None or not exr.parts:  # a damaged body loads as a File with no parts
        detail = _native_detail(captured, path) or (f" ({error})" if exr is None else "")
        raise DepthError(f"damaged or truncated EXR{detail}", path)
    return exr


def _all_channels(exr: OpenEXR.File) -> dict[str, OpenEXR.Channel]:
    found: dict[str, OpenEXR.Channel] = {}
    for part in exr.parts:
        for name, channel in part.channels.items():
            found.setdefault(name, channel)
    return found


def list_channels(path: str | Path) -> tuple[str, ...]:
    """Channel names from the header alone (cheap: for UIs that offer a channel choice)."""
    exr = _open(Path(path), header_only=True)
    names: list[str] = []
    for part in exr.parts:
        names.extend(c.name for c in part.header["channels"] if c.name not in names)
    return tuple(names)


def _window(box: tuple[np.ndarray, np.ndarray]) -> tuple[int, int, int, int]:
    (x0, y0), (x1, y1) = box
    return int(x0), int(y0), int(x1), int(y1)


def _place_in_display_window(pixels: np.ndarray, header: dict) -> np.ndarray:
    """Pixels cover the data window; the image the user sees is the display window.
    Outside the data window there is no surface, so those pixels become NaN (background)."""
    dx0, dy0, dx1, dy1 = _window(header["dataWindow"])
    wx0, wy0, wx1, wy1 = _window(header.get("displayWindow", header["dataWindow"]))
    if (dx0, dy0, dx1, dy1) == (wx0, wy0, wx1, wy1):
        return pixels
    full = np.full((wy1 - wy0 + 1, wx1 - wx0 + 1), np.nan, dtype=np.float32)
    x0, y0, x1, y1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if x0 <= x1 and y0 <= y1:
        full[y0 - wy0 : y1 - wy0 + 1, x0 - wx0 : x1 - wx0 + 1] = pixels[
            y0 - dy0 : y1 - dy0 + 1, x0 - dx0 : x1 - dx0 + 1
        ]
    return full


def read_depth(path: str | Path, channel: str | None = None) -> ExrDepth:
    """Read the depth channel (auto-picked unless `channel` names one) as float32.

    Every failure is a `DepthError` naming the file; a missing channel lists the ones there are.
    """
    path = Path(path)
    exr = _open(path)
    channels = _all_channels(exr)
    names = tuple(channels)
    name = pick_channel(names, channel)
    if name is None:
        listed = ", ".join(names) or "none"
        what = f"no channel named {channel!r}" if channel else "no depth channel found"
        raise DepthError(f"{what}; channels in this file: {listed}", path)
    pixels = channels[name].pixels
    if pixels is None or pixels.ndim != 2 or pixels.size == 0:
        raise DepthError(f"channel {name!r} holds no image data", path)
    if pixels.dtype != np.float32:
        pixels = pixels.astype(np.float32)
    header = next(p.header for p in exr.parts if name in p.channels)
    return ExrDepth(_place_in_display_window(pixels, header), name, names)


def write_depth(
    path: str | Path,
    depth: np.ndarray,
    channel: str = "Z",
    *,
    half: bool = False,
    extra: dict[str, np.ndarray] | None = None,
    compression: OpenEXR.Compression | None = None,
    data_window: tuple[int, int] | None = None,
    display_size: tuple[int, int] | None = None,
) -> None:
    """Write `depth` into `channel` (plus `extra` channels). For samples, tests and benchmarks.

    `data_window`=(x0, y0) and `display_size`=(w, h) write a cropped render whose pixels sit at
    an offset inside a larger display window, as Blender's border renders do.
    """
    dtype = np.float16 if half else np.float32
    # OpenEXR writes non-contiguous arrays wrongly and mutates the dicts it is given: copy both.
    pixels = {channel: np.ascontiguousarray(depth, dtype=dtype)}
    for name, values in (extra or {}).items():
        pixels[name] = np.ascontiguousarray(values, dtype=dtype)
    compression = OpenEXR.ZIP_COMPRESSION if compression is None else compression
    header: dict = {"compression": compression, "type": OpenEXR.scanlineimage}
    h, w = pixels[channel].shape
    if data_window is not None or display_size is not None:
        x0, y0 = data_window or (0, 0)
        dw, dh = display_size or (x0 + w, y0 + h)
        header["dataWindow"] = (np.array([x0, y0], np.int32), np.array([x0 + w - 1, y0 + h - 1], np.int32))
        header["displayWindow"] = (np.array([0, 0], np.int32), np.array([dw - 1, dh - 1], np.int32))
    OpenEXR.File(header, pixels).write(str(path))
