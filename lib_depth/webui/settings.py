"""The "Depth Tools" section of the WebUI's settings: its entries, described once, and how to read them.

Standalone (no WebUI) every entry reads as its `standalone_default`: the command line and the
standalone tab never download unasked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..depth.exr import DEFAULT_MAX_PIXELS
from ..images.registry import DEFAULT_MODEL, ESTIMATORS
from .host import get_option, host_module, in_webui, low_memory

SECTION = ("depth_tools", "Depth Tools")


#: Settings keys (the "Depth Tools" section of the WebUI's settings).
OPT_WEIGHTS_DIR = "depth_tools_weights_dir"


OPT_ALLOW_DOWNLOAD = "depth_tools_allow_download"


OPT_DEVICE = "depth_tools_device"


OPT_PRECISION = "depth_tools_precision"


OPT_KEEP_LOADED = "depth_tools_keep_loaded"


OPT_MAX_PIXELS = "depth_tools_max_pixels"


OPT_DEFAULT_MODEL = "depth_tools_default_model"


DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True, kw_only=True)
class SettingSpec:
    """One entry of the settings section, described once so the WebUI and tests agree on it."""

    key: str
    default: Any
    label: str
    choices: tuple[str, ...] | None = None
    #: Default outside the WebUI (the standalone tab and the CLI never download unasked).
    standalone_default: Any = None
    #: Read when the tab is built: the WebUI shows "(requires Reload UI)" beside it.
    reload_ui: bool = False


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        key=OPT_WEIGHTS_DIR, default="",
        label="Depth model weights folder (its dpt_hybrid-midas-501f0c75.pt or depth_anything_v2_vit?.pth / "
        ".safetensors is used as is; empty: search)",
        standalone_default="",
    ),
    SettingSpec(key=OPT_ALLOW_DOWNLOAD, default=True,
                label="Download missing weights from Hugging Face (MiDaS; of Depth Anything V2 only Small: "
                "Base and Large are non-commercial)", standalone_default=False),
    SettingSpec(key=OPT_DEVICE, default="auto",
                label="Device for the depth models (auto: the one the WebUI uses for ControlNet)",
                choices=DEVICE_CHOICES, standalone_default="auto"),
    SettingSpec(key=OPT_PRECISION, default="auto", label="Depth model precision (auto: fp16 on CUDA, fp32 on CPU)",
                choices=PRECISION_CHOICES, standalone_default="auto"),
    SettingSpec(key=OPT_KEEP_LOADED, default=True,
                label="Keep the depth model loaded between runs (off under --lowvram/--medvram)",
                standalone_default=True),
    SettingSpec(
        key=OPT_MAX_PIXELS, default=DEFAULT_MAX_PIXELS,
        label=f"Largest EXR render accepted, in pixels (its header is checked before decoding; default "
        f"{DEFAULT_MAX_PIXELS} = 16384 x 16384)", standalone_default=DEFAULT_MAX_PIXELS,
    ),
    # The tab's first choice only: the HTTP API and the command line keep `midas` as their default,
    # so a script's results do not change when someone picks another model for the tab.
    SettingSpec(key=OPT_DEFAULT_MODEL, default=DEFAULT_MODEL,
                label="Default depth model of the Image tab (the API and command line default to midas)",
                choices=tuple(ESTIMATORS), standalone_default=DEFAULT_MODEL, reload_ui=True),
)


_SPECS = {spec.key: spec for spec in SETTINGS}


def setting(key: str) -> Any:
    spec = _SPECS[key]
    return get_option(key, spec.default if in_webui() else spec.standalone_default)


def max_pixels() -> int:
    """The EXR pixel bound; the default for a value that is no positive whole number (a typo in the
    settings must not switch the bound off or refuse every file)."""
    try:
        value = int(float(setting(OPT_MAX_PIXELS)))
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_MAX_PIXELS
    return value if value > 0 else DEFAULT_MAX_PIXELS


def default_image_model() -> str:
    """The Image tab's first model choice (a registry name; the tab falls back to MiDaS for one it
    does not know, e.g. a value left by a later version)."""
    return str(setting(OPT_DEFAULT_MODEL) or DEFAULT_MODEL)


def keep_model_loaded() -> bool:
    """The keep-loaded setting, overridden by --lowvram/--medvram (the user asked to save memory)."""
    return bool(setting(OPT_KEEP_LOADED)) and not low_memory()


def register_settings() -> None:
    """on_ui_settings: the "Depth Tools" section."""
    shared = host_module("shared")
    if shared is None:
        return
    option_info = shared.OptionInfo
    for spec in SETTINGS:
        if spec.choices is not None:
            import gradio as gr

            info = option_info(spec.default, spec.label, gr.Dropdown, {"choices": list(spec.choices)}, section=SECTION)
        else:
            info = option_info(spec.default, spec.label, section=SECTION)
        if spec.reload_ui and hasattr(info, "needs_reload_ui"):  # A1111 >= 1.6, Forge
            info = info.needs_reload_ui()
        shared.opts.add_option(spec.key, info)
