"""The core: float depth -> depth maps, with numpy, OpenEXR and OpenCV only (never torch or gradio).

Imports nothing else of `lib_depth`. Modules by job:

- `exr`: read a depth channel from an EXR render of any kind (`read_depth`), write one (`write_depth`),
  over `exr_header` (the header parsed from its bytes and bounded before decoding: `DEFAULT_MAX_PIXELS`),
  `exr_channels` (which channel of which part and view: `pick_channel`) and `exr_deep` (front-most sample).
- `process`: the depth semantics (docs/architecture.md): valid pixels, levels, histogram and suggested cuts,
  cutoff, compress, noise, mask (`make_depth_map`, `histogram`, `scan_depth`, `DepthOptions`).
- `normals`: exact normal maps from a render's geometry (perspective-correct, no smear across
  silhouettes, ControlNet 1.1 normalbae colours: `normal_image`, `NormalOptions`), or from its own
  world-space Normal pass with the camera's rotation (`pass_normal_map`, read by `exr_normals`).
- `relevel`: an existing depth map's levels back to a float depth, then cutoff/compress (`relevel`).
- `png`: 8/16-bit and bilevel PNG encoding, atomic writes (`encode_png`, `write_bytes_atomic`: unnamed
  until complete, so a kill or a full disk leaves no temporary file).
- `pipeline`: one input file -> PNGs beside it or in a folder (`Job`, `run_job`, `convert`, `render`);
  a job names its input kind as a typed object (`ExrInput` here; the image route's in `images/`).
- Sequences (animation frames, one mapping for all): `frames` (files, folders, globs, `####`/`%04d`
  patterns -> frames in natural order with their numbers, gaps: `expand_frames`), `levels` (the
  mergeable two-stage levels summary, exact and order-free: `Summary`, `merge`, `load`), `sequence`
  (scan / count / convert passes over streamed frames in processes: `scan_frames`, `convert_frames`,
  `run_sequence`, `map_frame`), `provenance` (what made each output, for resume).
- `chart`: the depth histogram as a picture (Pillow; the tab and ComfyUI's histogram node), with
  `glyph_cache` (its labels' glyphs drawn once).
- `blocks`: row blocks on every core for the numpy passes; `workers`: the `--jobs` process pools
  (`process_pool`: forked only while no EXR decode thread runs); `errors`: `DepthError`; `sample`: a scene.

Public (re-exported here): the names in `__all__`.
"""

from .errors import DepthError, OptionsError
from .exr import DEFAULT_MAX_PIXELS, EXR_SUFFIX, ExrDepth, read_depth, write_depth
from .frames import Frame, FrameList, expand_frames
from .levels import Summary
from .normals import NormalOptions, normal_image, normal_map, pass_normal_map
from .pipeline import ExrInput, InputKind, Job, JobResult, Rendered, SourceDepth, convert, render, run_job
from .png import encode_png, read_png, write_bytes_atomic
from .process import DepthMap, DepthOptions, Histogram, histogram, make_depth_map, scan_depth
from .sequence import SequenceJob, convert_frames, run_sequence, scan_frames

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EXR_SUFFIX",
    "DepthError",
    "DepthMap",
    "DepthOptions",
    "ExrDepth",
    "ExrInput",
    "Frame",
    "FrameList",
    "Histogram",
    "InputKind",
    "Job",
    "JobResult",
    "NormalOptions",
    "OptionsError",
    "Rendered",
    "SequenceJob",
    "SourceDepth",
    "Summary",
    "convert",
    "convert_frames",
    "encode_png",
    "expand_frames",
    "histogram",
    "make_depth_map",
    "normal_image",
    "normal_map",
    "pass_normal_map",
    "read_depth",
    "read_png",
    "render",
    "run_job",
    "run_sequence",
    "scan_depth",
    "scan_frames",
    "write_bytes_atomic",
    "write_depth",
]
