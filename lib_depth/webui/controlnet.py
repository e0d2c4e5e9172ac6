"""Depth Tools' preprocessors in ControlNet's dropdown, for every ControlNet a WebUI may have.

One implementation per preprocessor (`preprocessors.implementation`: image -> uint8 HxWx3 map) and a
thin registration per flavour (docs/hosts.md): Mikubill's ControlNet >= 1.1.444 (`Preprocessor` classes), <= 1.1.443
(`global_state` dicts and slider configs) and Forge/reForge's built-in ControlNet
(`modules_forge`). Registration runs in `on_before_ui`, is idempotent (a UI reload re-runs it) and
silently does nothing when no ControlNet is present.

ControlNet's registries are found in `sys.modules` or through its public import, never through a
file path: a second copy of its modules would carry a second, invisible registry.
"""

from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import host
from .preprocessors import (
    RESOLUTION,
    SORTING_PRIORITY,
    SPECS,
    Implementation,
    PreprocessorSpec,
    Slider,
    implementation,
)

try:  # In the WebUI a gr.Error shows its message in ControlNet's preview instead of a bare "Error".
    from gradio.exceptions import Error as _GradioError
except Exception:  # pragma: no cover - gradio is always present in the WebUI

    class _GradioError(Exception):  # type: ignore[no-redef]
        pass


# --------------------------------------------------------------------------------------------
# What the preprocessors are: names, sliders, kind
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# The one implementation
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Registration, one thin adapter per ControlNet flavour
# --------------------------------------------------------------------------------------------

_lock = threading.Lock()


def _module(name: str) -> ModuleType | None:
    """An already-loaded host module, or the result of its public import; None when absent."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _mikubill_classes() -> tuple[type, type] | None:
    """(Preprocessor, PreprocessorParameter) of Mikubill's ControlNet >= 1.1.444."""
    external = _module("internal_controlnet.external_code")
    if external is None or not hasattr(external, "Preprocessor"):
        external = sys.modules.get("scripts.supported_preprocessor")  # loaded by ControlNet itself
    if external is None:
        return None
    base = getattr(external, "Preprocessor", None)
    param = getattr(external, "PreprocessorParameter", None)
    if base is None or param is None or not hasattr(base, "add_supported_preprocessor"):
        return None
    return base, param


def _param(param_cls: type, slider: Slider | None) -> Any:
    if slider is None:
        return param_cls(visible=False)
    return param_cls(
        label=slider.label,
        minimum=slider.minimum,
        maximum=slider.maximum,
        step=slider.step,
        value=slider.value,
        visible=True,
    )


def register_mikubill() -> list[str]:
    """ControlNet >= 1.1.444: `Preprocessor` subclasses, skipped when the name is taken (UI reload)."""
    classes = _mikubill_classes()
    if classes is None:
        return []
    base, param_cls = classes
    registered = []
    for spec in SPECS:
        if base.get_preprocessor(spec.name) is not None:
            continue
        base.add_supported_preprocessor(_mikubill_preprocessor(base, param_cls, spec))
        registered.append(spec.name)
    return registered


class _Delegating:
    """The part every flavour's Preprocessor subclass shares: sliders, and calls into one impl."""

    impl: Implementation

    def _configure(self, spec: PreprocessorSpec, param_cls: type, impl: Implementation) -> None:
        self.name = spec.name
        self.tags = [spec.tag]
        self.slider_resolution = _param(param_cls, RESOLUTION)
        self.slider_1 = _param(param_cls, spec.slider_1)
        self.slider_2 = _param(param_cls, spec.slider_2)
        self.sorting_priority = SORTING_PRIORITY
        self.impl = impl

    def __call__(
        self, input_image, resolution=512, slider_1=None, slider_2=None, slider_3=None, input_mask=None, **kwargs
    ):
        return self.impl.run(input_image, resolution, slider_1, slider_2)

    def unload(self) -> bool:
        return self.impl.unload()


def _mikubill_preprocessor(base: type, param_cls: type, spec: PreprocessorSpec) -> Any:
    class MikubillPreprocessor(_Delegating, base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(name=spec.name)
            self._configure(spec, param_cls, implementation(spec))
            self.slider_3 = _param(param_cls, None)
            self.returns_image = True

    MikubillPreprocessor.__name__ = MikubillPreprocessor.__qualname__ = f"DepthTools_{spec.name}"
    return MikubillPreprocessor()


def register_legacy() -> list[str]:
    """ControlNet <= 1.1.443: functions in `scripts.global_state`, slider configs in `scripts.processor`."""
    global_state = sys.modules.get("scripts.global_state")
    processor = sys.modules.get("scripts.processor")
    modules = getattr(global_state, "cn_preprocessor_modules", None)
    if global_state is None or not isinstance(modules, dict):
        return []
    registered = []
    for spec in SPECS:
        impl = implementation(spec)
        if spec.name not in modules:
            modules[spec.name] = _legacy_function(impl)
            registered.append(spec.name)
        unloadable = getattr(global_state, "cn_preprocessor_unloadable", None)
        if isinstance(unloadable, dict):
            unloadable.setdefault(spec.name, impl.unload)
        keys = getattr(global_state, "ui_preprocessor_keys", None)
        if isinstance(keys, list) and spec.name not in keys:
            keys.append(spec.name)
        sliders = getattr(processor, "preprocessor_sliders_config", None)
        if isinstance(sliders, dict):
            sliders[spec.name] = _legacy_sliders(spec, getattr(processor, "flag_preprocessor_resolution", None))
    return registered


def _legacy_function(impl: Implementation):
    def preprocess(img, res=512, thr_a=None, thr_b=None, **kwargs):
        return impl.run(img, res, thr_a, thr_b), True

    preprocess.__name__ = impl.spec.name
    return preprocess


def _legacy_sliders(spec: PreprocessorSpec, resolution_flag: str | None) -> list[dict | None]:
    config: list[dict | None] = [
        {
            "name": resolution_flag or "Preprocessor Resolution",
            "min": RESOLUTION.minimum,
            "max": RESOLUTION.maximum,
            "value": RESOLUTION.value,
        }
    ]
    for slider in (spec.slider_1, spec.slider_2):
        if slider is not None:
            config.append(
                {
                    "name": slider.label,
                    "min": slider.minimum,
                    "max": slider.maximum,
                    "value": slider.value,
                    "step": slider.step,
                }
            )
    return config


def register_forge() -> list[str]:
    """Forge/reForge's built-in ControlNet: `modules_forge` Preprocessor objects (overwrites by name)."""
    forge_shared = _module("modules_forge.shared")
    add = getattr(forge_shared, "add_supported_preprocessor", None)
    if add is None:
        return []
    supported = _module("modules_forge.supported_preprocessor")
    base = getattr(supported, "Preprocessor", None)
    param_cls = getattr(supported, "PreprocessorParameter", None)
    if base is None or param_cls is None:
        return []
    existing = getattr(forge_shared, "supported_preprocessors", {})
    registered = []
    for spec in SPECS:
        if isinstance(existing.get(spec.name), base) and getattr(existing[spec.name], "impl", None) is not None:
            continue
        add(_forge_preprocessor(base, param_cls, spec))
        registered.append(spec.name)
    return registered


def _forge_preprocessor(base: type, param_cls: type, spec: PreprocessorSpec) -> Any:
    class ForgePreprocessor(_Delegating, base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()  # Forge's Preprocessor takes no arguments
            self._configure(spec, param_cls, implementation(spec))
            self.model_filename_filters = [spec.model_filter]

    ForgePreprocessor.__name__ = ForgePreprocessor.__qualname__ = f"DepthTools_{spec.name}"
    return ForgePreprocessor()


def controlnet_present() -> bool:
    """Whether a ControlNet whose units the page shows is loaded (Mikubill old or new, Forge's)."""
    legacy = sys.modules.get("scripts.global_state")
    return (
        _mikubill_classes() is not None
        or isinstance(getattr(legacy, "cn_preprocessor_modules", None), dict)
        or "lib_controlnet" in sys.modules  # Forge's built-in ControlNet, when enabled
    )


def controlnet_units() -> int:
    """The number of units ControlNet shows per tab: its setting `control_net_unit_count` (default
    3 in Mikubill's and Forge's); 0 without ControlNet."""
    if not controlnet_present():
        return 0
    try:
        return max(1, int(host.get_option("control_net_unit_count", 3)))
    except (TypeError, ValueError):
        return 3


@dataclass
class Registration:
    """What `register_preprocessors` did, per flavour (names newly added this call)."""

    mikubill: list[str]
    legacy: list[str]
    forge: list[str]

    @property
    def any(self) -> bool:
        return bool(self.mikubill or self.legacy or self.forge)


def register_preprocessors() -> Registration:
    """on_before_ui: add our preprocessors to whichever ControlNet is present; silent when none is.

    A failure in one flavour is reported on the console and does not stop the others or the WebUI.
    """
    results: dict[str, list[str]] = {}
    with _lock:
        for flavour, register in (
            ("mikubill", register_mikubill),
            ("legacy", register_legacy),
            ("forge", register_forge),
        ):
            try:
                results[flavour] = register()
            except Exception as err:  # a host we do not know: never break the WebUI's start-up
                print(f"Depth Tools: could not add preprocessors to ControlNet ({flavour}): {err}", file=sys.stderr)
                results[flavour] = []
    return Registration(results["mikubill"], results["legacy"], results["forge"])
