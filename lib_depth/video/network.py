"""Video Depth Anything in plain torch: the official `VideoDepthAnything` (`video_depth.py`), its
`DPTHeadTemporal` (`dpt_temporal.py`) and AnimateDiff-style motion modules (`motion_module/`),
module for module under the official key names (`pretrained.*`, `head.*`), so the published state
dicts load strictly.

The encoder and the head's convolutions are Depth Anything V2's (`lib_depth.network_base.dinov2_dpt`): the
official code builds the same `DINOv2` and `DPTHead`. What is added is temporal attention: at each
of four places in the head, every spatial position attends over the window's frames.

Attention: without xformers the official `TemporalAttention` takes `CrossAttention._attention`
(`baddbmm(q, k^T) * dim_head**-0.5`, softmax, `bmm` with v); with xformers,
`memory_efficient_attention`: both are softmax(q k^T / sqrt(d)) v, which is what
`scaled_dot_product_attention` computes here (no mask, no dropout), up to float rounding.

Memory: the encoder and the head's full-resolution end run four frames at a time (the official head
does so for its last stages, `micro_batch_size=4`); per-frame work, so the results do not change.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..network_base.dinov2_dpt import dinov2_dpt_classes
from .config import MOTION_HEADS, VideoConfig

if TYPE_CHECKING:
    import torch

MICRO_BATCH = 4


@functools.cache
def _attention_class() -> type:
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Attention(nn.Module):
        """motion_module.py TemporalAttention ('ape': a sinusoidal table `pe`, stored in the checkpoint)."""

        def __init__(self, dim: int, positions: int) -> None:
            super().__init__()
            self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
            self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
            self.pos_encoder = nn.Module()
            self.pos_encoder.register_buffer("pe", torch.zeros(1, positions, dim))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """x: (positions, frames, channels) -> the same shape."""
            n, f, c = x.shape
            x = x + self.pos_encoder.pe[:, :f].to(x.dtype)
            q, k, v = (p(x).reshape(n, f, MOTION_HEADS, c // MOTION_HEADS).transpose(1, 2)
                       for p in (self.to_q, self.to_k, self.to_v))
            out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, f, c)
            return self.to_out[0](out)

    return Attention


@functools.cache
def _motion_classes() -> SimpleNamespace:
    import torch.nn.functional as F
    from torch import nn

    Attention = _attention_class()

    class Block(nn.Module):
        """motion_module.py TemporalTransformerBlock: two pre-norm attentions, a GEGLU feed-forward."""

        def __init__(self, dim: int, positions: int) -> None:
            super().__init__()
            self.attention_blocks = nn.ModuleList(Attention(dim, positions) for _ in range(2))
            self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(2))
            geglu = nn.Module()
            geglu.proj = nn.Linear(dim, dim * 8)
            self.ff = nn.Module()
            self.ff.net = nn.ModuleList([geglu, nn.Dropout(0.0), nn.Linear(dim * 4, dim)])
            self.ff_norm = nn.LayerNorm(dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
                x = attention(norm(x)) + x
            hidden, gate = self.ff.net[0].proj(self.ff_norm(x)).chunk(2, dim=-1)
            return self.ff.net[2](hidden * F.gelu(gate)) + x

    class MotionModule(nn.Module):
        """motion_module.py TemporalModule -> TemporalTransformer3DModel (one block), residual."""

        def __init__(self, dim: int, positions: int) -> None:
            super().__init__()
            t = self.temporal_transformer = nn.Module()
            t.norm = nn.GroupNorm(num_groups=32, num_channels=dim, eps=1e-6, affine=True)
            t.proj_in, t.proj_out = nn.Linear(dim, dim), nn.Linear(dim, dim)
            t.transformer_blocks = nn.ModuleList([Block(dim, positions)])

        def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
            """x: (batch * frames, C, H, W), frames consecutive per batch item."""
            t, (bf, c, h, w) = self.temporal_transformer, x.shape
            y = t.proj_in(t.norm(x).permute(0, 2, 3, 1).reshape(bf, h * w, c))
            y = y.reshape(bf // frames, frames, h * w, c).transpose(1, 2).reshape(-1, frames, c)
            y = t.transformer_blocks[0](y)
            y = y.reshape(bf // frames, h * w, frames, c).transpose(1, 2).reshape(bf, h * w, c)
            return t.proj_out(y).reshape(bf, h, w, c).permute(0, 3, 1, 2) + x

    return SimpleNamespace(MotionModule=MotionModule)


@functools.cache
def video_classes() -> SimpleNamespace:
    """`VideoDepthAnything(cfg)`: float B x T x 3 x H x W -> B x T x H x W relative disparity."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    v2, MotionModule = dinov2_dpt_classes(), _motion_classes().MotionModule

    class TemporalHead(v2.Head):
        """dpt_temporal.py DPTHeadTemporal: DPTHead with motion modules after reassembly stages 3 and 4
        and after fusion stages 4 and 3."""

        def __init__(self, cfg: VideoConfig) -> None:
            super().__init__(cfg.anything)
            out, feat = cfg.anything.out_channels, cfg.anything.features
            self.motion_modules = nn.ModuleList(MotionModule(c, cfg.positions) for c in (out[2], out[3], feat, feat))

        def forward(self, tokens: list[torch.Tensor], rows: int, cols: int, frames: int) -> torch.Tensor:
            s, mm = self.scratch, self.motion_modules
            layers = [self.resize_layers[i](self.projects[i](x.permute(0, 2, 1).reshape(x.shape[0], -1, rows, cols)))
                      for i, x in enumerate(tokens)]
            layers[2], layers[3] = mm[0](layers[2], frames), mm[1](layers[3], frames)
            rn = [getattr(s, f"layer{i + 1}_rn")(x) for i, x in enumerate(layers)]
            path = mm[2](s.refinenet4(rn[3], size=rn[2].shape[2:]), frames)
            path = mm[3](s.refinenet3(path, rn[2], size=rn[1].shape[2:]), frames)
            return torch.cat([self._finish(path[i:i + MICRO_BATCH], rn[1][i:i + MICRO_BATCH],
                                           rn[0][i:i + MICRO_BATCH], rows, cols)
                              for i in range(0, path.shape[0], MICRO_BATCH)])

        def _finish(self, path: torch.Tensor, rn2: torch.Tensor, rn1: torch.Tensor, rows: int,
                    cols: int) -> torch.Tensor:
            s = self.scratch
            path = s.refinenet1(s.refinenet2(path, rn2, size=rn1.shape[2:]), rn1)
            out = F.interpolate(s.output_conv1(path), (rows * self.patch, cols * self.patch), mode="bilinear",
                                align_corners=True)
            return s.output_conv2(out.float())

    class VideoDepthAnything(nn.Module):
        def __init__(self, cfg: VideoConfig) -> None:
            super().__init__()
            self.config = cfg
            self.pretrained = v2.Encoder(cfg.anything)
            self.head = TemporalHead(cfg)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, _, h, w = x.shape
            flat, layers = x.flatten(0, 1), self.config.anything.layers
            chunks = [self.pretrained(flat[i:i + MICRO_BATCH], layers) for i in range(0, flat.shape[0], MICRO_BATCH)]
            tokens = [torch.cat(parts) for parts in zip(*chunks, strict=True)]
            patch = self.config.anything.patch_size
            depth = self.head(tokens, h // patch, w // patch, t)
            depth = F.relu(F.interpolate(depth, size=(h, w), mode="bilinear", align_corners=True))
            return depth.squeeze(1).unflatten(0, (b, t))

    return SimpleNamespace(VideoDepthAnything=VideoDepthAnything)


def build(cfg: VideoConfig) -> Any:
    """An uninitialised network of shape `cfg`, eval mode."""
    return video_classes().VideoDepthAnything(cfg).eval()
