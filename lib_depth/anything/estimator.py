"""The Depth Anything V2 estimator, in the shape of `midas.MidasEstimator`: loaded once per process,
thread-safe, giving float32 relative disparity (larger = nearer) at the input's own size.

`resolution` is the reference's `input_size`: the short side the network sees, to a multiple of
14 (default 518, what the model was trained at and ControlNet always uses). torch on first use only.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..depth.dependencies import require
from ..network_base.device import measure_cpu_precision, pick_device, probe_image
from ..network_base.device_io import Recipe
from ..network_base.estimating import Estimation, EstimatorCache, NetworkEstimator
from ..network_base.weights import ProgressFn
from .checkpoint import load_network
from .config import AnythingConfig
from .geometry import DEFAULT_RESOLUTION, MEAN, STD, check, network_shape, prepare, restore
from .settings import AnythingSettings
from .weights import resolve

if TYPE_CHECKING:
    import torch

__all__ = ["AnythingEstimator", "Estimation", "get_estimator", "loaded_estimator", "release_estimators"]

log = logging.getLogger(__name__)
#: one forward or device move at a time per process (the weights are shared by every caller)
INFERENCE_LOCK = threading.RLock()


class AnythingEstimator(NetworkEstimator):
    """Depth Anything V2 (ViT-S/B/L, read from the file) with MidasEstimator's interface."""

    label = "Depth Anything"
    default_resolution = DEFAULT_RESOLUTION
    lock = INFERENCE_LOCK
    group_by = "content"  # the network runs at the resized picture's own size (multiples of 14)

    def __init__(self, net: torch.nn.Module, config: AnythingConfig, weights: Path, verified: bool,
                 settings: AnythingSettings) -> None:
        self.config = config  # encoder size and widths, as read from the weights
        super().__init__(net, weights, verified, settings)

    @classmethod
    def from_pretrained(cls, settings: AnythingSettings | None = None,
                        progress: ProgressFn | None = None) -> AnythingEstimator:
        """Find (or download ViT-S, when allowed), verify and load the weights; place them on the device."""
        settings = settings or AnythingSettings()
        start = time.perf_counter()
        require("torch", "Depth Anything V2 depth estimation")
        pick_device(settings.device)  # an unavailable device fails before seconds of loading
        found = resolve(settings.weights, settings.search_dirs, settings.allow_download, settings.models_dir,
                        settings.download_url, settings.encoder, progress)
        net, config = load_network(found.path)
        estimator = cls(net, config, found.path, found.verified, settings)
        log.info("%s loaded from %s on %s (%s) in %.2f s", config.label, found.path, estimator.device,
                 estimator.precision, time.perf_counter() - start)
        return estimator

    @property
    def encoder(self) -> str:
        """vits | vitb | vitl, as the weights file says."""
        return self.config.encoder

    def __repr__(self) -> str:
        state = "freed" if self.model is None else f"on {self._placed}"
        return f"AnythingEstimator({self.weights.name}, {self.encoder}, {self.device}, {self.precision}, {state})"

    def _reload(self) -> torch.nn.Module:
        net, self.config = load_network(self.weights)
        return net

    def _cpu_precision(self) -> str:
        return measure_cpu_precision(self.model, f"{self.weights.name}:{self.weights.stat().st_size}",  # type: ignore[arg-type]
                                     probe_input=_probe_input(), lock=self.lock)

    _check_resolution = staticmethod(check)
    _prepare = staticmethod(prepare)  # the reference's lower-bound resize to multiples of 14, normalised
    _restore = staticmethod(restore)  # bilinear back to the picture's size, as the reference
    #: the same geometry on the device, for estimators not on the CPU (network_base/device_io.py)
    device_recipe = Recipe(shape=network_shape, shrink="bicubic", mean=tuple(MEAN), std=tuple(STD),
                           back="bilinear", align_corners=True)

    def _network_input(self, batch: np.ndarray) -> torch.Tensor:
        """float32 Nx3xHxW (normalised, sides multiples of 14) on the device."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)


def _probe_input() -> torch.Tensor:
    """The precision probe's picture, 128 px cut to 126 (sides multiples of 14), as x / 127.5 - 1 in
    NCHW: the input this network was probed with since the probe exists, so its timings and level
    differences stay those remembered."""
    import torch

    x = torch.from_numpy(probe_image()[None]).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x[..., :126, :126].contiguous()


_cache: EstimatorCache[AnythingSettings, AnythingEstimator] = EstimatorCache(AnythingEstimator.from_pretrained)


def get_estimator(settings: AnythingSettings | None = None, progress: ProgressFn | None = None) -> AnythingEstimator:
    """The estimator for `settings`, loaded on first use and kept for the life of the process.

    Two threads asking at once wait for one load.
    """
    return _cache.get(settings or AnythingSettings(), progress)


def loaded_estimator(settings: AnythingSettings | None = None) -> AnythingEstimator | None:
    """The cached estimator for `settings` if one was loaded (never loads; for status reports)."""
    return _cache.loaded(settings or AnythingSettings())


def release_estimators(free: bool = False) -> None:
    """Unload every cached estimator to the CPU, or free them (and forget them) entirely."""
    _cache.release(free)
