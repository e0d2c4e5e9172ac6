"""The EXR nodes: load a render (or a sequence), its histogram advice, the ControlNet depth map and
the render's exact normal map. Each is a few lines over `lib_depth.depth`: the processing is the
command line's own functions, so the nodes give its bytes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..depth.chart import TITLE, draw_histogram
from ..depth.errors import DepthError
from ..depth.normals import BLENDER_DEFAULT_FOV, DEPTH_KINDS, STYLES, NormalOptions, normal_image
from ..depth.pipeline import ExrInput, unmapped_pixels
from ..depth.process import DepthMap, DepthOptions, histogram, make_depth_map, scan_depth
from ..depth.sequence import Mapping, SequenceJob, map_frame, summarise_depths
from . import host
from .errors import one_line
from .frames import DEPTH, DepthFrames, Frame, frames_of, load_frames
from .tensors import levels_to_image, masks_to_tensor

CATEGORY = "Depth Tools"
CUTOFF = ("FLOAT", {"default": 0.0, "min": -1e9, "max": 1e9, "step": 0.01,
                    "tooltip": "used when use_cutoff is on: depths beyond it become the far level"})


class LoadExrDepth:
    """A render from the input folder (upload as LoadImage), or `path` on the server: a file, a
    folder, a glob or a `####` pattern of frames (one sequence: one mapping for all)."""

    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (DEPTH, "INT", "STRING")
    RETURN_NAMES = ("depth", "frames", "channel")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        files = ["", *host.input_exr_files()]  # "": none, `path` names the frames
        return {"required": {"exr": (files, {"image_upload": True}),
                             "path": ("STRING", {"default": "", "tooltip": "a server file, folder or "
                                                 "frame pattern (render_####.exr); overrides exr"}),
                             "channel": ("STRING", {"default": "", "tooltip": "empty: found automatically"}),
                             "view": ("STRING", {"default": "", "tooltip": "of a multi-view file; empty: the first"})}}

    @classmethod
    def IS_CHANGED(cls, exr: str, path: str, channel: str, view: str) -> str:
        """Files changed on disk load again (ComfyUI otherwise caches on the inputs alone)."""
        try:
            frames, _ = _frames(exr, path)
            return ";".join(f"{f.path}:{f.path.stat().st_mtime_ns}:{f.path.stat().st_size}" for f in frames)
        except Exception:  # reported by `load`, with its one-line message
            return f"{exr}|{path}"

    @one_line
    def load(self, exr: str, path: str, channel: str, view: str) -> tuple:
        frames, sequence = _frames(exr, path)
        kind = ExrInput(channel=channel.strip() or None, view=view.strip() or None)
        loaded = load_frames(frames, kind, sequence, host.Progress(len(frames)))
        return loaded, len(loaded.depths), loaded.channel or ""


def _frames(exr: str, path: str) -> tuple[list[Frame], bool]:
    if path.strip():  # a relative path is under ComfyUI's input folder, so a shipped workflow finds its frames
        return frames_of(path if Path(path.strip()).expanduser().is_absolute() else str(host.input_file(path.strip())))
    if not exr:
        raise DepthError("choose an EXR file of the input folder, or name a path on the server")
    return [Frame(host.input_file(exr), None, 0)], False


def _options(use_cutoff: bool, cutoff: float, **rest: object) -> DepthOptions:
    return DepthOptions(cutoff=float(cutoff) if use_cutoff else None, bits=16, **rest)  # type: ignore[arg-type]


def depth_maps(depth: DepthFrames, options: DepthOptions, progress: host.Progress) -> list[DepthMap]:
    """One render as `python -m lib_depth FILE`; frames as `--sequence` (one shared mapping, the
    noise seed plus each frame's number)."""
    if not depth.sequence:
        scan = scan_depth(depth.depths[0], options.background_above, depth.labels[0])
        return [make_depth_map(depth.depths[0], options, path=depth.labels[0], scan=scan)]
    job = SequenceJob(options=options, input=ExrInput(channel=depth.channel))
    summary, scans = summarise_depths(list(depth.depths), depth.channel, job)
    mapping = Mapping.of(summary, job)
    maps = []
    for frame, scan, offset, label in zip(depth.depths, scans, depth.seed_offsets, depth.labels, strict=True):
        progress.check()
        maps.append(map_frame(frame, scan.valid, replace(options, seed=options.seed + offset), mapping, label))
        progress.step()
    return maps


class DepthToMap:
    """Cutoff, compress, invert, noise: the ControlNet depth map (16-bit levels in a float IMAGE,
    near = white) and the mask (1.0 where nearer than the far level)."""

    CATEGORY = CATEGORY
    FUNCTION = "convert"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("depth_map", "mask")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"depth": (DEPTH,), "use_cutoff": ("BOOLEAN", {"default": False}), "cutoff": CUTOFF,
                             "compress": ("BOOLEAN", {"default": False}), "invert": ("BOOLEAN", {"default": False}),
                             "noise": ("BOOLEAN", {"default": False}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1})}}

    @one_line
    def convert(self, depth: DepthFrames, use_cutoff: bool, cutoff: float, compress: bool, invert: bool,
                noise: bool, seed: int) -> tuple:
        options = _options(use_cutoff, cutoff, compress=compress, invert=invert, noise=noise, seed=seed)
        maps = depth_maps(depth, options, host.Progress(len(depth.depths)))
        return levels_to_image([m.levels for m in maps]), masks_to_tensor([~m.background for m in maps])


class DepthHistogram:
    """The 20-bucket advice of `--depth_cutoff histo` (of every frame together for a sequence), its
    first suggested cutoff, to wire into the map's cutoff (the farthest depth when none), and the
    chart the WebUI tab draws (suggestions as amber lines) as an IMAGE."""

    CATEGORY = CATEGORY
    FUNCTION = "advise"
    RETURN_TYPES = ("STRING", "FLOAT", "IMAGE")
    RETURN_NAMES = ("advice", "suggested_cutoff", "chart")
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"depth": (DEPTH,)}}

    @one_line
    def advise(self, depth: DepthFrames) -> dict:
        if depth.sequence:
            summary, _ = summarise_depths(list(depth.depths), depth.channel, SequenceJob(), want_table=True)
            summary.check(None, need_table=True)
            hist = summary.histogram()
        else:
            hist = histogram(depth.depths[0], path=depth.labels[0])
        lines = hist.lines()
        suggested = hist.suggestions[0] if hist.suggestions else float(hist.edges[-1])
        lines.append("suggested cutoffs: " + (", ".join(f"{s:g}" for s in hist.suggestions) or "none"))
        text = "\n".join(lines)
        chart = levels_to_image([draw_histogram(hist, title=TITLE)])
        return {"ui": {"text": [text]}, "result": (text, float(suggested), chart)}


class NormalFromRender:
    """The render's exact normal map (ControlNet normalbae colours by default), as `--normal`: flat
    where `mask` is 0 when one is wired (the map's mask: `--normal --mask`), else on the background
    and beyond the cutoff."""

    CATEGORY = CATEGORY
    FUNCTION = "normals"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("normal_map",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"depth": (DEPTH,),
                             "fov": ("FLOAT", {"default": BLENDER_DEFAULT_FOV, "min": 0.1, "max": 179.9, "step": 0.1,
                                               "tooltip": "the camera's horizontal field of view, degrees"}),
                             "depth_is": (list(DEPTH_KINDS),), "style": (list(STYLES),),
                             "use_cutoff": ("BOOLEAN", {"default": False}), "cutoff": CUTOFF},
                "optional": {"mask": ("MASK",)}}

    @one_line
    def normals(self, depth: DepthFrames, fov: float, depth_is: str, style: str, use_cutoff: bool, cutoff: float,
                mask: torch.Tensor | None = None) -> tuple:
        options = NormalOptions(fov_degrees=float(fov), depth_is=depth_is, style=style)
        progress = host.Progress(len(depth.depths))
        images = []
        for index, (frame, label) in enumerate(zip(depth.depths, depth.labels, strict=True)):
            progress.check()
            images.append(normal_image(frame, options, _flat(frame, label, mask, index, use_cutoff, cutoff)))
            progress.step()
        return (levels_to_image(images),)


def _flat(depth: np.ndarray, label: str, mask: torch.Tensor | None, index: int, use_cutoff: bool,
          cutoff: float) -> np.ndarray:
    if mask is not None:
        frame = mask[min(index, mask.shape[0] - 1)].detach().cpu().numpy()
        if frame.shape != depth.shape:
            raise ValueError(f"the mask ({frame.shape[1]} x {frame.shape[0]}) and the depth "
                             f"({depth.shape[1]} x {depth.shape[0]}) differ in size")
        return frame < 0.5
    scan = scan_depth(depth, path=label, allow_empty=True)
    return unmapped_pixels(depth, scan, float(cutoff) if use_cutoff else None)
