"""Device and precision policy: where MiDaS runs and in which float format.

bf16 autocast is only chosen on a CPU where a one-off probe measures it faster and close enough
to fp32 (CPUs without native bf16 run it ~20x slower): a speed-up measured elsewhere means nothing.
"""

from __future__ import annotations

import logging
import math
import platform
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..depth.errors import DepthError
from .geometry import to_network_input
from .network import INFERENCE_LOCK
from .weights import read_state, update_state

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: bf16 is used on a CPU only if the probe runs at most this fraction of the fp32 time ...
BF16_MIN_SPEEDUP = 0.8
#: ... and its min-max normalised output differs from fp32 by at most this much on average (about
#: 2.5 of 255 levels).
BF16_MAX_ERROR = 0.01


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


def cpu_bf16_support(cpuinfo: str | None = None) -> bool | None:
    """Whether the CPU executes bf16 natively (x86 `avx512_bf16`/`amx_bf16`, ARM `bf16`), from its
    flags; None where they cannot be read (not Linux): then only the probe can tell."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf8", errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def measure_cpu_precision(net: torch.nn.Module, key_extra: str = "") -> str:
    """fp32 or bf16 on this CPU: bf16 when it is clearly faster and close enough (docs/architecture.md).

    A CPU without native bf16 (no AVX-512 BF16 or AMX; on ARM no BF16) runs bf16 autocast ~20x
    slower than fp32: fp32, without measuring. Otherwise measured once on a 128x128 probe (~1 s)
    and remembered per CPU, torch version, thread count and weights, so later starts skip it.
    """
    import torch

    if cpu_bf16_support() is False:
        log.info("CPU precision: fp32 (this CPU has no native bf16: bf16 would be many times slower)")
        return "fp32"

    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
    key = "|".join([torch.__version__, platform.processor() or platform.machine(), capability,
                    str(torch.get_num_threads()), key_extra])
    remembered = read_state().get("cpu_precision", {}).get(key)
    if remembered in ("fp32", "bf16"):
        return remembered
    cpu = torch.device("cpu")
    x = to_network_input(_probe_input()[None], cpu)
    timings, outputs = {}, {}
    try:
        for precision in ("fp32", "bf16"):
            check_precision(cpu, precision)
            with INFERENCE_LOCK, torch.inference_mode(), autocast(cpu, precision):
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


def empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()
