"""The post-processing controls' one definition (`ui.controls`) and the wiring by name (`ui.events`).

A control is one field: the tests add one and see it laid out, listened to, read by name and
turned into `DepthOptions` with nothing else changed; both tabs show the shared controls alike.
The wiring's translation between names and components is checked on its own here; the browser
tests run it through gradio 3.41 and 4.x for real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr
import pytest

from lib_depth.depth.errors import DepthError
from lib_depth.depth.process import DepthOptions
from lib_depth.ui.controls import BITS_CHOICES, PostControls, control, controls_of, edit_events, lay_out
from lib_depth.ui.events import Wiring
from lib_depth.ui.exr import MapControls
from lib_depth.ui.midas import BG_THRESHOLD, NORMAL_A, MidasControls


def background_box(elem_id: str) -> gr.Number:
    return gr.Number(label="Background above", value=1e9, elem_id=elem_id)


@dataclass(frozen=True, kw_only=True)
class WithBackground(MapControls):
    """The EXR tab's controls and one more, written as a newcomer would add it."""

    background: float = control(1e9, background_box, "commit", option=lambda v: {"background_above": float(v)})


def test_a_new_control_is_one_field() -> None:
    with gr.Blocks():
        built = lay_out(controls_of(WithBackground), "probe", per_row=2)
        events = list(edit_events(controls_of(WithBackground), built))
    assert list(built) == ["compress", "invert", "mask", "noise", "bits", "seed", "normal", "fov", "depth_is",
                           "background"]
    assert built["background"].elem_id == "probe_background" and isinstance(built["background"], gr.Number)
    # ticks and radios: input; seed, field of view and background: Enter and leaving the box
    assert len(events) == 7 + 2 + 2 + 2
    values = {**vars(WithBackground()), "background": 500.0, "bits": BITS_CHOICES[1]}
    assert WithBackground.from_values(values).options() == DepthOptions(background_above=500.0, bits=16)
    del values["background"]
    with pytest.raises(KeyError, match="WithBackground: no value for background"):
        WithBackground.from_values(values)  # a control the wiring forgot: never a silent default


def test_values_become_depth_options() -> None:
    chosen = dict(compress=True, noise=True, seed=7.0, invert=True, bits="16-bit", mask=True)
    expected = DepthOptions(compress=True, noise=True, seed=7, invert=True, bits=16)
    assert MidasControls(bg_threshold=0.3, a=1.0, **chosen).options() == expected  # thresholds set no level
    assert MapControls(cutoff=254.5, **chosen).options() == DepthOptions(**{**vars(expected), "cutoff": 254.5})
    assert MapControls(seed=None).options() == DepthOptions()  # an emptied seed box: seed 0
    with pytest.raises(DepthError, match="cutoff must be a number"):
        MapControls(cutoff=math.nan).options()
    with pytest.raises(TypeError):
        MapControls(254.5)  # type: ignore[misc]  # keyword-only: no value lands in the wrong field


def test_both_tabs_show_the_shared_controls_alike() -> None:
    from lib_depth.ui import build_ui

    ui = build_ui()
    shared = [f.name for f in fields(PostControls)]
    for tab, prefix in ((ui.exr, "depth_tools_exr"), (ui.midas, "depth_tools_midas")):
        assert all(tab.controls[name].elem_id == f"{prefix}_{name}" for name in shared)
    pairs = [(ui.exr.controls[name], ui.midas.controls[name]) for name in shared]
    assert all(type(a) is type(b) and a.label == b.label and a.value == b.value for a, b in pairs)
    assert ui.exr.controls["seed"].visible is False  # shown with "Noise in the background"
    sliders = {name: (ui.midas.controls[name].minimum, ui.midas.controls[name].maximum, ui.midas.controls[name].step,
                      ui.midas.controls[name].value) for name in ("bg_threshold", "a")}
    assert sliders == {"bg_threshold": BG_THRESHOLD, "a": NORMAL_A}
    assert set(ui.exr.controls) == {*shared, "normal", "fov", "depth_is"}
    assert set(ui.midas.controls) == {*shared, "bg_threshold", "a"}
    assert ui.exr.controls["fov"].visible is False and ui.exr.controls["depth_is"].visible is False  # with "Normal map"


class Trigger:
    """Stands in for a component's event method: keeps what gradio would be given."""

    def __call__(self, fn: Any, inputs: Any, outputs: Any, **options: Any) -> None:
        self.fn, self.inputs, self.outputs, self.options = fn, inputs, outputs, options


def test_wiring_translates_names_and_components() -> None:
    with gr.Blocks():
        box, tick, state, shown, note = gr.Number(), gr.Checkbox(), gr.State(), gr.Number(), gr.HTML()
    seen: list[dict[str, Any]] = []

    def handler(values: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(values))
        return {"shown": values["box"] * 2}

    trigger, wiring = Trigger(), Wiring({"concurrency_id": "probe"})
    wiring.preview(trigger, handler, {"box": box, "tick": tick, "state": state}, {"shown": shown, "note": note})
    assert isinstance(trigger.inputs, set) and trigger.outputs == [shown, note]  # gradio's keyed forms
    assert trigger.options == {"concurrency_id": "probe"}
    answer = trigger.fn({box: 2.5, tick: True, state: None})
    assert seen == [{"box": 2.5, "tick": True, "state": None}]
    assert answer == {shown: 5.0, note: gr.update()}  # what the handler leaves out stays as it is
    assert [(w.inputs, w.outputs) for w in wiring.wired] == [(("box", "tick", "state"), ("shown", "note"))]

    wiring.preview(trigger, lambda values: {"status": "?"}, {"box": box}, {"shown": shown})
    with pytest.raises(KeyError, match=r"answers \['status'\], which are not its outputs"):
        trigger.fn({box: 1})
    with pytest.raises(ValueError, match="one component under two names"):
        wiring.load(trigger, handler, {"box": box, "again": box}, {"shown": shown})


def test_long_work_gets_the_progress_bar() -> None:
    """gradio's own look at the adapted functions (`special_args`, 3.41 and 4.x alike) finds
    where to hand over its progress bar."""
    from gradio.helpers import special_args

    with gr.Blocks():
        box, shown = gr.Number(), gr.Number()
    trigger, wiring = Trigger(), Wiring({})
    wiring.work(trigger, lambda values, progress: {"shown": progress}, {"box": box}, {"shown": shown})
    inputs, progress_index, _ = special_args(trigger.fn, [{box: 1}])
    assert progress_index == 1 and isinstance(inputs[1], gr.Progress)
    assert trigger.fn({box: 1}, progress="bar") == {shown: "bar"}
