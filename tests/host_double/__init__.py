"""A small WebUI for tests: fake `modules.*` and the three ControlNet registries (docs/hosts.md).

`webui_double(root, flavour)` puts the stand-ins into `sys.modules` the way a running WebUI has
them, loads extension scripts the way A1111 does (`load_scripts`), runs the callbacks on demand,
serves ControlNet's HTTP routes through a FastAPI app with A1111's error middleware, and on exit
removes every trace (modules, `sys.path`, a patched `torch.load`).

Flavours: "controlnet" (Mikubill >= 1.1.444), "controlnet_legacy" (<= 1.1.443), "forge" (Forge and
reForge's built-in ControlNet), "none" (a WebUI without ControlNet).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FLAVOURS = ("controlnet", "controlnet_legacy", "forge", "none")
#: Top-level packages a WebUI (and its ControlNet) leave in sys.modules.
_HOST_PACKAGES = ("modules", "scripts", "internal_controlnet", "modules_forge", "lib_controlnet", "launch")
_FLAVOUR_PACKAGES = {
    "controlnet": ("scripts", "internal_controlnet"),
    "controlnet_legacy": ("scripts",),
    "forge": ("modules_forge", "lib_controlnet"),
    "none": (),
}


def _is_host_module(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in _HOST_PACKAGES)


def _load_package(name: str, folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class WebUI:
    """Handles on the running double."""

    root: Path
    flavour: str
    extension_dirs: list[Path]
    apps: list[Any] = field(default_factory=list)

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(name)

    @property
    def shared(self) -> ModuleType:
        return self.module("modules.shared")

    @property
    def callbacks(self) -> ModuleType:
        return self.module("modules.script_callbacks")

    def load_scripts(self) -> None:
        """A1111's start-up (and UI reload): clear callbacks, execute every `scripts/*.py`."""
        self.module("modules.scripts").load_scripts(
            [str(d) for d in self.extension_dirs], keep_on_path=self.flavour == "forge"
        )

    def settings(self) -> None:
        self.callbacks.ui_settings_callback()

    def before_ui(self) -> None:
        self.callbacks.before_ui_callback()

    def ui_tabs(self) -> list:
        return self.callbacks.ui_tabs_callback()

    def start(self) -> None:
        """Scripts, settings, before-UI: what the WebUI does before serving (also with --api)."""
        self.load_scripts()
        self.settings()
        self.before_ui()

    def app(self) -> Any:
        """A FastAPI app with A1111's error middleware and every on_app_started route."""
        from fastapi import FastAPI

        app = FastAPI()
        self.module("modules.api.api").api_middleware(app)
        self.callbacks.app_started_callback(None, app)
        self.apps.append(app)
        return app

    def install_safe_loader(self) -> ModuleType:
        """`import modules.safe`, as A1111's `modules/paths.py` does at start-up: from now on
        `torch.load` is the WebUI's checking loader. Forge's copy of safe.py leaves `torch.load`
        alone (its `torch.load = load` is commented out), so the forge flavour puts it back."""
        safe = self.module("modules.safe")
        if self.flavour == "forge":
            sys.modules["torch"].load = safe.unsafe_torch_load
        return safe

    @property
    def errors(self) -> list[str]:
        """Callback and script-load failures the WebUI would have printed."""
        return list(self.callbacks.errors) + list(self.module("modules.scripts").load_errors)

    def preprocessor(self, name: str) -> Any:
        """The registered object (new API / Forge) or function (legacy) for `name`."""
        if self.flavour == "controlnet":
            return self.module("scripts.supported_preprocessor").Preprocessor.get_preprocessor(name)
        if self.flavour == "controlnet_legacy":
            return self.module("scripts.global_state").cn_preprocessor_modules.get(name)
        if self.flavour == "forge":
            return self.module("modules_forge.shared").supported_preprocessors.get(name)
        return None

    def call(self, name: str, image: Any, resolution: Any, slider_1: Any = None, slider_2: Any = None) -> Any:
        """Call a preprocessor the way that flavour's ControlNet calls it in generation/preview."""
        p = self.preprocessor(name)
        if self.flavour == "controlnet":
            return p.cached_call(
                image, resolution=resolution, slider_1=slider_1, slider_2=slider_2, low_vram=False
            ).value
        if self.flavour == "controlnet_legacy":
            result, is_image = p(image, res=resolution, thr_a=slider_1, thr_b=slider_2, low_vram=False)
            assert is_image is True
            return result
        return p(input_image=image, resolution=resolution, slider_1=slider_1, slider_2=slider_2, slider_3=None)


@contextlib.contextmanager
def webui_double(root: Path, flavour: str = "controlnet", extension_root: Path = REPO) -> Iterator[WebUI]:
    """A fake WebUI rooted at `root` (models/, extensions/ inside) with the given ControlNet."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; one of {FLAVOURS}")
    saved_modules = {k: v for k, v in sys.modules.items() if _is_host_module(k)}
    saved_path = list(sys.path)
    for name in saved_modules:
        del sys.modules[name]
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / "models").mkdir(exist_ok=True)
        (root / "extensions").mkdir(exist_ok=True)
        modules = _load_package("modules", HERE / "webui" / "modules")
        modules.ROOT = str(root)
        for name in ("paths_internal", "paths", "options", "shared", "script_callbacks", "scripts", "devices"):
            importlib.import_module(f"modules.{name}")
        lib = HERE / flavour / "lib"
        for package in _FLAVOUR_PACKAGES[flavour]:
            _load_package(package, lib / package)
        extension_dirs = [extension_root]
        if flavour != "none":
            extension_dirs.insert(1 if flavour != "forge" else 0, HERE / flavour / "extension")
        yield WebUI(root=root, flavour=flavour, extension_dirs=extension_dirs)
    finally:
        safe = sys.modules.get("modules.safe")
        torch = sys.modules.get("torch")
        if safe is not None and torch is not None and torch.load is safe.load:
            torch.load = safe.unsafe_torch_load  # importing modules.safe replaced torch.load
        for name in [k for k in sys.modules if _is_host_module(k)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path


def launch_module() -> ModuleType:
    """A fresh stand-in `launch` module (install.py's view of the WebUI)."""
    spec = importlib.util.spec_from_file_location("launch", HERE / "launch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
