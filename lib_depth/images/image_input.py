"""The image route: a picture (PNG/JPEG/WebP) -> a depth model -> depth (+ normal map).

`ImageInput` is the input kind of a `depth.pipeline.Job` for images, so images get the same output
naming, post-processing (cutoff, compress, noise, mask, bits) and error rules as EXR renders. The
model is named (`model`, a registry entry) and loaded once per process (`registry.get_estimator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..depth.errors import DepthError
from ..depth.pipeline import SourceDepth
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, nearness_to_depth, normal_map
from . import registry
from .decode import read_image_noted
from .registry import Estimator, ModelSettings
from .video_model import SINGLE_PICTURE

#: The fields of `ImageInput` that change the estimated depth (not the normal map's `a`, nor `download`).
DEPTH_FIELDS = ("model", "resolution", "bg_threshold", "weights", "device", "precision")


@dataclass(frozen=True, kw_only=True)
class ImageInput:
    """How an image becomes a depth: which model, at which resolution, from which weights, where."""

    model: str = registry.DEFAULT_MODEL
    resolution: int | None = None  # the short side the network sees; None: the model's default
    bg_threshold: float = DEFAULT_BG_THRESHOLD  # normalised nearness below it is background
    a: float = DEFAULT_A  # the normal map's z (larger = flatter)
    normal: bool = False  # also a `normal` image (ControlNet's normal_midas)
    weights: str | None = None  # a file or folder (None: searched)
    download: bool = False  # fetch the weights if none are found (models that allow it)
    device: str | None = None  # None: auto
    precision: str | None = None  # None: auto

    def __post_init__(self) -> None:
        model = registry.entry(self.model)  # OptionsError for an unknown one
        object.__setattr__(self, "model", model.name)
        if self.resolution is None:
            object.__setattr__(self, "resolution", model.default_resolution)

    def model_settings(self) -> ModelSettings:
        """Where the weights are and how to run them: the key of the per-process model cache."""
        return ModelSettings(weights=self.weights, allow_download=self.download, device=self.device,
                             precision=self.precision)

    def load(self, path: Path, *, max_pixels: int) -> SourceDepth:
        """Image file -> nearness -> depth (larger = farther, NaN = background) for `depth.process`."""
        if registry.entry(self.model).video:
            raise DepthError(SINGLE_PICTURE, path)
        image, notes = read_image_noted(path, max_pixels)
        estimator = registry.get_estimator(self.model, self.model_settings())
        return estimate_depth(image, estimator, self, notes)

    def fingerprint(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DEPTH_FIELDS}

    def extra_outputs(self) -> dict[str, Any]:
        return {"normal": {"a": self.a}} if self.normal else {}


def estimate_depth(
    image: np.ndarray, estimator: Estimator, settings: ImageInput, notes: tuple[str, ...] | list[str] = ()
) -> SourceDepth:
    """Image -> nearness -> depth (+ normal map): the command line's and the HTTP API's one path.
    `notes` (what reading the file had to say) come back with the estimator's own (a capped side)."""
    resolution = int(settings.resolution)  # type: ignore[arg-type]  # the model's default since __post_init__
    estimated = estimator.estimate(image, resolution)
    nearness = estimated.nearness
    depth = nearness_to_depth(nearness, settings.bg_threshold)
    extra_images = {}
    if settings.normal:
        extra_images["normal"] = normal_map(nearness, settings.a, settings.bg_threshold, resolution)
    return SourceDepth(depth=depth, extra_images=extra_images, notes=(*notes, *estimated.notes))
