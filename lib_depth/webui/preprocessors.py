"""What Depth Tools' ControlNet preprocessors are (names, sliders, kind) and the implementations
behind every flavour's registration: image -> uint8 HxWx3 depth or normal map, through MiDaS
(`DepthToolsPreprocessor`) or from a depth map that already exists (`RelevelPreprocessor`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from .. import midas
from ..depth.dependencies import MissingDependency
from ..depth.errors import DepthError, InternalError, internal_error
from ..depth.process import DepthOptions, make_depth_map
from ..depth.relevel import levels_to_depth, relevel
from ..images import registry
from ..midas import WeightsError
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, DEFAULT_RESOLUTION, MAX_A
from . import host, models

log = logging.getLogger(__name__)

try:  # In the WebUI a gr.Error shows its message in ControlNet's preview instead of a bare "Error".
    from gradio.exceptions import Error as _GradioError
except Exception:  # pragma: no cover - gradio is always present in the WebUI

    class _GradioError(Exception):  # type: ignore[no-redef]
        pass


try:  # The WebUI's API handler prints a traceback for every exception but an HTTPException.
    from fastapi.exceptions import HTTPException as _HTTPException
except Exception:  # pragma: no cover - fastapi is always present in the WebUI

    class _HTTPException(Exception):  # type: ignore[no-redef]
        pass


class PreprocessorError(DepthError, _GradioError, _HTTPException):
    """A clear, user-facing preprocessor failure (missing/unusable weights, unusable input, or our
    own bug as its one line, already logged once).

    `status_code` and `detail` are what the WebUI's API error handler puts in its JSON reply, so
    `/controlnet/detect` answers with this message rather than a bare traceback; being an
    HTTPException keeps that handler from printing a traceback of its own for a user's mistake.
    """

    def __init__(self, message: str, status_code: int = 500) -> None:
        # The bases' constructors disagree (HTTPException takes a status code first): take what
        # each needs by hand. Instance attributes: the WebUI's handler reads vars(e).
        Exception.__init__(self, message)
        vars(self).update(vars(_GradioError(message)))  # gradio's own fields (duration, visible, ...)
        self.path, self.reason = None, message
        self.message = message
        self.detail = message
        self.status_code = status_code
        self.headers = None

    def __str__(self) -> str:  # gradio 3's Error quotes its message (repr); the API reply must not
        return self.message


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


FAR_CUTOFF = Slider("Far cutoff (share of the range)", 0.0, 1.0, 0.01, 1.0)  # 1: no cutoff


COMPRESS = Slider("Compress empty ranges (0/1)", 0, 1, 1, 0)


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
    #: "midas": estimated from a picture; "map": the input already is a depth map (no model).
    source: Literal["midas", "map"] = "midas"
    #: The registry's model that estimates it (`lib_depth.images.registry`).
    model: str = "midas"

    @property
    def model_filter(self) -> str:
        return "depth" if self.kind == "depth" else "normal"


SPECS: tuple[PreprocessorSpec, ...] = (
    PreprocessorSpec("depth_tools_midas", "depth", "Depth", BG_THRESHOLD),
    PreprocessorSpec("depth_tools_midas_compressed", "depth", "Depth", BG_THRESHOLD, compress=True),
    PreprocessorSpec("normal_tools_midas", "normal", "NormalMap", NORMAL_A, BG_THRESHOLD),
    PreprocessorSpec("depth_tools_relevel", "depth", "Depth", FAR_CUTOFF, COMPRESS, source="map"),
    PreprocessorSpec("depth_tools_anything_v2", "depth", "Depth", BG_THRESHOLD, model="depth-anything-v2"),
    PreprocessorSpec("depth_tools_anything_v2_compressed", "depth", "Depth", BG_THRESHOLD, compress=True,
                     model="depth-anything-v2"),
)


def to_rgb(image: Any) -> np.ndarray:
    """uint8 HxWx3 from what ControlNet may pass: HxW gray, HxWx1, RGB or RGBA (API uploads), also
    as the ndarray subclass its result cache wraps inputs in. RGBA is composited on white, as
    ControlNet's HWC3 does (midas.as_rgb8); a float image in 0..1 or 0..255 is accepted too."""
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


def _is_out_of_memory(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def _estimator_error(err: DepthError) -> PreprocessorError:
    """Weights or a package missing/unusable: 503 (the server cannot serve until that is fixed);
    our own bug: 500 with its one line; anything else the user can change: 422."""
    if isinstance(err, MissingDependency):
        return PreprocessorError(str(err), 503)
    if isinstance(err, InternalError):
        return PreprocessorError(str(err), 500)
    if not isinstance(err, WeightsError):
        return PreprocessorError(str(err), 422)
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
        shape = midas.network_shape(image.shape[0], image.shape[1], res)
        if shape.note:  # ControlNet shows no text: the console is where this is said
            log.warning("%s: %s", self.spec.name, shape.note)
        height, width = shape.content
        image = resize_to(image, height, width)
        s1, s2 = self.sliders(slider_1, slider_2)
        try:
            nearness = self._estimate(image, res)
            if self.spec.kind == "normal":
                assert s2 is not None
                result = self._normal(nearness, a=s1, bg_threshold=s2, resolution=res)
            else:
                result = self._depth(nearness, bg_threshold=s1)
        except PreprocessorError:
            raise
        except DepthError as err:
            raise _estimator_error(err) from None
        except MemoryError:
            raise PreprocessorError(
                f"not enough memory for MiDaS at resolution {res}: lower the preprocessor resolution", 503
            ) from None
        except Exception as exc:  # our bug or a library's: a readable line, the traceback in the console once
            if _is_out_of_memory(exc):
                raise PreprocessorError(
                    f"out of GPU memory for MiDaS at resolution {res}: lower the preprocessor resolution, or set "
                    "Settings > Depth Tools > Device to cpu", 503
                ) from None
            raise PreprocessorError(str(internal_error(exc, context=self.spec.name)), 500) from None
        finally:
            models.after_run()
        if result.shape != (height, width, 3) or result.dtype != np.uint8:  # pragma: no cover - contract guard
            raise PreprocessorError(f"internal error: map of shape {result.shape} {result.dtype}")
        return result

    def _estimate(self, image: np.ndarray, resolution: int) -> np.ndarray:
        estimator = registry.get_estimator(self.spec.model, models.model_settings(self.spec.model))
        return np.asarray(estimator.estimate(image, resolution).nearness, dtype=np.float32)

    def _depth(self, nearness: np.ndarray, bg_threshold: float) -> np.ndarray:
        depth = midas.nearness_to_depth(nearness, bg_threshold)
        try:
            levels = make_depth_map(depth, DepthOptions(compress=self.spec.compress)).levels
        except DepthError:  # every pixel below the threshold: all background, the far level
            levels = np.zeros(depth.shape, np.uint8)
        return np.ascontiguousarray(np.repeat(levels[:, :, None], 3, axis=2))

    def _normal(self, nearness: np.ndarray, a: float, bg_threshold: float, resolution: int) -> np.ndarray:
        return np.ascontiguousarray(midas.normal_map(nearness, a, bg_threshold, resolution), dtype=np.uint8)

    @staticmethod
    def unload() -> bool:
        """ControlNet calls this after API detects and before generations: move the model off the
        GPU (as its own depth_midas does), keeping it in memory so the next call pays no load.
        On the CPU this costs nothing (ControlNet calls it for every registered preprocessor)."""
        registry.release_all(free=False)
        return True


class RelevelPreprocessor:
    """An uploaded depth map (near = white, 8/16-bit, gray/RGB) -> its levels spent again: far
    cutoff and compress, at the preprocessor resolution. No model, deterministic, instant."""

    def __init__(self, spec: PreprocessorSpec) -> None:
        self.spec = spec

    def run(self, input_image: Any, resolution: Any = None, slider_1: Any = None, slider_2: Any = None) -> np.ndarray:
        if input_image is None:
            raise PreprocessorError("no input image: give the ControlNet unit a depth map", 422)
        try:
            depth = levels_to_depth(input_image)
            height, width = target_size(depth.shape[0], depth.shape[1], pick_resolution(resolution))
            if depth.shape != (height, width):  # float depth: resizing keeps 16-bit steps; linear: no ringing
                shrink = height * width < depth.size
                depth = cv2.resize(depth, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            assert self.spec.slider_2 is not None
            levels = relevel(depth, self.spec.slider_1.pick(slider_1), self.spec.slider_2.pick(slider_2) >= 0.5).levels
        except DepthError as err:
            raise PreprocessorError(f"unusable depth map: {err}", 422) from None
        return np.ascontiguousarray(np.repeat(levels[:, :, None], 3, axis=2))

    @staticmethod
    def unload() -> bool:
        return True  # nothing loaded


Implementation = DepthToolsPreprocessor | RelevelPreprocessor


def implementation(spec: PreprocessorSpec) -> Implementation:
    """The object that does the work for `spec`."""
    return RelevelPreprocessor(spec) if spec.source == "map" else DepthToolsPreprocessor(spec)
