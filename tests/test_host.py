"""lib_depth.webui.host: settings, weight folders, memory policy, progress and "send to" — with and without a WebUI."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pytest

from lib_depth.midas.weights import WEIGHTS_NAME
from lib_depth.webui import host, models
from lib_depth.webui import settings as webui_settings
from tests.host_double import WebUI


def test_standalone_fallbacks() -> None:
    assert "modules.shared" not in sys.modules
    assert not host.in_webui()
    assert host.get_option(webui_settings.OPT_DEVICE, "x") == "x"
    settings = models.midas_settings()
    assert settings.allow_download is False  # the standalone tab never downloads unasked
    assert settings.device is None and settings.precision is None and settings.weights is None
    assert str(host.extension_root() / "models" / "midas") in settings.search_dirs
    assert webui_settings.keep_model_loaded() is True
    models.after_run()
    with host.progress_tracker("job", 2) as tracker:
        tracker.step("one")
        assert not tracker.interrupted
    with gr.Blocks():
        image = gr.Image()
        host.create_send_buttons(image)  # no-op: nothing to send to
    assert not host.can_send_images()


def test_settings_section(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    labels = webui.shared.opts.data_labels
    keys = [k for k in labels if k.startswith("depth_tools_")]
    assert keys == [
        "depth_tools_weights_dir",
        "depth_tools_allow_download",
        "depth_tools_device",
        "depth_tools_precision",
        "depth_tools_keep_loaded",
        "depth_tools_max_pixels",
        "depth_tools_default_model",
    ]
    assert all(labels[k].section == ("depth_tools", "Depth Tools") for k in keys)
    assert {k: webui.shared.opts.data[k] for k in keys} == {
        "depth_tools_weights_dir": "",
        "depth_tools_allow_download": True,
        "depth_tools_device": "auto",
        "depth_tools_precision": "auto",
        "depth_tools_keep_loaded": True,
        "depth_tools_max_pixels": 2**28,
        "depth_tools_default_model": "midas",
    }
    assert labels["depth_tools_device"].component is gr.Dropdown
    assert labels["depth_tools_precision"].component_args == {"choices": ["auto", "fp32", "fp16", "bf16"]}
    assert labels["depth_tools_default_model"].component_args == {"choices": ["midas", "depth-anything-v2"]}
    assert "requires Reload UI" in labels["depth_tools_default_model"].comment_after  # read when the tab is built
    assert "Reload UI" not in labels["depth_tools_device"].comment_after  # read at every run
    assert host.in_webui()


def test_max_pixels_setting_reaches_the_tab(make_webui: Callable[..., WebUI]) -> None:
    """The setting is read at each call through the TabHost; nonsense falls back to the default."""
    from lib_depth.webui import tabs

    make_webui("controlnet")
    from modules import shared

    tab_host = tabs.tab_host()
    assert tab_host.max_pixels() == 2**28
    for value, expected in [(1000, 1000), ("5e6", 5_000_000), ("", 2**28), (-3, 2**28), ("lots", 2**28)]:
        shared.opts.data["depth_tools_max_pixels"] = value
        assert tab_host.max_pixels() == expected, value


def test_midas_settings_follow_the_webui_settings(make_webui: Callable[..., WebUI], tmp_path: Path) -> None:
    pytest.importorskip("torch")  # the WebUI's devices module needs it (absent in the gradio-4 env)
    webui = make_webui("controlnet")
    opts = webui.shared.opts
    settings = models.midas_settings()
    assert settings.allow_download is True and settings.precision is None
    assert settings.device == "cpu"  # "auto": the device the WebUI gives ControlNet
    folder = tmp_path / "my-weights"
    opts.data.update(
        depth_tools_weights_dir=str(folder), depth_tools_allow_download=False, depth_tools_precision="bf16"
    )
    opts.data["depth_tools_device"] = "cpu"
    settings = models.midas_settings()
    assert settings.search_dirs[0] == str(folder) and settings.weights is None
    assert settings.allow_download is False and settings.precision == "bf16" and settings.device == "cpu"
    (folder / "midas").mkdir(parents=True)
    (folder / "midas" / WEIGHTS_NAME).write_bytes(b"x")
    named = models.midas_settings()
    assert named.weights == str(folder / "midas" / WEIGHTS_NAME) and named.search_dirs == ()  # used as named
    assert models.midas_settings() == models.midas_settings()  # stable: the key of the estimator cache


def test_webui_weight_folders_are_searched(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    downloads = webui.root / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads"
    downloads.mkdir(parents=True)
    dirs = models.weights_search_dirs()
    assert dirs[0] == str(host.extension_root() / "models" / "midas")
    assert str(downloads) in dirs
    # ControlNet's own setting wins, relative to the WebUI's data folder, as ControlNet resolves it
    webui.shared.opts.data["control_net_modules_path"] = "annotators"
    assert str(webui.root / "annotators") in models.weights_search_dirs()
    assert str(downloads) not in models.weights_search_dirs()
    webui.shared.opts.data["control_net_modules_path"] = ""
    webui.shared.cmd_opts.controlnet_annotator_models_path = str(webui.root / "cli-annotators")
    assert str(webui.root / "cli-annotators") in models.weights_search_dirs()


def test_forge_preprocessor_folder_is_searched(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("forge")
    assert str(webui.root / "models" / "ControlNetPreprocessor") in models.weights_search_dirs()


@pytest.mark.parametrize("flag", ["lowvram", "medvram"])
def test_low_memory_flags_unload_the_model(make_webui: Callable[..., WebUI], flag: str) -> None:
    webui = make_webui("controlnet")
    assert webui_settings.keep_model_loaded()
    setattr(webui.shared.cmd_opts, flag, True)
    assert not webui_settings.keep_model_loaded()


def test_keep_loaded_setting(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    webui.shared.opts.data["depth_tools_keep_loaded"] = False
    assert not webui_settings.keep_model_loaded()


def test_progress_reaches_the_webuis_job_state(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    with models.running("Depth Tools: test", 2) as tracker:
        tracker.step("first")
        tracker.step("second")
    state = webui.shared.state
    assert state.history == [("begin", "Depth Tools: test"), ("nextjob", "first"), ("nextjob", "second"), ("end", None)]
    state.interrupt()
    assert host.progress_tracker().interrupted


def test_send_buttons_bind_to_img2img_inpaint_extras(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    with gr.Blocks():
        image = gr.Image(type="pil")
        host.create_send_buttons(image, "depth_tools")
    bindings = webui.module("modules.infotext_utils").registered_param_bindings
    assert [b.tabname for b in bindings] == ["img2img", "inpaint", "extras"]
    assert all(b.source_image_component is image and isinstance(b.paste_button, gr.Button) for b in bindings)
    assert host.can_send_images()


def test_the_double_undoes_the_webuis_torch_load(tmp_path: Path) -> None:
    """Importing the WebUI's modules.safe replaces torch.load; leaving the double restores it."""
    torch = pytest.importorskip("torch")

    from tests.host_double import webui_double

    original = torch.load
    with webui_double(tmp_path, "none") as webui:
        safe = webui.install_safe_loader()
        assert torch.load is safe.load and safe.unsafe_torch_load is original
    assert torch.load is original and "modules.safe" not in sys.modules
