"""The MiDaS estimator: DPT-hybrid loaded once per process, thread-safe, at the image's own shape.

The seed's ComfyUI node reloads the 470 MiB model for every image and controlnet_aux stretches
images to multiples of 64; here the model is kept per process (`get_estimator`) and the depth
comes back at the input's own size. torch is imported on first use only.

Outputs are relative inverse depth ("nearness", larger = nearer), as the network gives them;
`maps.nearness_to_depth` turns them into the depth `depth.process` expects.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..depth.errors import DepthError
from .device import autocast, check_precision, empty_device_cache, measure_cpu_precision, pick_device
from .geometry import NetworkShape, check_resolution, prepare, restore, to_network_input
from .network import INFERENCE_LOCK, load_network
from .settings import MidasSettings
from .weights import ProgressFn, resolve

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimation:
    """One image's nearness and how the network saw it: a value per call, so parallel callers
    (gradio and API threads) each get their own notes rather than a shared "last call" field."""

    nearness: np.ndarray  # float32 HxW, larger = nearer, at the input's own size
    shape: NetworkShape

    @property
    def notes(self) -> tuple[str, ...]:
        """What the caller should tell the user (e.g. the long-side cap); empty when nothing."""
        note = self.shape.note
        return (note,) if note else ()


class MidasEstimator:
    """DPT-hybrid depth, in the shape of controlnet_aux's detectors (`from_pretrained`, `to`, `__call__`).

    Keep one per process (`get_estimator`): loading costs seconds, inference on a GPU milliseconds.
    """

    def __init__(self, net: torch.nn.Module, weights: Path, verified: bool, settings: MidasSettings) -> None:
        self.model: torch.nn.Module | None = net
        self.weights = weights
        self.verified = verified
        self.settings = settings
        self.device = pick_device(settings.device)  # where inference runs
        self.precision = "fp32"
        self._placed: Any = None  # where the weights are now (the CPU after unload())
        #: Frames of one network shape per forward pass (a whole video batch at once on a GPU).
        self.max_batch = 1
        self.to(self.device)

    @classmethod
    def from_pretrained(
        cls, settings: MidasSettings = MidasSettings(), progress: ProgressFn | None = None
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

    # -- placement ---------------------------------------------------------------------------

    def to(self, device: Any) -> MidasEstimator:
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
            return measure_cpu_precision(self.model, f"{self.weights.name}:{self.weights.stat().st_size}")
        try:
            check_precision(self.device, "fp16")
        except DepthError:  # an old torch without fp16 autocast on this device
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

    def _ensure_loaded(self) -> None:
        if self.model is None:
            self.model = load_network(self.weights, self.verified)

    def _place(self) -> None:
        import torch

        self._ensure_loaded()
        if self._placed != self.device:
            self.model.to(self.device, memory_format=torch.channels_last)
            self._placed = self.device

    # -- inference ---------------------------------------------------------------------------

    def __call__(self, image: np.ndarray, resolution: int = 512) -> np.ndarray:
        """float32 HxW relative inverse depth (larger = nearer) at the input's own HxW."""
        return self.estimate(image, resolution).nearness

    def estimate(self, image: np.ndarray, resolution: int = 512) -> Estimation:
        """Like __call__, with the network shape used and the notes for the user (the cap)."""
        return self.estimate_batch([image], resolution)[0]

    def batch(self, images: Sequence[np.ndarray], resolution: int = 512) -> list[np.ndarray]:
        """Like __call__ for each image; images with the same network shape share forward passes."""
        return [done.nearness for done in self.estimate_batch(images, resolution)]

    def estimate_batch(self, images: Sequence[np.ndarray], resolution: int = 512) -> list[Estimation]:
        """`estimate` for each image; images with the same network shape share forward passes."""
        resolution = check_resolution(resolution)
        prepared = [prepare(image, resolution) for image in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, (_, shape) in enumerate(prepared):
            groups.setdefault(shape.padded, []).append(index)
        results: list[np.ndarray | None] = [None] * len(prepared)
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch):
                chunk = indices[start : start + self.max_batch]
                nearness = self.forward(np.stack([prepared[i][0] for i in chunk]))
                for row, i in enumerate(chunk):
                    results[i] = restore(nearness[row], prepared[i][1])
        return [Estimation(r, shape) for r, (_, shape) in zip(results, prepared, strict=True)]  # type: ignore[arg-type]

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        """The network on uint8 NxHxWx3 (sides multiples of 32): float32 NxHxW on the device."""
        import torch

        with INFERENCE_LOCK:
            self._place()
            x = to_network_input(batch, self.device)
            with torch.inference_mode(), autocast(self.device, self.precision):
                y = self.model(x)
            if self.precision == "fp16" and not bool(torch.isfinite(y).all()):
                log.warning("MiDaS overflowed in fp16 on %s: using fp32 from now on", self.device)
                self.precision = "fp32"
                with torch.inference_mode():
                    y = self.model(x)
            return y.float()


# --------------------------------------------------------------------------------------------
# the per-process cache

_estimators: dict[MidasSettings, MidasEstimator] = {}
_loading: dict[MidasSettings, threading.Lock] = {}
_cache_lock = threading.Lock()


def get_estimator(settings: MidasSettings = MidasSettings(), progress: ProgressFn | None = None) -> MidasEstimator:
    """The estimator for `settings`, loaded on first use and kept for the life of the process.

    Two threads asking at once wait for one load.
    """
    with _cache_lock:
        if settings in _estimators:
            return _estimators[settings]
        loading = _loading.setdefault(settings, threading.Lock())
    with loading:
        with _cache_lock:
            if settings in _estimators:
                return _estimators[settings]
        estimator = MidasEstimator.from_pretrained(settings, progress)
        with _cache_lock:
            _estimators[settings] = estimator
        return estimator


def loaded_estimator(settings: MidasSettings) -> MidasEstimator | None:
    """The cached estimator for `settings` if one was loaded (never loads; for status reports)."""
    with _cache_lock:
        estimator = _estimators.get(settings)
    return estimator if estimator is not None and estimator.model is not None else None


def release_estimators(free: bool = False) -> None:
    """Unload every cached estimator to the CPU, or free them (and forget them) entirely."""
    with _cache_lock:
        estimators = list(_estimators.values())
        if free:
            _estimators.clear()
    for estimator in estimators:
        estimator.free() if free else estimator.unload()
