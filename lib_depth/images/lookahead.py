"""An image sequence's frames estimated a group at a time on a GPU, still aligned one by one in order.

`prepare_images` asks for one frame's nearness at a time (each is aligned to its predecessor before
the next is asked for). On a GPU one forward pass per frame leaves the device idle between the
CPU's reads and copies, so here asking for a frame estimates it together with the next frames that
still need estimating (up to `GPU_GROUP`) in one `estimate_batch` (pictures of one size share the
forward pass, their transfers are queued before the work), and hands the others out as they are
asked for. On the CPU a group is one frame: batching gains nothing there and holds more memory.

A frame of the group that cannot be read is left out of it; it fails again, alone, when its turn
comes, so its error is its own and the rest of the sequence goes on. A group that fails as a whole
(most likely the device's memory: eight frames beside a loaded SD model) is run again as the frame
alone, and the rest of the sequence goes one frame at a time, as before grouping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..depth.frames import Frame
from . import registry
from .decode import read_image
from .image_input import ImageInput

GPU_GROUP = 8

Estimate = Callable[[Frame], np.ndarray]


def group_size(estimator: Any) -> int:
    device = getattr(estimator, "device", None)
    on_cpu = getattr(device, "type", str(device).split(":")[0]) == "cpu"
    return 1 if on_cpu or not hasattr(estimator, "estimate_batch") else GPU_GROUP


def _readable(frame: Frame) -> np.ndarray | None:
    try:
        return read_image(frame.path)
    except Exception:  # reported when the frame's own turn comes
        return None


def lookahead_estimate(frames: list[Frame], settings: ImageInput, wanted: Callable[[Frame], bool],
                       estimator: registry.Estimator | None = None) -> Estimate:
    """Frame -> raw nearness through `estimator`, else the per-process one (loaded on the first
    frame); `wanted` says which later frames still need estimating (not those whose depth is stored)."""
    position = {frame.path: index for index, frame in enumerate(frames)}
    ready: dict[Path, np.ndarray] = {}
    alone: list[bool] = []  # set once a whole group failed: one frame at a time from then on

    def estimate(frame: Frame) -> np.ndarray:
        if frame.path in ready:
            return ready.pop(frame.path)
        image = read_image(frame.path)
        chosen = estimator or registry.get_estimator(settings.model, settings.model_settings())
        resolution = int(settings.resolution)  # type: ignore[arg-type]  # set by the settings
        size = 1 if alone else group_size(chosen)
        if size == 1:
            return chosen.estimate(image, resolution).nearness
        group = [(frame, image)]
        for later in frames[position.get(frame.path, len(frames)) + 1:]:
            if len(group) == size:
                break
            if wanted(later) and (picture := _readable(later)) is not None:
                group.append((later, picture))
        try:
            done = chosen.estimate_batch([img for _, img in group], resolution)  # type: ignore[attr-defined]
        except Exception:  # the group's failure is not this frame's: the frame alone says what it is
            alone.append(True)
            return chosen.estimate(image, resolution).nearness
        ready.update({f.path: result.nearness for (f, _), result in zip(group[1:], done[1:], strict=True)})
        return done[0].nearness

    return estimate
