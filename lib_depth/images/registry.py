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
from ..depth.errors import DepthError, OptionsError
from ..midas import estimator as midas_estimator
from ..midas import weights as midas_weights
from ..midas.maps import DEFAULT_RESOLUTION as MIDAS_RESOLUTION
from ..midas.settings import MidasSettings, find_weights
from ..network_base.weights import ProgressFn
from . import video_model

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


#: (bytes done, bytes total or None): a weights download's progress, as both models report it.
DownloadProgress = ProgressFn


@dataclass(frozen=True, kw_only=True)
class EstimatorEntry:
    """One model: what the user sees, and how its weights are found, verified, loaded and freed."""

    name: str  # what `--model`, the API's `model` field and the settings say
    label: str
    licence: str
    default_resolution: int
    #: What a resolution control steps by: sizes the network takes as they are (Depth Anything V2:
    #: multiples of its 14-pixel patches; MiDaS: 64, as ControlNet's slider).
    resolution_step: int
    #: The file that would be loaded (None: none found), without loading or hashing it.
    find_weights: Callable[[ModelSettings], Path | None]
    #: (what the file is, its licence), read from the file itself (a model whose sizes have different
    #: licences reads its size from the tensors); DepthError when it is no such weights.
    describe: Callable[[Path], tuple[str, str]]
    #: Why no file is there to load: every place searched and how to get one (what loading would say).
    not_found: Callable[[ModelSettings], str]
    #: The per-process estimator for these settings: found, verified and loaded (or downloaded, with
    #: its progress) on first use.
    load: Callable[[ModelSettings, DownloadProgress | None], Estimator]
    #: The estimator already loaded for these settings, if any (never loads).
    loaded: Callable[[ModelSettings], Estimator | None]
    #: Drop every estimator of this model held by the process (`free`: its memory too).
    release: Callable[[bool], None]
    #: A video network: it estimates whole sequences (windows of frames), never one picture alone.
    video: bool = False


@dataclass(frozen=True, kw_only=True)
class WeightsReport:
    """Which weights a model would use, and under which licence, before anything is loaded: what a
    user choosing a model needs to know (the tab shows it beside the choice)."""

    model: str
    path: Path | None  # None: no file found
    what: str  # what the file is (e.g. its encoder size), or the model's label when none is found
    licence: str  # the found file's own licence; the model's (all its sizes) when none is found
    problem: str = ""  # why none is usable: not found (where searched, how to get it), or unreadable
    download: bool = False  # none found, and the settings allow downloading one on first use


def anything_settings(settings: ModelSettings) -> anything.AnythingSettings:
    """The same choices for Depth Anything V2 (its own folder: MiDaS's `models_dir` and download
    address are MiDaS's; the largest encoder found is used, ViT-S when downloading)."""
    return anything.AnythingSettings(weights=settings.weights, search_dirs=settings.search_dirs,
                                     allow_download=settings.allow_download, device=settings.device,
                                     precision=settings.precision)


def _midas_missing(settings: ModelSettings) -> str:
    return midas_weights.not_found_message(settings.search_dirs, settings.models_dir, settings.allow_download,
                                           settings.download_url)


def _anything_file(path: Path) -> tuple[str, str]:
    """The size and licence the file's tensors say (ViT-S is Apache-2.0, ViT-B/L CC-BY-NC-4.0)."""
    config = anything.read_config(path)
    return config.label, config.licence


def _anything_missing(settings: ModelSettings) -> str:
    chosen = anything_settings(settings)
    return str(anything.not_found(chosen.encoder, chosen.search_dirs, chosen.models_dir, chosen.allow_download))


ESTIMATORS: dict[str, EstimatorEntry] = {
    "midas": EstimatorEntry(
        name="midas", label="MiDaS DPT-hybrid", licence="MIT", default_resolution=MIDAS_RESOLUTION,
        resolution_step=64, find_weights=find_weights, describe=lambda path: ("MiDaS v3.0 DPT-hybrid", "MIT"),
        not_found=_midas_missing, load=midas_estimator.get_estimator, loaded=midas_estimator.loaded_estimator,
        release=midas_estimator.release_estimators,
    ),
    "depth-anything-v2": EstimatorEntry(
        name="depth-anything-v2", label="Depth Anything V2",
        licence="ViT-S: Apache-2.0 (downloadable); ViT-B, ViT-L: CC-BY-NC-4.0 (used when found, never downloaded)",
        default_resolution=anything.DEFAULT_RESOLUTION, resolution_step=anything.PATCH_SIZE,
        find_weights=lambda s: anything.find_weights(anything_settings(s)), describe=_anything_file,
        not_found=_anything_missing,
        load=lambda s, progress=None: anything.get_estimator(anything_settings(s), progress),
        loaded=lambda s: anything.loaded_estimator(anything_settings(s)),
        release=anything.release_estimators,
    ),
}
#: The sequence models: they estimate windows of frames, never one picture alone, so they stay out
#: of `ESTIMATORS` (every picture dropdown, the WebUI setting, ControlNet's preprocessors and the
#: HTTP API's picture models read that) and are reached by name through `entry` (the CLI's
#: sequence path, `--model video-depth-anything`).
SEQUENCE_ESTIMATORS: dict[str, EstimatorEntry] = {
    "video-depth-anything": EstimatorEntry(
        name="video-depth-anything", label="Video Depth Anything", licence=video_model.LICENCE,
        default_resolution=video_model.DEFAULT_RESOLUTION, resolution_step=video_model.PATCH,
        find_weights=video_model.find_weights, describe=video_model.describe, not_found=video_model.not_found,
        load=video_model.load, loaded=video_model.loaded, release=video_model.release, video=True,
    ),
}
#: Every model by name, pictures' and sequences'.
ALL_ESTIMATORS: dict[str, EstimatorEntry] = {**ESTIMATORS, **SEQUENCE_ESTIMATORS}
DEFAULT_MODEL = "midas"


def entry(name: str) -> EstimatorEntry:
    """The registry entry of `name`; OptionsError naming the known ones for anything else."""
    found = ALL_ESTIMATORS.get(str(name).strip().lower())
    if found is None:
        raise OptionsError(f"unknown depth model {name!r}; choose one of {', '.join(sorted(ALL_ESTIMATORS))}")
    return found


def get_estimator(name: str, settings: ModelSettings, progress: DownloadProgress | None = None) -> Estimator:
    """The loaded model `name` for `settings`, after releasing every other model of the process
    (`progress` hears of a weights download)."""
    chosen = entry(name)
    for other in ALL_ESTIMATORS.values():
        if other.name != chosen.name:
            other.release(True)  # a no-op for a model that holds nothing
    return chosen.load(settings, progress)


def weights_report(name: str, settings: ModelSettings) -> WeightsReport:
    """Which file `name` would load for `settings` and its licence, read from the file (loads
    nothing, hashes nothing: cheap enough to answer every time the user picks a model)."""
    chosen = entry(name)
    found = chosen.find_weights(settings)
    if found is None:
        named = Path(settings.weights).expanduser() if settings.weights else None
        problem = (chosen.not_found(settings) if named is None
                   else f"the folder you named ({named}) holds no {chosen.label} weights" if named.is_dir()
                   else f"the {chosen.label} weights file you named ({named}) does not exist")
        return WeightsReport(model=chosen.name, path=None, what=chosen.label, licence=chosen.licence,
                             problem=problem, download=settings.allow_download and not settings.weights)
    try:
        what, licence = chosen.describe(found)
    except DepthError as exc:  # WeightsError, MissingDependency: say so; loading would fail the same way
        return WeightsReport(model=chosen.name, path=found, what=chosen.label, licence=chosen.licence,
                             problem=str(exc))
    return WeightsReport(model=chosen.name, path=found, what=what, licence=licence)


def release_all(free: bool = False) -> None:
    """Every model of the process off the GPU (`free`: forgotten entirely), as a host's memory
    settings ask after a generation or an API call."""
    for known in ALL_ESTIMATORS.values():
        known.release(free)
