"""MiDaS weights file -> controlnet_aux's DPT-hybrid network, with every way a file can be wrong
turned into a WeightsError that names it. torch and controlnet_aux are imported on first use."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import pickle
import re
import sys
import threading
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..depth.dependencies import MissingDependency, require
from ..network_base.strict_load import can_assign as _can_assign
from ..network_base.strict_load import first_line as _first_line
from ..network_base.strict_load import human_size as _size
from ..network_base.torch_load import load_tensors
from . import hf_layout
from .weights import WEIGHTS_MIB, WEIGHTS_NAME, WeightsError, expected_sha256_prefix, sha256_file

if TYPE_CHECKING:
    import torch

#: controlnet_aux's ViT keeps intermediate activations in one module-level dict shared by every
#: model instance: one forward at a time in the whole process. Also guards moves between devices.
INFERENCE_LOCK = threading.RLock()

_torchvision_stub: Any = None
_loads = 0
#: set once building on the meta device failed in this process (timm 0.9.x): not tried again
_meta_fails = False
log = logging.getLogger(__name__)


def load_count() -> int:
    """How many times weights were read from disk in this process (the cache should keep it at 1)."""
    return _loads



def _ensure_torchvision() -> None:
    """Import torchvision (timm imports it), working around a CUDA torchvision beside a CPU torch.

    Such a pair fails with "operator torchvision::nms does not exist"; defining the two schemas
    lets it import (MiDaS uses none of its compiled operators). Real WebUI installs have a matching
    pair and never take this path. No torchvision at all is fine for recent timm.
    """
    global _torchvision_stub
    import torch

    try:
        import torchvision
    except ImportError:
        return
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


#: The DPT-hybrid's own modules inside controlnet_aux (`midas/midas/`: they import only torch, timm
#: and each other), and the private package name they are loaded under here.
_DPT_MODULE = "controlnet_aux.midas.midas.dpt_depth"
_ALIAS = "_depth_tools_dpt"
_import_lock = threading.Lock()


def _dpt_folder() -> Path:
    """controlnet_aux's `midas/midas` folder, found without running any of its code."""
    try:
        spec = importlib.util.find_spec("controlnet_aux")
    except (ImportError, ValueError):  # a half-imported or stubbed package without __spec__
        spec = getattr(sys.modules.get("controlnet_aux"), "__spec__", None)
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        folder = Path(root) / "midas" / "midas"
        if (folder / "dpt_depth.py").is_file():
            return folder
    raise MissingDependency("controlnet_aux", "MiDaS depth estimation")


def _import_dpt_module() -> ModuleType:
    """controlnet_aux's `dpt_depth` module, without running controlnet_aux's package `__init__`s.

    Those import every detector: with mediapipe 1.x (Forge) that raises AttributeError, and a
    missing optional dependency of any detector breaks it too. So the network's own folder is
    loaded as a private package (`_ALIAS`): nothing named `controlnet_aux*` is touched, a later
    real `import controlnet_aux` runs as usual, and no other thread ever sees a stand-in. When
    controlnet_aux's own copy is already imported (another extension), that one is used.
    """
    real = sys.modules.get(_DPT_MODULE)
    if real is not None and hasattr(real, "DPTDepthModel"):
        return real
    with _import_lock:
        done = sys.modules.get(f"{_ALIAS}.dpt_depth")
        if done is not None:
            return done
        folder = _dpt_folder()
        spec = importlib.util.spec_from_file_location(
            _ALIAS, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[_ALIAS] = package
        try:
            spec.loader.exec_module(package)
            return importlib.import_module(f"{_ALIAS}.dpt_depth")
        except BaseException:
            for name in [m for m in sys.modules if m == _ALIAS or m.startswith(f"{_ALIAS}.")]:
                del sys.modules[name]
            raise


def network_class() -> type:
    """controlnet_aux's DPTDepthModel, from its own modules alone (torch and timm)."""
    require("torch", "MiDaS depth estimation")
    _ensure_torchvision()  # before timm, which imports it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm deprecations, registry overwrites
        try:
            module = _import_dpt_module()
        except ImportError as exc:  # a dependency of the network's own modules
            missing = getattr(exc, "name", None) or "controlnet_aux"
            raise MissingDependency(missing.split(".")[0], "MiDaS depth estimation", f" ({exc})") from None
    return module.DPTDepthModel


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


def _still_published(path: Path) -> bool:
    """Hash the file again, now: a remembered verification is keyed by path, size and mtime, which
    whoever can write the file can keep (os.utime), so it never licenses running a pickle."""
    prefix = expected_sha256_prefix(path.name)
    return prefix is not None and sha256_file(path).startswith(prefix)


def _python_objects(path: Path, exc: BaseException, verified: bool) -> WeightsError:
    named = re.search(r"GLOBAL (\S+)", str(exc))
    what = f" (it calls {named[1]})" if named else ""
    why = ("its sha256 no longer matches the one verified earlier: it changed since, and " if verified else
           f"a file that is not the published {WEIGHTS_NAME} ")
    return WeightsError(
        f"this checkpoint holds Python objects besides tensors{what}; {why}is never unpickled (that could run "
        f"code): replace it with the published {WEIGHTS_NAME}, or save its state_dict() instead",
        path,
    )


def read_state_dict(path: Path, verified: bool) -> Mapping[str, Any]:
    """torch.load, with every way a file can be wrong turned into a WeightsError naming it.

    Tensors only (`weights_only`), memory-mapped when the file is a zip checkpoint (loading then
    takes ~0.05 s instead of ~1.5 s). Only a file whose sha256 matched the published one may be
    fully unpickled, should its format need that, and only if it still hashes so: unpickling runs code.
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
        state = load_tensors(path, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        objects = "Unsupported global" in str(exc) or (is_zip and "Weights only load failed" in str(exc))
        if not objects:
            raise _damaged(path, exc) from None
        if not verified or not _still_published(path):
            raise _python_objects(path, exc, verified) from None
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
            "MiDaS weights unusable: torch.load returned None: the file holds None, or a WebUI's safe loader "
            "refused it (see 'Error verifying pickled file' in the console): replace it "
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


def _meta_device() -> Any:
    """`with torch.device("meta")`, except that small index tensors (linspace, arange) stay real.

    On the meta device building skips a random initialisation of 123M parameters (~5 s on 2
    cores). timm 0.9.5's ResNetV2 (every A1111 + ControlNet install has it) reads the values of a
    `linspace` while it is built (`.tolist()`), which a meta tensor cannot give: those few small
    tensors are made on the CPU instead. None where torch lacks the device context (< 2.0).
    """
    import torch

    try:
        from torch.utils._device import DeviceContext
    except ImportError:
        return None
    small = (torch.linspace, torch.arange, torch.logspace)

    class MetaButSmall(DeviceContext):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            kwargs = kwargs or {}
            if func in small and kwargs.get("device") is None:
                return func(*args, **{**kwargs, "device": "cpu"})
            return super().__torch_function__(func, types, args, kwargs)

    return MetaButSmall(torch.device("meta"))


def _build(dpt: type) -> tuple[torch.nn.Module, bool]:
    """(the DPT-hybrid with uninitialised weights, whether they live on the meta device).

    A timm whose network cannot be built that way fails fast; that is remembered for the
    process and the net is built the plain way from then on, so no load pays for both.
    """
    global _meta_fails

    def build() -> torch.nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # timm's deprecation notices
            return dpt(path=None, backbone="vitb_rn50_384", non_negative=True)

    meta = None if _meta_fails or not _can_assign() else _meta_device()
    if meta is not None:
        try:
            with meta:
                return build(), True
        except Exception as exc:  # a timm that computes with its tensors while building
            _meta_fails = True
            log.info("MiDaS: cannot build on the meta device with timm %s (%s); building normally",
                     _version("timm"), _first_line(exc))
    return build(), False


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def load_network(path: Path, verified: bool = False) -> torch.nn.Module:
    """Build controlnet_aux's DPT-hybrid from a weights file: fp32, eval mode, on the CPU."""
    global _loads, _meta_fails

    # transformers' layout (Intel/dpt-hybrid-midas) is renamed to ours: hf_layout
    state = hf_layout.read_state_dict(path) if hf_layout.is_hf_file(path) else read_state_dict(path, verified)
    dpt = network_class()
    net, on_meta = _build(dpt)
    expected = set(net.state_dict())
    missing = sorted(expected.difference(state))
    unexpected = sorted(set(state).difference(expected))
    if missing or unexpected:
        parts = [f"{len(missing)} tensors missing, e.g. {missing[0]}"] if missing else []
        parts += [f"{len(unexpected)} unknown, e.g. {unexpected[0]}"] if unexpected else []
        raise _not_dpt_hybrid(path, "; ".join(parts))
    try:
        net.load_state_dict(state, strict=True, **({"assign": True} if on_meta else {}))
    except Exception as exc:
        raise _not_dpt_hybrid(path, _first_line(exc)) from None
    if on_meta and any(t.is_meta for t in (*net.parameters(), *net.buffers())):
        _meta_fails = True  # a timm that makes tensors outside the state dict: the plain way from now on
        net, _ = _build(dpt)
        net.load_state_dict(state, strict=True)
    net = net.float().eval().requires_grad_(False)  # fp32 master weights; precision = autocast
    _loads += 1
    return net
