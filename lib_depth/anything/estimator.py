"""The Depth Anything V2 estimator, in the shape of `midas.MidasEstimator`: loaded once per process,
thread-safe, giving float32 relative disparity (larger = nearer) at the input's own size.

`resolution` is the reference's `input_size`: the short side the network sees, to a multiple of
14 (default 518, what the model was trained at and ControlNet always uses). torch on first use only.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..depth.dependencies import require
from ..depth.errors import DepthError
from ..midas.device import autocast, check_precision, empty_device_cache, measure_cpu_precision, pick_device
from ..midas.estimator import Estimation
from ..midas.weights import ProgressFn
from .checkpoint import load_network
from .config import AnythingConfig
from .geometry import DEFAULT_RESOLUTION, check, prepare, restore
from .settings import AnythingSettings
from .weights import resolve

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
#: one forward or device move at a time per process (the weights are shared by every caller)
INFERENCE_LOCK = threading.RLock()


class AnythingEstimator:
    """Depth Anything V2 (ViT-S/B/L, read from the file) with MidasEstimator's interface."""

    def __init__(self, net: torch.nn.Module, config: AnythingConfig, weights: Path, verified: bool,
                 settings: AnythingSettings) -> None:
        self.model: torch.nn.Module | None = net
        self.config = config  # encoder size and widths, as read from the weights
        self.weights = weights
        self.verified = verified
        self.settings = settings
        self.device = pick_device(settings.device)
        self.precision = "fp32"
        self._placed: Any = None
        self.max_batch = 1
        self.to(self.device)

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

    # -- placement ---------------------------------------------------------------------------

    def to(self, device: Any) -> AnythingEstimator:
        """Run on `device` from now on (auto precision is chosen again for its kind)."""
        with INFERENCE_LOCK:
            self.device = pick_device(None if device is None else str(device))
            self._place()
            self.precision = self._pick_precision()
            self.max_batch = 4 if self.device.type == "cpu" else 8
        return self

    def _pick_precision(self) -> str:
        if self.settings.precision:
            check_precision(self.device, self.settings.precision)
            return self.settings.precision
        if self.device.type == "cpu":
            model = self.model
            # the probe is 128 px square; this network wants sides that are multiples of 14
            return measure_cpu_precision(lambda x: model(x[..., :126, :126].contiguous()),  # type: ignore[arg-type, misc]
                                         f"{self.weights.name}:{self.weights.stat().st_size}")
        try:
            check_precision(self.device, "fp16")
        except DepthError:
            return "fp32"
        return "fp16"

    def unload(self) -> None:
        """Move the weights to the CPU (the WebUI asks before generating); the next call moves them back."""
        import torch

        with INFERENCE_LOCK:
            if self.model is not None and self._placed is not None and self._placed.type != "cpu":
                self.model.to("cpu")
                self._placed = torch.device("cpu")
                empty_device_cache()

    def free(self) -> None:
        """Drop the weights; the next call loads them again (without re-hashing)."""
        with INFERENCE_LOCK:
            self.model = None
            self._placed = None
            gc.collect()
            empty_device_cache()

    def _place(self) -> None:
        if self.model is None:
            self.model, self.config = load_network(self.weights)
        if self._placed != self.device:
            self.model.to(self.device)
            self._placed = self.device

    # -- inference ---------------------------------------------------------------------------

    def __call__(self, image: np.ndarray, resolution: int = DEFAULT_RESOLUTION) -> np.ndarray:
        """float32 HxW relative disparity (larger = nearer) at the input's own HxW."""
        return self.estimate(image, resolution).nearness

    def estimate(self, image: np.ndarray, resolution: int = DEFAULT_RESOLUTION) -> Estimation:
        """Like __call__, with the network shape used and the notes for the user (the cap)."""
        return self.estimate_batch([image], resolution)[0]

    def batch(self, images: Sequence[np.ndarray], resolution: int = DEFAULT_RESOLUTION) -> list[np.ndarray]:
        """Like __call__ for each image; images with the same network shape share forward passes."""
        return [done.nearness for done in self.estimate_batch(images, resolution)]

    def estimate_batch(self, images: Sequence[np.ndarray], resolution: int = DEFAULT_RESOLUTION) -> list[Estimation]:
        """`estimate` for each image; images with the same network shape share forward passes."""
        resolution = check(resolution)
        prepared = [prepare(image, resolution) for image in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, (_, shape) in enumerate(prepared):
            groups.setdefault(shape.content, []).append(index)
        results: list[np.ndarray | None] = [None] * len(prepared)
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch):
                chunk = indices[start : start + self.max_batch]
                disparity = self.forward(np.stack([prepared[i][0] for i in chunk]))
                for row, i in enumerate(chunk):
                    results[i] = restore(disparity[row], prepared[i][1])
        return [Estimation(r, shape) for r, (_, shape) in zip(results, prepared, strict=True)]  # type: ignore[arg-type]

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        """The network on float32 Nx3xHxW (normalised, sides multiples of 14): float32 NxHxW on the device."""
        import torch

        with INFERENCE_LOCK:
            self._place()
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            with torch.inference_mode(), autocast(self.device, self.precision):
                y = self.model(x)  # type: ignore[misc]
            if self.precision == "fp16" and not bool(torch.isfinite(y).all()):
                log.warning("Depth Anything overflowed in fp16 on %s: using fp32 from now on", self.device)
                self.precision = "fp32"
                with torch.inference_mode():
                    y = self.model(x)  # type: ignore[misc]
            return y.float()


# --------------------------------------------------------------------------------------------
# the per-process cache (as MiDaS's)

_estimators: dict[AnythingSettings, AnythingEstimator] = {}
_loading: dict[AnythingSettings, threading.Lock] = {}
_cache_lock = threading.Lock()


def get_estimator(settings: AnythingSettings | None = None, progress: ProgressFn | None = None) -> AnythingEstimator:
    """The estimator for `settings`, loaded on first use and kept for the life of the process.

    Two threads asking at once wait for one load.
    """
    settings = settings or AnythingSettings()
    with _cache_lock:
        if settings in _estimators:
            return _estimators[settings]
        loading = _loading.setdefault(settings, threading.Lock())
    with loading:
        with _cache_lock:
            if settings in _estimators:
                return _estimators[settings]
        estimator = AnythingEstimator.from_pretrained(settings, progress)
        with _cache_lock:
            _estimators[settings] = estimator
        return estimator


def loaded_estimator(settings: AnythingSettings | None = None) -> AnythingEstimator | None:
    """The cached estimator for `settings` if one was loaded (never loads; for status reports)."""
    with _cache_lock:
        estimator = _estimators.get(settings or AnythingSettings())
    return estimator if estimator is not None and estimator.model is not None else None


def release_estimators(free: bool = False) -> None:
    """Unload every cached estimator to the CPU, or free them (and forget them) entirely."""
    with _cache_lock:
        estimators = list(_estimators.values())
        if free:
            _estimators.clear()
    for estimator in estimators:
        estimator.free() if free else estimator.unload()
