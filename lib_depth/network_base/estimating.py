"""What every depth network's image estimator shares (MiDaS's and Depth Anything V2's): placement on a
device, the precision choice, batches of one network shape per forward pass, the fp16 overflow
fallback, and the per-process cache that loads a model once however many callers ask at once.

A model's estimator subclasses `NetworkEstimator` and says only what is its own: how its input is
prepared and restored, how its weights are loaded again after `free()`, how the CPU precision probe
runs it. torch is imported on first use only.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from ..depth.errors import DepthError
from .batching import batches
from .device import autocast, check_precision, empty_device_cache, pick_device
from .device_io import Recipe
from .device_io import estimate_batch as device_estimate_batch
from .geometry import NetworkShape, as_rgb8
from .weights import ProgressFn

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


class NetworkEstimator:
    """A depth network kept on a device, in the shape of controlnet_aux's detectors (`to`, `__call__`).

    Subclasses set the class attributes and the `_`-hooks; everything else is the same for every model.
    """

    label: ClassVar[str]  # for log lines: "MiDaS"
    default_resolution: ClassVar[int]
    lock: ClassVar[threading.RLock]  # one forward or device move at a time per model and process
    #: NetworkShape field whose equal values share a forward pass ("padded": MiDaS pads to 32)
    group_by: ClassVar[str] = "content"
    #: The input's geometry in torch, used instead of `_prepare`/`_restore` on a device other than the CPU
    device_recipe: ClassVar[Recipe | None] = None

    def __init__(self, net: torch.nn.Module, weights: Path, verified: bool, settings: Any) -> None:
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

    # -- the model's own parts --------------------------------------------------------------

    def _reload(self) -> torch.nn.Module:
        """The network from `self.weights` again, after `free()`."""
        raise NotImplementedError

    def _move(self, device: Any) -> None:
        self.model.to(device)  # type: ignore[union-attr]

    def _cpu_precision(self) -> str:
        """fp32 or bf16 on this CPU, measured (`device.measure_cpu_precision`)."""
        raise NotImplementedError

    def _check_resolution(self, resolution: int) -> int:
        raise NotImplementedError

    def _prepare(self, image: np.ndarray, resolution: int) -> tuple[np.ndarray, NetworkShape]:
        raise NotImplementedError

    def _restore(self, output: torch.Tensor, shape: NetworkShape) -> np.ndarray:
        raise NotImplementedError

    def _network_input(self, batch: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    # -- placement ---------------------------------------------------------------------------

    def to(self, device: Any) -> NetworkEstimator:
        """Run on `device` from now on (auto precision is chosen again for its kind)."""
        with self.lock:
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
            return self._cpu_precision()
        try:
            check_precision(self.device, "fp16")
        except DepthError:  # an old torch without fp16 autocast on this device
            return "fp32"
        return "fp16"

    def unload(self) -> None:
        """Move the weights to the CPU (the WebUI asks before generating); the next call moves them back."""
        import torch

        with self.lock:
            if self.model is not None and self._placed is not None and self._placed.type != "cpu":
                self.model.to("cpu")
                self._placed = torch.device("cpu")
                empty_device_cache()

    def free(self) -> None:
        """Drop the weights; the next call loads them again (without re-hashing)."""
        with self.lock:
            self.model = None
            self._placed = None
            gc.collect()
            empty_device_cache()

    def _place(self) -> None:
        if self.model is None:
            self.model = self._reload()
        if self._placed != self.device:
            self._move(self.device)
            self._placed = self.device

    # -- inference ---------------------------------------------------------------------------

    def __call__(self, image: np.ndarray, resolution: int | None = None) -> np.ndarray:
        """float32 HxW relative inverse depth (larger = nearer) at the input's own HxW."""
        return self.estimate(image, resolution).nearness

    def estimate(self, image: np.ndarray, resolution: int | None = None) -> Estimation:
        """Like __call__, with the network shape used and the notes for the user (the cap)."""
        return self.estimate_batch([image], resolution)[0]

    def batch(self, images: Sequence[np.ndarray], resolution: int | None = None) -> list[np.ndarray]:
        """Like __call__ for each image; images with the same network shape share forward passes."""
        return [done.nearness for done in self.estimate_batch(images, resolution)]

    def estimate_batch(self, images: Sequence[np.ndarray], resolution: int | None = None) -> list[Estimation]:
        """`estimate` for each image; images with the same network shape share forward passes."""
        resolution = self._check_resolution(self.default_resolution if resolution is None else resolution)
        if self.device.type != "cpu" and self.device_recipe is not None:  # resized on the device
            return [Estimation(r, s) for r, s in device_estimate_batch(self, images, resolution, as_rgb8)]
        prepared = [self._prepare(image, resolution) for image in images]
        results: list[np.ndarray | None] = [None] * len(prepared)
        for chunk in batches([getattr(shape, self.group_by) for _, shape in prepared], self.max_batch):
            nearness = self.forward(np.stack([prepared[i][0] for i in chunk]))
            for row, i in enumerate(chunk):
                results[i] = self._restore(nearness[row], prepared[i][1])
        return [Estimation(r, shape) for r, (_, shape) in zip(results, prepared, strict=True)]  # type: ignore[arg-type]

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        """The network on a prepared batch: float32 NxHxW on the device."""
        import torch

        with self.lock:
            self._place()
            x = batch if isinstance(batch, torch.Tensor) else self._network_input(batch)
            with torch.inference_mode(), autocast(self.device, self.precision):
                y = self.model(x)  # type: ignore[misc]
            if self.precision == "fp16" and not bool(torch.isfinite(y).all()):
                log.warning("%s overflowed in fp16 on %s: using fp32 from now on", self.label, self.device)
                self.precision = "fp32"
                with torch.inference_mode():
                    y = self.model(x)  # type: ignore[misc]
            return y.float()


S = TypeVar("S", bound=Hashable)
E = TypeVar("E", bound=NetworkEstimator)


class EstimatorCache(Generic[S, E]):
    """One estimator per settings for the life of the process; two threads asking at once wait for
    one load (`make` is the model's `from_pretrained`)."""

    def __init__(self, make: Callable[[S, ProgressFn | None], E]) -> None:
        self.make = make
        self.estimators: dict[S, E] = {}
        self.loading: dict[S, threading.Lock] = {}
        self.lock = threading.Lock()

    def get(self, settings: S, progress: ProgressFn | None = None) -> E:
        with self.lock:
            if settings in self.estimators:
                return self.estimators[settings]
            loading = self.loading.setdefault(settings, threading.Lock())
        with loading:
            with self.lock:
                if settings in self.estimators:
                    return self.estimators[settings]
            estimator = self.make(settings, progress)
            with self.lock:
                self.estimators[settings] = estimator
            return estimator

    def loaded(self, settings: S) -> E | None:
        """The estimator for `settings` if one was loaded (never loads; for status reports)."""
        with self.lock:
            estimator = self.estimators.get(settings)
        return estimator if estimator is not None and estimator.model is not None else None

    def release(self, free: bool = False) -> None:
        """Unload every estimator to the CPU, or free them (and forget them) entirely."""
        with self.lock:
            estimators = list(self.estimators.values())
            if free:
                self.estimators.clear()
        for estimator in estimators:
            estimator.free() if free else estimator.unload()

    def pop(self, settings: S) -> E | None:
        """Forget the estimator for `settings` (a test letting its own copy of a model go)."""
        with self.lock:
            return self.estimators.pop(settings, None)
