"""Geometry: an image goes to the network at its own aspect ratio (never stretched) and comes back
at its own size. DPT-hybrid's fusion blocks upsample by 2 from 1/32 of the input, so the resized
image is edge-padded to multiples of 32 and the padding removed from the output. What every network
shares (uint8 RGB, the resolution check, the long-side cap and its note) is `network_base.geometry`'s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from ..network_base.geometry import MAX_NETWORK_SIDE, MIN_RESOLUTION, NetworkShape, as_rgb8, check_resolution

if TYPE_CHECKING:
    import torch

NETWORK_MULTIPLE = 32

__all__ = ["MAX_NETWORK_SIDE", "MIN_RESOLUTION", "NETWORK_MULTIPLE", "MidasShape", "NetworkShape", "as_rgb8",
           "check_resolution", "network_shape", "prepare", "restore", "to_network_input"]


@dataclass(frozen=True)
class MidasShape(NetworkShape):
    """How an image is fed to MiDaS: resized to `content`, edge-padded to multiples of 32 (`padded`)."""

    model: ClassVar[str] = "MiDaS"


def _sides(height: int, width: int, short: int) -> tuple[int, int]:
    scale = short / min(height, width)
    if height <= width:
        return short, max(1, round(width * scale))
    return max(1, round(height * scale)), short


def network_shape(height: int, width: int, resolution: int) -> MidasShape:
    """Short side -> `resolution`, long side in proportion (at most MAX_NETWORK_SIDE: then both
    sides shrink in proportion), each padded up to a multiple of 32."""
    content = _sides(height, width, resolution)
    wanted = None
    if max(content) > MAX_NETWORK_SIDE:
        wanted = content
        scale = MAX_NETWORK_SIDE / max(height, width)
        if height >= width:
            content = (MAX_NETWORK_SIDE, max(1, round(width * scale)))
        else:
            content = (max(1, round(height * scale)), MAX_NETWORK_SIDE)
    padded = tuple(-(-side // NETWORK_MULTIPLE) * NETWORK_MULTIPLE for side in content)
    return MidasShape((height, width), content, padded, wanted)  # type: ignore[arg-type]


def prepare(image: np.ndarray, resolution: int) -> tuple[np.ndarray, NetworkShape]:
    """The padded uint8 network input for `image`, and the shapes to undo it with."""
    rgb = as_rgb8(image)
    shape = network_shape(rgb.shape[0], rgb.shape[1], resolution)
    (h, w), (ph, pw) = shape.content, shape.padded
    if (h, w) != rgb.shape[:2]:
        shrink = h < rgb.shape[0]
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    if (ph, pw) != (h, w):
        rgb = cv2.copyMakeBorder(rgb, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(rgb), shape


def to_network_input(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NxHxWx3 -> float NCHW in [-1, 1] on `device`, channels_last (the NHWC bytes as they are)."""
    import torch

    x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0).contiguous(memory_format=torch.channels_last)


def restore(nearness: torch.Tensor, shape: NetworkShape) -> np.ndarray:
    """Remove the padding and resize back to the input's own size (bicubic, as MiDaS does)."""
    import torch.nn.functional as F

    h, w = shape.content
    out = nearness[:h, :w]
    if shape.source != shape.content:
        out = F.interpolate(out[None, None], size=shape.source, mode="bicubic", align_corners=False)[0, 0]
    return np.ascontiguousarray(out.clamp_min(0).cpu().numpy(), dtype=np.float32)
