"""Depth Anything V2 test weights: random but deterministic, in the reference's own layout.

The layout (names and shapes) comes from `anything_reference_layouts.json`, recorded from the
reference repository's `DepthAnythingV2(**model_configs[encoder]).state_dict()`, not from our
network, so a test that loads these files strictly also checks that our modules are named as the
reference's. Values come from numpy's legacy `RandomState` (the same on numpy 1.26 and 2.x), so the
webui, forge and newest environments build bit-identical weights and inputs.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

LAYOUTS = Path(__file__).with_name("anything_reference_layouts.json")
#: the final conv's bias: lifts random outputs above the ReLU so that most pixels carry signal
OUTPUT_BIAS = 1.0


@cache
def reference_layout(encoder: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    rows = json.loads(LAYOUTS.read_text(encoding="utf8"))[encoder]
    return tuple((name, tuple(shape)) for name, shape in rows)


def _values(rng: np.random.RandomState, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name.endswith("ls1.gamma") or name.endswith("ls2.gamma"):
        return rng.uniform(0.2, 1.0, shape)
    if len(shape) == 1 and ("norm" in name.split(".")[-2] or name.endswith("norm.weight")):
        return 1.0 + 0.1 * rng.standard_normal(shape) if name.endswith("weight") else 0.05 * rng.standard_normal(shape)
    if name.endswith(("pos_embed", "cls_token", "mask_token")):
        return 0.5 * rng.standard_normal(shape)
    if len(shape) == 1:  # biases
        return 0.02 * rng.standard_normal(shape)
    fan_in = int(np.prod(shape[1:])) if "resize_layers.0" not in name and "resize_layers.1" not in name else shape[0]
    return rng.standard_normal(shape) * (1.0 / np.sqrt(fan_in))


def random_state_dict(encoder: str = "vits", seed: int = 0, dtype: Any = None) -> dict[str, Any]:
    """A full state dict of `encoder`'s reference layout with seeded values (torch tensors)."""
    import torch

    rng = np.random.RandomState(seed)
    state = {}
    for name, shape in reference_layout(encoder):
        values = _values(rng, name, shape).astype(np.float32)
        if name == "depth_head.scratch.output_conv2.2.bias":
            values[:] = OUTPUT_BIAS
        state[name] = torch.from_numpy(values)
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    return state


def meta_state_dict(encoder: str) -> dict[str, Any]:
    """The layout of `encoder` as storage-less tensors: ViT-L's 1.3 GB never exists."""
    import torch

    return {name: torch.empty(shape, device="meta") for name, shape in reference_layout(encoder)}


def save_pth(path: Path, state: dict[str, Any]) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, str(path))
    return path


def save_safetensors(path: Path, state: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def picture(height: int, width: int, seed: int = 1) -> np.ndarray:
    """A structured uint8 RGB picture (gradients, a disc, noise): deterministic everywhere."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = ((yy - height * 0.55) ** 2 + (xx - width * 0.4) ** 2 < (0.25 * min(height, width)) ** 2) * 90.0
    rgb = np.stack([xx / width * 200 + disc, yy / height * 180, (xx + yy) / (width + height) * 120 + disc], -1)
    rgb += rng.uniform(0, 40, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)
