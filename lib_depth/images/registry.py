"""The depth estimators an image can go through: one entry each, looked up by name.

An entry says what a user needs to choose a model (label, licence, default resolution) and how
its weights are found and its network is loaded; everything above (the image route, sequences, the
command line, the tab, the API) asks the registry, never a model's package. Adding a model is one
module (its network and weights) and one entry here. One model is held per process: loading one
releases the others (a GPU holds one network at a time, and a WebUI's VRAM is for Stable Diffusion).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import anything
from ..depth.errors import OptionsError
from ..midas import estimator as midas_estimator
from ..midas.maps import DEFAULT_RESOLUTION as MIDAS_RESOLUTION
from ..midas.settings import MidasSettings, find_weights

#: Where a model's weights are and how to run it: the same fields for every model (the name is
#: historical: MiDaS was the first).
ModelSettings = MidasSettings


class Estimation(Protocol):
    nearness: np.ndarray  # float32 HxW, relative, larger = nearer, at the input's own size

    @property
    def notes(self) -> tuple[str, ...]: ...


class Estimator(Protocol):
    """What the image route needs of a loaded model (`midas.MidasEstimator` is one)."""

    device: Any
    precision: str
    weights: Path

    def estimate(self, image: np.ndarray, resolution: int) -> Estimation: ...


@dataclass(frozen=True, kw_only=True)
class EstimatorEntry:
    """One model: what the user sees, and how its weights are found, verified, loaded and freed."""

    name: str  # what `--model`, the API's `model` field and the settings say
    label: str
    licence: str
    default_resolution: int
    #: The file that would be loaded (None: none found), without loading or hashing it.
    find_weights: Callable[[ModelSettings], Path | None]
    #: The per-process estimator for these settings: found, verified and loaded on first use.
    load: Callable[[ModelSettings], Estimator]
    #: The estimator already loaded for these settings, if any (never loads).
    loaded: Callable[[ModelSettings], Estimator | None]
    #: Drop every estimator of this model held by the process (`free`: its memory too).
    release: Callable[[bool], None]


def anything_settings(settings: ModelSettings) -> anything.AnythingSettings:
    """The same choices for Depth Anything V2 (its own folder: MiDaS's `models_dir` and download
    address are MiDaS's; the largest encoder found is used, ViT-S when downloading)."""
    return anything.AnythingSettings(weights=settings.weights, search_dirs=settings.search_dirs,
                                     allow_download=settings.allow_download, device=settings.device,
                                     precision=settings.precision)


ESTIMATORS: dict[str, EstimatorEntry] = {
    "midas": EstimatorEntry(
        name="midas", label="MiDaS DPT-hybrid", licence="MIT", default_resolution=MIDAS_RESOLUTION,
        find_weights=find_weights, load=midas_estimator.get_estimator, loaded=midas_estimator.loaded_estimator,
        release=midas_estimator.release_estimators,
    ),
    "depth-anything-v2": EstimatorEntry(
        name="depth-anything-v2", label="Depth Anything V2",
        licence="ViT-S: Apache-2.0 (downloadable); ViT-B, ViT-L: CC-BY-NC-4.0 (used when found, never downloaded)",
        default_resolution=anything.DEFAULT_RESOLUTION,
        find_weights=lambda s: anything.find_weights(anything_settings(s)),
        load=lambda s: anything.get_estimator(anything_settings(s)),
        loaded=lambda s: anything.loaded_estimator(anything_settings(s)),
        release=anything.release_estimators,
    ),
}
DEFAULT_MODEL = "midas"


def entry(name: str) -> EstimatorEntry:
    """The registry entry of `name`; OptionsError naming the known ones for anything else."""
    found = ESTIMATORS.get(str(name).strip().lower())
    if found is None:
        raise OptionsError(f"unknown depth model {name!r}; choose one of {', '.join(sorted(ESTIMATORS))}")
    return found


def get_estimator(name: str, settings: ModelSettings) -> Estimator:
    """The loaded model `name` for `settings`, after releasing every other model of the process."""
    chosen = entry(name)
    for other in ESTIMATORS.values():
        if other.name != chosen.name:
            other.release(True)  # a no-op for a model that holds nothing
    return chosen.load(settings)


def release_all(free: bool = False) -> None:
    """Every model of the process off the GPU (`free`: forgotten entirely), as a host's memory
    settings ask after a generation or an API call."""
    for known in ESTIMATORS.values():
        known.release(free)
