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
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["default_spread", "dpt_hybrid_spread", "integer_state_dict", "uniform"]

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


Spread = Callable[[str, tuple[int, ...], dict[str, tuple[int, ...]]], tuple[float, float]]


def default_spread(key: str, shape: tuple[int, ...], layout: dict[str, tuple[int, ...]]) -> tuple[float, float]:
    """(centre, half-width) of a tensor's uniform values: norms near 1, small biases, weights as torch's
    default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so activations stay in range and a map has structure."""
    parts = key.split(".")
    if len(shape) == 1 and "norm" in parts[-2]:
        return (1.0, 0.1) if parts[-1] == "weight" else (0.0, 0.05)
    if parts[-1] in ("pos_embed", "cls_token"):
        return 0.0, 0.035
    if len(shape) == 1:  # biases
        return 0.0, 0.02
    return 0.0, 1.0 / math.sqrt(math.prod(shape[1:]))


def dpt_hybrid_spread(key: str, shape: tuple[int, ...], layout: dict[str, tuple[int, ...]]) -> tuple[float, float]:
    """The scales of DPT-hybrid's own initialisation, as uniform ranges of the same standard deviation:
    timm's ViT (linear weights std 0.02, biases 0, pos_embed std 0.02, cls_token ~0) and ResNetV2
    (convolutions He fan-out, norms 1 and 0, each block's last norm 0), torch's default for MiDaS's
    own layers. The random network then behaves as the seeded one did (a flat background stays flat
    next to a moving object: tests/test_midas_sequence.py's flicker ratio, 7.8x, against 9.6-10.6x;
    with `default_spread` 2.4x)."""
    parts, timm, root3 = key.split("."), key.startswith("pretrained.model."), math.sqrt(3.0)
    if parts[-1] == "cls_token":
        return 0.0, 0.0
    if parts[-1] == "pos_embed":
        return 0.0, 0.02 * root3
    if len(shape) == 1 and "norm" in parts[-2]:
        return (0.0 if parts[-2] == "norm3" else 1.0, 0.0) if parts[-1] == "weight" else (0.0, 0.0)
    if len(shape) == 1:  # biases: timm's are zero, torch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of their weight
        return (0.0, 0.0) if timm else (0.0, 1.0 / math.sqrt(math.prod(layout[key[:-4] + "weight"][1:])))
    if timm:
        return 0.0, root3 * (0.02 if len(shape) == 2 else math.sqrt(2.0 / (shape[0] * math.prod(shape[2:]))))
    return 0.0, 1.0 / math.sqrt(math.prod(shape[1:]))


def integer_state_dict(layout: dict[str, Any], *, spread: Spread = default_spread,
                       lift: dict[str, float] | None = None) -> dict[str, Any]:
    """A float32 state dict with `layout`'s keys and shapes (tensors or shapes), machine-independent.

    `spread`: each tensor's (centre, half-width); `lift`: keys whose every value is set to a constant
    (e.g. an output bias that keeps the map above a final ReLU)."""
    import torch

    shapes = {key: tuple(getattr(value, "shape", value)) for key, value in layout.items()}
    state = {}
    for key, shape in shapes.items():
        centre, half = spread(key, shape, shapes)
        values = np.full(shape, lift[key]) if lift and key in lift else centre + half * uniform(key, shape)
        state[key] = torch.from_numpy(values.astype(np.float32))
    return state
