"""The official `infer_video_depth`'s frame preparation (`video_depth.py`, `util/transform.py`):

- network size: Depth Anything V2's lower-bound resize to multiples of 14 (`network_base.geometry.patch_shape`),
  after the official cap on wide frames: beyond a 1.78 aspect ratio the input size shrinks to
  `round(int(size * 1.777 / ratio) / 14) * 14` ("due to memory limitation");
- pixels: float32 RGB / 255 (not float64 as in the image model), `cv2.INTER_CUBIC` on float32,
  `(x - mean) / std` with the lists (numpy makes that float64), then float32, channels first.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..depth.errors import DepthError
from ..network_base.dinov2_dpt_layout import PATCH_SIZE
from ..network_base.geometry import patch_shape

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
WIDE = 1.78


def input_size(height: int, width: int, size: int) -> int:
    """video_depth.py's input size for a frame of height x width."""
    ratio = max(height, width) / min(height, width)
    if ratio > WIDE:
        size = round(int(size * 1.777 / ratio) / PATCH_SIZE) * PATCH_SIZE
    return size


def network_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) the frames are resized to."""
    return patch_shape(height, width, input_size(height, width, size), PATCH_SIZE).content


def prepare_frame(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 3 x h x w network input of an H x W x 3 uint8 RGB frame."""
    h, w = shape
    x = cv2.resize(frame.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(((x - MEAN) / STD).transpose(2, 0, 1)).astype(np.float32)


def check_frame(frame: np.ndarray, index: int, size: tuple[int, int] | None) -> None:
    """A clear error for a frame that is not H x W x 3 uint8 or differs in size from the first."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        what = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise DepthError(f"frame {index} is not an H x W x 3 uint8 RGB picture ({what})")
    if size is not None and frame.shape[:2] != size:
        raise DepthError(f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, the first was {size[1]}x{size[0]}: "
                         f"a video's frames share one size")
