"""What the EXR tab shows, kept on the server per loaded render: its view and the cutoff in force.

Two paths change the cutoff: gradio's events, and the tab's own route (`fast_preview`), which
answers a cut click without a gradio event (each gradio event re-renders the WebUI's whole page:
~80 ms a time in Forge). Gradio's State cannot be written from outside an event, so the cutoff in
force lives here, under an unguessable key the browser gets with the view (no path, no index: a
key names only a render this server loaded for someone holding it). Handlers read the cutoff
from here first (`cutoff_in_force`), so *Make* uses the one set by a click a moment ago.

Bounded: the oldest keys go first; a handler whose key has gone falls back on gradio's State.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

#: Renders kept (each ~2.4 MB: a 768-pixel preview and its histogram); a tab holds one at a time.
MAX_SHOWN = 32


@dataclass(frozen=True)
class Shown:
    """One loaded render as the tab shows it. `made`: the controls the current downloads were made
    with (None: none made), so a preview that changes nothing leaves them offered."""

    view: Any  # an `exr.ExrView` (or a sequence's view)
    cutoff: float | None = None
    made: Any = None  # `exr.MapControls`


class ShownViews:
    """Key -> `Shown`, thread-safe (the route runs in a thread pool, gradio's events in theirs)."""

    def __init__(self, limit: int = MAX_SHOWN) -> None:
        self._limit = limit
        self._shown: OrderedDict[str, Shown] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, view: Any) -> str:
        """A newly loaded render, with no cutoff: its new key."""
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._shown[key] = Shown(view)
            while len(self._shown) > self._limit:
                self._shown.popitem(last=False)
        return key

    def get(self, key: object) -> Shown | None:
        if not isinstance(key, str):
            return None
        with self._lock:
            shown = self._shown.get(key)
            if shown is not None:
                self._shown.move_to_end(key)
            return shown

    def update(self, key: object, **changes: Any) -> None:
        """Change `view`, `cutoff` or `made` of a key still held (a key gone: nothing to keep)."""
        with self._lock:
            if isinstance(key, str) and key in self._shown:
                self._shown[key] = replace(self._shown[key], **changes)


SHOWN = ShownViews()


def cutoff_in_force(values: Mapping[str, Any]) -> float | None:
    """The cutoff of the render the handler's `view_key` names, else gradio's `cutoff_state`."""
    shown = SHOWN.get(values.get("view_key"))
    return shown.cutoff if shown is not None else values["cutoff_state"]


def tag(key: str | None) -> str:
    """The key as the page carries it, for the tab's JavaScript (`#depth_tools_exr_view_tag`)."""
    return f'<span data-depth-tools-view="{key}"></span>' if key else "<span></span>"
