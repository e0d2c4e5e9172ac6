"""A Depth Anything V2 weights file -> the network, strictly: every tensor used, none missing, every
shape right, and every way a file can be wrong turned into a WeightsError that names it.

Two formats are read, both without running code: the official `.pth` (a torch.save'd state dict,
read with `weights_only=True`: a file holding Python objects is refused, never unpickled) and the
`.safetensors` copies ControlNet and Forge download (same keys, fp16). The encoder size comes from
the tensors (`AnythingConfig.from_state_dict`), whatever the file is called.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import re
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..depth.dependencies import MissingDependency, require
from ..network_base.strict_load import can_assign, first_line, human_size
from ..network_base.torch_load import load_tensors
from ..network_base.weights import WeightsError
from .config import AnythingConfig, LayoutError
from .network import build

if TYPE_CHECKING:
    import torch

_loads = 0
_count_lock = threading.Lock()
MODEL = "Depth Anything V2"


def load_count() -> int:
    """How many times weights were read from disk in this process (the cache should keep it at 1)."""
    return _loads


def _damaged(path: Path, exc: BaseException, what: str) -> WeightsError:
    detail = "not a zip or pickle checkpoint" if "Weights only load failed" in str(exc) else first_line(exc)
    return WeightsError(f"cannot load the {MODEL} weights: the file is truncated, damaged or not {what} "
                        f"({detail}; {human_size(path.stat().st_size)})", path)


def _read_pth(path: Path) -> Any:

    is_zip = zipfile.is_zipfile(path)
    try:
        return load_tensors(path, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or (is_zip and "Weights only load failed" in str(exc)):
            named = re.search(r"GLOBAL (\S+)", str(exc))
            raise WeightsError(
                f"this checkpoint holds Python objects besides tensors{f' (it calls {named[1]})' if named else ''}; "
                f"it is never unpickled (that could run code): use the published depth_anything_v2_vit*.pth, "
                f"or save its state_dict() instead", path) from None
        raise _damaged(path, exc, "a PyTorch checkpoint") from None
    except Exception as exc:
        raise _damaged(path, exc, "a PyTorch checkpoint") from None


def _read_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise MissingDependency("safetensors", f"reading {path.name}") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # SafetensorError, OSError, ...
        raise _damaged(path, exc, "a safetensors file") from None


def _is_safetensors(path: Path, head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object (whatever the name)."""
    return path.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{" and head[:8] != b"PK\x03\x04")


#: A safetensors header larger than this is not one (ViT-L's is about 60 KiB).
MAX_HEADER = 64 << 20


def _safetensors_shapes(path: Path) -> dict[str, Any]:
    """The tensors' names and shapes from a safetensors header alone: no tensor is read, no torch."""
    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size)) if 0 < size <= MAX_HEADER else None
    except (OSError, ValueError) as exc:
        raise _damaged(path, exc, "a safetensors file") from None
    if not isinstance(header, dict):
        raise _damaged(path, ValueError(f"header of {size} bytes"), "a safetensors file")
    return {name: SimpleNamespace(shape=tuple(info["shape"])) for name, info in header.items()
            if isinstance(info, dict) and isinstance(info.get("shape"), list)}


def read_config(path: Path) -> AnythingConfig:
    """The network a weights file holds, from its tensors' shapes only (a safetensors header; a
    `.pth` memory-mapped): what the tab needs to say which size, hence which licence, a file is,
    without loading it. WeightsError for a file that is no Depth Anything V2 weights."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise WeightsError(f"cannot read the {MODEL} weights ({exc.strerror or exc})", path) from None
    state = _safetensors_shapes(path) if _is_safetensors(path, head) else read_state_dict(path)
    try:
        return AnythingConfig.from_state_dict(state)
    except LayoutError as exc:
        raise WeightsError(str(exc), path) from None


def read_state_dict(path: Path) -> Mapping[str, Any]:
    """The file's tensors by name (safetensors by its magic, else torch.load with weights only)."""
    require("torch", f"{MODEL} depth estimation")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise WeightsError(f"cannot read the {MODEL} weights ({exc.strerror or exc})", path) from None
    if size == 0:
        raise WeightsError(f"the {MODEL} weights file is empty (0 bytes)", path)
    state = _read_safetensors(path) if _is_safetensors(path, head) else _read_pth(path)
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]  # a training checkpoint
    if state is None:  # only the WebUI's checking loader (modules/safe.py) answers None
        raise WeightsError("torch.load returned None: the file holds None, or a WebUI's safe loader refused it "
                           "(see 'Error verifying pickled file' in the console)", path)
    if not isinstance(state, Mapping) or not state:
        what = "an empty dict" if isinstance(state, Mapping) else f"a {type(state).__name__}"
        raise WeightsError(f"the file holds {what}, not {MODEL} weights", path)
    return state


def _check_layout(path: Path, state: Mapping[str, Any], net: torch.nn.Module) -> None:
    """Strict: the same names and shapes as the network (the reference's own `load_state_dict`)."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    missing = sorted(set(expected).difference(state))
    unknown = sorted(set(state).difference(expected))
    wrong = sorted(k for k in set(expected).intersection(state) if tuple(state[k].shape) != expected[k])
    parts = [f"{len(missing)} tensors missing, e.g. {missing[0]}"] if missing else []
    parts += [f"{len(unknown)} unknown, e.g. {unknown[0]}"] if unknown else []
    parts += [f"{len(wrong)} of the wrong shape, e.g. {wrong[0]} {tuple(state[wrong[0]].shape)} instead of "
              f"{expected[wrong[0]]}"] if wrong else []
    if parts:
        raise WeightsError(f"these are not {MODEL} weights of a known layout ({'; '.join(parts)})", path)
    not_float = sorted(k for k, v in state.items() if not v.is_floating_point())
    if not_float:
        raise WeightsError(f"tensor {not_float[0]} is {state[not_float[0]].dtype}, not floating point", path)


def load_network(path: Path) -> tuple[torch.nn.Module, AnythingConfig]:
    """Build the network a weights file describes and load it: fp32, eval mode, on the CPU."""
    global _loads
    import torch

    state = read_state_dict(path)
    try:
        cfg = AnythingConfig.from_state_dict(state)
    except LayoutError as exc:
        raise WeightsError(str(exc), path) from None
    assign = can_assign()
    with torch.device("meta") if assign else contextlib.nullcontext():  # meta: no random init of 335M values
        net = build(cfg)
    _check_layout(path, state, net)
    state = {k: v.float() for k, v in state.items()}  # fp16 copies (ControlNet's) become fp32 masters
    try:
        net.load_state_dict(state, strict=True, **({"assign": True} if assign else {}))
    except Exception as exc:
        raise WeightsError(f"these are not {MODEL} weights ({first_line(exc)})", path) from None
    net = net.float().eval().requires_grad_(False)
    with _count_lock:
        _loads += 1
    return net, cfg
