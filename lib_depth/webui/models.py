"""MiDaS as the WebUI configures it: where its weights are looked for (the settings' folder, ControlNet's
and Forge's annotator folders), on which device and precision, and when the model is let go."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..images import registry
from ..midas import MidasSettings
from ..midas.torch_load import use_loader
from ..midas.weights import WEIGHTS_NAME
from .host import (
    ProgressTracker,
    cmd_opt,
    data_path,
    extension_dirs,
    extension_root,
    forge_preprocessor_root,
    get_option,
    host_module,
    models_path,
    progress_tracker,
    torch_gc,
    torch_loader,
)
from .settings import (
    OPT_ALLOW_DOWNLOAD,
    OPT_DEVICE,
    OPT_KEEP_LOADED,
    OPT_PRECISION,
    OPT_WEIGHTS_DIR,
    keep_model_loaded,
    setting,
)

# every checkpoint is read through the WebUI's unwrapped torch.load, weights only (midas/torch_load.py)
use_loader(torch_loader)


def controlnet_annotator_dirs() -> list[Path]:
    """ControlNet's annotator models folder, resolved as ControlNet resolves it (annotator_path.py):
    option `control_net_modules_path`, else `--controlnet-annotator-models-path`, else
    `<ControlNet extension>/annotator/downloads` (the extension folder may have any name)."""
    configured = get_option("control_net_modules_path", None) or cmd_opt("controlnet_annotator_models_path", None)
    if configured:
        path = Path(configured)
        if not path.is_absolute():
            data = data_path()
            path = data / path if data is not None else path
        return [path]
    found: list[Path] = []
    for root in extension_dirs():
        with contextlib.suppress(OSError):
            for ext in sorted(root.iterdir()):
                downloads = ext / "annotator" / "downloads"
                if ext.resolve() != extension_root() and downloads.is_dir() and downloads not in found:
                    found.append(downloads)
    return found


def forge_preprocessor_dir() -> Path | None:
    """Forge's `models/ControlNetPreprocessor` (its own ControlNet keeps MiDaS in `midas/` there)."""
    configured = forge_preprocessor_root()
    if configured is not None:
        return configured
    base = models_path()
    candidate = base / "ControlNetPreprocessor" if base is not None else None
    return candidate if candidate is not None and candidate.is_dir() else None


def configured_weights_dir() -> Path | None:
    """The settings' weights folder, or None when the setting is empty."""
    configured = str(setting(OPT_WEIGHTS_DIR) or "").strip()
    return Path(os.path.expanduser(configured)) if configured else None


def configured_weights_file() -> Path | None:
    """The weights in the configured folder (or its `midas/`), if the user put them there.

    A file in the folder the user named is used as is, like a file named on the command line:
    the user said where the weights are, so nothing else is searched or downloaded.
    """
    folder = configured_weights_dir()
    if folder is None:
        return None
    return next((f for f in (folder / WEIGHTS_NAME, folder / "midas" / WEIGHTS_NAME) if f.is_file()), None)


def weights_search_dirs() -> tuple[str, ...]:
    """Folders searched for the MiDaS weights, in order (each also in its `midas/` subfolder; the
    Hugging Face cache is searched by `lib_depth.midas.weights`).

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
    choice = str(setting(OPT_DEVICE) or "auto").lower()
    if choice != "auto":
        return choice
    devices = host_module("devices")
    get_device_for = getattr(devices, "get_device_for", None) if devices is not None else None
    if get_device_for is None:
        return None
    try:
        return str(get_device_for("controlnet"))
    except Exception:
        return None


def _precision() -> str | None:
    choice = str(setting(OPT_PRECISION) or "auto").lower()
    return None if choice == "auto" else choice


def midas_settings() -> MidasSettings:
    """MiDaS settings from the Depth Tools settings (standalone: extension models folder, no download)."""
    explicit = configured_weights_file()
    return MidasSettings(
        weights=None if explicit is None else str(explicit),
        # nothing else is searched when the user's file is there; also keeps the cache key stable
        search_dirs=weights_search_dirs() if explicit is None else (),
        allow_download=bool(setting(OPT_ALLOW_DOWNLOAD)),
        device=_device(),
        precision=_precision(),
    )


def model_settings(model: str) -> MidasSettings:
    """The settings for one registry model: MiDaS's as above; another model searches the same
    folders (each also in its own subfolder, e.g. ControlNet's `depth_anything_v2/`) with the same
    device, precision and download switch (a model decides what it may download). Its weights in
    the configured folder are used as they are, as MiDaS's are: the user said where they are."""
    if model == "midas":
        return midas_settings()
    common = {"allow_download": bool(setting(OPT_ALLOW_DOWNLOAD)), "device": _device(), "precision": _precision()}
    folder = configured_weights_dir()
    if folder is not None and registry.entry(model).find_weights(MidasSettings(weights=str(folder))) is not None:
        return MidasSettings(weights=str(folder), **common)
    return MidasSettings(search_dirs=weights_search_dirs(), **common)


def after_run() -> None:
    """Called after each tab run or preprocessor call: let go of the model unless it should stay.

    Keep-loaded off: free it (the next run loads it again). --lowvram/--medvram with keep-loaded on:
    move it off the GPU but keep it in memory, as ControlNet does with its own annotators.
    """
    if keep_model_loaded():
        return
    registry.release_all(free=not bool(setting(OPT_KEEP_LOADED)))
    torch_gc()


@contextlib.contextmanager
def running(job: str = "Depth Tools", steps: int = 1) -> Iterator[ProgressTracker]:
    """A job with progress reporting, followed by `after_run()` (model unload when so configured)."""
    try:
        with progress_tracker(job, steps) as tracker:
            yield tracker
    finally:
        after_run()
