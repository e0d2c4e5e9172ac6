"""The tab inside a (stand-in) WebUI: the "send to" buttons, the tab built through the host, and the
settings it reads when built (the Image tab's first model)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np

from lib_depth.ui import build_ui
from lib_depth.ui.exr_events import on_make
from lib_depth.webui import tabs
from lib_depth.webui.settings import OPT_DEFAULT_MODEL, OPT_WEIGHTS_DIR
from tests.anything_support import random_state_dict, save_pth
from tests.host_double import WebUI
from tests.ui_values import files


def test_send_buttons_send_the_full_size_result(make_webui: Callable[..., WebUI], sample_exr) -> None:
    webui = make_webui("controlnet")
    infotext = webui.module("modules.infotext_utils")
    before = len(infotext.registered_param_bindings)
    ui = build_ui(tabs.tab_host())  # as the WebUI's on_ui_tabs builds it
    bindings = infotext.registered_param_bindings[before:]
    assert sorted(b.tabname for b in bindings) == sorted(["img2img", "inpaint", "extras"] * 2)
    sources = {id(b.source_image_component): b.source_image_component for b in bindings}
    assert set(sources) == {id(ui.exr.result), id(ui.midas.result)}
    assert all(s.type == "pil" for s in sources.values())  # the WebUI resizes through PIL when sending
    assert all(isinstance(b.paste_button.parent, gr.Row) for b in bindings)  # side by side, under the result
    # What a click sends: the full-size map of the last "Make depth maps", as RGB.
    result = on_make({**files(cutoff=254.5), "files": [str(sample_exr)]})["result"]
    sent = ui.exr.result.preprocess(ui.exr.result.postprocess(result))
    assert sent.size == (768, 512) and np.asarray(sent).shape == (512, 768, 3)


def test_no_send_buttons_standalone() -> None:
    ui = build_ui()
    ids = {getattr(block, "elem_id", None) for block in ui.blocks.blocks.values()}
    assert "depth_tools_exr_send" not in ids and "depth_tools_midas_send" not in ids
    assert "depth_tools_exr_result" in ids


def test_the_default_model_setting_is_the_image_tabs_first_choice(make_webui: Callable[..., WebUI],
                                                                  tmp_path: Path) -> None:
    """The WebUI's setting picks the model the tab starts with, and the tab finds that model's
    weights where the WebUI's settings say (its weights folder), not MiDaS's rules."""
    folder = tmp_path / "weights"
    save_pth(folder / "depth_anything_v2_vits.pth", random_state_dict("vits", 1))
    make_webui("controlnet", **{OPT_DEFAULT_MODEL: "depth-anything-v2", OPT_WEIGHTS_DIR: str(folder)})
    tab = build_ui(tabs.tab_host()).midas
    assert tab.model.value == "Depth Anything V2" and tab.resolution.value == 518 and tab.resolution.step == 14
    line = html.unescape(tab.weights.value)
    assert str(folder / "depth_anything_v2_vits.pth") in line and "licence Apache-2.0" in line


def test_the_default_model_setting_defaults_to_midas(make_webui: Callable[..., WebUI]) -> None:
    make_webui("controlnet")
    tab = build_ui(tabs.tab_host()).midas
    assert tab.model.value == "MiDaS DPT-hybrid" and tab.resolution.value == 512
