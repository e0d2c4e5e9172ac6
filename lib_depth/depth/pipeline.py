"""One input file -> depth map (+ mask) PNGs: the unit of work the command line runs per file.

Sources are pluggable by suffix so that image inputs (MiDaS) reuse the same naming, processing,
atomic writing and error rules as EXR renders.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .blocks import submit
from .errors import DepthError, internal_error
from .exr import DEFAULT_MAX_PIXELS, EXR_SUFFIX, read_depth
from .png import encode_png, write_bytes_atomic
from .process import DepthMap, DepthOptions, histogram, make_depth_map, scan_depth


@dataclass(frozen=True)
class Job:
    """Everything needed to convert one file; picklable, so `--jobs` can ship it to a worker."""

    source: Path
    options: DepthOptions = field(default_factory=DepthOptions)
    channel: str | None = None
    mask: bool = False
    want_histogram: bool = False
    output_dir: Path | None = None
    #: Source-specific settings (MiDaS resolution, device, ...), read by the source that needs them.
    extra: dict = field(default_factory=dict)
    #: EXR: the view of a multi-view (stereo) file (None: the first), and the header's pixel bound.
    view: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class JobResult:
    source: str
    outputs: list[str] = field(default_factory=list)
    channel: str | None = None
    near: float | None = None
    far: float | None = None
    histogram: dict | None = None
    error: str | None = None
    #: What the user should hear though the file was converted (e.g. MiDaS's long-side cap).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SourceDepth:
    depth: np.ndarray  # float32 HxW, larger = farther
    channel: str | None = None
    extra_images: dict[str, np.ndarray] = field(default_factory=dict)  # name -> image to write
    notes: tuple[str, ...] = ()  # for the user, e.g. "the network input was capped"


def load_exr(job: Job) -> SourceDepth:
    exr = read_depth(job.source, job.channel, job.view, job.max_pixels)
    return SourceDepth(exr.depth, exr.channel)


#: suffix (lower case) -> "module:function" taking a Job and returning a SourceDepth, imported on
#: first use. Only EXR lives here; `lib_depth` registers its image source (MiDaS) at import, so
#: converting EXR renders never imports torch, and this package knows nothing of MiDaS.
SOURCES: dict[str, str] = {EXR_SUFFIX: "lib_depth.depth.pipeline:load_exr"}


def register_source(suffixes: tuple[str, ...], spec: str) -> None:
    """Let `load_source` read files with these suffixes through `spec` ("module:function")."""
    for suffix in suffixes:
        SOURCES[suffix.lower()] = spec


def import_spec(spec: str) -> Callable[..., SourceDepth]:
    """The function a "module:function" spec names, imported on first use."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def output_stem(source: Path) -> str:
    """`scene.exr` -> `scene`, `Render.EXR` -> `Render`."""
    return source.name[: -len(source.suffix)] if source.suffix else source.name


def output_paths(job: Job) -> dict[str, Path]:
    folder = job.output_dir if job.output_dir is not None else job.source.parent
    stem = output_stem(job.source)
    paths = {"depth": folder / f"{stem}.depth.png"}
    if job.mask:
        paths["mask"] = folder / f"{stem}.mask.png"
    return paths


def supported_suffixes() -> tuple[str, ...]:
    return tuple(sorted(SOURCES))


def load_source(job: Job) -> SourceDepth:
    spec = SOURCES.get(job.source.suffix.lower())
    if spec is None:
        wanted = ", ".join(supported_suffixes())
        raise DepthError(f"unsupported file type {job.source.suffix or '(none)'!r}; expected {wanted}", job.source)
    return import_spec(spec)(job)


@dataclass(frozen=True)
class Rendered:
    """One source processed and encoded in memory: what `convert` writes and the HTTP API returns."""

    result: JobResult
    images: dict[str, bytes]  # "depth", "mask" (when asked), then the source's extra images -> PNG bytes


def encode_maps(depth_map: DepthMap, mask: bool) -> dict[str, bytes]:
    """The depth map's PNG and (`mask`) its mask's; the mask's encoder runs beside the depth map's
    (cv2 releases the GIL): ~13 ms less on 4K."""
    mask_png = submit(encode_png, depth_map.mask_image(), bilevel=True) if mask else None
    encoded = {"depth": encode_png(depth_map.levels)}
    if mask_png is not None:
        encoded["mask"] = mask_png.result()
    return encoded


def render(job: Job, source: SourceDepth) -> Rendered:
    """The depth semantics on one source's depth, and its PNGs, without touching the disk.

    `job.source` only labels errors. Raises DepthError.
    """
    label = str(job.source)
    result = JobResult(label, channel=source.channel, notes=list(source.notes))
    scan = scan_depth(source.depth, job.options.background_above, label)
    if job.want_histogram:
        result.histogram = histogram(source.depth, scan, path=label).as_dict()
    depth_map = make_depth_map(source.depth, job.options, path=label, scan=scan)
    result.near, result.far = depth_map.near, depth_map.far
    encoded = encode_maps(depth_map, job.mask)
    for name, image in source.extra_images.items():
        encoded[name] = encode_png(image)
    return Rendered(result, encoded)


def convert(job: Job) -> JobResult:
    """Read, process and write one file. Raises DepthError; writes nothing unless all succeeded."""
    rendered = render(job, load_source(job))
    result, encoded = rendered.result, rendered.images
    paths = output_paths(job)
    for name in encoded:
        paths.setdefault(name, paths["depth"].with_name(f"{output_stem(job.source)}.{name}.png"))
    folder = paths["depth"].parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthError(f"cannot create output folder {folder} ({exc.strerror})", job.source) from None
    for name, data in encoded.items():
        try:
            result.outputs.append(str(write_bytes_atomic(paths[name], data)))
        except OSError as exc:
            raise DepthError(f"cannot write {paths[name]} ({exc.strerror})", job.source) from None
    return result


def run_job(job: Job) -> JobResult:
    """`convert`, with every failure turned into a one-line result: a batch never stops early."""
    try:
        return convert(job)
    except DepthError as exc:
        return JobResult(str(job.source), error=str(exc) if exc.path else f"{job.source}: {exc}")
    except MemoryError:
        return JobResult(str(job.source), error=f"{job.source}: not enough memory for this image")
    except Exception as exc:  # a bug, not a user mistake: still one line, and the batch goes on
        return JobResult(str(job.source), error=str(internal_error(exc, job.source)))
