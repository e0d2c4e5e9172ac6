"""Depth Anything V2 in plain torch: the reference's `DepthAnythingV2` (`depth_anything_v2/dpt.py`), the
DINOv2 encoder under `pretrained.*` and the DPT head under `depth_head.*`, so that the official state
dicts load strictly under their own key names. The encoder and head are `network_base.dinov2_dpt`'s
(Video Depth Anything builds on the same two; that module says why they are not timm's).

torch is imported on first use: the classes are made by `network_classes()`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ..network_base.dinov2_dpt import dinov2_dpt_classes
from .config import AnythingConfig

if TYPE_CHECKING:
    import torch

@functools.cache
def network_classes() -> SimpleNamespace:
    """`DepthAnythingV2(cfg)`: float N x 3 x H x W (sides multiples of 14, ImageNet-normalised) ->
    N x H x W relative disparity (larger = nearer), as the reference's `DepthAnythingV2.forward`."""
    import torch.nn.functional as F
    from torch import nn

    base = dinov2_dpt_classes()

    class DepthAnythingV2(nn.Module):
        def __init__(self, cfg: AnythingConfig) -> None:
            super().__init__()
            self.config = cfg
            self.pretrained = base.Encoder(cfg)
            self.depth_head = base.Head(cfg)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows, cols = x.shape[-2] // self.config.patch_size, x.shape[-1] // self.config.patch_size
            depth = self.depth_head(self.pretrained(x, self.config.layers), rows, cols)
            return F.relu(depth).squeeze(1)

    return SimpleNamespace(DepthAnythingV2=DepthAnythingV2, Head=base.Head, Encoder=base.Encoder)


def build(cfg: AnythingConfig) -> torch.nn.Module:
    """An uninitialised (zeros/ones) network of shape `cfg` on the current default device, eval mode."""
    return network_classes().DepthAnythingV2(cfg).eval()
