"""How a picture is fed to a depth network, whatever the network: uint8 RGB from what callers hand
over, the resolution checked, the network's input shape (never stretched: the aspect ratio is kept)
with a cap on its long side, and the note that tells the user when the cap cut it.

Each network says only its own multiple and resize rule: MiDaS pads to multiples of 32
(`midas.geometry`), DINOv2 networks resize to multiples of their patch (`patch_shape` here, which
Depth Anything V2 and Video Depth Anything share). Pure numpy: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

from ..depth.errors import DepthError, OptionsError

MIN_RESOLUTION = 64
#: Longest side a network is fed (twice the largest preprocessor resolution): a 20000x20 strip at
#: resolution 512 would otherwise be a 512 x 512000 input (786 M values). Beyond it both sides
#: shrink in proportion (the aspect ratio is kept) and `NetworkShape.note` says so.
MAX_NETWORK_SIDE = 4096


@dataclass(frozen=True)
class NetworkShape:
    """How an HxW image is fed to the network: resized to `content`, padded to `padded`."""

    source: tuple[int, int]  # (h, w) of the input, which the output gets back
    content: tuple[int, int]  # (h, w) after resizing the short side to the resolution
    padded: tuple[int, int]  # (h, w) rounded up to the network's multiple (== content where it resizes to one)
    wanted: tuple[int, int] | None = None  # (h, w) the resolution asked for, when the long-side cap cut it
    #: the model named in the note (a subclass per model)
    model: ClassVar[str] = "the network"

    @property
    def note(self) -> str | None:
        """What the user should hear about the cap (None when the image was not capped)."""
        if self.wanted is None:
            return None
        (h, w), (wh, ww) = self.content, self.wanted
        return (f"very elongated image ({self.source[1]}x{self.source[0]}): the network input's long side is "
                f"capped at {MAX_NETWORK_SIDE} px, so {self.model} saw it at {w}x{h} instead of {ww}x{wh} "
                f"(resolution {min(wh, ww)}); the map is coarser across the short side")


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB from HxW, HxWx1, HxWx3 or HxWx4 (alpha over white, as ControlNet's HWC3)."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * np.uint8(255)
    elif image.dtype != np.uint8:
        raise DepthError(f"expected an image with uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DepthError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DepthError(f"the image is empty (shape {image.shape})")
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        image = image.clip(0, 255).astype(np.uint8)
    return image


def check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise OptionsError(f"resolution must be a whole number of pixels, got {resolution!r}")
    if resolution < MIN_RESOLUTION:
        raise OptionsError(f"resolution must be at least {MIN_RESOLUTION}, got {resolution}")
    return int(resolution)


# --------------------------------------------------------------------------------------------
# sides that are multiples of a patch (DINOv2: 14), the reference's `util/transform.py` Resize


def constrain_to_multiple_of(x: float, multiple: int, min_val: int = 0, max_val: int | None = None) -> int:
    """transform.py's `Resize.constrain_to_multiple_of` (round half to even, as np.round)."""
    y = round(x / multiple) * multiple
    if max_val is not None and y > max_val:
        y = math.floor(x / multiple) * multiple
    if y < min_val:
        y = math.ceil(x / multiple) * multiple
    return int(y)


def lower_bound_size(height: int, width: int, resolution: int, multiple: int) -> tuple[int, int]:
    """(h, w) of transform.py's `Resize.get_size` for `Resize(resolution, resolution, lower_bound, ...)`."""
    scale_height, scale_width = resolution / height, resolution / width
    if scale_width > scale_height:
        scale_height = scale_width
    else:
        scale_width = scale_height
    return (constrain_to_multiple_of(scale_height * height, multiple, min_val=resolution),
            constrain_to_multiple_of(scale_width * width, multiple, min_val=resolution))


S = TypeVar("S", bound=NetworkShape)


def patch_shape(height: int, width: int, resolution: int, multiple: int, kind: type[S] = NetworkShape) -> S:
    """The lower-bound size to multiples of `multiple`, unpadded; beyond MAX_NETWORK_SIDE both sides
    shrink in proportion (still multiples). `kind` names the model in the note."""
    content = lower_bound_size(height, width, resolution, multiple)
    wanted = None
    if max(content) > MAX_NETWORK_SIDE:
        wanted = content
        scale = MAX_NETWORK_SIDE / max(height, width)
        content = tuple(max(multiple, constrain_to_multiple_of(side * scale, multiple, max_val=MAX_NETWORK_SIDE))
                        for side in (height, width))  # type: ignore[assignment]
    return kind((height, width), content, content, wanted)
