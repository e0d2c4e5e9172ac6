"""The DINOv2 ViT encoder and the DPT head of Depth Anything V2's reference (`DepthAnything/Depth-Anything-V2`,
`depth_anything_v2/{dinov2,dpt}.py`) in plain torch, module for module, so that the official state dicts
load strictly under their own key names. Depth Anything V2 (`anything.network`: encoder + head) and Video
Depth Anything (`video.network`: the same encoder, a temporal head built on this head) share them.

Why not timm's DINOv2: the hosts have timm 0.9.5 (A1111 + ControlNet) and 1.0.x (Forge), which
differ in position-embedding interpolation (0.9.5 has no `dynamic_img_size`) and in key names;
the reference interpolates with DINOv2's own `+ 0.1` offset and `scale_factor` form, which none of
them reproduces. A hundred lines of torch behave the same everywhere and need no new package.

torch is imported on first use: the classes are made by `dinov2_dpt_classes()`.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .dinov2_dpt_layout import DinoDptConfig

if TYPE_CHECKING:
    import torch

#: DINOv2's work-around offset for the position embedding's interpolation (dinov2.py, `interpolate_offset`)
POS_OFFSET = 0.1


def interpolate_pos_embed(pos_embed: torch.Tensor, height: int, width: int, patch: int, dtype: Any) -> torch.Tensor:
    """The reference's `DinoVisionTransformer.interpolate_pos_encoding` for an input of height x width pixels.

    Bicubic with `scale_factor = (side + 0.1) / sqrt(N)` (not `size=`): torch then maps coordinates
    with that factor, which shifts every sample slightly; the output must be bit-for-bit the
    reference's, so the same form is used. The square input of the trained size skips it, as there.
    """
    import torch
    import torch.nn.functional as F

    positions = pos_embed.shape[1] - 1
    rows, cols = height // patch, width // patch
    if rows * cols == positions and height == width:
        return pos_embed.to(dtype)
    embed = pos_embed.float()
    dim = embed.shape[-1]
    side = math.sqrt(positions)
    grid = embed[:, 1:].reshape(1, int(side), int(side), dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((rows + POS_OFFSET) / side, (cols + POS_OFFSET) / side),
                         mode="bicubic", antialias=False)
    assert grid.shape[-2:] == (rows, cols), (grid.shape, rows, cols)
    grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
    return torch.cat((embed[:, :1], grid), dim=1).to(dtype)


def _sub(**children: Any) -> Any:
    """A plain nn.Module holding `children`: the reference's attribute names, hence its state-dict keys."""
    from torch import nn

    module = nn.Module()
    for name, child in children.items():
        module.add_module(name, child)
    return module


@functools.cache
def _block_class() -> type:
    import torch
    import torch.nn.functional as F
    from torch import nn

    def layer_scale(dim: int) -> nn.Module:
        module = nn.Module()
        module.gamma = nn.Parameter(torch.ones(dim))
        return module

    class Block(nn.Module):
        """dinov2_layers/block.py in eval mode: pre-norm attention and MLP, each scaled by LayerScale."""

        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = _sub(qkv=nn.Linear(dim, 3 * dim), proj=nn.Linear(dim, dim))
            self.ls1 = layer_scale(dim)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = _sub(fc1=nn.Linear(dim, 4 * dim), fc2=nn.Linear(4 * dim, dim))
            self.ls2 = layer_scale(dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, n, c = x.shape
            qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, n, c)
            x = x + self.attn.proj(att) * self.ls1.gamma
            return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x)))) * self.ls2.gamma

    return Block


@functools.cache
def _encoder_class() -> type:
    import torch
    from torch import nn

    Block = _block_class()

    class Encoder(nn.Module):
        """dinov2.py's DinoVisionTransformer (no registers, no block chunks), for `get_intermediate_layers`."""

        def __init__(self, cfg: DinoDptConfig) -> None:
            super().__init__()
            dim, self.patch = cfg.embed_dim, cfg.patch_size
            self.patch_embed = _sub(proj=nn.Conv2d(3, dim, kernel_size=cfg.patch_size, stride=cfg.patch_size))
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.pos_grid**2 + 1, dim))
            self.mask_token = nn.Parameter(torch.zeros(1, dim))  # training only; in the state dict
            self.blocks = nn.ModuleList(Block(dim, cfg.heads) for _ in range(cfg.depth))
            self.norm = nn.LayerNorm(dim, eps=1e-6)

        def forward(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
            """The normalised patch tokens (class token dropped) after each block in `layers`."""
            height, width = x.shape[-2:]
            tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
            tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens), dim=1)
            tokens = tokens + interpolate_pos_embed(self.pos_embed, height, width, self.patch, tokens.dtype)
            taken = []
            for index, block in enumerate(self.blocks):
                tokens = block(tokens)
                if index in layers:
                    taken.append(self.norm(tokens)[:, 1:])
            return taken

    return Encoder


@functools.cache
def _head_classes() -> SimpleNamespace:
    import torch.nn.functional as F
    from torch import nn

    sub = _sub

    def conv3(channels: int) -> nn.Module:
        return nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=True)

    def unit(x: torch.Tensor, rcu: nn.Module) -> torch.Tensor:
        """util/blocks.py ResidualConvUnit without batch norm: relu, conv, relu, conv, plus x."""
        return rcu.conv2(F.relu(rcu.conv1(F.relu(x)))) + x

    class Fusion(nn.Module):
        """util/blocks.py FeatureFusionBlock (no deconv, no bn, no expand, align_corners=True)."""

        def __init__(self, features: int) -> None:
            super().__init__()
            self.out_conv = nn.Conv2d(features, features, kernel_size=1, stride=1, padding=0, bias=True)
            self.resConfUnit1 = sub(conv1=conv3(features), conv2=conv3(features))
            self.resConfUnit2 = sub(conv1=conv3(features), conv2=conv3(features))

        def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, size: Any = None) -> torch.Tensor:
            if skip is not None:
                x = x + unit(skip, self.resConfUnit1)
            x = unit(x, self.resConfUnit2)
            scale = {"scale_factor": 2} if size is None else {"size": size}
            return self.out_conv(F.interpolate(x, **scale, mode="bilinear", align_corners=True))

    return SimpleNamespace(Fusion=Fusion)


@functools.cache
def dinov2_dpt_classes() -> SimpleNamespace:
    """`Encoder(cfg)`: float N x 3 x H x W (sides multiples of the patch, ImageNet-normalised), blocks
    -> their normalised patch tokens; `Head(cfg)`: those tokens -> N x 1 x H x W relative disparity."""
    import torch.nn.functional as F
    from torch import nn

    Fusion, sub = _head_classes().Fusion, _sub

    class Head(nn.Module):
        """dpt.py's DPTHead (use_bn=False, use_clstoken=False)."""

        def __init__(self, cfg: DinoDptConfig) -> None:
            super().__init__()
            dim, feat, out = cfg.embed_dim, cfg.features, cfg.out_channels
            self.patch = cfg.patch_size
            self.projects = nn.ModuleList(nn.Conv2d(dim, c, kernel_size=1) for c in out)
            self.resize_layers = nn.ModuleList([
                nn.ConvTranspose2d(out[0], out[0], kernel_size=4, stride=4), nn.ConvTranspose2d(out[1], out[1], 2, 2),
                nn.Identity(), nn.Conv2d(out[3], out[3], kernel_size=3, stride=2, padding=1)])
            rn = {f"layer{i + 1}_rn": nn.Conv2d(c, feat, 3, padding=1, bias=False) for i, c in enumerate(out)}
            self.scratch = sub(**rn, **{f"refinenet{i}": Fusion(feat) for i in range(1, 5)})
            self.scratch.output_conv1 = nn.Conv2d(feat, feat // 2, kernel_size=3, stride=1, padding=1)
            self.scratch.output_conv2 = nn.Sequential(
                nn.Conv2d(feat // 2, 32, kernel_size=3, stride=1, padding=1), nn.ReLU(True),
                nn.Conv2d(32, 1, kernel_size=1, stride=1, padding=0), nn.ReLU(True), nn.Identity())

        def forward(self, tokens: list[torch.Tensor], rows: int, cols: int) -> torch.Tensor:
            s = self.scratch
            maps = []
            for i, x in enumerate(tokens):
                x = x.permute(0, 2, 1).reshape(x.shape[0], x.shape[-1], rows, cols)
                maps.append(getattr(s, f"layer{i + 1}_rn")(self.resize_layers[i](self.projects[i](x))))
            path = s.refinenet4(maps[3], size=maps[2].shape[2:])
            path = s.refinenet3(path, maps[2], size=maps[1].shape[2:])
            path = s.refinenet2(path, maps[1], size=maps[0].shape[2:])
            path = s.refinenet1(path, maps[0])
            out = F.interpolate(s.output_conv1(path), (rows * self.patch, cols * self.patch), mode="bilinear",
                                align_corners=True)
            return s.output_conv2(out)

    return SimpleNamespace(Head=Head, Encoder=_encoder_class())
