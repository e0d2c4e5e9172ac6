"""What the tab needs from the program it runs in, as one small interface (`TabHost`).

The WebUI adapter (`lib_depth.webui.tabs`) hands its implementation to `build_tab`; standalone the
defaults apply: model settings as the command line has them, MiDaS as the first model choice, no
send-to buttons (nor ControlNet),
no WebUI progress, server folders allowed (this machine only).
So `ui/` never imports `webui/`, and the tab is the same code in both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..depth.exr import DEFAULT_MAX_PIXELS
from ..images.registry import DEFAULT_MODEL
from ..midas.settings import MidasSettings


class Progress(Protocol):
    """A long job as the host reports it (the WebUI's progress API and Interrupt button)."""

    def step(self, text: str = "") -> None: ...

    @property
    def interrupted(self) -> bool: ...


class _NoProgress:
    def step(self, text: str = "") -> None:
        pass

    @property
    def interrupted(self) -> bool:
        return False


@contextlib.contextmanager
def _no_progress(job: str = "", steps: int = 1) -> Iterator[Progress]:
    yield _NoProgress()


@dataclass(frozen=True, kw_only=True)
class TabHost:
    """The host's side of the tab; every field has the standalone behaviour as its default."""

    #: The MiDaS settings in force (the WebUI's settings page; standalone: the command line's defaults).
    midas_settings: Callable[[], MidasSettings] = MidasSettings
    #: Any registry model's settings (the WebUI searches each model's own folders); None: derived
    #: from `midas_settings` as the standalone server does (`ui.midas.model_settings`).
    model_settings: Callable[[str], MidasSettings] | None = None
    #: The image sub-tab's first model choice, a registry name (the WebUI's "default model for pictures").
    default_model: Callable[[], str] = lambda: DEFAULT_MODEL
    #: Whether "Send to img2img / inpaint / extras" exist, and a builder for them (component, tab name).
    can_send_images: Callable[[], bool] = lambda: False
    create_send_buttons: Callable[[Any, str], None] = lambda component, tabname: None
    #: How many ControlNet units the WebUI shows (0: no ControlNet, no "Send to ControlNet").
    controlnet_units: Callable[[], int] = lambda: 0
    #: `with progress(job, steps) as p: p.step("file 1")`: the host's progress bar for a job.
    progress: Callable[[str, int], AbstractContextManager[Progress]] = _no_progress
    #: Like `progress`, and afterwards the host's model policy (unload or free MiDaS when so configured).
    running: Callable[[str, int], AbstractContextManager[Progress]] = _no_progress
    #: The EXR pixel bound every read of the tab passes to `read_depth` (the WebUI's setting).
    max_pixels: Callable[[], int] = lambda: DEFAULT_MAX_PIXELS
    #: Whether the tab may read and write folders on the server (a sequence's frames and maps): None
    #: when allowed, else why not (the message names the flag). The host knows who can reach it;
    #: standalone serves 127.0.0.1 (`python -m lib_depth.ui`), a visitor is the server's own user.
    server_folders: Callable[[], str | None] = lambda: None


_current = TabHost()


def use(host: TabHost) -> None:
    """Make `host` the one the tab's handlers consult (the tab is built once per process)."""
    global _current
    _current = host


def current() -> TabHost:
    return _current
