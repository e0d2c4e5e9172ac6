"""Depth Tools' MiDaS preprocessors in ControlNet's dropdown, for every ControlNet a WebUI may have.

One implementation (`DepthToolsPreprocessor`: image -> uint8 HxWx3 map) and a thin registration per
flavour (HOST_API.md): Mikubill's ControlNet >= 1.1.444 (`Preprocessor` classes), <= 1.1.443
(`global_state` dicts and slider configs) and Forge/reForge's built-in ControlNet
(`modules_forge`). Registration runs in `on_before_ui`, is idempotent (a UI reload re-runs it) and
silently does nothing when no ControlNet is present.

ControlNet's registries are found in `sys.modules` or through its public import, never through a
file path: a second copy of its modules would carry a second, invisible registry.
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import cv2
import numpy as np

from . import host
from .errors import DepthError
from .midas_maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, DEFAULT_RESOLUTION, MAX_A
from .process import DepthOptions, make_depth_map

try:  # In the WebUI a gr.Error shows its message in ControlNet's preview instead of a bare "Error".
    from gradio.exceptions import Error as _GradioError
except Exception:  # pragma: no cover - gradio is always present in the WebUI

    class _GradioError(Exception):  # type: ignore[no-redef]
        pass


class PreprocessorError(DepthError, _GradioError):
    """A clear, user-facing preprocessor failure (missing/unusable weights, unusable input).

    `status_code` and `detail` are what the WebUI's API error handler puts in its JSON reply, so
    `/controlnet/detect` answers with this message rather than a bare traceback.
    """

    def __init__(self, message: str, status_code: int = 500) -> None:
        super().__init__(message)
        # Instance attributes: the WebUI's handler reads vars(e), which holds no class attributes.
        self.message = message
        self.detail = message
        self.status_code = status_code

    def __str__(self) -> str:  # gradio 3's Error quotes its message (repr); the API reply must not
        return self.message


# --------------------------------------------------------------------------------------------
# What the preprocessors are: names, sliders, kind
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slider:
    """A preprocessor slider, in the vocabulary every ControlNet flavour understands."""

    label: str
    minimum: float
    maximum: float
    step: float
    value: float

    def pick(self, raw: Any) -> float:
        """The slider value to use: the default where ControlNet sent nothing usable.

        Mikubill replaces out-of-range values by the default; legacy ControlNet's API sends 64 when
        the caller omits a threshold and Forge sends whatever it got. Doing Mikubill's replacement
        here gives the same result on every host.
        """
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return self.value
        if not math.isfinite(value) or value < self.minimum or value > self.maximum:
            return self.value
        return value


RESOLUTION = Slider("Resolution", 64, 2048, 8, DEFAULT_RESOLUTION)
BG_THRESHOLD = Slider("Background threshold", 0.0, 1.0, 0.05, DEFAULT_BG_THRESHOLD)  # the seed node's bg_threshold
NORMAL_A = Slider("Normal strength (a)", 0.0, round(MAX_A, 2), 0.05, round(DEFAULT_A, 2))  # the seed node's a

#: Below depth_midas (100): listed after the built-in one and never the Control Type's default.
SORTING_PRIORITY = 50


@dataclass(frozen=True)
class PreprocessorSpec:
    """One dropdown entry. Names avoid what ControlNet special-cases (inpaint, openpose, clip, xl, ...)."""

    name: str
    kind: Literal["depth", "normal"]
    tag: str
    slider_1: Slider
    slider_2: Slider | None = None
    compress: bool = False

    @property
    def model_filter(self) -> str:
        return "depth" if self.kind == "depth" else "normal"


SPECS: tuple[PreprocessorSpec, ...] = (
    PreprocessorSpec("depth_tools_midas", "depth", "Depth", BG_THRESHOLD),
    PreprocessorSpec("depth_tools_midas_compressed", "depth", "Depth", BG_THRESHOLD, compress=True),
    PreprocessorSpec("normal_tools_midas", "normal", "NormalMap", NORMAL_A, BG_THRESHOLD),
)


# --------------------------------------------------------------------------------------------
# The one implementation
# --------------------------------------------------------------------------------------------


def to_rgb(image: Any) -> np.ndarray:
    """uint8 HxWx3 from what ControlNet may pass: HxW gray, HxWx1, RGB or RGBA (API uploads), also
    as the ndarray subclass its result cache wraps inputs in. RGBA is composited on white, as
    ControlNet's HWC3 does (midas.as_rgb8); a float image in 0..1 or 0..255 is accepted too."""
    from . import midas

    if image is None:
        raise PreprocessorError("no input image: give the ControlNet unit an image", 422)
    array = np.asarray(image)
    if np.issubdtype(array.dtype, np.floating):
        scale = 255.0 if array.size and float(np.nanmax(array)) <= 1.0 else 1.0
        array = np.clip(np.nan_to_num(array * scale), 0, 255).astype(np.uint8)
    try:
        return np.ascontiguousarray(midas.as_rgb8(array))
    except DepthError as err:
        raise PreprocessorError(f"unusable input image: {err}", 422) from None


def target_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(H, W) with the short side at `resolution` and the aspect ratio kept, each side rounded —
    ControlNet's rule for its preprocessors, and the shape MiDaS runs at (no stretching)."""
    from . import midas

    return midas.network_shape(height, width, resolution).content


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    grow = height * width > image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)


def pick_resolution(raw: Any) -> int:
    """The preprocessor resolution: the default for nothing usable (None, -1 from the API), the
    slider's maximum for more (pixel-perfect mode computes values past it for large outputs)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return int(RESOLUTION.value)
    if math.isfinite(value) and value > RESOLUTION.maximum:
        return int(RESOLUTION.maximum)
    return round(RESOLUTION.pick(value))


def _estimator_error(err: DepthError) -> PreprocessorError:
    """Weights missing/unusable: 503 (the server cannot serve until the file is fixed); else 500."""
    from .midas_weights import WeightsError

    if not isinstance(err, WeightsError):
        return PreprocessorError(str(err), 500)
    advice = (
        " (in the WebUI: Settings > Depth Tools has the weights folder and the download switch)"
        if host.in_webui()
        else ""
    )
    return PreprocessorError(f"{err}{advice}", 503)


class DepthToolsPreprocessor:
    """Image -> depth or normal map at the preprocessor resolution, through the shared MiDaS estimator.

    Deterministic (same input, same bytes) and stateless apart from the process-wide estimator
    cache in `midas`, so every registration, the tab and the API share one loaded model.
    """

    def __init__(self, spec: PreprocessorSpec) -> None:
        self.spec = spec

    def sliders(self, slider_1: Any, slider_2: Any) -> tuple[float, float | None]:
        s1 = self.spec.slider_1.pick(slider_1)
        s2 = self.spec.slider_2.pick(slider_2) if self.spec.slider_2 is not None else None
        return s1, s2

    def run(self, input_image: Any, resolution: Any = None, slider_1: Any = None, slider_2: Any = None) -> np.ndarray:
        image = to_rgb(input_image)
        res = pick_resolution(resolution)
        height, width = target_size(image.shape[0], image.shape[1], res)
        image = resize_to(image, height, width)
        s1, s2 = self.sliders(slider_1, slider_2)
        try:
            nearness = self._estimate(image, res)
            if self.spec.kind == "normal":
                assert s2 is not None
                result = self._normal(nearness, a=s1, bg_threshold=s2, resolution=res)
            else:
                result = self._depth(nearness, bg_threshold=s1)
        finally:
            host.after_run()
        if result.shape != (height, width, 3) or result.dtype != np.uint8:  # pragma: no cover - contract guard
            raise PreprocessorError(f"internal error: map of shape {result.shape} {result.dtype}")
        return result

    def _estimate(self, image: np.ndarray, resolution: int) -> np.ndarray:
        from . import midas

        try:
            estimator = midas.get_estimator(host.midas_settings())
            nearness = estimator(image, resolution=resolution)
        except DepthError as err:
            raise _estimator_error(err) from None
        return np.asarray(nearness, dtype=np.float32)

    def _depth(self, nearness: np.ndarray, bg_threshold: float) -> np.ndarray:
        from . import midas

        depth = midas.nearness_to_depth(nearness, bg_threshold)
        try:
            levels = make_depth_map(depth, DepthOptions(compress=self.spec.compress)).levels
        except DepthError:  # every pixel below the threshold: all background, the far level
            levels = np.zeros(depth.shape, np.uint8)
        return np.ascontiguousarray(np.repeat(levels[:, :, None], 3, axis=2))

    def _normal(self, nearness: np.ndarray, a: float, bg_threshold: float, resolution: int) -> np.ndarray:
        from . import midas

        return np.ascontiguousarray(midas.normal_map(nearness, a, bg_threshold, resolution), dtype=np.uint8)

    @staticmethod
    def unload() -> bool:
        """ControlNet calls this after API detects and before generations: move the model off the
        GPU (as its own depth_midas does), keeping it in memory so the next call pays no load.
        On the CPU this costs nothing (ControlNet calls it for every registered preprocessor)."""
        midas = sys.modules.get(f"{__package__}.midas")
        if midas is None:
            return False
        midas.release_estimators(free=False)
        return True


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

    impl: DepthToolsPreprocessor

    def _configure(self, spec: PreprocessorSpec, param_cls: type, impl: DepthToolsPreprocessor) -> None:
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
            self._configure(spec, param_cls, DepthToolsPreprocessor(spec))
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
        impl = DepthToolsPreprocessor(spec)
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


def _legacy_function(impl: DepthToolsPreprocessor):
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
            self._configure(spec, param_cls, DepthToolsPreprocessor(spec))
            self.model_filename_filters = [spec.model_filter]

    ForgePreprocessor.__name__ = ForgePreprocessor.__qualname__ = f"DepthTools_{spec.name}"
    return ForgePreprocessor()


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
