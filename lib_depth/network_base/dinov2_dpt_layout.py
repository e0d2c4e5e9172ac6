"""The shape of a DINOv2 encoder + DPT head network in Depth Anything V2's layout, read from a weights
file's tensors (never from its name): Depth Anything V2 (`anything.config`) and Video Depth Anything
(`video.config`, its head renamed) both carry it.

The published checkpoints differ only in their DINOv2 encoder (ViT-S, ViT-B, ViT-L) and the DPT
head's widths. Everything but two facts is in the tensors' shapes: the attention head count (DINOv2
uses 64 channels per head at every size) and which encoder blocks feed the head (the reference's
`intermediate_layer_idx`, fixed per encoder). Those two are looked up from the encoder the shapes
identify. No torch here: shapes are plain tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..depth.errors import DepthError

PATCH_SIZE = 14
HEAD_DIM = 64  # DINOv2: channels per attention head, at every size

#: encoder -> (embedding width, blocks, blocks feeding the head), as the reference's dpt.py and dinov2.py
ENCODERS: dict[str, tuple[int, int, tuple[int, int, int, int]]] = {
    "vits": (384, 12, (2, 5, 8, 11)),
    "vitb": (768, 12, (2, 5, 8, 11)),
    "vitl": (1024, 24, (4, 11, 17, 23)),
}


class LayoutError(DepthError):
    """The tensors are not a Depth Anything V2 ViT-S/B/L state dict; the message says what differs."""


C = TypeVar("C", bound="DinoDptConfig")


@dataclass(frozen=True, kw_only=True)
class DinoDptConfig:
    """Everything needed to build the encoder and head; `from_state_dict` reads it from a checkpoint."""

    encoder: str  # vits | vitb | vitl (or "custom" for test networks built directly)
    embed_dim: int
    depth: int  # encoder blocks
    heads: int
    layers: tuple[int, ...]  # blocks whose (normalised) tokens feed the head, in order
    features: int  # DPT fusion width
    out_channels: tuple[int, int, int, int]  # DPT reassemble widths
    pos_grid: int = 37  # the position embedding's side (518 / 14)
    patch_size: int = PATCH_SIZE

    @classmethod
    def reference(cls: type[C], encoder: str) -> C:
        """The reference's `model_configs[encoder]` (run.py), for building test networks."""
        heads = {"vits": (64, (48, 96, 192, 384)), "vitb": (128, (96, 192, 384, 768)),
                 "vitl": (256, (256, 512, 1024, 1024))}
        width, depth, layers = ENCODERS[encoder]
        features, out_channels = heads[encoder]
        return cls(encoder=encoder, embed_dim=width, depth=depth, heads=width // HEAD_DIM, layers=layers,
                   features=features, out_channels=out_channels)

    @classmethod
    def from_state_dict(cls: type[C], state: Mapping[str, Any]) -> C:
        """The encoder and head widths the tensors' shapes say; LayoutError when they fit none."""
        shape = _shapes(state)
        if "pretrained.cls_token" not in shape or "depth_head.scratch.layer1_rn.weight" not in shape:
            hint = _hint(shape)
            raise LayoutError(f"these are not Depth Anything V2 weights (no pretrained.cls_token or depth_head "
                              f"tensors{hint})")
        width = shape["pretrained.cls_token"][-1]
        blocks = {int(k.split(".")[2]) for k in shape if k.startswith("pretrained.blocks.")}
        depth = max(blocks) + 1 if blocks else 0
        encoder = next((name for name, (w, d, _) in ENCODERS.items() if (w, d) == (width, depth)), None)
        if encoder is None:
            raise LayoutError(f"a DINOv2 encoder {width} wide with {depth} blocks is not ViT-S (384, 12), ViT-B "
                              f"(768, 12) or ViT-L (1024, 24): only those are supported")
        if any(k.startswith("depth_head.readout_projects") for k in shape):
            raise LayoutError("this head reads the class token (use_clstoken), which no published V2 model does")
        tokens = shape["pretrained.pos_embed"][1] - 1 if "pretrained.pos_embed" in shape else -1
        grid = round(tokens ** 0.5) if tokens > 0 else 0
        if grid * grid != tokens:
            raise LayoutError(f"the position embedding has {tokens} patch positions, not a square grid")
        out = tuple(shape.get(f"depth_head.projects.{i}.weight", (0,))[0] for i in range(4))
        return cls(encoder=encoder, embed_dim=width, depth=depth, heads=width // HEAD_DIM, layers=ENCODERS[encoder][2],
                   features=shape["depth_head.scratch.layer1_rn.weight"][0], out_channels=out,  # type: ignore[arg-type]
                   pos_grid=grid, patch_size=shape.get("pretrained.patch_embed.proj.weight", (0, 0, 0, 14))[-1])


def _shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for key, value in state.items():
        shape = getattr(value, "shape", None)
        if isinstance(key, str) and shape is not None:
            shapes[key] = tuple(int(s) for s in shape)
    return shapes


def _hint(shape: Mapping[str, tuple[int, ...]]) -> str:
    """Name the layouts people confuse with the official one."""
    keys = list(shape)
    if any(k.startswith("backbone.embeddings.") for k in keys):
        return "; this is the Hugging Face transformers layout (model.safetensors of a *-hf repository): use the " \
               "official depth_anything_v2_vit*.pth instead"
    if any(k.startswith(("pretrained.model.", "scratch.")) for k in keys):
        return "; this looks like a MiDaS/DPT checkpoint"
    return f"; its first key is {keys[0]!r}" if keys else "; it holds no tensors"
