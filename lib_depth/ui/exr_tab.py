"""The "EXR render" tab: its components, their layout, and the wiring to `exr_events`' handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from . import status
from .compat import image, quick, sequential
from .controlnet_send import BOTH, KINDS, send_controls
from .controls import controls_of, edit_events, lay_out, own_controls, post_controls, send_buttons
from .events import Wired, Wiring
from .exr import AUTO_CHANNEL, MAX_CUT_BUTTONS, MapControls
from .exr_events import (
    LOADED,
    MADE,
    PREVIEW,
    SAMPLE,
    UPLOAD_HINT,
    WITH_CUTOFF,
    on_controls,
    on_file_choice,
    on_sample,
    on_synced,
)
from .exr_sequence_events import FRAME, SOURCE, on_channel, on_frame, on_make_any, on_source
from .sequence_events import folders_panel
from .shown import tag


@dataclass
class ExrTab:
    """The components, for ui.py and the tests (elem_ids are `depth_tools_exr_<name>`). Handlers
    name them by these attributes (`named`)."""

    files: Any
    sample: Any
    cut_panel: Any
    file_choice: Any
    channel: Any
    view_choice: Any  # the view of a multi-view (stereo) file; hidden for files without views
    chart: Any
    cutoff: Any  # the box the user types in (and buttons fill)
    cut_buttons: list[Any]
    no_cut: Any
    #: The shared post-processing controls by name (`controls.PostControls`' fields).
    controls: dict[str, Any]
    status: Any
    depth_image: Any
    normal_image: Any  # the normal map's preview, shown while "Normal map" is ticked
    mask_image: Any
    make: Any
    downloads: Any
    result: Any
    view: Any
    sequence: Any  # "as one sequence"
    folders: Any  # the server folders panel (shown with "as one sequence")
    input_folder: Any
    output_folder: Any
    frame: Any  # the frame slider (1-based)
    #: The cutoff in force. A State, read on the server when an event runs: the box's value is
    #: captured by the browser when an event starts, before a button's new cutoff has come back.
    cutoff_state: Any
    #: The key the server keeps the render under (`shown`), a State; and the same key in the page
    #: (a hidden HTML block) for the tab's JavaScript, which answers cuts through the tab's own route.
    view_key: Any
    view_tag: Any
    #: A hidden button the JavaScript clicks when gradio's values must catch up with such a cut.
    sync: Any
    wired: list[Wired] = field(default_factory=list)  # every event, as `wire` made it (for the tests)

    def named(self, *names: str) -> dict[str, Any]:
        """The components handlers call `names`: attributes, the controls by their names, and
        `cut_<i>` for suggestion button i."""
        extra = {**self.controls, **{f"cut_{i}": button for i, button in enumerate(self.cut_buttons)}}
        return {name: extra[name] if name in extra else getattr(self, name) for name in names}

    @property
    def control_inputs(self) -> dict[str, Any]:
        """What `exr_events.controls_in` reads: the render's key, the cutoff in force and the controls."""
        return self.named("view_key", "cutoff_state", *self.controls)


# ---------------------------------------------------------------- layout

PREFIX = "depth_tools_exr"


def _id(name: str) -> str:
    return f"{PREFIX}_{name}"


def build() -> ExrTab:
    """Lay out the tab (inside an open Blocks/Tab) and wire its events."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=380):
            sources = _sources()
            choices = _choices()
            sample = gr.Button("Try the sample render", size="sm", visible=SAMPLE.is_file(), elem_id=_id("sample"))
            cuts = _cut_panel()
            controls = {**post_controls(PREFIX), **lay_out(own_controls(MapControls), PREFIX, per_row=3)}
        with gr.Column(scale=5, min_width=320):
            results = _results()
    tab = ExrTab(**sources, **choices, sample=sample, **cuts, controls=controls, **results, view=gr.State(None),
                 cutoff_state=gr.State(None), view_key=gr.State(None))
    tab.wired = wire(tab).wired
    return tab


def _sources() -> dict[str, Any]:
    """The uploads, "as one sequence", and the server folders that it shows."""
    files = gr.File(label="EXR depth renders (several: one zip)", file_count="multiple", file_types=[".exr"],
                    elem_id=_id("files"))
    sequence = gr.Checkbox(label="As one sequence (animation frames: one mapping, one histogram, no flicker)",
                           elem_id=_id("sequence"))
    panel = folders_panel(_id, "/renders/shot_010/render_####.exr")
    return {"files": files, "sequence": sequence, **panel}


def _choices() -> dict[str, Any]:
    """Which file of several, which depth channel, which view of a stereo file."""
    with gr.Row():
        file_choice = gr.Dropdown(label="Previewing", choices=[], visible=False, elem_id=_id("file_choice"))
        channel = gr.Dropdown(label="Depth channel", choices=[AUTO_CHANNEL], value=AUTO_CHANNEL,
                              info="auto: Y, Z, <layer>.Depth.Z, R or the only one", elem_id=_id("channel"))
        view_choice = gr.Dropdown(label="View", choices=[], visible=False, info="multi-view (stereo) file",
                                  elem_id=_id("view_choice"))
    return {"file_choice": file_choice, "channel": channel, "view_choice": view_choice}


def _cut_panel() -> dict[str, Any]:
    """The histogram and the cutoff's box and buttons, shown once a render is loaded."""
    with gr.Column(visible=False, elem_id=_id("cut_panel")) as cut_panel:
        chart = image(label="Histogram", show_label=False, interactive=False, show_download_button=False,
                      elem_id=_id("chart"))
        with gr.Row(elem_id="depth_tools_cut_row"):
            cutoff = gr.Number(label="Cutoff (empty: none)", value=None, info="scene units; all beyond is far",
                               interactive=True,  # no gradio event reads it (the tab's script does)
                               elem_id=_id("cutoff"), scale=2, min_width=160)
            cut_buttons = [
                gr.Button(visible=False, size="sm", elem_id=_id(f"cut_{i}"), min_width=100)
                for i in range(MAX_CUT_BUTTONS)
            ]
            no_cut = gr.Button("No cutoff", size="sm", elem_id=_id("no_cut"), min_width=100)
    return {"cut_panel": cut_panel, "chart": chart, "cutoff": cutoff, "cut_buttons": cut_buttons, "no_cut": no_cut}


def _results() -> dict[str, Any]:
    """The status, the previews, the frame slider, *Make depth maps* and what it gives."""
    status_box = gr.HTML(status.hint(UPLOAD_HINT), elem_id=_id("status"))
    with gr.Row():
        depth_image = image(label="Depth map (preview)", type="numpy", interactive=False, height=360,
                            elem_id=_id("depth"))
        normal_image = image(label="Normal map (preview)", type="numpy", interactive=False, height=360,
                             visible=False, elem_id=_id("normal_preview"))
        mask_image = image(label="Mask (preview)", type="numpy", interactive=False, height=360, visible=False,
                           elem_id=_id("mask_preview"))
    frame = gr.Slider(1, 2, value=1, step=1, label="Frame", visible=False, elem_id=_id("frame"))
    make = gr.Button("Make depth maps", variant="primary", elem_id="depth_tools_make")
    downloads = gr.File(label="Download", file_count="multiple", interactive=False, elem_id=_id("downloads"))
    result = image(type="pil", visible=False, elem_id=_id("result"))  # PNG on gradio 4 too
    send_buttons(result, PREFIX)
    send_controls(PREFIX, downloads, (*KINDS, BOTH))
    view_tag = gr.HTML(tag(None), elem_id=_id("view_tag"))  # hidden by status.STYLE, as is the button
    sync = gr.Button("Sync", elem_id=_id("sync"))
    return {"status": status_box, "depth_image": depth_image, "normal_image": normal_image, "mask_image": mask_image,
            "frame": frame,
            "make": make, "downloads": downloads, "result": result, "view_tag": view_tag, "sync": sync}


def wire(tab: ExrTab) -> Wiring:
    """Every event of the tab, each through the `Wiring` method of its kind."""
    wiring = Wiring(sequential(PREFIX), preview_options=quick())
    controls = tab.control_inputs
    source = tab.named("files", "sequence", "input_folder", "channel", *controls)
    for event in (tab.files.change, tab.sequence.input, tab.input_folder.submit):
        wiring.load(event, on_source, source, tab.named(*SOURCE))
    wiring.load(tab.sample.click, on_sample, {}, tab.named("files"))
    chosen = tab.named("files", "file_choice", "channel", "view_choice", *controls)
    for dropdown in (tab.file_choice, tab.view_choice):
        wiring.load(dropdown.input, on_file_choice, chosen, tab.named(*LOADED))
    wiring.load(tab.channel.input, on_channel, {**source, **chosen}, tab.named(*SOURCE))
    _wire_preview(tab, wiring, {"view": tab.view, **controls})
    made = tab.named("sequence", "view", "output_folder", "files", "channel", "view_choice", *controls)
    wiring.work(tab.make.click, on_make_any, made, tab.named(*MADE))
    return wiring


def _wire_preview(tab: ExrTab, wiring: Wiring, inputs: dict[str, Any]) -> None:
    """The events that re-render what is loaded: ticks and choices. Cut buttons, chart clicks and
    typed numbers (cutoff, field of view, seed) have no gradio event: the tab's JavaScript sends
    them to the tab's own route (`fast_preview`), one request per change, and clicks `sync` when
    gradio's values must follow (downloads made with another cutoff)."""
    wiring.load(tab.frame.change, on_frame, {**inputs, "frame": tab.frame}, tab.named(*FRAME))  # reads a frame
    ticked = {name: spec for name, spec in controls_of(MapControls).items() if spec.listen != "commit"}
    for event in edit_events(ticked, tab.controls):
        wiring.preview(event, on_controls, inputs, tab.named(*PREVIEW))
    wiring.preview(tab.sync.click, on_synced, inputs, tab.named(*WITH_CUTOFF))
