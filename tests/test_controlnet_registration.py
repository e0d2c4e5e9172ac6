"""Registration of the preprocessors with each ControlNet flavour (no model is loaded here)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from lib_depth.webui import controlnet, preprocessors
from tests.host_double import WebUI

NAMES = [spec.name for spec in preprocessors.SPECS]
DEPTH = [spec.name for spec in preprocessors.SPECS if spec.kind == "depth"]
NORMAL = [spec.name for spec in preprocessors.SPECS if spec.kind == "normal"]


def test_names_follow_controlnets_rules() -> None:
    assert len(set(NAMES)) == len(NAMES) == 6
    assert DEPTH and NORMAL
    for name in NAMES:
        assert re.fullmatch(r"(depth|normal)_[a-z0-9_]+", name)  # ControlNet names its own depth_anything_v2
        # words ControlNet special-cases by substring; "xl"/"sd15"/"2.1" make it hide entries by SD version
        for word in ("inpaint", "openpose", "clip", "xl", "sd1", "sd2", "2.1", "invert", "tile", "revision", "shuffle"):
            assert word not in name
    # legacy ControlNet filters Control Types by substring: depth maps under "Depth" only, normals under "NormalMap"
    assert all("depth" in n and "normal" not in n for n in DEPTH)
    assert all("normal" in n and "depth" not in n for n in NORMAL)


def test_seed_parameters_are_sliders() -> None:
    """The seed node's resolution, bg_threshold and a (with its ranges and defaults)."""
    by_name = {spec.name: spec for spec in preprocessors.SPECS}
    depth, compressed, normal = (by_name[n] for n in ("depth_tools_midas", "depth_tools_midas_compressed",
                                                       "normal_tools_midas"))
    assert (preprocessors.RESOLUTION.minimum, preprocessors.RESOLUTION.maximum, preprocessors.RESOLUTION.value) == (
        64,
        2048,
        512,
    )
    assert (depth.slider_1.minimum, depth.slider_1.maximum, depth.slider_1.value, depth.slider_1.step) == (
        0,
        1,
        0.1,
        0.05,
    )
    assert compressed.compress and not depth.compress
    assert normal.slider_1.label.endswith("(a)") and normal.slider_1.value == pytest.approx(6.28, abs=0.01)
    assert normal.slider_1.maximum == pytest.approx(15.71, abs=0.01) and normal.slider_2 == preprocessors.BG_THRESHOLD


def test_registered_with_mikubill_controlnet(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    base = webui.module("scripts.supported_preprocessor").Preprocessor
    for spec in preprocessors.SPECS:
        p = base.get_preprocessor(spec.name)
        assert isinstance(p, base) and p.label == p.name == spec.name
        assert p.tags == [spec.tag] and p.returns_image
        assert p.sorting_priority < 100  # never above the built-in depth_midas
        assert p.slider_resolution.api_json == {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}
        assert (
            p.slider_1.visible and p.slider_1.label == spec.slider_1.label and p.slider_1.value == spec.slider_1.value
        )
        assert p.slider_2.visible is (spec.slider_2 is not None)
        assert not p.slider_3.visible
    # ControlNet's own choices stay its defaults
    assert base.get_default_preprocessor("Depth").label == "depth_midas"
    assert [p.name for p in base.get_filtered_preprocessors("NormalMap")] == ["none", *NORMAL]
    assert set(DEPTH) <= {p.name for p in base.get_filtered_preprocessors("Depth")}
    assert webui.errors == []


def test_registered_with_legacy_controlnet(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet_legacy")
    gs = webui.module("scripts.global_state")
    sliders = webui.module("scripts.processor").preprocessor_sliders_config
    for spec in preprocessors.SPECS:
        assert callable(gs.cn_preprocessor_modules[spec.name])
        assert callable(gs.cn_preprocessor_unloadable[spec.name])
        assert gs.ui_preprocessor_keys.count(spec.name) == 1
        config = sliders[spec.name]
        assert config[0] == {"name": "Preprocessor Resolution", "min": 64, "max": 2048, "value": 512}
        assert config[1]["name"] == spec.slider_1.label and config[1]["value"] == spec.slider_1.value
        assert len(config) == 2 + (spec.slider_2 is not None)
    assert set(DEPTH) <= set(gs.select_control_type("Depth")) and not set(NORMAL) & set(gs.select_control_type("Depth"))
    assert set(NORMAL) <= set(gs.select_control_type("NormalMap"))
    assert webui.errors == []


def test_registered_with_forge(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("forge")
    registry = webui.module("modules_forge.shared").supported_preprocessors
    base = webui.module("modules_forge.supported_preprocessor").Preprocessor
    for spec in preprocessors.SPECS:
        p = registry[spec.name]
        assert isinstance(p, base) and p.name == spec.name and p.tags == [spec.tag]
        assert p.model_filename_filters == [spec.model_filter]
        assert p.sorting_priority < 100
        assert p.slider_resolution.gradio_update_kwargs["value"] == 512
        assert p.slider_1.gradio_update_kwargs["label"] == spec.slider_1.label
        assert p.slider_1.gradio_update_kwargs["visible"] is True
        assert p.slider_2.gradio_update_kwargs["visible"] is (spec.slider_2 is not None)
        assert callable(p.unload)
    assert webui.errors == []


@pytest.mark.parametrize("flavour", ["controlnet", "controlnet_legacy", "forge"])
def test_ui_reload_registers_again_without_failing(make_webui: Callable[..., WebUI], flavour: str) -> None:
    """A UI reload re-runs every script and on_before_ui: the registries keep one entry each."""
    webui = make_webui(flavour)
    first = {name: webui.preprocessor(name) for name in NAMES}
    webui.load_scripts()
    webui.settings()
    webui.before_ui()
    assert webui.errors == []
    for name in NAMES:
        assert webui.preprocessor(name) is not None
        if flavour == "controlnet":  # the registry refuses duplicates: the first object stays
            assert webui.preprocessor(name) is first[name]
    if flavour == "controlnet_legacy":
        keys = webui.module("scripts.global_state").ui_preprocessor_keys
        assert all(keys.count(name) == 1 for name in NAMES)


def test_without_controlnet_nothing_happens(make_webui: Callable[..., WebUI], capsys: pytest.CaptureFixture) -> None:
    webui = make_webui("none")
    assert webui.errors == []
    assert capsys.readouterr().err == ""
    assert not controlnet.register_preprocessors().any


def test_a_broken_registry_does_not_break_the_webui(make_webui: Callable[..., WebUI], capsys) -> None:
    """A ControlNet we do not know (here: a registry that refuses everything) costs a console line."""
    webui = make_webui("controlnet", start=False)
    base = webui.module("scripts.supported_preprocessor").Preprocessor

    def refuse(p: object) -> None:
        raise RuntimeError("registry is closed")

    base.add_supported_preprocessor = staticmethod(refuse)
    webui.load_scripts()
    webui.before_ui()
    assert webui.errors == []
    assert "could not add preprocessors to ControlNet (mikubill): registry is closed" in capsys.readouterr().err
