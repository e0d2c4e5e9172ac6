"""numpy <-> ComfyUI's tensors: IMAGE is float32 [B,H,W,C] in 0..1, MASK float32 [B,H,W].

A 16-bit map goes through IMAGE as level / 65535 (float32 holds every level exactly), so a save
node gets back the very levels the map node made."""

from __future__ import annotations

import numpy as np
import torch

from ..depth.errors import DepthError


def levels_to_image(levels: list[np.ndarray]) -> torch.Tensor:
    """uint8/uint16 HxW (gray) or HxWx3 (RGB) frames -> one IMAGE batch of 3 channels."""
    frames = []
    for level in levels:
        top = float(np.iinfo(level.dtype).max)
        image = level.astype(np.float32) / np.float32(top)
        frames.append(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image)
    return torch.from_numpy(np.stack(frames))


def masks_to_tensor(masks: list[np.ndarray]) -> torch.Tensor:
    """bool HxW frames (True = subject) -> MASK batch, 1.0 on the subject (the mask PNG's white)."""
    return torch.from_numpy(np.stack(masks).astype(np.float32))


def image_to_levels(image: torch.Tensor, bits: int) -> list[np.ndarray]:
    """IMAGE batch -> uint16 (bits 16) or uint8 frames: gray HxW where the three channels agree
    (a depth map, what the command line writes), else RGB."""
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise DepthError(f"expected an IMAGE batch [B,H,W,C], got shape {tuple(image.shape)}")
    top = (1 << bits) - 1
    dtype = np.uint16 if bits == 16 else np.uint8
    out = []
    for frame in image.detach().cpu().float().numpy():
        rgb = frame[..., :3] if frame.shape[-1] >= 3 else np.repeat(frame, 3, axis=2)
        levels = np.rint(np.clip(rgb, 0.0, 1.0) * np.float32(top)).astype(dtype)
        gray = bool((levels[..., 0] == levels[..., 1]).all() and (levels[..., 0] == levels[..., 2]).all())
        out.append(np.ascontiguousarray(levels[..., 0]) if gray else levels)
    return out


def image_to_rgb8(image: torch.Tensor) -> list[np.ndarray]:
    """IMAGE batch -> uint8 HxWx3 frames, rounded (an 8-bit picture loaded by LoadImage comes back
    exactly: v / 255 * 255 can fall a hair below v, which truncation would turn into v - 1)."""
    frames = np.rint(np.clip(image.detach().cpu().float().numpy()[..., :3] * 255.0, 0, 255))
    return [np.ascontiguousarray(f.astype(np.uint8)) for f in frames]
