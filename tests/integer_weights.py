"""Random test weights that are the same bits on every machine: values from integer arithmetic alone.

`torch.manual_seed(0)` followed by a network's own initialisation is not that: the init runs through
CPU kernels whose last bits depend on the processor (AVX2 or AVX-512, the kernels chosen for it), and
timm 0.9.5 and 1.0.x build DPT-hybrid's modules in another order, so the seed lands elsewhere. Here
every tensor of a state dict is filled from its own key and shape only: a splitmix64 hash of
(sha256 of the key, element index) in uint64 (wrapping arithmetic, exact on any CPU and numpy),
turned into a uniform value in [-1, 1) (an exact multiple of 2**-23), then centred and scaled in
float64 and rounded once to float32 (IEEE arithmetic: correctly rounded, the same everywhere). The
network's own initialisation gives only the layout (names and shapes), never a value.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

__all__ = ["integer_state_dict", "uniform"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def uniform(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """float64 values in [-1, 1), each an exact multiple of 2**-23: a pure function of `key` and index."""
    seed = np.uint64(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))
    with np.errstate(over="ignore"):
        x = np.arange(math.prod(shape), dtype=np.uint64) * _GOLDEN + seed
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        x ^= x >> np.uint64(31)
    return ((x >> np.uint64(40)).astype(np.float64) * 2.0 ** -23 - 1.0).reshape(shape)


def _spread(key: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """(centre, half-width) of a tensor's values: the scales a network's initialisation uses, so the
    random network keeps activations in range and its map has structure (not one flat value)."""
    parts = key.split(".")
    if len(shape) == 1 and "norm" in parts[-2]:
        return (1.0, 0.1) if parts[-1] == "weight" else (0.0, 0.05)
    if parts[-1] in ("pos_embed", "cls_token"):
        return 0.0, 0.035
    if len(shape) == 1:  # biases
        return 0.0, 0.02
    return 0.0, 1.0 / math.sqrt(math.prod(shape[1:]))  # torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))


def integer_state_dict(layout: dict[str, Any], *, lift: dict[str, float] | None = None) -> dict[str, Any]:
    """A float32 state dict with `layout`'s keys and shapes (any tensors or shapes), machine-independent.

    `lift`: keys whose every value is set to a constant (e.g. an output bias that keeps the map above
    a final ReLU)."""
    import torch

    state = {}
    for key in layout:
        shape = tuple(layout[key].shape if hasattr(layout[key], "shape") else layout[key])
        centre, half = _spread(key, shape)
        values = np.full(shape, lift[key]) if lift and key in lift else centre + half * uniform(key, shape)
        state[key] = torch.from_numpy(values.astype(np.float32))
    return state
