"""Which channel of which part holds depth: renderers' conventions and multi-view files.

Renderers disagree on where depth lives: Daz iray writes it to `Y`, Blender to `Z` or
`<layer>.Depth.Z`, RGB exports repeat it in R/G/B. `pick_channel` encodes that knowledge once.
Stereo renders hold several views: one part per view (a `view` attribute), or one part whose
`multiView` list names them, with `right.Z` beside the first (default) view's plain `Z`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import DepthError
from .exr_header import ChannelInfo, PartHeader

#: channels named in an error message: a damaged header may claim thousands
LISTED = 24


def _is_depth_layer(name: str) -> bool:
    return any(part.lower() == "depth" for part in name.split(".")[:-1])


def pick_channel(names: Iterable[str], wanted: str | None = None) -> str | None:
    """The depth channel among `names`: `wanted` if given (exact, then case-insensitive), else
    `Y`, `Z`, `<layer>.Depth.Z`, any channel of a `depth` layer, `R`, or the only channel."""
    names = list(names)
    if wanted:
        if wanted in names:
            return wanted
        folded = [n for n in names if n.lower() == wanted.lower()]
        return folded[0] if len(folded) == 1 else None
    for exact in ("Y", "Z"):
        if exact in names:
            return exact
    layered = [n for n in names if _is_depth_layer(n)]
    for name in layered:
        if name.split(".")[-1].upper() == "Z":
            return name
    if layered:
        return sorted(layered)[0]
    if "R" in names:
        return "R"
    return names[0] if len(names) == 1 else None


@dataclass(frozen=True)
class Choice:
    """The chosen channel: where it is, and what the user could have chosen instead."""

    part: int
    header: PartHeader
    info: ChannelInfo
    raw: str  # its name in the file
    names: tuple[str, ...]  # the channels offered (of the chosen view)
    view: str | None
    z_channel: str | None  # deep parts: the channel whose smallest sample is the front one


def views_of(parts: list[PartHeader]) -> list[str]:
    """View names in file order: the parts' `view` attributes, else the `multiView` list."""
    views: list[str] = []
    for part in parts:
        for name in ([part.view] if part.view else []) + (part.multi_view or []):
            if name not in views:
                views.append(name)
    return views


def _view_of(channel: str, views: list[str]) -> tuple[str | None, str]:
    """(view, name without it): `right.Z` -> (right, Z); channels naming no view belong to the
    default view (None here)."""
    parts = channel.split(".")
    if len(parts) > 1 and parts[-2] in views:
        return parts[-2], ".".join(parts[:-2] + parts[-1:])
    return None, channel


def _offered(parts: list[PartHeader], views: list[str], view: str | None) -> dict[str, tuple[int, str]]:
    """name shown to the user -> (part index, name in the file), for the chosen view."""
    default = views[0] if views else None
    offered: dict[str, tuple[int, str]] = {}
    for index, part in enumerate(parts):
        if part.view and part.view != view:
            continue
        for info in part.channels:
            owner, shown = _view_of(info.name, views) if part.multi_view else (None, info.name)
            if (owner or (part.view or default)) == view:
                offered.setdefault(shown, (index, info.name))
    return offered


def _z_partner(part: PartHeader, raw: str) -> str | None:
    """In a deep part, the Z beside `raw` (same layer and view): it orders the samples."""
    prefix = raw.rpartition(".")[0]
    names = [c.name for c in part.channels]
    for candidate in (f"{prefix}.Z" if prefix else "Z", "Z"):
        if candidate in names:
            return candidate
    return None


def choose_channel(parts: list[PartHeader], path: Path, channel: str | None, view: str | None) -> Choice:
    """The channel to read: `channel` (or the usual depth channel) of `view` (or the first view)."""
    views = views_of(parts)
    if view is not None and view not in views:
        listed = ", ".join(views) if views else "none (not a multi-view file)"
        raise DepthError(f"no view named {view!r}; views in this file: {listed}", path)
    chosen_view = view if view is not None else (views[0] if views else None)
    offered = _offered(parts, views, chosen_view)
    names = tuple(offered)
    name = pick_channel(names, channel)
    if name is None and channel:  # a full name from another view (`right.Z`) still works
        raw_names = {info.name: i for i, p in enumerate(parts) for info in p.channels}
        if channel in raw_names:
            offered[channel] = (raw_names[channel], channel)
            name = channel
    if name is None:
        listed = ", ".join(names[:LISTED]) or "none"
        if len(names) > LISTED:
            listed += f", ... ({len(names):,} in all)"
        what = f"no channel named {channel!r}" if channel else "no depth channel found"
        where = f" (view {chosen_view!r})" if chosen_view else ""
        raise DepthError(f"{what}; channels in this file{where}: {listed}", path)
    index, raw = offered[name]
    header = parts[index]
    info = next(c for c in header.channels if c.name == raw)
    z = _z_partner(header, raw) if header.deep else None
    return Choice(index, header, info, raw, names, chosen_view, z)
