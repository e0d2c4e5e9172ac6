"""Read one float depth channel from an OpenEXR file (and write one, for samples and tests).

Every kind the format allows: scanline and tiled (mip/rip-mapped: level 0), luminance/chroma
(subsampled channels are repeated up), multipart, multi-view (`view`), deep (the front-most
sample). The header is parsed and bounded (`exr_header`) before OpenEXR decodes a pixel; the
channel is chosen by `exr_channels`, deep pixels flattened by `exr_deep`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dependencies import LazyModule
from .errors import DepthError
from .exr_channels import Choice, choose_channel, pick_channel, views_of
from .exr_deep import front_sample
from .exr_header import DEFAULT_MAX_PIXELS, MAGIC, ChannelInfo, PartHeader, check_bounds, read_header

__all__ = ["DEFAULT_MAX_PIXELS", "EXR_SUFFIX", "ExrDepth", "is_exr_path", "list_channels", "list_views",
           "pick_channel", "read_depth", "write_depth"]

#: imported on first use: without OpenEXR everything but reading EXR files still works
OpenEXR = LazyModule("OpenEXR", "reading EXR files")

EXR_SUFFIX = ".exr"

#: DEPTH_TOOLS_EXR_THREADS=N decodes with N threads (0 or 1: in the calling thread); default: every core
THREADS_VARIABLE = "DEPTH_TOOLS_EXR_THREADS"
_decode_lock = threading.Lock()
_decode_threads: list[int] = []  # [threads in use] once the first decode chose them
_wanted_threads: list[int] = []  # [count] asked for before it (a --jobs worker: its share of the cores)


def set_decode_threads(count: int) -> None:
    """Decode with `count` threads in this process (0 or 1: in the calling thread); before the first
    decode, only remembered (OpenEXR is not imported for it: it may not be installed).
    DEPTH_TOOLS_EXR_THREADS still wins at the first decode. See `workers` on forking."""
    with _decode_lock:
        if _decode_threads:
            _set_threads_locked(count)
        else:
            _wanted_threads[:] = [count]


def _set_threads_locked(count: int) -> None:
    setter = getattr(OpenEXR, "set_global_thread_count", None)  # OpenEXR >= 3.3's binding has it
    count = count if count > 1 and setter is not None else 0
    if setter is not None and (count or _decode_threads):
        setter(count)
    _decode_threads[:] = [count]


def decode_threads_started() -> bool:
    """True once OpenEXR's thread pool runs here: a child forked now would hang at its first decode."""
    return bool(_decode_threads and _decode_threads[0])


def _start_decode_threads() -> None:
    """A ZIP EXR's blocks inflate independently: OpenEXR's pool decodes them on every core (a 1080p
    float frame: 12.8 -> 8.8 ms on 2 cores). Chosen at the first decode, not at import."""
    if _decode_threads:
        return
    with _decode_lock:
        if _decode_threads:
            return
        default = _wanted_threads[0] if _wanted_threads else os.cpu_count() or 1
        try:
            count = int(os.environ.get(THREADS_VARIABLE, "") or default)
        except ValueError:
            count = default
        _set_threads_locked(count)


@dataclass(frozen=True)
class ExrDepth:
    """A depth channel as float32 HxW (display-window sized), with where it came from."""

    depth: np.ndarray
    channel: str
    channels: tuple[str, ...]
    view: str | None = None
    views: tuple[str, ...] = ()  # every view of a multi-view file, the default first; () for others


def is_exr_path(path: str | Path) -> bool:
    """`.exr` in any case: Windows users' renders often come out as `.EXR`."""
    return Path(path).suffix.lower() == EXR_SUFFIX


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


def _check_file(path: Path) -> None:
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
    if magic != MAGIC:
        raise DepthError("not an OpenEXR file (wrong signature)", path)


def _open(path: Path, header_only: bool = False) -> OpenEXR.File:
    OpenEXR.File  # noqa: B018 - imports the binding first: a missing one is its own message, not "damaged"
    if not header_only:
        _start_decode_threads()
    with _native_output_captured() as captured:
        try:
            exr = OpenEXR.File(str(path), separate_channels=True, header_only=header_only)
        except MemoryError:
            raise
        except Exception as exc:  # RuntimeError, ValueError, ...: whatever the binding raises for bad bytes
            exr, error = None, str(exc)
    if exr is None or not exr.parts:  # a damaged body loads as a File with no parts
        detail = _native_detail(captured, path) or (f" ({error})" if exr is None else "")
        raise DepthError(f"damaged or truncated EXR{detail}", path)
    return exr


def list_channels(path: str | Path) -> tuple[str, ...]:
    """Channel names from the header alone (cheap: for UIs that offer a channel choice)."""
    path = Path(path)
    _check_file(path)
    names: list[str] = []
    for part in read_header(path):
        names.extend(c.name for c in part.channels if c.name not in names)
    return tuple(names)


def list_views(path: str | Path) -> tuple[str, ...]:
    """The views of a multi-view (stereo) file from the header alone, the default first; () for others."""
    path = Path(path)
    _check_file(path)
    return tuple(views_of(read_header(path)))


def _place_in_display_window(pixels: np.ndarray, part: PartHeader, path: Path) -> np.ndarray:
    """Pixels cover the data window; the image the user sees is the display window.
    Outside the data window there is no surface, so those pixels become NaN (background)."""
    dx0, dy0, dx1, dy1 = part.data_window
    wx0, wy0, wx1, wy1 = part.display_window or part.data_window
    if (dx0, dy0, dx1, dy1) == (wx0, wy0, wx1, wy1):
        return pixels
    x0, y0, x1, y1 = max(dx0, wx0), max(dy0, wy0), min(dx1, wx1), min(dy1, wy1)
    if x0 > x1 or y0 > y1:
        raise DepthError(
            f"the display window ({wx0}, {wy0})-({wx1}, {wy1}) misses the data window ({dx0}, {dy0})-({dx1}, {dy1}) "
            "entirely: no rendered pixel is inside the image", path)
    full = np.full((wy1 - wy0 + 1, wx1 - wx0 + 1), np.nan, dtype=np.float32)
    full[y0 - wy0 : y1 - wy0 + 1, x0 - wx0 : x1 - wx0 + 1] = pixels[y0 - dy0 : y1 - dy0 + 1, x0 - dx0 : x1 - dx0 + 1]
    return full


def _upsampled(pixels: np.ndarray, info: ChannelInfo, part: PartHeader) -> np.ndarray:
    """Subsampled channels (luminance/chroma's RY, BY) hold one value per xs x ys block."""
    x0, y0, x1, y1 = part.data_window
    if info.x_sampling > 1 or info.y_sampling > 1:
        pixels = np.repeat(np.repeat(pixels, info.y_sampling, axis=0), info.x_sampling, axis=1)
    return pixels[: y1 - y0 + 1, : x1 - x0 + 1]


def _pixels(exr: OpenEXR.File, chosen: Choice, path: Path) -> np.ndarray:
    part = chosen.header
    if chosen.part >= len(exr.parts):
        raise DepthError(f"damaged EXR (part {chosen.part} could not be read)", path)
    channels = exr.parts[chosen.part].channels
    if chosen.raw not in channels:
        raise DepthError(f"channel {chosen.raw!r} holds no image data", path)
    pixels = channels[chosen.raw].pixels
    if part.deep:
        z = channels.get(chosen.z_channel) if chosen.z_channel else None
        try:
            pixels = front_sample(pixels, None if z is None or z is channels[chosen.raw] else z.pixels)
        except (ValueError, TypeError) as exc:
            raise DepthError(f"damaged deep EXR ({exc})", path) from None
    if pixels is None or pixels.ndim != 2 or pixels.size == 0 or pixels.dtype == object:
        raise DepthError(f"channel {chosen.raw!r} holds no image data", path)
    return _upsampled(pixels.astype(np.float32, copy=False), chosen.info, part)


def read_depth(
    path: str | Path, channel: str | None = None, view: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ExrDepth:
    """Read the depth channel (auto-picked unless `channel` names one) of `view` (multi-view
    files; default: the first view) as float32, display-window sized.

    The header is checked first: one claiming more than `max_pixels` pixels is refused before
    OpenEXR allocates anything. Deep images give each pixel's front-most sample (smallest Z).
    Every failure is a `DepthError` naming the file; a missing channel or view lists those there are.
    """
    path = Path(path)
    _check_file(path)
    headers = read_header(path)
    check_bounds(headers, path, max_pixels)
    chosen = choose_channel(headers, path, channel, view)
    exr = _open(path)
    pixels = _pixels(exr, chosen, path)
    depth = _place_in_display_window(pixels, chosen.header, path)
    return ExrDepth(depth, chosen.raw, chosen.names, chosen.view, tuple(views_of(headers)))


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
