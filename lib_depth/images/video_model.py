"""Video Depth Anything as a registry model: where its weights are found, one loaded network per
process, and a sequence's frames streamed through it (`stream_aligned`).

Why a separate path. The image models estimate each frame alone and `align` fits it to its
predecessor; Video Depth Anything sees 32-frame windows and joins them itself, so its maps are
already consistent. The frames are streamed in (read one at a time) and each map goes straight to
its stored depth file, so memory does not grow with the sequence's length.

Why it normalises once. The network's relative disparity is mapped to frame 0's 0..1 range (as the
image chain's units are frame 0's), so `bg_threshold` means what it means for a single picture and
one shared mapping then covers the whole clip.

Weights: `video_weights` (found, the published Small verified, only Small downloaded when allowed).
The device: the one asked for, auto = cuda > mps > cpu as for the picture models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..network_base.settings import NetworkSettings
from .video_weights import SUBFOLDER, find_weights, not_found, resolve

__all__ = ["SUBFOLDER", "aligned_stream", "describe", "find_weights", "load", "loaded", "not_found", "release"]

LICENCE = "Small: Apache-2.0 (downloaded when allowed); Base, Large: CC-BY-NC-4.0 (used when found, never downloaded)"
DEFAULT_RESOLUTION = 518
PATCH = 14
SINGLE_PICTURE = ("Video Depth Anything estimates sequences (--sequence, a folder, a #### pattern or a video); "
                  "for a single picture use --model depth-anything-v2")

_CACHE: dict[tuple[str, str], Any] = {}
#: One load at a time: the API's worker thread and the UI's threads may ask at once (two copies on a GPU).
_LOCK = threading.Lock()


def describe(path: Path) -> tuple[str, str]:
    """(size, licence) read from the file's tensors."""
    from ..video import load_video_network

    _, config = load_video_network(path)
    return config.label, config.licence


def _device(settings: NetworkSettings) -> str:
    """The device asked for; auto (None) is cuda > mps > cpu, as for the picture models."""
    from ..network_base.device import pick_device

    return str(pick_device(settings.device))


def load(settings: NetworkSettings, progress: Callable[..., None] | None = None) -> Any:
    """The per-process `VideoEstimator` for these settings (found, verified or downloaded, loaded once)."""
    with _LOCK:
        key = (str(resolve(settings, progress)), _device(settings))
        if key not in _CACHE:
            from ..video import VideoEstimator

            release(free=True)
            _CACHE[key] = VideoEstimator.from_file(key[0], device=key[1])
        return _CACHE[key]


def loaded(settings: NetworkSettings) -> Any:
    path = find_weights(settings)
    return None if path is None else _CACHE.get((str(path), _device(settings)))


def release(free: bool = False) -> None:
    """Drop the network (the next call loads it again); its device memory is given back too, as the
    picture models' `free` does (a GPU's caching allocator keeps it otherwise)."""
    del free  # a stream holds one window: nothing is worth keeping on the CPU between runs
    held = bool(_CACHE)
    _CACHE.clear()
    if held:
        import gc

        from ..network_base.device import empty_device_cache

        gc.collect()
        empty_device_cache()


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
