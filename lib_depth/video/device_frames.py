"""Video Depth Anything's frames prepared ON THE DEVICE, for an estimator that is not on the CPU.

On a GPU the CPU's cv2 resize and numpy normalisation of every frame cost more than the network's
share of it (the image models' finding, `network_base/device_io.py`); a window is 32 of them. Here a
frame goes to the device as uint8 (from pinned memory, `non_blocking`: the copy overlaps the work
already queued) and is scaled, resized and normalised there, so a window is built on the device and
never crosses to the CPU before its maps do.

It follows `frames.prepare_frame` (the official transform): float32 / 255, `cv2.INTER_CUBIC` — torch's
`bicubic` with `align_corners=False`, both Keys' kernel with A = -0.75 and a replicated border, no
antialias — then `(x - mean) / std`, which numpy computes in float64 and torch here in float32
(about 1e-7 relative; tests/test_video_device.py measures it on CPU tensors). The CPU keeps the cv2
path, so CPU maps are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..network_base.device_io import upload
from .frames import MEAN, STD


def device_preparer(device: Any) -> Callable[[np.ndarray, tuple[int, int]], Any]:
    """(H x W x 3 uint8 RGB frame, (h, w)) -> 3 x h x w float32 network input on `device`."""
    import torch
    import torch.nn.functional as F

    device = torch.device(device)
    mean = torch.tensor(MEAN, dtype=torch.float32, device=device).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32, device=device).view(3, 1, 1)

    def prepare(frame: np.ndarray, shape: tuple[int, int]) -> Any:
        x = upload(frame, device).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        x = F.interpolate(x, size=tuple(shape), mode="bicubic", align_corners=False)[0]
        return (x - mean) / std

    return prepare
