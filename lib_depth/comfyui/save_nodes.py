"""Save 16-bit PNG: what `python -m lib_depth` writes (gray 16-bit depth maps, RGB normal maps),
under ComfyUI's output naming, with previews. Each file is written atomically and Cancel is
honoured between frames: an interrupted batch leaves no half-written file."""

from __future__ import annotations

import torch

from ..depth.png import encode_png, write_bytes_atomic
from . import host
from .errors import one_line
from .tensors import image_to_levels


class SaveDepthPng:
    CATEGORY = "Depth Tools"
    FUNCTION = "save"
    RETURN_TYPES = ()
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"images": ("IMAGE",),
                             "filename_prefix": ("STRING", {"default": "depth-tools/depth"}),
                             "bits": (["16", "8"], {"tooltip": "16: the depth map's every level; "
                                                    "8: a normal map, or an 8-bit depth map"})}}

    @one_line
    def save(self, images: torch.Tensor, filename_prefix: str, bits: str) -> dict:
        frames = image_to_levels(images, int(bits))
        height, width = frames[0].shape[:2]
        folder, stem, counter, subfolder = host.save_target(filename_prefix, width, height)
        progress = host.Progress(len(frames))
        saved = []
        for number, frame in enumerate(frames, start=counter):
            progress.check()
            name = f"{stem}_{number:05}_.png"
            write_bytes_atomic(folder / name, encode_png(frame))
            saved.append({"filename": name, "subfolder": subfolder, "type": "output"})
            progress.step()
        return {"ui": {"images": saved}}
