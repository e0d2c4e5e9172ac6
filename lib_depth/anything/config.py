"""The shape of a Depth Anything V2 network (`network_base.dinov2_dpt_layout`, read from a weights file's
tensors, never from its name), with what users call each size and its licence."""

from __future__ import annotations

from dataclasses import dataclass

from ..network_base.dinov2_dpt_layout import ENCODERS, HEAD_DIM, PATCH_SIZE, DinoDptConfig, LayoutError

__all__ = ["ENCODERS", "HEAD_DIM", "LABELS", "PATCH_SIZE", "AnythingConfig", "LayoutError"]

#: encoder -> what users call it, and its licence (the reference's README)
LABELS = {
    "vits": ("Depth Anything V2 Small (ViT-S, 24.8M parameters)", "Apache-2.0"),
    "vitb": ("Depth Anything V2 Base (ViT-B, 97.5M parameters)", "CC-BY-NC-4.0"),
    "vitl": ("Depth Anything V2 Large (ViT-L, 335.3M parameters)", "CC-BY-NC-4.0"),
}


@dataclass(frozen=True, kw_only=True)
class AnythingConfig(DinoDptConfig):
    """Everything needed to build the network; `from_state_dict` reads it from a checkpoint."""

    @property
    def label(self) -> str:
        return LABELS.get(self.encoder, (f"Depth Anything V2 ({self.encoder})", ""))[0]

    @property
    def licence(self) -> str:
        """The published weights' licence for this size (empty for test networks)."""
        return LABELS.get(self.encoder, ("", ""))[1]
