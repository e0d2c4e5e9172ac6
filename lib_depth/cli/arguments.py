"""The command line's arguments: the parser, the checks on each value, and what they ask for as
typed objects (`DepthOptions`, `ExrInput`, `ImageInput`), built once for every file of a run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..depth.exr import DEFAULT_MAX_PIXELS, EXR_SUFFIX
from ..depth.normals import BLENDER_DEFAULT_FOV, DEPTH_KINDS, STYLES, NormalOptions
from ..depth.pipeline import ExrInput, InputKind, Unsupported
from ..depth.process import DEFAULT_BACKGROUND_ABOVE, DepthOptions
from ..images import ALL_ESTIMATORS, IMAGE_SUFFIXES, ImageInput
from ..images.registry import DEFAULT_MODEL
from ..images.video_file import VIDEO_SUFFIXES
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD

HISTO = "histo"
SUFFIXES = tuple(sorted((EXR_SUFFIX, *IMAGE_SUFFIXES)))
#: what --sequence also takes: a video file, decoded into image frames
SEQUENCE_SUFFIXES = tuple(sorted((*SUFFIXES, *VIDEO_SUFFIXES)))

EPILOG = """\
examples:
  python -m lib_depth render.exr                          render.depth.png beside the input
  python -m lib_depth render.exr --depth_cutoff histo     print where to cut, map unchanged
  python -m lib_depth render.exr --depth_cutoff 280.69 --compress_map --mask
  python -m lib_depth renders/*.exr --bits 16 -o maps/ --jobs 2
  python -m lib_depth --sequence renders/shot_####.exr --compress_map -o maps/   one mapping, resumable

Depth is near = white. Pixels that are NaN, inf or beyond --background-above are background:
they take the far level (black), and the mask marks them black too.
"""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _cutoff(text: str) -> float | str:
    if text.strip().lower() == HISTO:
        return HISTO
    try:
        return _number(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; give a depth in scene units or 'histo'") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def _fov(text: str) -> float:
    value = _number(text)
    if not 0 < value < 180:
        raise argparse.ArgumentTypeError(f"must be between 0 and 180 degrees, got {text!r}")
    return value


def _resolution(text: str) -> int:
    value = positive_int(text)
    if value < 64:
        raise argparse.ArgumentTypeError(f"must be at least 64, got {text!r}")
    return value


def add_level_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the levels go: cutoff (or the histogram), compression, inversion, bits, background."""
    levels = parser.add_argument_group("where the levels go")
    levels.add_argument(
        "--depth_cutoff", "--depth-cutoff", type=_cutoff, metavar="FLOAT|histo",
        help="clamp depths beyond this (scene units) to the far level; 'histo' prints a 20-bucket "
        "histogram with suggested cuts and leaves the map unchanged",
    )
    levels.add_argument(
        "--compress_map", "--compress-map", action="store_true",
        help="remove empty depth ranges: occupied depths are spread over all levels",
    )
    levels.add_argument("--invert", action="store_true", help="near = black instead of white")
    levels.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth (default 8)")
    levels.add_argument(
        "--background-above", type=_positive_float, default=DEFAULT_BACKGROUND_ABOVE, metavar="X",
        help=f"depths with |d| > X count as background, like NaN and inf (default {DEFAULT_BACKGROUND_ABOVE:g})",
    )
    extras = parser.add_argument_group("extra outputs")
    extras.add_argument("--mask", action="store_true", help="also write <stem>.mask.png: white = subject")
    extras.add_argument("--noise", action="store_true", help="fill the far level with uniform noise")
    extras.add_argument("--seed", type=int, default=0, help="noise seed: same seed, same bytes (default 0)")
    extras.add_argument("--normal", action="store_true",
                        help="also write <stem>.normal.png: for renders the exact normals of their geometry "
                        "(ControlNet 1.1 normalbae colours), for images ControlNet's normal_midas")


def add_normal_arguments(parser: argparse.ArgumentParser) -> None:
    """How a render's normal map is computed: the camera, what its depth measures, the colours."""
    group = parser.add_argument_group(
        "normal maps of renders (--normal with EXR files)",
        "Computed from the depth pass in camera space, perspective-correct; the background (and, with "
        "--mask, what the mask leaves out) is flat (128, 128, 255).",
    )
    group.add_argument("--fov", type=_fov, default=BLENDER_DEFAULT_FOV, metavar="DEGREES",
                       help=f"the render camera's horizontal field of view (default {BLENDER_DEFAULT_FOV}: "
                       "Blender's default 50 mm camera)")
    group.add_argument("--depth-is", choices=DEPTH_KINDS, default="planar",
                       help="planar: depth along the view axis (Blender's Depth, Daz Iray's Depth canvas); "
                       "distance: along each pixel's ray (Iray's Distance canvas) (default planar)")
    group.add_argument("--normal-style", choices=STYLES, default="bae",
                       help="bae: ControlNet 1.1 normalbae (left = red, up = green, facing = blue); "
                       "midas: ControlNet 1.0 normal_midas's channel order (default bae)")
    group.add_argument("--camera-rotation", type=_number, nargs=3, metavar=("X", "Y", "Z"),
                       help="the camera's rotation in degrees as Blender's camera panel shows it: use the "
                       "render's own world-space Normal pass, turned into camera space, instead of the depth")


def add_sequence_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "animation sequences",
        "One mapping (range, histogram, compress table) for every frame: a depth that does not move keeps its "
        "level. FILE may be frames, a folder, a glob or a pattern (render_####.exr, render_%%04d.exr).",
    )
    group.add_argument("--sequence", action="store_true", help="treat the inputs as the frames of one animation")
    group.add_argument("--scan", type=Path, metavar="FILE",
                       help="write the levels summary of the frames to FILE (JSON, a few KiB) and no maps")
    group.add_argument("--levels", type=Path, action="append", metavar="FILE",
                       help="merge these summaries (repeatable) and convert the frames with that mapping; "
                       "with --scan: count the frames on the merged range (stage 2)")
    group.add_argument("--force", action="store_true", help="convert every frame again, even those up to date")
    group.add_argument("--video-out", type=Path, metavar="FILE",
                       help="also write the sequence's depth maps as one video (H.264, 8-bit, 3 channels, near = "
                       "white, one mapping for the whole clip), at the input video's frame rate or --fps")
    group.add_argument("--fps", type=float, default=None, help="the depth video's frame rate for frames given as "
                       "files (default 24; a video input keeps its own)")


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for image inputs (PNG/JPEG/WebP), which go through a depth model."""
    group = parser.add_argument_group(
        "images (PNG, JPEG, WebP) through a depth model",
        "Estimated depth is relative: --depth_cutoff and the histogram use 0 (nearest) .. 1 (farthest).",
    )
    defaults = ", ".join(f"{e.default_resolution} for {e.name}" for e in ALL_ESTIMATORS.values())
    group.add_argument("--model", choices=sorted(ALL_ESTIMATORS), default=DEFAULT_MODEL,
                       help=f"the depth model (default {DEFAULT_MODEL}; see the README's 'Which model')")
    group.add_argument("--resolution", type=_resolution, metavar="PX",
                       help=f"short side the network sees; the map keeps the image's size and shape (default "
                       f"{defaults}; Depth Anything rounds it to a multiple of 14)")
    group.add_argument("--bg-threshold", "--bg_threshold", type=_fraction, default=DEFAULT_BG_THRESHOLD, metavar="X",
                       help="normalised nearness below X is background: far level in the depth map, flat in "
                       "the normal map (default 0.1; 0 = ControlNet's depth_midas)")
    group.add_argument("-a", type=_number, default=DEFAULT_A, metavar="A",
                       help="z of the normal map, larger = flatter (default 2*pi, as ControlNet)")
    group.add_argument("--weights", metavar="PATH",
                       help="the model's weights file or its folder: dpt_hybrid-midas-501f0c75.pt, "
                       "depth_anything_v2_vit{s,b,l}.pth or .safetensors (default: search ControlNet's, Forge's "
                       "and the Hugging Face folders)")
    group.add_argument("--download", action="store_true",
                       help="download the weights if none are found: MiDaS (470 MiB), of Depth Anything V2 and Video "
                       "Depth Anything only Small (Apache-2.0; Base and Large are CC-BY-NC-4.0 and never downloaded)")
    group.add_argument("--device", metavar="DEV", help="auto (default: cuda, mps, else cpu), cpu, cuda, cuda:N, mps")
    group.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                       help="auto (default): fp16 on a GPU; on a CPU fp32 or bf16, whichever measures faster")


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--channel", metavar="NAME", help="EXR channel to read (default: Y, Z, *.Depth.Z, R, or the only one)"
    )
    io.add_argument("--view", metavar="NAME", help="the view of a multi-view (stereo) EXR (default: the first)")
    io.add_argument(
        "--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"refuse EXR and image files whose header claims more pixels than N, before decoding "
        f"(default {DEFAULT_MAX_PIXELS} = 2^28)",
    )
    io.add_argument("-o", "--output-dir", type=Path, metavar="DIR", help="write PNGs here instead of beside each input")
    io.add_argument("--json", action="store_true", help="print results (histogram, suggestions, outputs) as JSON")
    io.add_argument("-j", "--jobs", type=positive_int, default=1, metavar="N", help="files converted in parallel")
    io.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lib_depth",
        description="Turn float depth passes (OpenEXR renders from Daz Studio, Blender, ...) into "
        "8- or 16-bit depth maps for ControlNet, choosing where the levels go.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help=f"input files ({', '.join(SUFFIXES)}; any case)")
    add_level_arguments(parser)
    add_normal_arguments(parser)
    add_sequence_arguments(parser)
    add_image_arguments(parser)
    add_io_arguments(parser)
    return parser


def wants_histogram(args: argparse.Namespace) -> bool:
    """`--depth_cutoff histo`: print the histogram and leave the map as it is without a cutoff."""
    return args.depth_cutoff == HISTO


def depth_options(args: argparse.Namespace) -> DepthOptions:
    """The post-processing the arguments ask for (DepthError for a combination it refuses)."""
    return DepthOptions(
        cutoff=None if wants_histogram(args) else args.depth_cutoff,
        compress=args.compress_map,
        noise=args.noise,
        invert=args.invert,
        bits=args.bits,
        seed=args.seed,
        background_above=args.background_above,
    )


def exr_input(args: argparse.Namespace) -> ExrInput:
    """The EXR kind: channel, view and (`--normal`) how its normal map is made."""
    normals = None
    if args.normal:
        normals = NormalOptions(fov_degrees=args.fov, depth_is=args.depth_is, style=args.normal_style,
                                background_above=args.background_above)
    rotation = tuple(args.camera_rotation) if args.camera_rotation is not None else None
    return ExrInput(channel=args.channel, view=args.view, normals=normals, camera_rotation=rotation)


def image_input(args: argparse.Namespace) -> ImageInput:
    return ImageInput(model=args.model, resolution=args.resolution, bg_threshold=args.bg_threshold, a=args.a,
                      normal=args.normal, weights=args.weights, download=args.download, device=args.device,
                      precision=args.precision)


def input_for(path: Path, exr: ExrInput, image: ImageInput) -> InputKind:
    """The input kind that reads `path`, by its suffix (any case)."""
    suffix = path.suffix.lower()
    if suffix == EXR_SUFFIX:
        return exr
    if suffix in IMAGE_SUFFIXES:
        return image
    return Unsupported(expected=SUFFIXES)
