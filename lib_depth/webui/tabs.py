"""The Depth Tools tab in the WebUI: the host-agnostic tab, built with the WebUI's side of it."""

from __future__ import annotations

from typing import Any

from . import controlnet, host, models, settings

TAB_TITLE = "Depth Tools"
TAB_ID = "depth_tools"


def tab_host() -> Any:
    """The WebUI's side of the tab (`lib_depth.ui.TabHost`): its settings (each model's, and the
    Image tab's first model), send-to buttons,
    ControlNet's units, progress, and whether server folders are allowed (its command-line flags)."""
    from ..ui import TabHost

    return TabHost(
        midas_settings=models.midas_settings,
        model_settings=models.model_settings,
        default_model=settings.default_image_model,
        can_send_images=host.can_send_images,
        create_send_buttons=host.create_send_buttons,
        controlnet_units=controlnet.controlnet_units,
        progress=host.progress_tracker,
        running=models.running,
        max_pixels=settings.max_pixels,
        server_folders=host.server_folders_refusal,
    )


def ui_tabs() -> list[tuple[Any, str, str]]:
    """on_ui_tabs: the "Depth Tools" tab (gradio imported here: an API-only start never builds it)."""
    from ..ui import build_tab

    return [(build_tab(tab_host()), TAB_TITLE, TAB_ID)]
