"""MiDaS (DPT-hybrid) depth estimation: loaded once, thread-safe, fast on GPU, at the image's own shape.

The seed's ComfyUI node reloads the 470 MiB model for every image and controlnet_aux stretches
images to multiples of 64; here the model is kept per process (`get_estimator`), the image keeps
its aspect ratio (short side -> `resolution`, edge padding to a multiple of 32, padding removed)
and the depth comes back at the input's own size. torch and controlnet_aux are imported on first
use only: converting EXR renders never pays for them.

Outputs are relative inverse depth ("nearness", larger = nearer), as the network gives them;
`nearness_to_depth` turns them into the depth `lib_depth.process` expects (larger = farther,
NaN = background) and `normal_map` into ControlNet's normal_midas image.

Split by job: midas_weights finds and verifies the file, midas_network turns it into the network,
midas_maps draws from the nearness; this module holds the device/precision policy, the geometry,
the model object and the per-process cache.
"""

from __future__ import annotations

import gc
import logging
import math
import platform
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .errors import DepthError
from .midas_maps import nearness_to_depth, normal_map, normalised_nearness
from .midas_network import load_count, load_network, network_class
from .midas_weights import (
    WEIGHTS_NAME,
    ProgressFn,
    WeightsError,
    candidates,
    explicit_file,
    read_state,
    resolve,
    update_state,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "WEIGHTS_NAME",
    "MidasEstimator",
    "MidasSettings",
    "WeightsError",
    "find_weights",
    "get_estimator",
    "load_count",
    "nearness_to_depth",
    "network_class",
    "normal_map",
    "normalised_nearness",
    "release_estimators",
]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16")
_PRECISION_ALIASES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}
#: DPT-hybrid's fusion blocks upsample by 2 from 1/32 of the input: both sides must be multiples of 32.
NETWORK_MULTIPLE = 32
MIN_RESOLUTION = 64
#: bf16 is used on a CPU only if the probe runs at most this fraction of the fp32 time ...
BF16_MIN_SPEEDUP = 0.8
#: ... and its min-max normalised output differs from fp32 by at most this much on average (about
#: 2.5 of 255 levels).
BF16_MAX_ERROR = 0.01

#: controlnet_aux's ViT keeps intermediate activations in one module-level dict shared by every
#: model instance: one forward at a time in the whole process. Also guards moves between devices.
_LOCK = threading.RLock()


@dataclass(frozen=True)
class MidasSettings:
    """Where the weights are and how to run them; hashable, the key of the per-process cache."""

    weights: str | None = None  # explicit file or folder: trusted, not hashed
    search_dirs: tuple[str, ...] = ()  # extra folders, in priority order (the WebUI's, from the host adapter)
    allow_download: bool = False
    device: str | None = None  # None = auto: cuda > mps > cpu
    precision: str | None = None  # None = auto: fp16 on GPU, fp32 or bf16 on CPU (measured)
    models_dir: str | None = None  # this extension's folder (searched first, downloads go there)
    download_url: str | None = None  # None = Hugging Face (lllyasviel/Annotators)

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
        precision = _PRECISION_ALIASES.get(precision, precision)
        if precision not in ("", "auto", *PRECISIONS):
            raise DepthError(f"unknown precision {self.precision!r}; use auto, fp32, fp16 or bf16")
        set_("precision", None if precision in ("", "auto") else precision)


def find_weights(settings: MidasSettings = MidasSettings()) -> Path | None:
    """The file that would be loaded (explicit, else the first copy found), without hashing it."""
    if settings.weights:
        return explicit_file(settings.weights)
    found = candidates(settings.search_dirs, settings.models_dir)
    return found[0] if found else None


# --------------------------------------------------------------------------------------------
# device and precision policy


def pick_device(requested: str | None = None) -> torch.device:
    """cuda > mps > cpu when not asked; an unavailable device asked for is a clear error."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps" if mps_ok else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        raise DepthError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DepthError(f"device {requested!r} is not available: torch {torch.__version__} sees no CUDA GPU")
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DepthError(f"device {requested!r} is not available: there are {torch.cuda.device_count()} GPUs")
        return torch.device("cuda", index)
    if device.type == "mps" and not mps_ok:
        raise DepthError(f"device {requested!r} is not available on this machine")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DepthError(f"device {requested!r} is not supported; use cpu, cuda or mps")
    return device


def torch_dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def autocast(device: torch.device, precision: str):
    import torch

    return torch.autocast(device.type, dtype=torch_dtype(precision), enabled=precision != "fp32")


def check_precision(device: torch.device, precision: str) -> None:
    """torch silently disables autocast for a dtype a device lacks: make that an error instead."""
    if precision == "fp32":
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            with autocast(device, precision):
                pass
        except (RuntimeError, UserWarning):
            raise DepthError(f"precision {precision} is not supported on {device.type}; use fp32") from None


def _probe_input(size: int = 128) -> np.ndarray:
    """A deterministic, structured image for timing and comparing precisions."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rgb = np.stack([np.sin(6 * xx + 2 * yy), np.cos(5 * yy - xx), xx * yy], axis=-1)
    return ((rgb - rgb.min()) / (rgb.max() - rgb.min()) * 255).astype(np.uint8)


def measure_cpu_precision(net: torch.nn.Module, key_extra: str = "") -> str:
    """fp32 or bf16 on this CPU: bf16 when it is clearly faster and close enough (DESIGN.md).

    Measured once on a 128x128 probe (~1 s) and remembered per CPU, torch version, thread count
    and weights, so later starts skip it.
    """
    import torch

    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
    key = "|".join([torch.__version__, platform.processor() or platform.machine(), capability,
                    str(torch.get_num_threads()), key_extra])
    remembered = read_state().get("cpu_precision", {}).get(key)
    if remembered in ("fp32", "bf16"):
        return remembered
    cpu = torch.device("cpu")
    x = _to_network_input(_probe_input()[None], cpu)
    timings, outputs = {}, {}
    try:
        for precision in ("fp32", "bf16"):
            check_precision(cpu, precision)
            with _LOCK, torch.inference_mode(), autocast(cpu, precision):
                net(x)  # warm-up
                best = math.inf
                for _ in range(2):
                    start = time.perf_counter()
                    y = net(x).float()
                    best = min(best, time.perf_counter() - start)
            timings[precision], outputs[precision] = best, _minmax(y[0])
    except DepthError:
        return "fp32"
    error = float((outputs["bf16"] - outputs["fp32"]).abs().mean())
    choice = "bf16" if timings["bf16"] <= BF16_MIN_SPEEDUP * timings["fp32"] and error <= BF16_MAX_ERROR else "fp32"
    log.info("CPU precision: fp32 %.3f s, bf16 %.3f s (mean error %.4f) -> %s",
             timings["fp32"], timings["bf16"], error, choice)
    update_state("cpu_precision", key, choice)
    return choice


def _minmax(t: torch.Tensor) -> torch.Tensor:
    lo, hi = t.min(), t.max()
    return (t - lo) / (hi - lo) if hi > lo else t * 0


# --------------------------------------------------------------------------------------------
# geometry: the image's own shape, never stretched


@dataclass(frozen=True)
class NetworkShape:
    """How an HxW image is fed to the network: resized to `content`, padded to `padded`."""

    source: tuple[int, int]  # (h, w) of the input, which the output gets back
    content: tuple[int, int]  # (h, w) after resizing the short side to the resolution
    padded: tuple[int, int]  # (h, w) rounded up to multiples of 32 by edge replication


def network_shape(height: int, width: int, resolution: int) -> NetworkShape:
    """Short side -> `resolution`, long side in proportion, each padded up to a multiple of 32."""
    scale = resolution / min(height, width)
    if height <= width:
        content = (resolution, max(1, round(width * scale)))
    else:
        content = (max(1, round(height * scale)), resolution)
    padded = tuple(-(-side // NETWORK_MULTIPLE) * NETWORK_MULTIPLE for side in content)
    return NetworkShape((height, width), content, padded)  # type: ignore[arg-type]


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB from HxW, HxWx1, HxWx3 or HxWx4 (alpha over white, as ControlNet's HWC3)."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * np.uint8(255)
    elif image.dtype != np.uint8:
        raise DepthError(f"expected an image with uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DepthError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DepthError(f"the image is empty (shape {image.shape})")
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        image = image.clip(0, 255).astype(np.uint8)
    return image


def prepare(image: np.ndarray, resolution: int) -> tuple[np.ndarray, NetworkShape]:
    """The padded uint8 network input for `image`, and the shapes to undo it with."""
    rgb = as_rgb8(image)
    shape = network_shape(rgb.shape[0], rgb.shape[1], resolution)
    (h, w), (ph, pw) = shape.content, shape.padded
    if (h, w) != rgb.shape[:2]:
        shrink = h < rgb.shape[0]
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    if (ph, pw) != (h, w):
        rgb = cv2.copyMakeBorder(rgb, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(rgb), shape


def _check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise DepthError(f"resolution must be a whole number of pixels, got {resolution!r}")
    if resolution < MIN_RESOLUTION:
        raise DepthError(f"resolution must be at least {MIN_RESOLUTION}, got {resolution}")
    return int(resolution)


def _to_network_input(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NxHxWx3 -> float NCHW in [-1, 1] on `device`, channels_last (the NHWC bytes as they are)."""
    import torch

    x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0).contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------------
# the model object


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
        with _LOCK:
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

        with _LOCK:
            if self.model is not None and self._placed is not None and self._placed.type != "cpu":
                self.model.to("cpu")
                self._placed = torch.device("cpu")
                _empty_device_cache()

    def free(self) -> None:
        """Drop the weights; the next call loads them again (without re-hashing)."""
        with _LOCK:
            self.model = None
            self._placed = None
            gc.collect()
            _empty_device_cache()

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
        return self.batch([image], resolution)[0]

    def batch(self, images: Sequence[np.ndarray], resolution: int = 512) -> list[np.ndarray]:
        """Like __call__ for each image; images with the same network shape share forward passes."""
        resolution = _check_resolution(resolution)
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
                    results[i] = _restore(nearness[row], prepared[i][1])
        return results  # type: ignore[return-value]

    def forward(self, batch: np.ndarray) -> torch.Tensor:
        """The network on uint8 NxHxWx3 (sides multiples of 32): float32 NxHxW on the device."""
        import torch

        with _LOCK:
            self._place()
            x = _to_network_input(batch, self.device)
            with torch.inference_mode(), autocast(self.device, self.precision):
                y = self.model(x)
            if self.precision == "fp16" and not bool(torch.isfinite(y).all()):
                log.warning("MiDaS overflowed in fp16 on %s: using fp32 from now on", self.device)
                self.precision = "fp32"
                with torch.inference_mode():
                    y = self.model(x)
            return y.float()


def _restore(nearness: torch.Tensor, shape: NetworkShape) -> np.ndarray:
    """Remove the padding and resize back to the input's own size (bicubic, as MiDaS does)."""
    import torch.nn.functional as F

    h, w = shape.content
    out = nearness[:h, :w]
    if shape.source != shape.content:
        out = F.interpolate(out[None, None], size=shape.source, mode="bicubic", align_corners=False)[0, 0]
    return np.ascontiguousarray(out.clamp_min(0).cpu().numpy(), dtype=np.float32)


def _empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


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


def release_estimators(free: bool = False) -> None:
    """Unload every cached estimator to the CPU, or free them (and forget them) entirely."""
    with _cache_lock:
        estimators = list(_estimators.values())
        if free:
            _estimators.clear()
    for estimator in estimators:
        estimator.free() if free else estimator.unload()
