"""What each route does, without HTTP: the command line's own core calls on an uploaded file.

EXR: `read_depth` -> `pipeline.render` (the function `convert` writes files from); histogram:
`scan_depth` + `histogram`; image: `read_image_noted` -> `estimate_depth` -> `render`. Errors are the
core's `DepthError`s, labelled with the client's file name instead of the temporary file's path,
so the text is what the command line prints for a file of that name.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..depth.errors import OptionsError
from ..depth.exr import ExrDepth, read_depth
from ..depth.normals import NormalOptions
from ..depth.pipeline import ExrInput, Job, Rendered, render
from ..depth.process import DepthOptions, histogram, scan_depth
from ..images import ImageInput, estimate_depth, read_image_noted, registry
from ..midas import MidasSettings
from ..midas.weights import hf_hub_cache, search_places
from .models import ExrOptions, HistogramOptions, MidasOptions, PostOptions
from .uploads import ApiLimits, Upload


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def depth_options(options: PostOptions, background_above: float | None = None) -> DepthOptions:
    """The command line's `make_jobs` mapping (OptionsError for bits other than 8/16)."""
    extra = {} if background_above is None else {"background_above": background_above}
    return DepthOptions(cutoff=options.cutoff, compress=options.compress, noise=options.noise, invert=options.invert,
                        bits=options.bits, seed=options.seed, **extra)


def read_exr(path: Path, channel: str | None, limits: ApiLimits) -> ExrDepth:
    """`read_depth`, refusing a header that claims more than `limits.max_pixels` before decoding."""
    return read_depth(path, channel, max_pixels=limits.max_pixels)


def _shape(job: Job, depth: np.ndarray) -> dict[str, Any]:
    return {"file": str(job.source), "height": int(depth.shape[0]), "width": int(depth.shape[1])}


def _histogram(rendered: Rendered) -> dict[str, Any] | None:
    return None if rendered.histogram is None else rendered.histogram.as_dict()


def exr_answer(upload: Upload, options: ExrOptions, limits: ApiLimits) -> dict[str, Any]:
    """EXR -> depth (+ mask) PNGs, near/far, channel, histogram and suggestions."""
    kind = exr_input(options)
    job = Job(source=Path(upload.filename), input=kind, options=depth_options(options, options.background_above),
              mask=options.mask, want_histogram=True)
    source = kind.load(upload.path, max_pixels=limits.max_pixels)
    rendered = render(job, source)
    return {
        **_shape(job, source.depth), "bits": job.options.bits, "channel": rendered.channel,
        "near": rendered.near, "far": rendered.far, "depth": _b64(rendered.images["depth"]),
        "mask": _b64(rendered.images.get("mask")), "normal": _b64(rendered.images.get("normal")),
        "histogram": _histogram(rendered),
    }


def exr_input(options: ExrOptions) -> ExrInput:
    """The command line's `arguments.exr_input` for the API's fields (OptionsError: a 422)."""
    normals = None
    if options.normal:
        normals = NormalOptions(fov_degrees=options.fov, depth_is=options.depth_is, style=options.normal_style,
                                background_above=options.background_above)
    return ExrInput(channel=options.channel, normals=normals, camera_rotation=_rotation(options.camera_rotation))


def _rotation(value: list[float] | str | None) -> tuple[float, float, float] | None:
    """Three angles from a JSON list or a form's "X,Y,Z" (OptionsError otherwise)."""
    if value is None:
        return None
    parts = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    try:
        angles = tuple(float(p) for p in parts)
    except ValueError:
        angles = ()
    if len(angles) != 3 or not all(math.isfinite(a) for a in angles):
        raise OptionsError(f"camera_rotation must be three angles X, Y, Z in degrees, not {value!r}")
    return angles[0], angles[1], angles[2]


def histogram_answer(upload: Upload, options: HistogramOptions, limits: ApiLimits) -> dict[str, Any]:
    """EXR -> histogram and suggested cuts alone: no map is made, no PNG encoded."""
    label = upload.filename
    exr = read_exr(upload.path, options.channel, limits)
    scan = scan_depth(exr.depth, options.background_above, label)
    hist = histogram(exr.depth, scan, path=label)
    height, width = exr.depth.shape
    return {"file": label, "width": int(width), "height": int(height), "channel": exr.channel,
            "histogram": hist.as_dict()}


def _name_jpeg(upload: Upload) -> None:
    """`read_image` applies a JPEG's EXIF orientation (phone photos) when the name says .jpg."""
    with upload.path.open("rb") as fh:
        if fh.read(3) != b"\xff\xd8\xff":
            return
    jpeg = upload.path.with_suffix(".jpg")
    upload.path.rename(jpeg)
    upload.path = jpeg


#: The host's settings for a depth model, by its registry name.
SettingsFn = Callable[[str], MidasSettings]


def default_settings(model: str) -> MidasSettings:
    """No host: every model searched where users keep its weights, nothing downloaded."""
    del model
    return MidasSettings()


def midas_answer(upload: Upload, options: MidasOptions, settings_fn: SettingsFn, limits: ApiLimits) -> dict[str, Any]:
    """Image -> MiDaS -> depth, normal (and mask) PNGs: the command line's image path."""
    job = Job(source=Path(upload.filename), options=depth_options(options), mask=options.mask, want_histogram=True)
    image_settings = ImageInput(model=options.model, resolution=options.resolution, bg_threshold=options.bg_threshold,
                                a=options.a, normal=options.normal)  # OptionsError for an unknown model
    settings = settings_fn(image_settings.model)
    if options.precision:
        settings = replace(settings, precision=options.precision)  # OptionsError for an unknown one
    _name_jpeg(upload)
    image, notes = read_image_noted(upload.path, limits.max_pixels)  # bounded from the header (HTTP 413)
    estimator = registry.get_estimator(image_settings.model, settings)
    source = estimate_depth(image, estimator, image_settings, notes)
    rendered = render(job, source)
    return {
        **_shape(job, source.depth), "bits": job.options.bits, "near": rendered.near, "far": rendered.far,
        "depth": _b64(rendered.images["depth"]), "normal": _b64(rendered.images.get("normal")),
        "mask": _b64(rendered.images.get("mask")), "histogram": _histogram(rendered),
        "device": str(estimator.device), "precision": estimator.precision, "model": image_settings.model,
    }


def info_answer(settings_fn: SettingsFn, limits: ApiLimits) -> dict[str, Any]:
    """Version, the weights (found or not, where), device and precision, loaded or not. Loads nothing."""
    settings = settings_fn("midas")
    models = [model_info(entry, settings if entry.name == "midas" else settings_fn(entry.name))
              for entry in registry.ESTIMATORS.values()]
    midas = next(m for m in models if m["name"] == "midas")  # the top-level fields are MiDaS's, as before
    estimator = registry.entry("midas").loaded(settings)
    if settings.weights:
        searched = [settings.weights]
    else:
        searched = [str(p.folder) for p in search_places(settings.search_dirs, settings.models_dir)]
        searched.append(str(hf_hub_cache()))
    return {
        "version": __version__,
        "weights_found": midas["weights_found"],
        "weights": midas["weights"],
        "searched": searched,
        "download": settings.allow_download,
        "loaded": midas["loaded"],
        "device": str(estimator.device) if estimator is not None else settings.device or "auto",
        "precision": estimator.precision if estimator is not None else settings.precision or "auto",
        "max_upload_bytes": limits.max_upload_bytes,
        "max_pixels": limits.max_pixels,
        "models": models,
    }


def model_info(entry: registry.EstimatorEntry, settings: MidasSettings) -> dict[str, Any]:
    """One model as /info lists it: found and loaded or not (loads nothing, hashes nothing)."""
    found = entry.find_weights(settings)
    estimator = entry.loaded(settings)
    weights = estimator.weights if estimator is not None else found
    return {"name": entry.name, "label": entry.label, "licence": entry.licence,
            "default_resolution": entry.default_resolution, "weights_found": found is not None,
            "weights": None if weights is None else str(weights), "loaded": estimator is not None}
