"""Video Depth Anything on an IMAGE batch (the frames of a clip): the command line's
`--model video-depth-anything --sequence FRAMES --bits 16` maps, consistent over the clip.

The network sees the whole batch in its own 32-frame windows and joins them itself, so the maps are
normalised once, in frame 0's units (`video_model.aligned_stream`, as the command line's stream),
and the DEPTH output is a sequence: *Depth to ControlNet map* then applies one mapping to every frame
(cutoff, compress, 16 bit) instead of stretching each frame to its own range.

A batch of one frame runs too, as `--sequence` does with one frame (the window is that frame
repeated, as the official code pads a short clip): the batch is always this node's sequence, so
refusing a length the command line accepts would only make a short clip fail. For a photo the
Depth Anything V2 node is the better choice (one picture, no window of copies to estimate).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..images import video_model
from ..images.align import Aligner
from . import host
from .frames import DepthFrames
from .model_nodes import PatchModelNode
from .models import AUTO, VIDEO_MODEL, video_estimator
from .tensors import image_to_rgb8


def video_frames(weights: str, image: torch.Tensor, resolution: int, bg_threshold: float) -> DepthFrames:
    """Every frame through the network in one stream, in frame 0's normalised units, as depth
    (NaN below `bg_threshold`: the command line's stored depths). Cancel is honoured before each
    frame goes in and after each map comes out."""
    progress = host.Progress(int(image.shape[0]))
    network = video_estimator(weights)

    def pictures() -> Iterator[np.ndarray]:
        for index in range(int(image.shape[0])):
            progress.check()
            yield image_to_rgb8(image[index:index + 1])[0]  # one frame at a time: memory as the command line

    to_depth = Aligner(bg_threshold=bg_threshold).to_depth
    depths = []
    for nearness in video_model.aligned_stream(network.depths(pictures(), input_size=int(resolution))):
        depths.append(to_depth(nearness))
        progress.step()
    return DepthFrames(depths=tuple(depths), labels=tuple(f"frame {i}" for i in range(len(depths))),
                       seed_offsets=tuple(range(len(depths))), channel=None, sequence=True)


class VideoDepthAnything(PatchModelNode):
    """The frames of a clip -> consistent 16-bit depth maps and our DEPTH socket (one sequence)."""

    MODEL = VIDEO_MODEL

    @classmethod
    def weights_choice(cls) -> tuple:
        return ([AUTO, *host.model_files(host.VIDEO_MODELS_FOLDER)],
                {"tooltip": "auto: video_depth_anything_vits/vitb/vitl.pth searched in "
                            "models/video_depth_anything, models/videodepthanything and models/depth_tools; "
                            "a file here is used as it is"})

    def frames(self, image: torch.Tensor, bg_threshold: float, resolution: int, weights: str) -> DepthFrames:
        return video_frames(weights, image, resolution, bg_threshold)
