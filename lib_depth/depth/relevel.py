"""A depth map that already exists (near = white, 8 or 16 bit, gray or RGB) with its levels spent again.

Maps made elsewhere (another tool, a renderer's 8-bit export, a ControlNet preprocessor) often waste
their levels on empty depth ranges or a far background. Turning the levels back into a float depth
(larger = farther) lets the same `process.make_depth_map` apply its cutoff and compress to them, so
a re-levelled map follows exactly the depth semantics of every other map.
"""

from __future__ import annotations

import numpy as np

from .errors import DepthError
from .process import DepthMap, DepthOptions, make_depth_map


def gray_levels(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(levels HxW float32, top level) of a map: HxW, HxWx1, RGB or RGBA (alpha ignored; colour
    channels averaged, which keeps a gray map's values exactly). 8-bit maps have top 255; 16-bit
    ones (uint16, or the int32 Pillow gives for mode I) 65535; floats 1.0 when they lie in 0..1."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
        colour = array[:, :, : 3 if array.shape[2] >= 3 else 1]
        array = colour[:, :, 0] if colour.shape[2] == 1 else colour.astype(np.float32).mean(axis=2)
    if array.ndim != 2 or array.size == 0:
        raise DepthError(f"a depth map must be a gray or RGB image, not an array of shape {np.shape(image)}")
    if array.dtype == np.bool_:
        return array.astype(np.float32), 1.0
    levels = array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return levels, 255.0 if array.dtype.itemsize == 1 or int(array.max()) <= 255 else 65535.0
    finite = levels[np.isfinite(levels)]
    peak = float(finite.max()) if finite.size else 0.0
    return levels, 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0


def levels_to_depth(image: np.ndarray) -> np.ndarray:
    """float32 depth, larger = farther: `top - level` (white, the nearest, becomes 0)."""
    levels, top = gray_levels(image)
    return np.subtract(np.float32(top), levels, dtype=np.float32)


def relevel(depth: np.ndarray, cutoff: float = 1.0, compress: bool = False, bits: int = 8) -> DepthMap:
    """Spend the levels of `depth` (from `levels_to_depth`) again.

    `cutoff` is a share of the map's own depth range: 1 keeps all of it, 0.5 makes the far half the
    far level; at or below its nearest depth every pixel is far (black) rather than an error, so a
    slider dragged to 0 shows a black map. `compress` removes the empty depth ranges.
    """
    valid = np.isfinite(depth)
    if not valid.any():
        raise DepthError("the depth map has no finite level")
    near, far = float(depth[valid].min()), float(depth[valid].max())
    options = DepthOptions(compress=compress, bits=bits)
    if cutoff is not None and cutoff < 1.0:
        cut = near + max(float(cutoff), 0.0) * (far - near)
        if not cut > near:
            levels = np.zeros(depth.shape, options.dtype)
            return DepthMap(levels, np.ones(depth.shape, bool), near, near)
        options = DepthOptions(cutoff=cut, compress=compress, bits=bits)
    return make_depth_map(depth, options)
