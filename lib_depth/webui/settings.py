"""The "Depth Tools" section of the WebUI's settings: its entries, described once, and how to read them.

Standalone (no WebUI) every entry reads as its `standalone_default`: the command line and the
standalone tab never download unasked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..depth.exr import DEFAULT_MAX_PIXELS
from .host import get_option, host_module, in_webui, low_memory

SECTION = ("depth_tools", "Depth Tools")


#: Settings keys (the "Depth Tools" section of the WebUI's settings).
OPT_WEIGHTS_DIR = "depth_tools_weights_dir"


OPT_ALLOW_DOWNLOAD = "depth_tools_allow_download"


OPT_DEVICE = "depth_tools_device"


OPT_PRECISION = "depth_tools_precision"


OPT_KEEP_LOADED = "depth_tools_keep_loaded"


OPT_MAX_PIXELS = "depth_tools_max_pixels"


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
    SettingSpec(
        OPT_MAX_PIXELS, DEFAULT_MAX_PIXELS,
        f"Largest EXR render accepted, in pixels (its header is checked before decoding; default {DEFAULT_MAX_PIXELS}"
        " = 16384 x 16384)", None, DEFAULT_MAX_PIXELS,
    ),
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
        shared.opts.add_option(spec.key, info)
