"""MiDaS and Depth Anything V2 on IMAGE batches. The MiDaS node takes the inputs of the MiDaS node
ComfyUI users run today (comfyui_controlnet_aux's `MiDaS-DepthMapPreprocessor`: image, a,
bg_threshold, resolution, same ranges) but keeps the model loaded, keeps the input's aspect ratio
and size, and gives the nearness as our DEPTH socket too (cutoff, compress, 16 bit). A batch of
video frames is aligned frame to frame as the command line's image `--sequence` is."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch

from ..depth.process import DepthOptions
from ..images.align import Aligner
from ..images.registry import entry
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, nearness_to_depth, normal_map
from . import host
from .errors import one_line
from .exr_nodes import depth_maps
from .frames import DEPTH, DepthFrames
from .models import AUTO, estimator
from .tensors import image_to_rgb8, levels_to_image


def estimate_frames(model: str, weights: str, image: torch.Tensor, resolution: int, bg_threshold: float,
                    a: float | None) -> tuple[DepthFrames, list[np.ndarray]]:
    """Each frame through the model; one frame as one picture (`python -m lib_depth photo.png`),
    several aligned in disparity as `--sequence` frames. Normal maps (ControlNet's normal_midas)
    when `a` is given."""
    pictures = image_to_rgb8(image)
    progress = host.Progress(len(pictures))
    aligner = Aligner(bg_threshold=bg_threshold)
    depths, normals = [], []
    for picture in pictures:
        progress.check()
        nearness = estimator(model, weights).estimate(picture, int(resolution)).nearness
        if len(pictures) == 1:
            depths.append(nearness_to_depth(nearness, bg_threshold))
        else:
            depths.append(aligner.to_depth(aligner.add(nearness)[0]))
        if a is not None:
            normals.append(normal_map(nearness, a, bg_threshold, int(resolution)))
        progress.step()
    labels = tuple(f"frame {i}" for i in range(len(depths)))
    frames = DepthFrames(depths=tuple(depths), labels=labels, seed_offsets=tuple(range(len(depths))), channel=None,
                         sequence=len(depths) > 1)
    return frames, normals


def map_image(frames: DepthFrames) -> torch.Tensor:
    """The 16-bit maps of `--bits 16` (one mapping for a sequence) as one IMAGE batch."""
    maps = depth_maps(frames, DepthOptions(bits=16), host.Progress(len(frames.depths)))
    return levels_to_image([m.levels for m in maps])


def _weights_choice() -> tuple:
    return ([AUTO, *host.model_files()], {"tooltip": "auto: searched in models/depth_tools and "
                                          "comfyui_controlnet_aux's ckpts; a file here is used as it is"})


class MidasDepth:
    CATEGORY = "Depth Tools"
    FUNCTION = "estimate"
    RETURN_TYPES = ("IMAGE", DEPTH, "IMAGE")
    RETURN_NAMES = ("depth_map", "depth", "normal_map")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"image": ("IMAGE",)},
                "optional": {"a": ("FLOAT", {"default": DEFAULT_A, "min": 0.0, "max": math.pi * 5.0, "step": 0.05}),
                             "bg_threshold": ("FLOAT", {"default": DEFAULT_BG_THRESHOLD, "min": 0, "max": 1,
                                                        "step": 0.05}),
                             "resolution": ("INT", {"default": 512, "min": 64, "max": 16384, "step": 64}),
                             "weights": _weights_choice()}}

    @one_line
    def estimate(self, image: torch.Tensor, a: float = DEFAULT_A, bg_threshold: float = DEFAULT_BG_THRESHOLD,
                 resolution: int = 512, weights: str = AUTO) -> tuple:
        frames, normals = estimate_frames("midas", weights, image, resolution, bg_threshold, a)
        return map_image(frames), frames, levels_to_image(normals)


class PatchModelNode(ABC):
    """A model on 14-pixel patches (Depth Anything V2, Video Depth Anything): an IMAGE batch in, the
    16-bit maps of `--bits 16` and the DEPTH socket out; a subclass names its model, weights and
    how its frames are estimated."""

    CATEGORY = "Depth Tools"
    FUNCTION = "estimate"
    RETURN_TYPES = ("IMAGE", DEPTH)
    RETURN_NAMES = ("depth_map", "depth")
    MODEL = "depth-anything-v2"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        spec = entry(cls.MODEL)
        return {"required": {"image": ("IMAGE",)},
                "optional": {"bg_threshold": ("FLOAT", {"default": DEFAULT_BG_THRESHOLD, "min": 0, "max": 1,
                                                        "step": 0.05}),
                             "resolution": ("INT", {"default": spec.default_resolution, "min": spec.resolution_step,
                                                    "max": 16380, "step": spec.resolution_step}),
                             "weights": cls.weights_choice()}}

    @classmethod
    def weights_choice(cls) -> tuple:
        return _weights_choice()

    @abstractmethod
    def frames(self, image: torch.Tensor, bg_threshold: float, resolution: int, weights: str) -> DepthFrames:
        """The batch's depths, as the command line estimates these frames."""

    @one_line
    def estimate(self, image: torch.Tensor, bg_threshold: float = DEFAULT_BG_THRESHOLD, resolution: int = 518,
                 weights: str = AUTO) -> tuple:
        frames = self.frames(image, bg_threshold, resolution, weights)
        return map_image(frames), frames


class DepthAnythingV2(PatchModelNode):
    def frames(self, image: torch.Tensor, bg_threshold: float, resolution: int, weights: str) -> DepthFrames:
        return estimate_frames(self.MODEL, weights, image, resolution, bg_threshold, None)[0]
