"""A loaded Video Depth Anything network and the streaming inference over it.

fp32 on every device, which is the official `infer_video_depth(..., fp32=True)` (its default
autocasts, which on a CPU means bfloat16). One window is on the device at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import load_video_network
from .config import VideoConfig
from .device_frames import device_preparer
from .frames import prepare_frame
from .stream import stream_depths


@dataclass(frozen=True, kw_only=True)
class VideoEstimator:
    """`depths(frames)`: a map per frame, streamed; built by `from_file`."""

    network: Any
    config: VideoConfig
    device: str = "cpu"

    @classmethod
    def from_file(cls, path: str | Path, *, device: str = "cpu", metric: bool | None = None) -> VideoEstimator:
        net, cfg = load_video_network(path, metric=metric)
        return cls(network=net.to(device), config=cfg, device=device)

    def estimate_window(self, window: Any, size: tuple[int, int]) -> list[np.ndarray]:
        """32 network inputs (numpy, or already on the device) -> 32 float32 maps at `size` (the
        official resize: bilinear, align_corners)."""
        import torch
        import torch.nn.functional as F

        inputs = torch.from_numpy(window) if isinstance(window, np.ndarray) else window
        with torch.inference_mode():
            depth = self.network(inputs.to(self.device)[None])
            depth = F.interpolate(depth.flatten(0, 1).unsqueeze(1).float(), size=size, mode="bilinear",
                                  align_corners=True)
            out = depth[:, 0].cpu().numpy()
        return list(out)

    def depths(self, frames: Iterable[np.ndarray], *, input_size: int = 518) -> Iterator[np.ndarray]:
        """HxW float32 per H x W x 3 uint8 RGB frame, in order: relative disparity (larger = nearer),
        or metric depth for a metric model. Frames are read lazily, a window ahead; off the CPU they
        are prepared on the device (`device_frames`), on the CPU by cv2 as the official code."""
        on_cpu = str(self.device).split(":")[0] == "cpu"
        prepare = prepare_frame if on_cpu else device_preparer(self.device)
        return stream_depths(self.estimate_window, frames, input_size=input_size, metric=self.config.metric,
                             prepare=prepare)
