"""Everything Depth Tools needs from the WebUI it runs in, with standalone fallbacks.

This is the ONLY module that imports the WebUI's `modules.*`. Every such import is guarded, so the
library, the command line, the standalone tab and the tests run with no WebUI at all. Host facts
(option storage, command-line flags, paths, devices) are in HOST_API.md.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # midas imports torch: only on use, so the EXR path stays torch-free
    from .midas import MidasSettings

SECTION = ("depth_tools", "Depth Tools")

#: Settings keys (the "Depth Tools" section of the WebUI's settings).
OPT_WEIGHTS_DIR = "depth_tools_weights_dir"
OPT_ALLOW_DOWNLOAD = "depth_tools_allow_download"
OPT_DEVICE = "depth_tools_device"
OPT_PRECISION = "depth_tools_precision"
OPT_KEEP_LOADED = "depth_tools_keep_loaded"

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class SettingSpec:
    """One entry of the settings section, described once so the WebUI and tests agree on it."""

    key: str
    default: Any
    label: str
    choices: tuple[str, ...] | None = None
    #: Default outside the WebUI (the standalone tab and the CLI never download unasked).
    standalone_default: Any = None


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        OPT_WEIGHTS_DIR,
        "",
        "MiDaS weights folder (its dpt_hybrid-midas-501f0c75.pt is used as is; empty: search)",
        None,
        "",
    ),
    SettingSpec(
        OPT_ALLOW_DOWNLOAD, True, "Download the MiDaS weights from Hugging Face when none are found", None, False
    ),
    SettingSpec(
        OPT_DEVICE, "auto", "Device for MiDaS (auto: the one the WebUI uses for ControlNet)", DEVICE_CHOICES, "auto"
    ),
    SettingSpec(OPT_PRECISION, "auto", "MiDaS precision (auto: fp16 on CUDA, fp32 on CPU)", PRECISION_CHOICES, "auto"),
    SettingSpec(
        OPT_KEEP_LOADED, True, "Keep the MiDaS model loaded between runs (off under --lowvram/--medvram)", None, True
    ),
)
_SPECS = {spec.key: spec for spec in SETTINGS}


def _host_module(name: str) -> ModuleType | None:
    """`modules.<name>` when running inside the WebUI, else None (never raises)."""
    try:
        return importlib.import_module(f"modules.{name}")
    except Exception:  # ImportError standalone; anything a half-initialised host may raise
        return None


def in_webui() -> bool:
    """True when the WebUI's `modules.shared` is importable and has its options object."""
    shared = _host_module("shared")
    return shared is not None and getattr(shared, "opts", None) is not None


def extension_root() -> Path:
    """The extension's folder (the one holding `scripts/`, `install.py` and `lib_depth/`)."""
    return Path(__file__).resolve().parents[1]


def get_option(key: str, default: Any = None) -> Any:
    """`shared.opts.data.get(key, default)` in the WebUI; standalone: `default`."""
    shared = _host_module("shared")
    opts = getattr(shared, "opts", None) if shared is not None else None
    if opts is None:
        return default
    data = getattr(opts, "data", None)
    return data.get(key, default) if isinstance(data, dict) else getattr(opts, key, default)


def _setting(key: str) -> Any:
    spec = _SPECS[key]
    return get_option(key, spec.default if in_webui() else spec.standalone_default)


def cmd_opt(name: str, default: Any = None) -> Any:
    """A WebUI command-line flag (`shared.cmd_opts.<name>`), default standalone."""
    shared = _host_module("shared")
    return getattr(getattr(shared, "cmd_opts", None), name, default)


def low_memory() -> bool:
    """The user asked the WebUI to save VRAM (`--lowvram`/`--medvram`): models must not stay loaded."""
    return bool(cmd_opt("lowvram", False) or cmd_opt("medvram", False))


def models_path() -> Path | None:
    paths = _host_module("paths")
    value = getattr(paths, "models_path", None) if paths is not None else None
    return Path(value) if value else None


def _data_path() -> Path | None:
    for name in ("paths", "shared", "paths_internal"):
        module = _host_module(name)
        value = getattr(module, "data_path", None) if module is not None else None
        if value:
            return Path(value)
    return None


def _extensions_dirs() -> list[Path]:
    """Where installed extensions live: the WebUI's extensions folder, and this extension's parent."""
    dirs: list[Path] = []
    internal = _host_module("paths_internal")
    for value in (getattr(internal, "extensions_dir", None) if internal else None, extension_root().parent):
        if value and Path(value) not in dirs:
            dirs.append(Path(value))
    return dirs


def controlnet_annotator_dirs() -> list[Path]:
    """ControlNet's annotator models folder, resolved as ControlNet resolves it (annotator_path.py):
    option `control_net_modules_path`, else `--controlnet-annotator-models-path`, else
    `<ControlNet extension>/annotator/downloads` (the extension folder may have any name)."""
    configured = get_option("control_net_modules_path", None) or cmd_opt("controlnet_annotator_models_path", None)
    if configured:
        path = Path(configured)
        if not path.is_absolute():
            data = _data_path()
            path = data / path if data is not None else path
        return [path]
    found: list[Path] = []
    for root in _extensions_dirs():
        with contextlib.suppress(OSError):
            for ext in sorted(root.iterdir()):
                downloads = ext / "annotator" / "downloads"
                if ext.resolve() != extension_root() and downloads.is_dir() and downloads not in found:
                    found.append(downloads)
    return found


def forge_preprocessor_dir() -> Path | None:
    """Forge's `models/ControlNetPreprocessor` (its own ControlNet keeps MiDaS in `midas/` there)."""
    try:
        from modules_forge import shared as forge_shared  # type: ignore[import-not-found]

        value = getattr(forge_shared, "preprocessor_dir", None)
        if value:
            return Path(value)
    except Exception:
        pass
    base = models_path()
    candidate = base / "ControlNetPreprocessor" if base is not None else None
    return candidate if candidate is not None and candidate.is_dir() else None


def configured_weights_dir() -> Path | None:
    """The settings' weights folder, or None when the setting is empty."""
    configured = str(_setting(OPT_WEIGHTS_DIR) or "").strip()
    return Path(os.path.expanduser(configured)) if configured else None


def configured_weights_file() -> Path | None:
    """The weights in the configured folder (or its `midas/`), if the user put them there.

    A file in the folder the user named is used as is, like a file named on the command line:
    the user said where the weights are, so nothing else is searched or downloaded.
    """
    from .midas_weights import WEIGHTS_NAME

    folder = configured_weights_dir()
    if folder is None:
        return None
    return next((f for f in (folder / WEIGHTS_NAME, folder / "midas" / WEIGHTS_NAME) if f.is_file()), None)


def weights_search_dirs() -> tuple[str, ...]:
    """Folders searched for the MiDaS weights, in order (each also in its `midas/` subfolder; the
    Hugging Face cache is searched by midas.py).

    Settings folder, `<extension>/models/midas`, ControlNet's annotator folder, Forge's
    `models/ControlNetPreprocessor`.
    """
    dirs: list[Path] = []
    configured = configured_weights_dir()
    if configured is not None:
        dirs.append(configured)
    dirs.append(extension_root() / "models" / "midas")
    dirs += controlnet_annotator_dirs()
    forge = forge_preprocessor_dir()
    if forge is not None:
        dirs.append(forge)
    unique: list[str] = []
    for path in dirs:
        text = str(path)
        if text not in unique:
            unique.append(text)
    return tuple(unique)


def _device() -> str | None:
    """Settings device; "auto" in the WebUI means the device it gives ControlNet (honours --use-cpu)."""
    choice = str(_setting(OPT_DEVICE) or "auto").lower()
    if choice != "auto":
        return choice
    devices = _host_module("devices")
    get_device_for = getattr(devices, "get_device_for", None) if devices is not None else None
    if get_device_for is None:
        return None
    try:
        return str(get_device_for("controlnet"))
    except Exception:
        return None


def _precision() -> str | None:
    choice = str(_setting(OPT_PRECISION) or "auto").lower()
    return None if choice == "auto" else choice


def midas_settings() -> MidasSettings:
    """MiDaS settings from the Depth Tools settings (standalone: extension models folder, no download)."""
    from .midas import MidasSettings

    explicit = configured_weights_file()
    return MidasSettings(
        weights=None if explicit is None else str(explicit),
        # nothing else is searched when the user's file is there; also keeps the cache key stable
        search_dirs=weights_search_dirs() if explicit is None else (),
        allow_download=bool(_setting(OPT_ALLOW_DOWNLOAD)),
        device=_device(),
        precision=_precision(),
    )


def keep_model_loaded() -> bool:
    """The keep-loaded setting, overridden by --lowvram/--medvram (the user asked to save memory)."""
    return bool(_setting(OPT_KEEP_LOADED)) and not low_memory()


def torch_gc() -> None:
    devices = _host_module("devices")
    gc = getattr(devices, "torch_gc", None) if devices is not None else None
    if gc is not None:
        with contextlib.suppress(Exception):
            gc()


def after_run() -> None:
    """Called after each tab run or preprocessor call: let go of the model unless it should stay.

    Keep-loaded off: free it (the next run loads it again). --lowvram/--medvram with keep-loaded on:
    move it off the GPU but keep it in memory, as ControlNet does with its own annotators.
    """
    if keep_model_loaded():
        return
    midas = sys.modules.get(f"{__package__}.midas")  # nothing to release if midas was never imported
    if midas is not None:
        midas.release_estimators(free=not bool(_setting(OPT_KEEP_LOADED)))
    torch_gc()


TAB_TITLE = "Depth Tools"
TAB_ID = "depth_tools"


def _callbacks() -> ModuleType | None:
    return _host_module("script_callbacks")


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


def ui_tabs() -> list[tuple[Any, str, str]]:
    """on_ui_tabs: the "Depth Tools" tab (imported here, so a WebUI start without the UI stays light)."""
    from .ui import build_tab

    return [(build_tab(), TAB_TITLE, TAB_ID)]


def register_settings() -> None:
    """on_ui_settings: the "Depth Tools" section."""
    shared = _host_module("shared")
    if shared is None:
        return
    option_info = shared.OptionInfo
    for spec in SETTINGS:
        if spec.choices is not None:
            import gradio as gr

            info = option_info(spec.default, spec.label, gr.Dropdown, {"choices": list(spec.choices)}, section=SECTION)
        else:
            info = option_info(spec.default, spec.label, section=SECTION)
        shared.opts.add_option(spec.key, info)


def _infotext_module() -> ModuleType | None:
    return _host_module("infotext_utils") or _host_module("generation_parameters_copypaste")


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
        shared = _host_module("shared")
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


@contextlib.contextmanager
def running(job: str = "Depth Tools", steps: int = 1) -> Iterator[ProgressTracker]:
    """A job with progress reporting, followed by `after_run()` (model unload when so configured)."""
    try:
        with progress_tracker(job, steps) as tracker:
            yield tracker
    finally:
        after_run()
