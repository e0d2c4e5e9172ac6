"""A Video Depth Anything `.pth` -> the network, strictly, read with `weights_only=True` (a file that
holds Python objects is refused, never unpickled) through the host's loader (`network_base.torch_load`:
inside A1111 the wrapped `torch.load` refuses current checkpoints and answers None). The size comes
from the tensors; whether the alignment is metric from the file's name, as the official run.py decides it.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from ..network_base.torch_load import load_tensors
from ..network_base.weights import WeightsError
from .config import VideoConfig, VideoLayoutError, is_metric_name
from .network import build

MODEL = "Video Depth Anything"


def read_state(path: Path) -> dict[str, Any]:
    """The file's state dict (CPU tensors, memory-mapped where the format allows)."""
    if not path.is_file():
        raise WeightsError(f"no {MODEL} weights file here", path)
    try:
        state = load_tensors(path, mmap=zipfile.is_zipfile(path))
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load the {MODEL} weights: damaged, or not a weights-only checkpoint "
                           f"({type(exc).__name__}: {line[:200]})", path) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"not a {MODEL} state dict (the file holds a {type(state).__name__})", path)
    return state


def load_video_network(path: str | Path, *, metric: bool | None = None) -> tuple[Any, VideoConfig]:
    """(network in eval mode on the CPU, its config). `metric=None`: from the name (`metric_...`)."""
    import torch

    path = Path(path)
    state = read_state(path)
    try:
        cfg = VideoConfig.from_state_dict(state, metric=is_metric_name(path) if metric is None else metric)
    except VideoLayoutError as exc:
        raise WeightsError(str(exc), path) from None
    with torch.device("meta"):
        net = build(cfg)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as exc:
        detail = str(exc).splitlines()[0][:300]
        raise WeightsError(f"the {MODEL} tensors do not fit its layout: {detail}", path) from None
    return net.eval().requires_grad_(False), cfg
