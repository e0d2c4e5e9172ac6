"""The EXR tab's work: load renders, preview the map as the controls move, write the PNGs.

Plain functions of plain values (paths, numbers, flags), so tests call them with real files and
ui.py only wires them to components. Failures come back as `DepthError`s for the tab to show
as messages. The preview runs on a downscaled copy (fast on 4K renders); the PNGs on the files.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import numpy as np

from ..depth.chart import SCALE as CHART_SCALE
from ..depth.chart import decimals_for, format_depth
from ..depth.chart import layout as chart_layout
from ..depth.errors import DepthError
from ..depth.exr import DEFAULT_MAX_PIXELS, list_views, read_depth
from ..depth.normals import BLENDER_DEFAULT_FOV, DEPTH_KINDS, NormalOptions, normal_image
from ..depth.pipeline import ExrInput, Job, flat_pixels, output_stem, run_job
from ..depth.png import read_png
from ..depth.process import DepthMap, DepthOptions, Histogram, histogram, make_depth_map, scan_depth
from .controls import PostControls, checkbox, control

#: Longest side of the preview: the tab shows it at about this size, and a 4K render would make
#: every slider move re-process 16 M pixels.
PREVIEW_MAX_SIDE = 768
MAX_CUT_BUTTONS = 4
#: A click on the chart this close (displayed pixels) to a suggested cut takes the suggestion.
SNAP_PIXELS = 10
#: Half the width of a suggestion's "cut 254.50" label above the plot: a click on it takes it.
TAG_HALF_WIDTH = 40
AUTO_CHANNEL = "auto"
#: Runs older than this are removed from the download folder when a new one starts.
KEEP_RUNS_SECONDS = 24 * 3600


def _fov_box(elem_id: str) -> Any:
    """Hidden at first: shown while "Normal map" is ticked (`shown_by`), as is "Depth is"."""
    return gr.Number(label="Field of view (horizontal, degrees)", value=BLENDER_DEFAULT_FOV, visible=False,
                     info="the render camera's; 39.6 = Blender's default 50 mm lens", elem_id=elem_id)


def _depth_is_radio(elem_id: str) -> Any:
    return gr.Radio(label="Depth is", choices=list(DEPTH_KINDS), value=DEPTH_KINDS[0], visible=False,
                    info="planar: Blender, Iray Depth; distance: Iray Distance", elem_id=elem_id)


@dataclass(frozen=True, kw_only=True)
class MapControls(PostControls):
    """The EXR tab's controls: the shared post-processing, the exact normal map (a render's own:
    the camera's field of view and what its depth measures), and the cutoff. The cutoff is no
    `control` field: its box sits with the suggestion buttons, and its value in force is a State."""

    normal: bool = control(False, checkbox("Normal map (exact, from the depth)"))
    fov: float | None = control(BLENDER_DEFAULT_FOV, _fov_box, "commit", shown_by="normal")
    depth_is: str = control(DEPTH_KINDS[0], _depth_is_radio, shown_by="normal")
    cutoff: float | None = None

    def options(self, **more: Any) -> DepthOptions:
        cutoff = self.cutoff
        if cutoff is not None and not math.isfinite(float(cutoff)):
            raise DepthError("the cutoff must be a number (leave it empty for no cutoff)")
        return super().options(cutoff=None if cutoff is None else float(cutoff), **more)

    def normal_options(self) -> NormalOptions | None:
        """How the normal map is made (None: not asked for), as `--normal --fov --depth-is` make it:
        the same background limit as the depth map. OptionsError (a DepthError) for a bad field."""
        if not self.normal:
            return None
        fov = self.fov
        if fov is None or not math.isfinite(float(fov)):
            raise DepthError("the field of view must be a number of degrees (Blender's default camera: 39.6)")
        return NormalOptions(fov_degrees=float(fov), depth_is=str(self.depth_is),
                             background_above=self.options().background_above)


@dataclass(frozen=True)
class ExrView:
    """One render as the tab shows it: its histogram (full resolution) and a small copy to preview."""

    path: str
    channel: str
    channels: tuple[str, ...]
    width: int
    height: int
    preview: np.ndarray  # float32 depth, longest side <= PREVIEW_MAX_SIDE
    histogram: Histogram
    background: float  # share of pixels with no surface
    view: str | None = None  # the view shown (multi-view files), None for files without views
    views: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def decimals(self) -> int:
        return decimals_for(float(self.histogram.edges[0]), float(self.histogram.edges[-1]))

    def fmt(self, depth: float) -> str:
        return format_depth(depth, self.decimals)

    @property
    def note(self) -> str:
        """What the status adds about where this preview comes from ("" for a single render)."""
        return ""

    def depth_map(self, options: DepthOptions) -> DepthMap:
        """The preview's map: a render maps its own range (a sequence view maps the sequence's)."""
        return make_depth_map(self.preview, options, path=self.name)

    def cut_value(self, index: int) -> float | None:
        """Suggestion `index`, rounded as its button shows it (what a user would have typed)."""
        cuts = self.histogram.suggestions
        return round(cuts[index], self.decimals) if index < len(cuts) else None


@dataclass(frozen=True)
class Preview:
    depth: np.ndarray  # uint8 HxW, what the PNG looks like (16-bit shown by its high byte)
    mask: np.ndarray  # uint8 HxW, 255 = subject
    depth_map: DepthMap
    normal: np.ndarray | None = None  # uint8 HxWx3, when the normal map is asked for


@dataclass
class MakeResult:
    """What one press of "Make depth maps" produced."""

    downloads: list[str]
    first_map: np.ndarray | None  # the first file's depth map, 8-bit, full size (for "send to")
    written: list[str]
    errors: list[str]


def downscale(depth: np.ndarray, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    """Nearest-neighbour shrink: averaging would blend background (NaN/inf) into the subject's
    edges and invent depths between subject and wall that are not in the render."""
    h, w = depth.shape
    scale = max_side / max(h, w)
    if scale >= 1:
        return depth
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)


def channel_choice(choice: str | None) -> str | None:
    return None if not choice or choice == AUTO_CHANNEL else choice


def view_for(path: str, view: str | None) -> str | None:
    """`view` where the file has it, else None (its first view): a view chosen for one stereo
    render means the default eye in a file that lacks it, not an error."""
    if not view:
        return None
    try:
        return view if view in list_views(path) else None
    except DepthError:  # the read that follows says what is wrong with the file
        return None


def load_view(
    path: str, channel: str | None = None, view: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ExrView:
    """Read `path` (channel `channel`, or the auto-picked one; `view` of a multi-view file, else
    its first) and prepare its histogram and preview. Headers over `max_pixels` are refused."""
    exr = read_depth(path, channel_choice(channel), view_for(path, view), max_pixels)
    scan = scan_depth(exr.depth, path=path)
    hist = histogram(exr.depth, scan, path=path)
    h, w = exr.depth.shape
    background = 1.0 - float(np.count_nonzero(scan.valid)) / exr.depth.size
    return ExrView(path, exr.channel, exr.channels, w, h, downscale(exr.depth), hist, background, exr.view, exr.views)


def to_display(levels: np.ndarray) -> np.ndarray:
    """8-bit view of 8- or 16-bit levels (browsers show 8 bits; 16-bit keeps its high byte)."""
    if levels.dtype == np.uint16:
        return (levels >> 8).astype(np.uint8)
    return levels


def render_preview(view: ExrView, controls: MapControls) -> Preview:
    """The preview's depth map, mask and (asked for) normal map. The normal map is computed on the
    downscaled depth with the same field of view (it is horizontal: a smaller copy spans the same
    angle), flat where the written one is (`flat_pixels`: the mask, or background and cutoff)."""
    options, normals = controls.options(), controls.normal_options()
    depth_map = view.depth_map(options)
    normal = None
    if normals is not None:
        scan = scan_depth(view.preview, options.background_above, view.name, allow_empty=True)
        flat = flat_pixels(view.preview, scan, depth_map, options, bool(controls.mask))
        normal = normal_image(view.preview, normals, flat)
    return Preview(to_display(depth_map.levels), depth_map.mask_image(), depth_map, normal)


@dataclass(frozen=True)
class Click:
    """What a click on the chart asks for: `changed` False means "ignore" (beside the plot)."""

    changed: bool
    cutoff: float | None = None


def cutoff_at(view: ExrView, x: float, y: float | None = None) -> Click:
    """The cutoff for a click at picture pixel (`x`, `y`): a suggestion when the click is on its
    label above the plot or within a few pixels of its line, no cutoff at the far end, else the
    depth under the click (rounded as the labels are)."""
    box = chart_layout(view.histogram)
    cuts = view.histogram.suggestions
    reach = (TAG_HALF_WIDTH if y is not None and y < box.top else SNAP_PIXELS) * CHART_SCALE
    distances = [abs(box.x_of(cut) - x) for cut in cuts]
    if distances and min(distances) <= reach:
        return Click(True, view.cut_value(distances.index(min(distances))))
    depth = box.depth_at(x)
    if depth is None:
        return Click(False)
    if depth >= box.far - (box.far - box.near) / 400:
        return Click(True, None)
    value = round(depth, view.decimals)
    return Click(True, value) if value > box.near else Click(False)


def _unique_dirs(paths: Sequence[str], run_dir: Path) -> list[Path]:
    """Output folder per input: the run folder, or a numbered subfolder when stems repeat
    (two uploads named render.exr must not overwrite each other's PNGs)."""
    seen: dict[str, int] = {}
    dirs = []
    for path in paths:
        stem = output_stem(Path(path)).lower()
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        dirs.append(run_dir if n == 0 else run_dir / str(n + 1))
    return dirs


def new_run_dir(root: Path | None = None) -> Path:
    """A fresh folder for one run's downloads; old runs (> a day) are swept away first."""
    root = root or Path(tempfile.gettempdir()) / "depth-tools"
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.glob("run-*"):
        try:
            if now - old.stat().st_mtime > KEEP_RUNS_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))


def make_maps(
    paths: Sequence[str],
    channel: str | None,
    controls: MapControls,
    run_dir: Path,
    progress: Callable[[int, int, str], None] | None = None,
    view: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> MakeResult:
    """Full-resolution PNGs for every file (the normal map too when asked for), through the command
    line's own `run_job` (same names, same atomic writes). One bad file is reported and the others
    are still converted. Several inputs are also packed into one zip, the single download offered
    for them. `view` applies to the files that have it (the others give their first view)."""
    if not paths:
        raise DepthError("upload one or more EXR files first")
    options, normals = controls.options(), controls.normal_options()
    result = MakeResult([], None, [], [])
    for i, (path, folder) in enumerate(zip(paths, _unique_dirs(paths, run_dir), strict=True)):
        if progress is not None:
            progress(i, len(paths), Path(path).name)
        kind = ExrInput(channel=channel_choice(channel), view=view_for(path, view), normals=normals)
        job = Job(source=Path(path), input=kind, options=options, mask=bool(controls.mask), output_dir=folder,
                  max_pixels=max_pixels)
        done = run_job(job)
        if not done.ok:
            result.errors.append(_short_error(done.error or "failed", path))
            continue
        result.written.extend(done.outputs)
        if result.first_map is None:
            result.first_map = to_display(read_png(done.outputs[0]))
    if len(paths) > 1 and result.written:
        archive = run_dir / "depth_maps.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
            for written in result.written:
                zf.write(written, Path(written).relative_to(run_dir).as_posix())
        result.downloads = [str(archive)]
    else:
        result.downloads = list(result.written)
    return result


def _short_error(message: str, path: str) -> str:
    """Errors name the upload by its file name, not gradio's temporary folder."""
    return message.replace(str(path), Path(path).name)

