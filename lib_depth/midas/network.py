"""MiDaS weights file -> controlnet_aux's DPT-hybrid network, with every way a file can be wrong
turned into a WeightsError that names it. torch and controlnet_aux are imported on first use."""

from __future__ import annotations

import pickle
import sys
import threading
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .weights import WEIGHTS_MIB, WEIGHTS_NAME, WeightsError

if TYPE_CHECKING:
    import torch

#: controlnet_aux's ViT keeps intermediate activations in one module-level dict shared by every
#: model instance: one forward at a time in the whole process. Also guards moves between devices.
INFERENCE_LOCK = threading.RLock()

_torchvision_stub: Any = None
_loads = 0


def load_count() -> int:
    """How many times weights were read from disk in this process (the cache should keep it at 1)."""
    return _loads



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
