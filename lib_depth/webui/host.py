"""Everything Depth Tools needs from the WebUI it runs in, with standalone fallbacks.

This is the ONLY module that imports the WebUI's `modules.*` (`tests/test_layers.py` checks it).
Every such import is guarded, so the library, the command line, the standalone tab and the tests
run with no WebUI at all. Host facts (option storage, command-line flags, paths, devices, the
safe loader) are in docs/hosts.md.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def host_module(name: str) -> ModuleType | None:
    """`modules.<name>` when running inside the WebUI, else None (never raises)."""
    try:
        return importlib.import_module(f"modules.{name}")
    except Exception:  # ImportError standalone; anything a half-initialised host may raise
        return None


def in_webui() -> bool:
    """True when the WebUI's `modules.shared` is importable and has its options object."""
    shared = host_module("shared")
    return shared is not None and getattr(shared, "opts", None) is not None


def extension_root() -> Path:
    """The extension's folder (the one holding `scripts/`, `install.py` and `lib_depth/`)."""
    return Path(__file__).resolve().parents[2]


def get_option(key: str, default: Any = None) -> Any:
    """`shared.opts.data.get(key, default)` in the WebUI; standalone: `default`."""
    shared = host_module("shared")
    opts = getattr(shared, "opts", None) if shared is not None else None
    if opts is None:
        return default
    data = getattr(opts, "data", None)
    return data.get(key, default) if isinstance(data, dict) else getattr(opts, key, default)


def cmd_opt(name: str, default: Any = None) -> Any:
    """A WebUI command-line flag (`shared.cmd_opts.<name>`), default standalone."""
    shared = host_module("shared")
    return getattr(getattr(shared, "cmd_opts", None), name, default)


#: The flags that let other machines reach the WebUI (`cmd_opts` name, as typed), in A1111's order:
#: with any of them A1111 sets `disable_extension_access` unless --enable-insecure-extension-access.
EXPOSING_FLAGS = (("share", "--share"), ("listen", "--listen"), ("ngrok", "--ngrok"), ("server_name", "--server-name"))


def server_folders_refusal() -> str | None:
    """Why the tab may not read or write server folders here, or None when it may.

    A1111's own rule for what a remote visitor may do to the server's files (installing an
    extension runs code; naming a folder reads and writes it): refused when the WebUI is exposed
    (--listen, --share, --ngrok, --server-name) unless --enable-insecure-extension-access is given.
    """
    if cmd_opt("enable_insecure_extension_access", False):
        return None
    for name, flag in EXPOSING_FLAGS:
        if cmd_opt(name, None):
            return (f"Server folders are off: this WebUI was started with {flag}, so visitors from other "
                    "machines could read and write this server's files through them. Upload the frames instead, "
                    f"or restart with {flag} --enable-insecure-extension-access if everyone who can reach it may "
                    "do that.")
    return None


def low_memory() -> bool:
    """The user asked the WebUI to save VRAM (`--lowvram`/`--medvram`): models must not stay loaded."""
    return bool(cmd_opt("lowvram", False) or cmd_opt("medvram", False))


def models_path() -> Path | None:
    paths = host_module("paths")
    value = getattr(paths, "models_path", None) if paths is not None else None
    return Path(value) if value else None


def forge_preprocessor_root() -> Path | None:
    """Forge's own `preprocessor_dir` (`modules_forge.shared`), None elsewhere."""
    try:
        from modules_forge import shared as forge_shared  # type: ignore[import-not-found]
    except Exception:
        return None
    value = getattr(forge_shared, "preprocessor_dir", None)
    return Path(value) if value else None


def data_path() -> Path | None:
    for name in ("paths", "shared", "paths_internal"):
        module = host_module(name)
        value = getattr(module, "data_path", None) if module is not None else None
        if value:
            return Path(value)
    return None


def extension_dirs() -> list[Path]:
    """Where installed extensions live: the WebUI's extensions folder, and this extension's parent."""
    dirs: list[Path] = []
    internal = host_module("paths_internal")
    for value in (getattr(internal, "extensions_dir", None) if internal else None, extension_root().parent):
        if value and Path(value) not in dirs:
            dirs.append(Path(value))
    return dirs


def torch_loader() -> Callable[..., Any] | None:
    """The WebUI's own, unwrapped `torch.load` when its checking wrapper is in place, else None.

    A1111's `modules/safe.py` replaces `torch.load` on import and keeps the original as
    `unsafe_torch_load`; its wrapper refuses checkpoints saved by a current torch (docs/hosts.md).
    Read from `sys.modules`, never imported here: importing it would install the wrapper.
    """
    safe = sys.modules.get("modules.safe")
    torch = sys.modules.get("torch")
    original = getattr(safe, "unsafe_torch_load", None)
    if original is None or torch is None or getattr(torch, "load", None) is original:
        return None
    return original


def torch_gc() -> None:
    devices = host_module("devices")
    gc = getattr(devices, "torch_gc", None) if devices is not None else None
    if gc is not None:
        with contextlib.suppress(Exception):
            gc()


def _callbacks() -> ModuleType | None:
    return host_module("script_callbacks")


def on_ui_tabs(fn: Callable[[], list]) -> None:
    """Register a tab builder (no `name=` keyword: older WebUIs reject it)."""
    callbacks = _callbacks()
    if callbacks is not None:
        callbacks.on_ui_tabs(fn)


def on_ui_settings(fn: Callable[[], None]) -> None:
    callbacks = _callbacks()
    if callbacks is not None:
        callbacks.on_ui_settings(fn)


def on_before_ui(fn: Callable[[], Any]) -> None:
    """Runs after every extension's scripts are loaded, also in API-only mode: ControlNet is ready."""
    callbacks = _callbacks()
    if callbacks is not None:
        callbacks.on_before_ui(fn)


def on_app_started(fn: Callable[[Any, Any], None]) -> None:
    """`fn(demo, app)` once the WebUI's FastAPI app exists (demo is None with --nowebui)."""
    callbacks = _callbacks()
    if callbacks is not None:
        callbacks.on_app_started(fn)


def _infotext_module() -> ModuleType | None:
    return host_module("infotext_utils") or host_module("generation_parameters_copypaste")


def can_send_images() -> bool:
    return _infotext_module() is not None


def create_send_buttons(image_component: Any, tabname: str = "depth_tools") -> None:
    """ "Send to img2img / inpaint / extras" buttons for `image_component` (call inside the Blocks).

    The WebUI wires them after all tabs are built. The component must hold a PIL image or a
    gallery (A1111 resizes via PIL when sending): use `gr.Image(type="pil")`. No-op standalone.
    """
    ps = _infotext_module()
    if ps is None:
        return
    buttons = ps.create_buttons(["img2img", "inpaint", "extras"])
    for target, button in buttons.items():
        ps.register_paste_params_button(
            ps.ParamBinding(paste_button=button, tabname=target, source_image_component=image_component)
        )


class ProgressTracker:
    """Reports a long job to the WebUI (`shared.state`: its progress API and Interrupt button).

    Standalone every method is a no-op, so the UI calls it unconditionally; gradio's own
    `gr.Progress` still drives the bar inside the tab.
    """

    def __init__(self, job: str = "Depth Tools", steps: int = 1) -> None:
        shared = host_module("shared")
        self._state = getattr(shared, "state", None) if shared is not None else None
        self.job = job
        self.steps = max(int(steps), 1)

    def __enter__(self) -> ProgressTracker:
        if self._state is not None:
            with contextlib.suppress(Exception):
                self._state.begin(job=self.job)
                self._state.job_count = self.steps
        return self

    def step(self, text: str = "") -> None:
        if self._state is not None:
            with contextlib.suppress(Exception):
                self._state.textinfo = text
                self._state.nextjob()

    @property
    def interrupted(self) -> bool:
        return bool(getattr(self._state, "interrupted", False)) if self._state is not None else False

    def __exit__(self, *exc: object) -> None:
        if self._state is not None:
            with contextlib.suppress(Exception):
                self._state.end()


def progress_tracker(job: str = "Depth Tools", steps: int = 1) -> ProgressTracker:
    """`with progress_tracker("Depth maps", n) as p: ... p.step("file 1")` — works with and without a host."""
    return ProgressTracker(job, steps)

