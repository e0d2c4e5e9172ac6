"""The device the estimator tests run on: the CPU, unless DEPTH_TOOLS_TEST_DEVICE names another.

`bench/gpu.sh` runs the estimator and reference tests on CUDA this way. There TF32 is switched off
(torch lets cuDNN's convolutions use it by default), so that "equal to the reference within 1e-4 of
the range" still compares fp32 with fp32 and not with a 10-bit mantissa.
"""

from __future__ import annotations

import os
from typing import Any

DEVICE = os.environ.get("DEPTH_TOOLS_TEST_DEVICE", "cpu")

if DEVICE.startswith("cuda"):  # before any test runs a network: batch == single calls, ours == the reference
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def on_device(*items: Any) -> Any:
    """Tensors or modules moved to the test device (one item, or a tuple of them)."""
    moved = tuple(item.to(DEVICE) for item in items)
    return moved[0] if len(moved) == 1 else moved


def cpu_only(reason: str) -> Any:
    """A mark for the tests that are about the CPU (numbers recorded there bit for bit, its precision probe)."""
    import pytest

    return pytest.mark.skipif(DEVICE != "cpu", reason=reason)
