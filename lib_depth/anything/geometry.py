"""The reference's preprocessing and output resize (`depth_anything_v2/dpt.py` `image2tensor`,
`infer_image`; `util/transform.py`), so that our maps are the reference's:

- size: `Resize(resolution, resolution, keep_aspect_ratio=True, ensure_multiple_of=14,
  resize_method="lower_bound")`: the short side becomes `resolution` rounded to a multiple of 14
  (never below it), the long side keeps the aspect ratio, rounded to a multiple of 14;
- pixels: RGB / 255, `cv2.INTER_CUBIC` to that size (downscaling too), ImageNet mean and std;
- output: bilinear with `align_corners=True` back to the picture's own size (ControlNet's copy uses
  `align_corners=False`; the reference's `infer_image` is followed here).

The long side is capped like every network's (`network_base.geometry.MAX_NETWORK_SIDE`), with the same note;
the sizing to multiples of the patch is `network_base.geometry.patch_shape`, which Video Depth Anything shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from ..network_base.geometry import NetworkShape, as_rgb8, check_resolution, lower_bound_size, patch_shape
from ..network_base.geometry import constrain_to_multiple_of as base_constrain
from .config import PATCH_SIZE

if TYPE_CHECKING:
    import torch

DEFAULT_RESOLUTION = 518
MEAN = np.array([0.485, 0.456, 0.406])  # float64, as the reference's lists broadcast
STD = np.array([0.229, 0.224, 0.225])


@dataclass(frozen=True)
class AnythingShape(NetworkShape):
    """How an image is fed to Depth Anything: resized to `content` (sides multiples of 14); no padding."""

    model: ClassVar[str] = "Depth Anything"


def constrain_to_multiple_of(x: float, min_val: int = 0, max_val: int | None = None) -> int:
    """transform.py's `Resize.constrain_to_multiple_of` for the patch size (14)."""
    return base_constrain(x, PATCH_SIZE, min_val, max_val)


def reference_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(h, w) of transform.py's `Resize.get_size` for `Resize(resolution, resolution, lower_bound, ...)`."""
    return lower_bound_size(height, width, resolution, PATCH_SIZE)


def network_shape(height: int, width: int, resolution: int = DEFAULT_RESOLUTION) -> AnythingShape:
    """The reference's size; beyond MAX_NETWORK_SIDE both sides shrink in proportion (multiples of 14)."""
    return patch_shape(height, width, resolution, PATCH_SIZE, AnythingShape)


def prepare(image: np.ndarray, resolution: int = DEFAULT_RESOLUTION) -> tuple[np.ndarray, AnythingShape]:
    """float32 3 x H x W network input for an RGB(A)/gray uint8 `image`, and the shapes to undo it with.

    float64 like the reference (RGB / 255 with numpy's default type): resizing in float32 would
    move normalised values by up to ~1e-4. Normalised a plane at a time, with the reference's
    operations in its order: the same bits as `(x - MEAN) / STD` on the HxWx3 array, in a third of
    the time (that broadcast over the last axis was most of this function, and on a GPU most of a
    ViT-S call).
    """
    rgb = as_rgb8(image)
    shape = network_shape(rgb.shape[0], rgb.shape[1], resolution)
    h, w = shape.content
    x = rgb / 255.0
    if (h, w) != rgb.shape[:2]:
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)
    out = np.empty((3, h, w), np.float32)
    for channel in range(3):
        plane = x[..., channel] - MEAN[channel]
        plane /= STD[channel]
        out[channel] = plane
    return out, shape


def check(resolution: int) -> int:
    """A whole number of pixels, at least the minimum every network shares (64)."""
    return check_resolution(resolution)


def restore(disparity: torch.Tensor, shape: AnythingShape) -> np.ndarray:
    """The network's H x W output back at the picture's own size: bilinear, align_corners=True (infer_image)."""
    import torch.nn.functional as F

    out = disparity
    if tuple(out.shape[-2:]) != shape.source:
        out = F.interpolate(out[None, None], size=shape.source, mode="bilinear", align_corners=True)[0, 0]
    return np.ascontiguousarray(out.float().clamp_min(0).cpu().numpy(), dtype=np.float32)
