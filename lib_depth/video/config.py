"""The shape of a Video Depth Anything network, read from a weights file's tensors (never its name).

The official checkpoints (`video_depth_anything_vit{s,b,l}.pth`, `metric_video_depth_anything_vit*.pth`)
hold Depth Anything V2's DINOv2 encoder under `pretrained.*` and its DPT head under `head.*` (not
`depth_head.*`) plus four temporal motion modules, `head.motion_modules.{0..3}`. The encoder and
head widths are therefore Depth Anything V2's, read by `DinoDptConfig.from_state_dict` from the
same tensors under the V2 names; the motion modules' widths follow from those widths (the official
`DPTHeadTemporal`: 8 heads, one transformer block of two attention blocks, 32 frame positions).
Whether a file is the metric model is not in its tensors (same layout): the official `run.py`
tells them apart by the file name only, and so do we.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..depth.errors import DepthError
from ..network_base.dinov2_dpt_layout import DinoDptConfig

MOTION_MODULES = 4
MOTION_HEADS = 8  # dpt_temporal.py: num_attention_heads
WINDOW_POSITIONS = 32  # dpt_temporal.py: temporal_max_len = num_frames
METRIC_PREFIX = "metric_"

#: encoder -> what users call it, and the published weights' licence (the official README)
LABELS = {
    "vits": ("Video Depth Anything Small (ViT-S, 28.4M parameters)", "Apache-2.0"),
    "vitb": ("Video Depth Anything Base (ViT-B, 113.1M parameters)", "CC-BY-NC-4.0"),
    "vitl": ("Video Depth Anything Large (ViT-L, 381.8M parameters)", "CC-BY-NC-4.0"),
}


class VideoLayoutError(DepthError):
    """The tensors are not a Video Depth Anything state dict; the message says what differs."""


@dataclass(frozen=True, kw_only=True)
class VideoConfig:
    """The encoder and DPT head (Depth Anything V2's shape) and whether the alignment is metric."""

    anything: DinoDptConfig  # Depth Anything V2's encoder and head widths
    metric: bool = False  # metric depth: windows are joined without a scale and shift (video_depth.py)
    positions: int = WINDOW_POSITIONS

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], *, metric: bool = False) -> VideoConfig:
        keys = [k for k in state if isinstance(k, str)]
        motion = [k for k in keys if k.startswith("head.motion_modules.")]
        if not motion:
            image_model = any(k.startswith("depth_head.") for k in keys)
            hint = " (this is a Depth Anything V2 image model)" if image_model else ""
            raise VideoLayoutError(f"these are not Video Depth Anything weights: no head.motion_modules tensors{hint}")
        modules = {int(k.split(".")[2]) for k in motion}
        if modules != set(range(MOTION_MODULES)):
            raise VideoLayoutError(f"the head has motion modules {sorted(modules)}, not 0-3")
        as_v2 = {("depth_head." + k[5:] if k.startswith("head.") else k): v
                 for k, v in state.items() if k not in motion}
        try:
            anything = DinoDptConfig.from_state_dict(as_v2)
        except DepthError as exc:
            raise VideoLayoutError(str(exc).replace("Depth Anything V2", "Video Depth Anything")) from None
        pe = state.get(f"head.motion_modules.0.{_FIRST_ATTENTION}.pos_encoder.pe")
        positions = int(pe.shape[1]) if pe is not None and len(pe.shape) == 3 else WINDOW_POSITIONS
        return cls(anything=anything, metric=metric, positions=positions)

    @property
    def encoder(self) -> str:
        return self.anything.encoder

    @property
    def label(self) -> str:
        return LABELS.get(self.encoder, (f"Video Depth Anything ({self.encoder})", ""))[0]

    @property
    def licence(self) -> str:
        return LABELS.get(self.encoder, ("", ""))[1]


_FIRST_ATTENTION = "temporal_transformer.transformer_blocks.0.attention_blocks.0"


def is_metric_name(path: str | Path) -> bool:
    """run.py's naming: `metric_video_depth_anything_<encoder>.pth` is the metric model."""
    return Path(path).name.lower().startswith(METRIC_PREFIX)
