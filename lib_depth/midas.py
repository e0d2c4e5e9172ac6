"""MiDaS (DPT-hybrid) depth estimation: loaded once, thread-safe, fast on GPU, at the image's own shape.

The seed's ComfyUI node reloads the 470 MiB model for every image and controlnet_aux stretches
images to multiples of 64; here the model is kept per process (`get_estimator`), the image keeps
its aspect ratio (short side -> `resolution`, edge padding to a multiple of 32, padding removed)
and the depth comes back at the input's own size. torch and controlnet_aux are imported on first
use only: converting EXR renders never pays for them.

Outputs are relative inverse depth ("nearness", larger = nearer), as the network gives them;
`nearness_to_depth` turns them into the depth `lib_depth.process` expects (larger = farther,
NaN = background) and `normal_map` into ControlNet's normal_midas image.
"""

from __future__ import annotations

import gc
import logging
import math
import pickle
import platform
import sys
import threading
import time
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .errors import DepthError
from .midas_weights import (
    WEIGHTS_MIB,
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
    "nearness_to_depth",
    "normal_map",
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
_torchvision_stub: Any = None
_loads = 0


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


def load_count() -> int:
    """How many times weights were read from disk in this process (the cache should keep it at 1)."""
    return _loads


# --------------------------------------------------------------------------------------------
# imports and loading


def _ensure_torchvision() -> None:
    """Import torchvision, working around a CUDA torchvision beside a CPU torch.

    Such a pair fails with "operator torchvision::nms does not exist"; defining the two schemas
    lets it import (MiDaS uses none of its compiled operators). Real WebUI installs have a matching
    pair and never take this path.
    """
    global _torchvision_stub
    import torch

    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::nms does not exist" not in str(exc) or _torchvision_stub is not None:
            raise
        lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _torchvision_stub = lib  # the schemas live as long as this object
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        import torchvision  # noqa: F401


def network_class() -> type:
    """controlnet_aux's DPTDepthModel (importing controlnet_aux imports every detector: ~3 s)."""
    _ensure_torchvision()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mediapipe missing, timm deprecations, registry overwrites
        from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel
    return DPTDepthModel


def _first_line(exc: BaseException) -> str:
    """`Type: first sentence` of an exception: torch's messages run on for paragraphs."""
    text = str(exc).strip().splitlines()
    sentence = text[0].split(". ")[0].rstrip(".")[:160] if text else ""
    return f"{type(exc).__name__}: {sentence}" if sentence else type(exc).__name__


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} bytes"


def _damaged(path: Path, exc: BaseException) -> WeightsError:
    size = path.stat().st_size
    hint = ""
    if size < 0.9 * WEIGHTS_MIB * 2**20:
        hint = f"; it is {_size(size)}, the DPT-hybrid weights are about {WEIGHTS_MIB} MiB"
    detail = "not a zip or pickle checkpoint" if "Weights only load failed" in str(exc) else _first_line(exc)
    return WeightsError(
        f"cannot load the MiDaS weights: the file is truncated, damaged or not a PyTorch checkpoint "
        f"({detail}){hint}; replace it with {WEIGHTS_NAME}",
        path,
    )


def read_state_dict(path: Path, verified: bool) -> Mapping[str, Any]:
    """torch.load, with every way a file can be wrong turned into a WeightsError naming it.

    Tensors only (`weights_only`), memory-mapped when the file is a zip checkpoint (loading then
    takes ~0.05 s instead of ~1.5 s). Only a file whose sha256 matched the published one may be
    fully unpickled, should its format need that: unpickling runs code.
    """
    import torch

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise WeightsError(f"cannot read the MiDaS weights ({exc.strerror or exc})", path) from None
    if size == 0:
        raise WeightsError(f"the MiDaS weights file is empty (0 bytes); replace it with {WEIGHTS_NAME}", path)
    is_zip = zipfile.is_zipfile(path)
    try:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=is_zip)
        except TypeError:  # torch < 2.1 has no mmap
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not (is_zip and "Weights only load failed" in str(exc)):
            raise _damaged(path, exc) from None
        if not verified:
            raise WeightsError(
                "this checkpoint holds Python objects besides tensors, and a file that is not the published "
                f"{WEIGHTS_NAME} is never unpickled (that could run code); save its state_dict() instead",
                path,
            ) from None
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise _damaged(path, exc2) from None
    except Exception as exc:
        raise _damaged(path, exc) from None
    if isinstance(state, Mapping) and "optimizer" in state and "model" in state:
        state = state["model"]  # training checkpoints, as controlnet_aux accepts them
    if state is None:  # only the WebUI's checking loader (modules/safe.py) answers None
        raise WeightsError(
            "MiDaS weights unusable: torch.load returned None, which inside the WebUI means its safe loader "
            "refused the file (see 'Error verifying pickled file' in the console); checkpoints re-saved by a "
            "recent torch (zip entries like .format_version) are refused, the published file is not: replace it "
            f"with the published {WEIGHTS_NAME}",
            path,
        )
    if not isinstance(state, Mapping) or not state:
        what = "an empty dict" if isinstance(state, Mapping) else f"a {type(state).__name__}"
        raise WeightsError(
            f"the file holds {what}, not the DPT-hybrid weights (torch.load returned {what}); "
            f"replace it with {WEIGHTS_NAME}",
            path,
        )
    return state


def _not_dpt_hybrid(path: Path, detail: str) -> WeightsError:
    return WeightsError(f"these are not MiDaS DPT-hybrid weights ({detail}); use {WEIGHTS_NAME}", path)


def load_network(path: Path, verified: bool = False) -> torch.nn.Module:
    """Build controlnet_aux's DPT-hybrid from a weights file: fp32, eval mode, on the CPU.

    The network is built on the meta device and the loaded tensors assigned to it, which skips a
    random initialisation of 123M parameters (~2 s); older torch falls back to the plain way.
    """
    global _loads
    import torch

    state = read_state_dict(path, verified)
    dpt = network_class()

    def build() -> torch.nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # timm's deprecation notices
            return dpt(path=None, backbone="vitb_rn50_384", non_negative=True)

    try:
        with torch.device("meta"):
            net = build()
    except (AttributeError, TypeError):  # torch < 2.0: no device context
        net = build()
    expected = set(net.state_dict())
    missing = sorted(expected.difference(state))
    unexpected = sorted(set(state).difference(expected))
    if missing or unexpected:
        parts = [f"{len(missing)} tensors missing, e.g. {missing[0]}"] if missing else []
        parts += [f"{len(unexpected)} unknown, e.g. {unexpected[0]}"] if unexpected else []
        raise _not_dpt_hybrid(path, "; ".join(parts))
    try:
        try:
            net.load_state_dict(state, strict=True, assign=True)
        except TypeError:  # torch < 2.1: no assign (and the net was not built on meta)
            net.load_state_dict(state, strict=True)
    except Exception as exc:
        raise _not_dpt_hybrid(path, _first_line(exc)) from None
    if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
        net = build()  # a timm version that makes tensors outside the state dict: the plain way
        net.load_state_dict(state, strict=True)
    net = net.float().eval().requires_grad_(False)  # fp32 master weights; precision = autocast
    _loads += 1
    return net


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


# --------------------------------------------------------------------------------------------
# nearness -> depth map input, normal map


def _check_threshold(bg_threshold: float) -> float:
    if not 0.0 <= bg_threshold <= 1.0:
        raise DepthError(f"bg_threshold must be between 0 and 1, got {bg_threshold}")
    return float(bg_threshold)


def normalised_nearness(nearness: np.ndarray) -> np.ndarray:
    """Min-max normalised to [0, 1] (1 = nearest), as ControlNet's bg_th compares it; flat -> 1."""
    n = np.asarray(nearness, dtype=np.float32)
    finite = np.isfinite(n)
    if not finite.any():
        raise DepthError("the depth estimate has no finite value")
    lo = float(np.min(n, where=finite, initial=np.inf))
    hi = float(np.max(n, where=finite, initial=-np.inf))
    out = np.ones_like(n) if hi <= lo else (n - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    out[~finite] = 0.0
    return out


def nearness_to_depth(nearness: np.ndarray, bg_threshold: float) -> np.ndarray:
    """Depth for `lib_depth.process`: 1 - normalised nearness (larger = farther), NaN where the
    normalised nearness is below `bg_threshold` (background: the far level, black in the map).

    Linear in nearness, so the default map equals ControlNet's depth_midas (rounded, not truncated).
    """
    bg_threshold = _check_threshold(bg_threshold)
    near = normalised_nearness(nearness)
    depth = np.float32(1.0) - near
    depth[near < bg_threshold] = np.nan
    return depth


def normal_map(nearness: np.ndarray, a: float, bg_threshold: float, resolution: int | None = None) -> np.ndarray:
    """ControlNet's normal_midas: Sobel x/y of the nearness, z = `a`, flat (x = y = 0) where the
    normalised nearness is below `bg_threshold`; uint8 HxWx3 with channels (z, y, x) as it returns.

    ControlNet takes the gradients at the network's resolution; give `resolution` (the one the
    nearness was estimated at) and gradients of a larger or smaller array are scaled to match, so
    the look does not depend on the input's size.
    """
    bg_threshold = _check_threshold(bg_threshold)
    depth = np.nan_to_num(np.asarray(nearness, dtype=np.float32))
    x = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3)
    y = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3)
    if resolution:
        scale = np.float32(min(depth.shape) / _check_resolution(resolution))
        x *= scale
        y *= scale
    background = normalised_nearness(nearness) < bg_threshold
    x[background] = 0
    y[background] = 0
    normal = np.stack([x, y, np.full_like(x, a)], axis=2)
    length = np.sqrt(np.sum(normal**2, axis=2, keepdims=True))
    flat = length[:, :, 0] == 0  # a = 0 on a flat area: no direction; face the viewer
    normal[flat] = (0.0, 0.0, 1.0)
    length[flat] = 1.0
    normal /= length
    # ControlNet truncates (astype) and reverses the channels: kept identical, models were trained on it.
    return np.ascontiguousarray((normal * 127.5 + 127.5).clip(0, 255).astype(np.uint8)[:, :, ::-1])
