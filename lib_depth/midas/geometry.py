"""Geometry: an image goes to the network at its own aspect ratio (never stretched) and comes back
at its own size. DPT-hybrid's fusion blocks upsample by 2 from 1/32 of the input, so the resized
image is edge-padded to multiples of 32 and the padding removed from the output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from ..depth.errors import DepthError, OptionsError

if TYPE_CHECKING:
    import torch

NETWORK_MULTIPLE = 32
MIN_RESOLUTION = 64
#: Longest side the network is fed (twice the largest preprocessor resolution): a 20000x20 strip at
#: resolution 512 would otherwise be a 512 x 512000 input (786 M values). Beyond it both sides
#: shrink in proportion (the aspect ratio is kept) and `NetworkShape.note` says so.
MAX_NETWORK_SIDE = 4096


@dataclass(frozen=True)
class NetworkShape:
    """How an HxW image is fed to the network: resized to `content`, padded to `padded`."""

    source: tuple[int, int]  # (h, w) of the input, which the output gets back
    content: tuple[int, int]  # (h, w) after resizing the short side to the resolution
    padded: tuple[int, int]  # (h, w) rounded up to multiples of 32 by edge replication
    wanted: tuple[int, int] | None = None  # (h, w) the resolution asked for, when the long-side cap cut it
    #: the model named in the note (a subclass per model)
    model: ClassVar[str] = "MiDaS"

    @property
    def note(self) -> str | None:
        """What the user should hear about the cap (None when the image was not capped)."""
        if self.wanted is None:
            return None
        (h, w), (wh, ww) = self.content, self.wanted
        return (f"very elongated image ({self.source[1]}x{self.source[0]}): the network input's long side is "
                f"capped at {MAX_NETWORK_SIDE} px, so {self.model} saw it at {w}x{h} instead of {ww}x{wh} "
                f"(resolution {min(wh, ww)}); the map is coarser across the short side")


def _sides(height: int, width: int, short: int) -> tuple[int, int]:
    scale = short / min(height, width)
    if height <= width:
        return short, max(1, round(width * scale))
    return max(1, round(height * scale)), short


def network_shape(height: int, width: int, resolution: int) -> NetworkShape:
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
    return NetworkShape((height, width), content, padded, wanted)  # type: ignore[arg-type]


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB from HxW, HxWx1, HxWx3 or HxWx4 (alpha over white, as ControlNet's HWC3)."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * np.uint8(255)
    elif image.dtype != np.uint8:
        raise DepthError(f"expected an image with uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DepthError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DepthError(f"the image is empty (shape {image.shape})")
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        image = image.clip(0, 255).astype(np.uint8)
    return image


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


def check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise OptionsError(f"resolution must be a whole number of pixels, got {resolution!r}")
    if resolution < MIN_RESOLUTION:
        raise OptionsError(f"resolution must be at least {MIN_RESOLUTION}, got {resolution}")
    return int(resolution)


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
