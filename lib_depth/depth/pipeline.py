"""One input file -> depth map (+ mask) PNGs: the unit of work every entry point runs per file.

A `Job` names its input kind as a typed object (`InputKind`): `ExrInput` here, the image route
(`lib_depth.images.ImageInput`) in its own layer. The kind reads the file into a `SourceDepth`;
everything after that (levels, mask, PNG encoding, atomic writes, error rules) is the same for
every kind. Jobs are frozen, keyword-only and picklable: a `--jobs` worker imports the modules a
job needs by unpickling it, so no registry has to be filled in each process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .blocks import submit
from .errors import DepthError, failure_line
from .exr import DEFAULT_MAX_PIXELS, read_depth
from .exr_normals import read_normal_pass
from .normals import NormalOptions, normal_image, pass_normal_map
from .png import encode_png, write_bytes_atomic
from .process import DepthMap, DepthOptions, Histogram, Scan, histogram, make_depth_map, scan_depth

#: A source's own normal map, given the pixels to leave flat (True = background): computed only once
#: the depth map says which pixels those are (the cutoff and the mask decide).
NormalMaker = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class SourceDepth:
    """What an input kind read from one file: the depth and what comes with it."""

    depth: np.ndarray  # float32 HxW, larger = farther
    channel: str | None = None
    extra_images: dict[str, np.ndarray] = field(default_factory=dict)  # name -> image to write
    notes: tuple[str, ...] = ()  # for the user, e.g. "the network input was capped"
    normals: NormalMaker | None = None  # written as `normal` (a render's exact geometry)


class InputKind(Protocol):
    """How one kind of input file becomes a depth: a frozen, picklable settings object."""

    def load(self, path: Path, *, max_pixels: int) -> SourceDepth:
        """The file's depth; raises DepthError naming `path` for anything wrong with it."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """What the depths depend on besides the file (JSON-able): the key of a sequence's levels
        summary and part of its outputs' digest."""
        ...

    def extra_outputs(self) -> dict[str, Any]:
        """The images it writes beside the depth map (`normal`) and what each depends on (JSON-able):
        known before reading; part of a sequence's outputs' digest, not of its levels summary."""
        ...


@dataclass(frozen=True, kw_only=True)
class ExrInput:
    """A float depth pass of an OpenEXR render: which channel and which view (None: automatic),
    and (`normals`) its exact normal map: from the depth pass with the camera's field of view, or
    from the render's own world-space Normal pass when the camera's rotation is known."""

    channel: str | None = None
    view: str | None = None  # of a multi-view (stereo) file; None: the first
    normals: NormalOptions | None = None
    camera_rotation: tuple[float, float, float] | None = None  # X, Y, Z degrees: use the Normal pass

    def load(self, path: Path, *, max_pixels: int) -> SourceDepth:
        exr = read_depth(path, self.channel, self.view, max_pixels)
        return SourceDepth(depth=exr.depth, channel=exr.channel, normals=self._normals(path, exr.depth, max_pixels))

    def _normals(self, path: Path, depth: np.ndarray, max_pixels: int) -> NormalMaker | None:
        if self.normals is None:
            return None
        if self.camera_rotation is None:
            return partial(normal_image, depth, self.normals)
        return partial(_pass_normals, path, self.view, self.camera_rotation, self.normals.style, depth.shape,
                       max_pixels)

    def fingerprint(self) -> dict[str, Any]:
        return {"channel": self.channel, "view": self.view}

    def extra_outputs(self) -> dict[str, Any]:
        if self.normals is None:
            return {}
        return {"normal": {**vars(self.normals), "camera_rotation": self.camera_rotation}}


def _pass_normals(path: Path, view: str | None, rotation: tuple[float, float, float], style: str,
                  shape: tuple[int, ...], max_pixels: int, background: np.ndarray) -> np.ndarray:
    """The render's own Normal pass in camera space, read only when the map is written (a
    sequence's scan passes never pay for it)."""
    found = read_normal_pass(path, view=view, max_pixels=max_pixels)
    if found.normals.shape[:2] != shape:
        raise DepthError(f"the normal pass ({found.normals.shape[1]} x {found.normals.shape[0]}) and the "
                         f"depth ({shape[1]} x {shape[0]}) differ in size", path)
    return pass_normal_map(found.normals, camera_rotation=rotation, background=background, style=style)


@dataclass(frozen=True, kw_only=True)
class Unsupported:
    """A file no input kind reads: its job fails with one line, and the batch goes on."""

    expected: tuple[str, ...]

    def load(self, path: Path, *, max_pixels: int) -> SourceDepth:
        del max_pixels
        wanted = ", ".join(self.expected)
        raise DepthError(f"unsupported file type {path.suffix or '(none)'!r}; expected {wanted}", path)

    def fingerprint(self) -> dict[str, Any]:
        return {"unsupported": True}

    def extra_outputs(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class Job:
    """Everything needed to convert one file; picklable, so `--jobs` can ship it to a worker."""

    source: Path
    input: InputKind = field(default_factory=ExrInput)
    options: DepthOptions = field(default_factory=DepthOptions)
    mask: bool = False
    want_histogram: bool = False
    output_dir: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS  # the header's pixel bound, checked before decoding


@dataclass(frozen=True, kw_only=True)
class JobResult:
    """One file's outcome, made once when the file is done (or failed)."""

    source: str
    outputs: tuple[str, ...] = ()
    channel: str | None = None
    near: float | None = None
    far: float | None = None
    histogram: Histogram | None = None
    error: str | None = None
    #: What the user should hear though the file was converted (e.g. MiDaS's long-side cap).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        """The command line's `--json` record of this file."""
        return {"source": self.source, "outputs": list(self.outputs), "channel": self.channel, "near": self.near,
                "far": self.far, "histogram": None if self.histogram is None else self.histogram.as_dict(),
                "error": self.error, "notes": list(self.notes)}


def output_stem(source: Path) -> str:
    """`scene.exr` -> `scene`, `Render.EXR` -> `Render`."""
    return source.name[: -len(source.suffix)] if source.suffix else source.name


def output_paths(job: Job) -> dict[str, Path]:
    """Where each PNG goes: `<stem>.depth.png`, `<stem>.mask.png` (asked), then `<stem>.<name>.png`
    for the input kind's extra images (`normal`)."""
    folder = job.output_dir if job.output_dir is not None else job.source.parent
    stem = output_stem(job.source)
    wanted = ("depth", "mask") if job.mask else ("depth",)
    return {name: folder / f"{stem}.{name}.png" for name in (*wanted, *job.input.extra_outputs())}


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """One source processed and encoded in memory: what `convert` writes and the HTTP API returns."""

    images: dict[str, bytes]  # "depth", "mask" (when asked), then the source's extra images -> PNG bytes
    channel: str | None
    near: float
    far: float
    histogram: Histogram | None
    notes: tuple[str, ...]


def flat_pixels(depth: np.ndarray, scan: Scan, depth_map: DepthMap, options: DepthOptions, mask: bool) -> np.ndarray:
    """Where a normal map is flat: as the mask says when one is written; otherwise the background
    (NaN, inf, beyond the background limit) and whatever lies beyond the cutoff."""
    if mask:
        return depth_map.background
    return unmapped_pixels(depth, scan, options.cutoff)


def unmapped_pixels(depth: np.ndarray, scan: Scan, cutoff: float | None) -> np.ndarray:
    """The background (NaN, inf, beyond the background limit) and whatever lies beyond the cutoff:
    where a normal map is flat when no mask says so (a host's normal node without a mask)."""
    flat = ~scan.valid
    if cutoff is not None:
        with np.errstate(invalid="ignore"):
            flat |= depth > cutoff
    return flat


def encode_maps(depth_map: DepthMap, mask: bool, normal: np.ndarray | None = None) -> dict[str, bytes]:
    """The depth map's PNG, (`mask`) its mask's and (`normal`) the normal map's; the others'
    encoders run beside the depth map's (cv2 releases the GIL): ~13 ms less on 4K for the mask."""
    mask_png = submit(encode_png, depth_map.mask_image(), bilevel=True) if mask else None
    normal_png = submit(encode_png, normal) if normal is not None else None
    encoded = {"depth": encode_png(depth_map.levels)}
    if mask_png is not None:
        encoded["mask"] = mask_png.result()
    if normal_png is not None:
        encoded["normal"] = normal_png.result()
    return encoded


def encode_source_maps(source: SourceDepth, scan: Scan, depth_map: DepthMap, options: DepthOptions,
                       mask: bool) -> dict[str, bytes]:
    """Every PNG of one source: depth, mask (asked), its own normal map, then its extra images."""
    normal = None
    if source.normals is not None:
        normal = source.normals(flat_pixels(source.depth, scan, depth_map, options, mask))
    encoded = encode_maps(depth_map, mask, normal)
    for name, image in source.extra_images.items():
        encoded[name] = encode_png(image)
    return encoded


def render(job: Job, source: SourceDepth) -> Rendered:
    """The depth semantics on one source's depth, and its PNGs, without touching the disk.

    `job.source` only labels errors. Raises DepthError.
    """
    label = str(job.source)
    scan = scan_depth(source.depth, job.options.background_above, label)
    hist = histogram(source.depth, scan, path=label) if job.want_histogram else None
    depth_map = make_depth_map(source.depth, job.options, path=label, scan=scan)
    encoded = encode_source_maps(source, scan, depth_map, job.options, job.mask)
    return Rendered(images=encoded, channel=source.channel, near=depth_map.near, far=depth_map.far,
                    histogram=hist, notes=source.notes)


def write_outputs(job: Job, images: dict[str, bytes]) -> tuple[str, ...]:
    """Each PNG written atomically to its place; DepthError naming the input for a write failure."""
    paths = output_paths(job)
    folder = paths["depth"].parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthError(f"cannot create output folder {folder} ({exc.strerror})", job.source) from None
    written = []
    for name, data in images.items():
        try:
            written.append(str(write_bytes_atomic(paths[name], data)))
        except OSError as exc:
            raise DepthError(f"cannot write {paths[name]} ({exc.strerror})", job.source) from None
    return tuple(written)


def convert(job: Job) -> JobResult:
    """Read, process and write one file. Raises DepthError; writes nothing unless all succeeded."""
    rendered = render(job, job.input.load(job.source, max_pixels=job.max_pixels))
    return JobResult(source=str(job.source), outputs=write_outputs(job, rendered.images), channel=rendered.channel,
                     near=rendered.near, far=rendered.far, histogram=rendered.histogram, notes=rendered.notes)


def run_job(job: Job) -> JobResult:
    """`convert`, with every failure turned into a one-line result: a batch never stops early."""
    try:
        return convert(job)
    except Exception as exc:  # a bug, not a user mistake: still one line, and the batch goes on
        return JobResult(source=str(job.source), error=failure_line(exc, job.source))
