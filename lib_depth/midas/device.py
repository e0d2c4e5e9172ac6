"""MiDaS's CPU precision probe: the shared policy (`network_base.device`) run on MiDaS's own input,
the probe picture normalised to [-1, 1] and channels-last, under the DPT-hybrid's process-wide lock.
The rest of the shared device and precision names are re-exported for the callers of this module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..network_base.device import (
    MAX_LEVEL_DIFFERENCE,
    MIN_SPEEDUP,
    PROBE_VERSION,
    PrecisionProbe,
    autocast,
    check_precision,
    choose_cpu_precision,
    cpu_bf16_support,
    empty_device_cache,
    pick_device,
    precision_state_key,
    probe_image,
    torch_dtype,
)
from ..network_base.device import measure_cpu_precision as measure_with
from .geometry import to_network_input
from .network import INFERENCE_LOCK

if TYPE_CHECKING:
    import torch

__all__ = ["MAX_LEVEL_DIFFERENCE", "MIN_SPEEDUP", "PROBE_VERSION", "PrecisionProbe", "autocast", "check_precision",
           "choose_cpu_precision", "cpu_bf16_support", "empty_device_cache", "measure_cpu_precision", "pick_device",
           "precision_state_key", "torch_dtype"]


def measure_cpu_precision(net: torch.nn.Module, key_extra: str = "") -> str:
    """fp32 or bf16 for the DPT-hybrid `net` on this CPU (`network_base.device.measure_cpu_precision`)."""
    import torch

    x = to_network_input(probe_image()[None], torch.device("cpu"))
    return measure_with(net, key_extra, probe_input=x, lock=INFERENCE_LOCK)
