"""Device and precision policy: where a depth network runs and in which float format.

On a CPU, bf16 autocast is chosen only where a one-off probe, on this CPU, measures it clearly
faster than fp32 and its map within one 8-bit level of fp32's (CPUs without native bf16 run it
~20x slower; on some with it, Depth Anything ViT-S gained 8% for 0.92 levels of error on average):
a speed-up measured elsewhere means nothing, and a small one is not worth a different map.
"""

from __future__ import annotations

import contextlib
import logging
import math
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..depth.errors import DepthError
from .weights import read_state, update_state

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: bf16 is used on a CPU only if the probe runs at least this many times faster than in fp32 ...
MIN_SPEEDUP = 1.3
#: ... and its 8-bit map (min-max normalised, as the maps are made) is within this many levels of
#: fp32's at every pixel.
MAX_LEVEL_DIFFERENCE = 1
#: The probe's method and what it records: part of what is remembered, so that a choice made by
#: another method (releases before this one stored only "bf16" or "fp32") is measured again.
PROBE_VERSION = 2


@dataclass(frozen=True, kw_only=True)
class PrecisionProbe:
    """fp32 and bf16 on one input on this CPU: the best time of each, and how far apart their 8-bit
    maps are (the largest and the mean difference, in levels of 255)."""

    fp32_seconds: float
    bf16_seconds: float
    max_levels: int
    mean_levels: float

    @property
    def speedup(self) -> float:
        return self.fp32_seconds / self.bf16_seconds if self.bf16_seconds > 0 else 0.0


def choose_cpu_precision(probe: PrecisionProbe) -> str:
    """bf16 where it is clearly faster (>= MIN_SPEEDUP) and its map stays within MAX_LEVEL_DIFFERENCE
    levels of fp32's everywhere; otherwise fp32: accuracy is given up only for a real gain."""
    if probe.speedup >= MIN_SPEEDUP and probe.max_levels <= MAX_LEVEL_DIFFERENCE:
        return "bf16"
    return "fp32"


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


def probe_image(size: int = 128) -> np.ndarray:
    """A deterministic, structured uint8 RGB image for timing and comparing precisions; each network
    makes its own input of it (its normalisation, its multiple) and hands that to the probe."""
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


def measure_cpu_precision(net: Callable[[Any], Any], key_extra: str = "", *, probe_input: torch.Tensor,
                          lock: Any = None) -> str:
    """fp32 or bf16 on this CPU, by `choose_cpu_precision` from a probe (docs/architecture.md).

    `probe_input` is the network's own input made of `probe_image()`; `lock` (the network's
    inference lock, if it has one) is held while the probe runs it.

    A CPU without native bf16 (no AVX-512 BF16 or AMX; on ARM no BF16) runs bf16 autocast ~20x
    slower than fp32: fp32, without measuring. Otherwise measured once on a 128x128 probe (a few seconds);
    the measurements are remembered per CPU, torch version, thread count, weights and probe
    version, and the choice is made from them again at every start.
    """

    if cpu_bf16_support() is False:
        log.info("CPU precision: fp32 (this CPU has no native bf16: bf16 would be many times slower)")
        return "fp32"
    key = precision_state_key(key_extra)
    probe = _remembered(read_state().get("cpu_precision", {}).get(key))
    if probe is None:
        probe = _probe(net, probe_input, lock)
        if probe is None:
            return "fp32"
        update_state("cpu_precision", key, {"probe": PROBE_VERSION, **asdict(probe)})
    choice = choose_cpu_precision(probe)
    log.info("CPU precision: fp32 %.3f s, bf16 %.3f s (%.2fx), 8-bit maps up to %d levels apart (mean %.2f) -> %s",
             probe.fp32_seconds, probe.bf16_seconds, probe.speedup, probe.max_levels, probe.mean_levels, choice)
    return choice


def precision_state_key(key_extra: str = "") -> str:
    """Where a probe is remembered: this CPU, torch version, thread count and `key_extra` (the weights)."""
    import torch

    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
    return "|".join([torch.__version__, platform.processor() or platform.machine(), capability,
                     str(torch.get_num_threads()), key_extra])


def _remembered(record: object) -> PrecisionProbe | None:
    """A probe remembered by this probe version; None for anything else (an older release's bare choice)."""
    if not isinstance(record, dict) or record.get("probe") != PROBE_VERSION:
        return None
    try:
        return PrecisionProbe(fp32_seconds=float(record["fp32_seconds"]), bf16_seconds=float(record["bf16_seconds"]),
                              max_levels=int(record["max_levels"]), mean_levels=float(record["mean_levels"]))
    except (KeyError, TypeError, ValueError):
        return None


def _probe(net: Callable[[Any], Any], x: torch.Tensor, lock: Any) -> PrecisionProbe | None:
    """Time fp32 and bf16 on the same input and compare their 8-bit maps; None where bf16 autocast
    is not available on the CPU."""
    import torch

    cpu = torch.device("cpu")
    timings, maps = {}, {}
    try:
        for precision in ("fp32", "bf16"):
            check_precision(cpu, precision)
            with lock or contextlib.nullcontext(), torch.inference_mode(), autocast(cpu, precision):
                net(x)  # warm-up
                best = math.inf
                for _ in range(3):  # the best of three: a busy machine only slows some
                    start = time.perf_counter()
                    y = net(x).float()
                    best = min(best, time.perf_counter() - start)
            timings[precision], maps[precision] = best, _levels8(y[0])
    except DepthError:
        return None
    difference = (maps["bf16"] - maps["fp32"]).abs()
    return PrecisionProbe(fp32_seconds=timings["fp32"], bf16_seconds=timings["bf16"],
                          max_levels=int(difference.max()), mean_levels=float(difference.float().mean()))


def _levels8(t: torch.Tensor) -> torch.Tensor:
    """The 8-bit map of an output: min-max normalised to 0..255 and rounded, as the maps are made."""
    import torch

    lo, hi = t.min(), t.max()
    normalised = (t - lo) / (hi - lo) if hi > lo else t * 0
    return torch.round(normalised * 255).to(torch.int16)


def empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()
