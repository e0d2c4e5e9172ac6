"""Fixtures for the WebUI-facing adapters: a fake WebUI (tests/host_double) per flavour of ControlNet."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.host_double import FLAVOURS, WebUI, webui_double

__all__ = ["CONTROLNET_FLAVOURS", "make_webui", "webui"]

#: The three ControlNets Depth Tools registers with ("none" is a WebUI without ControlNet).
CONTROLNET_FLAVOURS = tuple(f for f in FLAVOURS if f != "none")


@pytest.fixture
def make_webui(tmp_path: Path) -> Iterator[Callable[..., WebUI]]:
    """`make_webui("forge")` -> a started fake WebUI (scripts loaded, settings and before-UI run),
    rooted in the test's folder and torn down (sys.modules, sys.path, torch.load) after the test."""
    with contextlib.ExitStack() as stack:

        def make(flavour: str = "controlnet", start: bool = True, **options: object) -> WebUI:
            webui = stack.enter_context(webui_double(tmp_path / f"webui-{flavour}", flavour))
            if start:
                webui.load_scripts()
                webui.settings()
                for key, value in options.items():
                    webui.shared.opts.data[key] = value
                webui.before_ui()
            return webui

        yield make


@pytest.fixture(params=CONTROLNET_FLAVOURS)
def webui(request: pytest.FixtureRequest, make_webui: Callable[..., WebUI]) -> WebUI:
    """A started fake WebUI, once per ControlNet flavour."""
    return make_webui(request.param)
