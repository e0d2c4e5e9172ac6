"""Video Depth Anything as a registry model: where its weights are found, one loaded network per
process, and a sequence's frames streamed through it (`stream_aligned`).

Why a separate path. The image models estimate each frame alone and `align` fits it to its
predecessor; Video Depth Anything sees 32-frame windows and joins them itself, so its maps are
already consistent. The frames are streamed in (read one at a time) and each map goes straight to
its stored depth file, so memory does not grow with the sequence's length.

Why it normalises once. The network's relative disparity is mapped to frame 0's 0..1 range (as the
image chain's units are frame 0's), so `bg_threshold` means what it means for a single picture and
one shared mapping then covers the whole clip.

Weights: `video_depth_anything_vit{l,b,s}.pth` (or `metric_...`), looked for in the weights folder you
name, `models/video_depth_anything/` of this extension, and the extra folders (each also in a
`video_depth_anything/` subfolder), best size first. Nothing is downloaded: Base and Large are
CC-BY-NC-4.0, and Small's published hash is not recorded here yet, so it is not fetched either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..network_base.settings import NetworkSettings
from ..network_base.weights import EXTENSION_ROOT, WeightsError

SUBFOLDER = "video_depth_anything"
EXTENSION_MODELS_DIR = EXTENSION_ROOT / "models" / SUBFOLDER
ENCODERS = ("vitl", "vitb", "vits")
LICENCE = "Small: Apache-2.0; Base, Large: CC-BY-NC-4.0 (used when found, never downloaded)"
DEFAULT_RESOLUTION = 518
PATCH = 14
SINGLE_PICTURE = ("Video Depth Anything estimates sequences (--sequence, a folder, a #### pattern or a video); "
                  "for a single picture use --model depth-anything-v2")

_CACHE: dict[tuple[str, str], Any] = {}


def file_names() -> list[str]:
    """Names looked for, best size first (the size and licence are then read from the tensors)."""
    return [f"{prefix}video_depth_anything_{enc}.pth" for enc in ENCODERS for prefix in ("", "metric_")]


def search_folders(settings: NetworkSettings) -> list[Path]:
    folders = [Path(settings.models_dir).expanduser() if settings.models_dir else EXTENSION_MODELS_DIR]
    folders += [Path(d).expanduser() for d in settings.search_dirs]
    return list(dict.fromkeys(folders))


def _files_in(folder: Path) -> list[Path]:
    return [f for name in file_names() for f in (folder / name, folder / SUBFOLDER / name) if f.is_file()]


def find_weights(settings: NetworkSettings) -> Path | None:
    """The file that would be loaded: the named file (or the best one in the named folder), else the
    best one found in the usual folders; None when there is none."""
    if settings.weights:
        named = Path(settings.weights).expanduser()
        return next(iter(_files_in(named)), None) if named.is_dir() else (named if named.is_file() else None)
    return next((f for folder in search_folders(settings) for f in _files_in(folder)), None)


def not_found(settings: NetworkSettings) -> str:
    folders = ", ".join(str(f) for f in search_folders(settings))
    return (f"Video Depth Anything weights not found (looked for video_depth_anything_vits.pth, _vitb, _vitl in "
            f"{folders}); put the file from huggingface.co/depth-anything/Video-Depth-Anything-Small (Apache-2.0) "
            f"or -Large (CC-BY-NC-4.0) into {search_folders(settings)[0]} (Depth Tools never downloads them), "
            f"or name it with --weights PATH")


def describe(path: Path) -> tuple[str, str]:
    """(size, licence) read from the file's tensors."""
    from ..video import load_video_network

    _, config = load_video_network(path)
    return config.label, config.licence


def _key(settings: NetworkSettings) -> tuple[str, str]:
    path = find_weights(settings)
    if path is None:
        raise WeightsError(not_found(settings))
    return str(path), settings.device or "cpu"


def load(settings: NetworkSettings, progress: Callable[..., None] | None = None) -> Any:
    """The per-process `VideoEstimator` for these settings (loaded once)."""
    del progress  # nothing is downloaded
    key = _key(settings)
    if key not in _CACHE:
        from ..video import VideoEstimator

        device = key[1] if key[1] != "auto" else "cpu"
        _CACHE.clear()
        _CACHE[key] = VideoEstimator.from_file(key[0], device=device)
    return _CACHE[key]


def loaded(settings: NetworkSettings) -> Any:
    path = find_weights(settings)
    return None if path is None else _CACHE.get((str(path), settings.device or "cpu"))


def release(free: bool = False) -> None:
    del free  # a CPU network: dropping it is the only release
    _CACHE.clear()


def aligned_stream(nearness: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The network's maps in frame 0's normalised units (0 = farthest of frame 0, 1 = nearest)."""
    low = span = None
    for frame in nearness:
        if low is None:
            finite = frame[np.isfinite(frame)]
            low = float(finite.min()) if finite.size else 0.0
            span = (float(finite.max()) - low) if finite.size else 0.0
            span = span if span > 0 else 1.0
        yield ((np.asarray(frame, np.float64) - low) / span).astype(np.float32)
