"""The "EXR render" tab: its components, their layout, and the wiring to `exr_events`' handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from . import hosting, status
from .compat import commit_events, image, quick, sequential
from .controlnet_send import send_controls
from .controls import post_controls, send_buttons
from .exr import (
    AUTO_CHANNEL,
    MAX_CUT_BUTTONS,
)
from .exr_events import (
    SAMPLE,
    UPLOAD_HINT,
    on_chart_click,
    on_controls,
    on_cut,
    on_cutoff_typed,
    on_file_choice,
    on_no_cut,
    on_sample,
)
from .exr_sequence_events import folders_note, on_channel, on_frame, on_make_any, on_source


@dataclass
class ExrTab:
    """The components, for ui.py and the tests (elem_ids are `depth_tools_exr_<name>`)."""

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
    compress: Any
    invert: Any
    mask: Any
    noise: Any
    seed: Any
    bits: Any
    status: Any
    depth_image: Any
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

    @property
    def controls(self) -> list[Any]:
        """In `MapControls` field order."""
        return [self.cutoff_state, self.compress, self.noise, self.seed, self.mask, self.invert, self.bits]

    @property
    def preview_outputs(self) -> list[Any]:
        """What `preview_outputs()` fills, in its order."""
        return [self.chart, self.depth_image, self.mask_image, self.status, self.downloads, self.result]

    @property
    def loaded_outputs(self) -> list[Any]:
        """What `view_outputs()` fills, in its order."""
        return [
            self.view, self.sample, self.cut_panel, self.file_choice, self.channel, self.view_choice, *self.cut_buttons,
            self.cutoff_state, self.cutoff, *self.preview_outputs,
        ]

    @property
    def source_outputs(self) -> list[Any]:
        """What `exr_sequence_events.on_source`/`on_channel` fill: loaded_outputs + slider, panel."""
        return [*self.loaded_outputs, self.frame, self.folders]


# ---------------------------------------------------------------- handlers


# ---------------------------------------------------------------- layout

def _id(name: str) -> str:
    return f"depth_tools_exr_{name}"


def build() -> ExrTab:
    """Lay out the tab (inside an open Blocks/Tab) and wire its events."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=380):
            files = gr.File(
                label="EXR depth renders (several: one zip)",
                file_count="multiple",
                file_types=[".exr"],
                elem_id=_id("files"),
            )
            sequence = gr.Checkbox(
                label="As one sequence (animation frames: one mapping, one histogram, no flicker)",
                elem_id=_id("sequence"),
            )
            with gr.Column(visible=False, elem_id=_id("folders")) as folders:
                refused = hosting.current().server_folders() is not None
                with gr.Row():
                    input_folder = gr.Textbox(
                        label="Or frames on the server (Enter loads them)", interactive=not refused,
                        placeholder="/renders/shot_010/render_####.exr", elem_id=_id("input_folder"),
                    )
                    output_folder = gr.Textbox(
                        label="Output folder on the server (empty: a zip)", interactive=not refused,
                        placeholder="/webui/controlnet_batch_input", elem_id=_id("output_folder"),
                    )
                gr.HTML(folders_note(), elem_id=_id("folders_note"))
            with gr.Row():
                file_choice = gr.Dropdown(label="Previewing", choices=[], visible=False, elem_id=_id("file_choice"))
                channel = gr.Dropdown(
                    label="Depth channel",
                    choices=[AUTO_CHANNEL],
                    value=AUTO_CHANNEL,
                    info="auto: Y, Z, <layer>.Depth.Z, R or the only one",
                    elem_id=_id("channel"),
                )
                view_choice = gr.Dropdown(label="View", choices=[], visible=False, info="multi-view (stereo) file",
                                          elem_id=_id("view_choice"))
            sample = gr.Button("Try the sample render", size="sm", visible=SAMPLE.is_file(), elem_id=_id("sample"))
            with gr.Column(visible=False, elem_id=_id("cut_panel")) as cut_panel:
                chart = image(
                    label="Histogram",
                    show_label=False,
                    interactive=False,
                    show_download_button=False,
                    elem_id=_id("chart"),
                )
                with gr.Row(elem_id="depth_tools_cut_row"):
                    cutoff = gr.Number(
                        label="Cutoff (empty: none)",
                        value=None,
                        info="scene units; all beyond is far",
                        elem_id=_id("cutoff"),
                        scale=2,
                        min_width=160,
                    )
                    cut_buttons = [
                        gr.Button(visible=False, size="sm", elem_id=_id(f"cut_{i}"), min_width=100)
                        for i in range(MAX_CUT_BUTTONS)
                    ]
                    no_cut = gr.Button("No cutoff", size="sm", elem_id=_id("no_cut"), min_width=100)
            post = post_controls("depth_tools_exr")
        with gr.Column(scale=5, min_width=320):
            status_box = gr.HTML(status.hint(UPLOAD_HINT), elem_id=_id("status"))
            with gr.Row():
                depth_image = image(
                    label="Depth map (preview)", type="numpy", interactive=False, height=360, elem_id=_id("depth")
                )
                mask_image = image(
                    label="Mask (preview)", type="numpy", interactive=False, height=360, visible=False,
                    elem_id=_id("mask_preview"),
                )
            frame = gr.Slider(1, 2, value=1, step=1, label="Frame", visible=False, elem_id=_id("frame"))
            make = gr.Button("Make depth maps", variant="primary", elem_id="depth_tools_make")
            downloads = gr.File(label="Download", file_count="multiple", interactive=False, elem_id=_id("downloads"))
            result = image(type="pil", visible=False, elem_id=_id("result"))  # PNG on gradio 4 too
            send_buttons(result, "depth_tools_exr")
            send_controls("depth_tools_exr", downloads)
    view = gr.State(None)
    cutoff_state = gr.State(None)

    tab = ExrTab(
        files=files, sample=sample, cut_panel=cut_panel, file_choice=file_choice, channel=channel,
        view_choice=view_choice, chart=chart,
        cutoff=cutoff, cut_buttons=cut_buttons, no_cut=no_cut, compress=post.compress, invert=post.invert,
        mask=post.mask, noise=post.noise, seed=post.seed, bits=post.bits, status=status_box,
        depth_image=depth_image, mask_image=mask_image, make=make, downloads=downloads, result=result, view=view,
        cutoff_state=cutoff_state, sequence=sequence, folders=folders, input_folder=input_folder,
        output_folder=output_folder, frame=frame,
    )
    _wire(tab)
    return tab


def _wire(tab: ExrTab) -> None:
    preview, loaded = tab.preview_outputs, tab.loaded_outputs
    controls = tab.controls
    order = sequential("depth_tools_exr")

    source = [tab.files, tab.sequence, tab.input_folder]
    tab.files.change(on_source, [*source, tab.channel, *controls], tab.source_outputs, **order)
    tab.sequence.input(on_source, [*source, tab.channel, *controls], tab.source_outputs, **order)
    tab.input_folder.submit(on_source, [*source, tab.channel, *controls], tab.source_outputs, **order)
    tab.sample.click(on_sample, None, tab.files, **order)
    chosen = [tab.files, tab.file_choice, tab.channel, tab.view_choice, *controls]
    for dropdown in (tab.file_choice, tab.view_choice):
        dropdown.input(on_file_choice, chosen, loaded, **order)
    with_channel = [*source, tab.file_choice, tab.channel, tab.view_choice, *controls]
    tab.channel.input(on_channel, with_channel, tab.source_outputs, **order)
    tab.frame.change(on_frame, [tab.view, tab.frame, *controls], [tab.view, *preview], **order)

    # Typed cutoffs count when entered; buttons and chart clicks set the cutoff (state and box)
    # and update the preview themselves. All of these only re-level the loaded view: off the queue.
    fast = quick()
    for event in commit_events(tab.cutoff):
        event(on_cutoff_typed, [tab.view, tab.cutoff, *controls], [tab.cutoff_state, *preview], **fast)
    for box in (tab.compress, tab.invert, tab.mask, tab.noise, tab.bits):
        box.input(on_controls, [tab.view, *controls], preview, **fast)
    for event in commit_events(tab.seed):
        event(on_controls, [tab.view, *controls], preview, **fast)

    with_cutoff = [tab.cutoff_state, tab.cutoff, *preview]
    for i, button in enumerate(tab.cut_buttons):
        button.click(on_cut(i), [tab.view, *controls], with_cutoff, **fast)
    tab.no_cut.click(on_no_cut, [tab.view, *controls], with_cutoff, **fast)
    tab.chart.select(on_chart_click, [tab.view, *controls], with_cutoff, **fast)

    make_inputs = [tab.sequence, tab.view, tab.output_folder, tab.files, tab.channel, tab.view_choice, *controls]
    tab.make.click(on_make_any, make_inputs, [tab.downloads, tab.result, tab.status], **order)
