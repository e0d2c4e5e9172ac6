"""The MiDaS estimator: DPT-hybrid loaded once per process, thread-safe, at the image's own shape.

The seed's ComfyUI node reloads the 470 MiB model for every image and controlnet_aux stretches
images to multiples of 64; here the model is kept per process (`get_estimator`) and the depth
comes back at the input's own size. torch is imported on first use only; what every model's
estimator shares (placement, precision, batches, the cache) is `network_base.estimating`'s.

Outputs are relative inverse depth ("nearness", larger = nearer), as the network gives them;
`maps.nearness_to_depth` turns them into the depth `depth.process` expects.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..network_base.device import pick_device
from ..network_base.device_io import Recipe
from ..network_base.estimating import Estimation, EstimatorCache, NetworkEstimator
from ..network_base.maps import DEFAULT_RESOLUTION
from ..network_base.weights import ProgressFn
from .device import measure_cpu_precision
from .geometry import check_resolution, network_shape, prepare, restore, to_network_input
from .network import INFERENCE_LOCK, load_network
from .settings import MidasSettings
from .weights import resolve

if TYPE_CHECKING:
    import torch

__all__ = ["Estimation", "MidasEstimator", "get_estimator", "loaded_estimator", "release_estimators"]

log = logging.getLogger(__name__)


#: Settings when none are given (a name, not a call in the signatures: see api/routes.DEFAULT_LIMITS).
DEFAULT_SETTINGS = MidasSettings()

class MidasEstimator(NetworkEstimator):
    """DPT-hybrid depth, in the shape of controlnet_aux's detectors (`from_pretrained`, `to`, `__call__`).

    Keep one per process (`get_estimator`): loading costs seconds, inference on a GPU milliseconds.
    """

    label = "MiDaS"
    default_resolution = DEFAULT_RESOLUTION
    lock = INFERENCE_LOCK  # controlnet_aux's DPT keeps activations in a module-level global
    group_by = "padded"  # the network runs at sides padded to multiples of 32

    @classmethod
    def from_pretrained(
        cls, settings: MidasSettings = DEFAULT_SETTINGS, progress: ProgressFn | None = None
    ) -> MidasEstimator:
        """Find (or download, when allowed), verify and load the weights; place them on the device."""
        start = time.perf_counter()
        pick_device(settings.device)  # an unavailable device fails before seconds of loading
        found = resolve(settings.weights, settings.search_dirs, settings.allow_download,
                        settings.models_dir, settings.download_url, progress)
        estimator = cls(load_network(found.path, found.verified), found.path, found.verified, settings)
        log.info("MiDaS loaded from %s on %s (%s) in %.2f s", found.path, estimator.device,
                 estimator.precision, time.perf_counter() - start)
        return estimator

    def __repr__(self) -> str:
        state = "freed" if self.model is None else f"on {self._placed}"
        return f"MidasEstimator({self.weights.name}, {self.device}, {self.precision}, {state})"

    def _reload(self) -> torch.nn.Module:
        return load_network(self.weights, self.verified)

    def _move(self, device: Any) -> None:
        import torch

        self.model.to(device, memory_format=torch.channels_last)  # type: ignore[union-attr]

    def _cpu_precision(self) -> str:
        return measure_cpu_precision(self.model, f"{self.weights.name}:{self.weights.stat().st_size}")

    _check_resolution = staticmethod(check_resolution)
    _prepare = staticmethod(prepare)  # padded to multiples of 32, the aspect ratio kept
    _restore = staticmethod(restore)  # the padding removed, bicubic back to the input's size
    #: the same geometry on the device, for estimators not on the CPU (network_base/device_io.py)
    device_recipe = Recipe(shape=network_shape, shrink="area", mean=(0.5,) * 3, std=(0.5,) * 3, quantise=True,
                           back="bicubic", align_corners=False, channels_last=True)

    def _network_input(self, batch: np.ndarray) -> torch.Tensor:
        """uint8 NxHxWx3 (sides multiples of 32) -> the normalised channels-last tensor on the device."""
        return to_network_input(batch, self.device)


_cache: EstimatorCache[MidasSettings, MidasEstimator] = EstimatorCache(MidasEstimator.from_pretrained)


def get_estimator(settings: MidasSettings = DEFAULT_SETTINGS, progress: ProgressFn | None = None) -> MidasEstimator:
    """The estimator for `settings`, loaded on first use and kept for the life of the process.

    Two threads asking at once wait for one load.
    """
    return _cache.get(settings, progress)


def loaded_estimator(settings: MidasSettings) -> MidasEstimator | None:
    """The cached estimator for `settings` if one was loaded (never loads; for status reports)."""
    return _cache.loaded(settings)


def release_estimators(free: bool = False) -> None:
    """Unload every cached estimator to the CPU, or free them (and forget them) entirely."""
    _cache.release(free)
