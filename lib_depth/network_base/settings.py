"""Where a network's weights are and how to run it: the settings every network's estimator takes,
normalised once (so that equal choices are equal keys of the per-process estimator cache).

A network's own settings subclass `NetworkSettings` (Depth Anything V2 adds the encoder size);
`midas.settings.MidasSettings` is this class under MiDaS's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..depth.errors import OptionsError

PRECISIONS = ("fp32", "fp16", "bf16")
PRECISION_ALIASES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}


@dataclass(frozen=True)
class NetworkSettings:
    """Where the weights are and how to run them; hashable, the key of the per-process cache."""

    weights: str | None = None  # explicit file or folder: trusted, not hashed
    search_dirs: tuple[str, ...] = ()  # extra folders, in priority order (the WebUI's, from the host adapter)
    allow_download: bool = False
    device: str | None = None  # None = auto: cuda > mps > cpu
    precision: str | None = None  # None = auto: fp16 on GPU, fp32 or bf16 on CPU (measured)
    models_dir: str | None = None  # this extension's folder (searched first, downloads go there)
    download_url: str | None = None  # None = the network's published copy

    def __post_init__(self) -> None:
        set_ = object.__setattr__.__get__(self)  # frozen: normalise in place once
        if self.weights is not None:
            set_("weights", str(self.weights) or None)
        if isinstance(self.search_dirs, (str, Path)):
            set_("search_dirs", (self.search_dirs,))
        set_("search_dirs", tuple(str(d) for d in self.search_dirs if str(d)))
        if self.models_dir is not None:
            set_("models_dir", str(self.models_dir))
        device = (self.device or "").strip().lower()
        set_("device", None if device in ("", "auto") else device)
        precision = (self.precision or "").strip().lower()
        precision = PRECISION_ALIASES.get(precision, precision)
        if precision not in ("", "auto", *PRECISIONS):
            raise OptionsError(f"unknown precision {self.precision!r}; use auto, fp32, fp16 or bf16")
        set_("precision", None if precision in ("", "auto") else precision)
