"""A network's input made and its output resized back ON THE DEVICE, for estimators not on the CPU.

On a GPU the CPU's cv2 resize and numpy normalisation cost more than the network itself (H200, Depth
Anything V2 ViT-L fp16: 34.3 ms a warm call against 17.5 ms bare). Here the picture travels to the
device as uint8 (a third of float32's bytes; from pinned memory, `non_blocking`, so the copy of the
next group overlaps the work queued before it), and is resized and normalised there in one batch.

The CPU keeps its cv2 path (its maps stay bit-identical); this path follows it as closely as torch
allows, and tests/test_device_io.py measures the difference on CPU tensors:

- `cv2.INTER_CUBIC` (up or down, no antialias) is torch's `bicubic`, `align_corners=False`: both use
  Keys' kernel with A = -0.75 and replicate the border; only float rounding differs.
- `cv2.INTER_AREA` (MiDaS when shrinking) is an exact pixel-area average. torch's `area` mode is
  not (it is `adaptive_avg_pool2d`, whose windows are whole source pixels: up to 35 levels off at
  non-integer ratios), so `area_resize` builds cv2's weights (the overlap of each source pixel with
  an output pixel's footprint) as two matrices and applies them with two matmuls.
- MiDaS resizes uint8 (cv2 rounds and saturates): the device path rounds and clamps the same way.
- Depth Anything V2 resizes float64 on the CPU; the device path is float32 (~1e-7 relative).

Pure torch functions; the estimator passes its geometry (`Recipe`) in, so this module knows no network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .batching import batches

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How one network's input is made and its output restored (the CPU path's choices, for torch)."""

    shape: Callable[[int, int, int], Any]  # (height, width, resolution) -> shape with source/content/padded
    shrink: str  # torch mode when the content is smaller than the picture: "area" or "bicubic"
    mean: tuple[float, float, float]  # of x / 255
    std: tuple[float, float, float]
    quantise: bool = False  # round and clamp to 0..255 after resizing (cv2 on uint8 does)
    back: str = "bicubic"  # the output's resize to the picture's size
    align_corners: bool = False
    channels_last: bool = False


def upload(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 H x W x 3 onto `device` without waiting: pinned host memory, `non_blocking`."""
    import torch

    host = torch.from_numpy(np.ascontiguousarray(image))
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True)


def resize_input(frames: torch.Tensor, shape: Any, recipe: Recipe) -> torch.Tensor:
    """uint8 N x H x W x 3 on the device -> float32 N x 3 x ph x pw, resized, edge-padded, normalised."""
    import torch
    import torch.nn.functional as F

    x = frames.permute(0, 3, 1, 2).float()
    (h, w), (ph, pw) = shape.content, shape.padded
    if (h, w) != tuple(x.shape[-2:]):
        if recipe.shrink == "area" and h < x.shape[-2]:
            x = area_resize(x, (h, w))
        else:
            x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
        if recipe.quantise:
            x = x.round_().clamp_(0, 255)
    if (ph, pw) != (h, w):
        x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
    mean = torch.tensor(recipe.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(recipe.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if recipe.channels_last else x.contiguous()


def area_weights(source: int, target: int, device: Any) -> torch.Tensor:
    """target x source: how much of each source pixel falls in each target pixel's footprint, / scale."""
    import torch

    scale = source / target
    lo = torch.arange(target, dtype=torch.float64, device=device)[:, None] * scale
    left = torch.arange(source, dtype=torch.float64, device=device)[None, :]
    overlap = (torch.minimum(lo + scale, left + 1) - torch.maximum(lo, left)).clamp_min(0)
    return (overlap / scale).float()


def area_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """cv2.INTER_AREA for shrinking N x C x H x W float: rows then columns, each a weighted sum."""
    rows = area_weights(x.shape[-2], size[0], x.device)
    cols = area_weights(x.shape[-1], size[1], x.device)
    return rows @ x @ cols.T


def resize_output(output: torch.Tensor, shape: Any, recipe: Recipe) -> torch.Tensor:
    """N x h x w network output -> float32 N x H x W at the picture's size (padding removed), >= 0."""
    import torch.nn.functional as F

    h, w = shape.content
    out = output[:, :h, :w].float()
    if tuple(shape.source) != (h, w):
        kwargs = {} if recipe.back == "area" else {"align_corners": recipe.align_corners}
        out = F.interpolate(out[:, None], size=tuple(shape.source), mode=recipe.back, **kwargs)[:, 0]
    return out.clamp_min(0)


def estimate_batch(estimator: Any, images: Sequence[np.ndarray], resolution: int,
                   as_rgb8: Callable[[np.ndarray], np.ndarray]) -> list[tuple[np.ndarray, Any]]:
    """(nearness, shape) per image: pictures of one size and shape share a resize and a forward pass;
    every upload is queued before the first forward so the copies overlap the compute."""
    import torch

    recipe: Recipe = estimator.device_recipe
    rgbs = [as_rgb8(image) for image in images]
    shapes = [recipe.shape(rgb.shape[0], rgb.shape[1], resolution) for rgb in rgbs]
    results: list[Any] = [None] * len(rgbs)
    uploaded = [upload(rgb, estimator.device) for rgb in rgbs]
    for chunk in batches([(shape.source, shape.padded) for shape in shapes], estimator.max_batch):
        shape = shapes[chunk[0]]
        x = resize_input(torch.stack([uploaded[i] for i in chunk]), shape, recipe)
        maps = resize_output(estimator.forward(x), shape, recipe).cpu().numpy()
        for row, i in enumerate(chunk):
            results[i] = (np.ascontiguousarray(maps[row], dtype=np.float32), shapes[i])
    return results

