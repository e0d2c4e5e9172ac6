"""Where the Depth Anything V2 weights are and how to run them: the key of the per-process cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..depth.errors import OptionsError
from ..network_base.settings import NetworkSettings
from .weights import ENCODERS, candidates, explicit_file

_ALIASES = {"s": "vits", "small": "vits", "b": "vitb", "base": "vitb", "l": "vitl", "large": "vitl"}


@dataclass(frozen=True, kw_only=True)
class AnythingSettings:
    """`NetworkSettings`' fields plus the encoder size wanted, all keyword-only; hashable, the key of the
    per-process cache. (Not a subclass: the base's fields may be given by position, these may not.)"""

    weights: str | None = None  # explicit file or folder: trusted, not hashed
    search_dirs: tuple[str, ...] = ()  # extra folders, in priority order
    allow_download: bool = False  # only ViT-S (Apache-2.0) is ever downloaded
    device: str | None = None  # None = auto: cuda > mps > cpu
    precision: str | None = None  # None = auto: fp16 on GPU, fp32 or bf16 on CPU (measured)
    models_dir: str | None = None  # this extension's folder for these weights (searched first, downloads go there)
    download_url: str | None = None  # None = Hugging Face (depth-anything/Depth-Anything-V2-Small)
    encoder: str | None = None  # vits | vitb | vitl; None = the largest found (ViT-S when downloading)

    def __post_init__(self) -> None:
        set_ = object.__setattr__.__get__(self)  # frozen: normalise in place once
        # weights, folders, device and precision are normalised (and checked) as every network's
        common = NetworkSettings(weights=self.weights, search_dirs=self.search_dirs, device=self.device,
                               precision=self.precision, models_dir=self.models_dir)
        for name in ("weights", "search_dirs", "device", "precision", "models_dir"):
            set_(name, getattr(common, name))
        encoder = (self.encoder or "").strip().lower()
        encoder = _ALIASES.get(encoder, encoder)
        if encoder not in ("", "auto", *ENCODERS):
            raise OptionsError(f"unknown Depth Anything V2 size {self.encoder!r}; use vits, vitb, vitl or auto")
        set_("encoder", None if encoder in ("", "auto") else encoder)


def find_weights(settings: AnythingSettings | None = None) -> Path | None:
    """The file that would be loaded (explicit, else the first copy found), without hashing it."""
    settings = settings or AnythingSettings()
    if settings.weights:
        return explicit_file(settings.weights, settings.encoder)
    found = candidates(settings.search_dirs, settings.models_dir, settings.encoder)
    return found[0] if found else None
