"""Read a render's Normal pass: three channels of one layer, e.g. Blender's `ViewLayer.Normal.X/Y/Z`.

The header is parsed and bounded, channels chosen (views included) and pixels decoded by the same
code as a depth channel (`exr_header`, `exr_channels`, `exr`): the three channels are decoded from one
opening of the file. The values are returned as stored: Blender's are in world space, so they become a
ControlNet normal map only with the camera's rotation (`normals.pass_normal_map`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DepthError
from .exr import _check_file, _open, _pixels, _place_in_display_window
from .exr_channels import LISTED, choose_channel
from .exr_header import DEFAULT_MAX_PIXELS, check_bounds, read_header

__all__ = ["NormalPass", "normal_channels", "read_normal_pass"]

#: layer names that hold normals: Blender's `Normal`, and the `N` / `normals` of other renderers
NORMAL_LAYERS = ("normal", "normals", "n")
#: the component names, in the order x, y, z
COMPONENTS = (("X", "Y", "Z"), ("R", "G", "B"))


@dataclass(frozen=True)
class NormalPass:
    """A normal pass as float32 HxWx3 (display-window sized, NaN outside the data window), as stored."""

    normals: np.ndarray
    channels: tuple[str, str, str]
    view: str | None = None


def normal_channels(names: Iterable[str]) -> tuple[str, str, str] | None:
    """The x, y, z channels of the first normal layer among `names` (`<layer>.Normal.X/Y/Z`,
    `N.X/Y/Z`, `normals.R/G/B`, any case), or None when there is none."""
    layers: dict[str, dict[str, str]] = {}
    for name in names:
        prefix, dot, component = name.rpartition(".")
        if dot and prefix.rpartition(".")[2].lower() in NORMAL_LAYERS:
            layers.setdefault(prefix, {}).setdefault(component.upper(), name)
    for found in layers.values():
        for components in COMPONENTS:
            if all(c in found for c in components):
                x, y, z = (found[c] for c in components)
                return x, y, z
    return None


def read_normal_pass(path: str | Path, channels: Sequence[str] | None = None, view: str | None = None,
                     max_pixels: int = DEFAULT_MAX_PIXELS) -> NormalPass:
    """The normal pass of `path` (the three `channels` if given, else found by `normal_channels`)
    of `view` (multi-view files; default: the first view), bounded like `read_depth`.
    Every failure is a `DepthError` naming the file; a missing pass lists the channels there are."""
    path = Path(path)
    _check_file(path)
    headers = read_header(path)
    check_bounds(headers, path, max_pixels)
    names = list(dict.fromkeys(c.name for part in headers for c in part.channels))
    wanted = tuple(channels) if channels is not None else normal_channels(names)
    if wanted is None or len(wanted) != 3:
        listed = ", ".join(names[:LISTED]) + (f", ... ({len(names):,} in all)" if len(names) > LISTED else "")
        what = "three channels must be named" if wanted else "no normal pass found (e.g. ViewLayer.Normal.X/Y/Z)"
        raise DepthError(f"{what}; channels in this file: {listed or 'none'}", path)
    chosen = [choose_channel(headers, path, name, view) for name in wanted]
    exr = _open(path)
    planes = [_place_in_display_window(_pixels(exr, choice, path), choice.header, path) for choice in chosen]
    if len({plane.shape for plane in planes}) != 1:
        raise DepthError(f"the normal channels {', '.join(wanted)} have different sizes", path)
    x, y, z = (choice.raw for choice in chosen)
    return NormalPass(np.stack(planes, axis=-1), (x, y, z), chosen[0].view)
