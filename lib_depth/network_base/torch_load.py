"""Reading a torch checkpoint's tensors: weights only, through the loader the host hands over.

Inside A1111, `torch.load` is the WebUI's checking wrapper (`modules/safe.py`; docs/hosts.md). Its
list of allowed zip member names predates what torch saves today (`.format_version`), so it
refuses valid checkpoints and answers None. torch's own `weights_only=True` unpickler allows
tensors and plain containers only: at least as strict, and it knows every current format. So the
host floor (`lib_depth.webui`) hands over the WebUI's unwrapped loader with `use_loader`, and every
load here passes `weights_only=True`, whichever loader does it. Standalone it is `torch.load`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Gives the host's unwrapped `torch.load`, or None for torch's own; asked at every load, since
#: the host may wrap `torch.load` after this package was imported.
LoaderSource = Callable[[], Callable[..., Any] | None]

_source: LoaderSource = lambda: None  # noqa: E731


def use_loader(source: LoaderSource) -> None:
    """Load through `source()` from now on (the host adapter calls this once)."""
    global _source
    _source = source


def load_tensors(path: Path, *, mmap: bool) -> Any:
    """`torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)` with the host's loader.

    Memory-mapping needs a zip checkpoint and torch >= 2.1 (older ones have no `mmap`: TypeError).
    """
    import torch

    loader = _source() or torch.load
    try:
        return loader(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except TypeError:
        return loader(str(path), map_location="cpu", weights_only=True)
