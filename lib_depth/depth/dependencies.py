"""Optional packages, imported when first needed, with one clear message when one is missing.

The WebUI installs OpenEXR and controlnet_aux through `install.py`; with `--skip-install`, a failed
pip or a broken wheel they may be absent. Nothing that does not need a package may fail for
want of it: the tab still appears (and says what to install), EXR conversion works without
controlnet_aux, MiDaS without OpenEXR.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

from .errors import DepthError

#: pip requirement per distribution, as install.py asks for it (tests/test_install.py keeps them equal).
INSTALL_SPECS = {
    "OpenEXR": "OpenEXR>=3.3,<4",
    "controlnet_aux": "controlnet_aux>=0.0.9,<0.1",
    "timm": "timm>=0.6.7",
    "av": "av>=14,<20",  # video files in and out (PyAV)
}
#: import name -> distribution name
DISTRIBUTIONS = {"OpenEXR": "OpenEXR", "controlnet_aux": "controlnet_aux", "timm": "timm", "torch": "torch"}


class MissingDependency(DepthError):
    """A package a feature needs is not installed (or does not import): says which, and the command."""

    def __init__(self, module: str, feature: str, detail: str = "") -> None:
        self.module = module
        self.feature = feature
        super().__init__(missing_message(module, feature, detail))


def install_command(*modules: str) -> str:
    """`<this Python> -m pip install "spec" ...`: the WebUI's own Python, so it lands where it runs."""
    specs = " ".join(f'"{INSTALL_SPECS.get(DISTRIBUTIONS.get(m, m), DISTRIBUTIONS.get(m, m))}"' for m in modules)
    return f'"{sys.executable}" -m pip install {specs}'


def missing_message(module: str, feature: str, detail: str = "") -> str:
    if module == "torch":  # never installed by us: the WebUI's own torch must be there
        return f"{feature} needs PyTorch, which this Python cannot import{detail}; Depth Tools never installs torch"
    return f"{feature} needs the Python package {DISTRIBUTIONS.get(module, module)}, which is not installed{detail}; " \
           f"install it with: {install_command(module)}"


def is_installed(module: str) -> bool:
    """Whether `module` can be found (without importing it: controlnet_aux takes seconds)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, feature: str) -> ModuleType:
    """Import `module`, or raise MissingDependency naming it, the feature and the command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        found = is_installed(module)
        detail = f" (it is installed but does not import: {type(exc).__name__}: {exc})" if found else ""
        raise MissingDependency(module, feature, detail) from None


class LazyModule:
    """A module imported on first attribute use: `OpenEXR = LazyModule("OpenEXR", "reading EXR files")`."""

    def __init__(self, module: str, feature: str) -> None:
        self._name, self._feature = module, feature
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module = require(self._name, self._feature)
        return getattr(self._module, attr)
