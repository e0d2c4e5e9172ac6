"""The "Image" sub-tab (code names stay `midas`): components, and the handlers that connect them to `ui_midas`.

A dropdown chooses the depth model (every registry entry), with a line beside it saying which
weights file it would use and that file's licence; choosing another model resets `resolution` to
that model's default and drops the estimate (it was another model's). "Estimate depth" runs the
chosen model (with progress) and keeps its nearness in the session; the sliders and boxes after it
re-render from that without running the model again, and the PNGs, Send to ControlNet and the
send-to buttons take those maps. Missing weights and any other failure show as a message in the
status box, never as a traceback.

"As one sequence (video or frames)" swaps the picture for an upload of frames or one video (or a
server folder), lists the sequence models too (Video Depth Anything) and makes "Estimate depth"
*Make depth maps* of every frame (`midas_sequence_events`); a sequence model asked for one
picture answers what to do instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from PIL import Image

from ..depth.errors import DepthError, internal_error
from . import hosting, status
from .compat import image, sequential
from .controlnet_send import BOTH, KINDS, send_controls
from .controls import (
    commit_button,
    controls_of,
    edit_events,
    lay_out,
    own_controls,
    post_controls,
    send_buttons,
    slider,
)
from .events import Updates, Values, Wired, Wiring
from .exr import new_run_dir
from .midas import (
    HINT,
    MODEL_LABELS,
    Estimate,
    MidasControls,
    MidasMaps,
    default_model,
    estimate,
    load,
    model_label,
    model_name,
    render,
    resolution_spec,
    weights_line,
    write_maps,
)
from .midas_sequence import UPLOAD_SUFFIXES, single_picture_message
from .midas_sequence_events import MODE, RUN_LABELS, mode_status, on_make_sequence, on_sequence
from .sequence_events import folders_panel

log = logging.getLogger(__name__)

@dataclass
class MidasTab:
    """The components, for ui.py and the tests (elem_ids are `depth_tools_midas_<name>`). Handlers
    name them by these attributes (`named`)."""

    image: Any
    model: Any  # the model choice (labels; `midas.model_name` gives the registry name)
    weights: Any  # which weights file the chosen model would use, and its licence
    resolution: Any
    #: `MidasControls`' controls by name: the tab's own (bg_threshold, a), then the shared ones.
    controls: dict[str, Any]
    run: Any
    status: Any
    depth_image: Any
    normal_image: Any
    mask_image: Any
    downloads: Any
    result: Any
    nearness: Any
    commit: Any  # hidden: the tab's script clicks it for a number typed and entered (`controls.commit_button`)
    sequence: Any  # "as one sequence (video or frames)"
    frames: Any  # the frames' (or one video's) upload, shown in sequence mode instead of `image`
    folders: Any  # the server folders panel (sequence mode)
    input_folder: Any
    output_folder: Any
    cutoff: Any  # the sequence's cutoff (relative depth: 0 nearest .. 1 farthest of the first frame)
    wired: list[Wired] = field(default_factory=list)  # every event, as `wire` made it (for the tests)

    def named(self, *names: str) -> dict[str, Any]:
        """The components handlers call `names`: attributes, and the controls by their names."""
        return {name: self.controls[name] if name in self.controls else getattr(self, name) for name in names}


#: Everything rendered from an estimate: `maps_outputs`.
MAPS = ("depth_image", "normal_image", "mask_image", "status", "downloads", "result")
#: A new estimate (or none): the state and the maps.
ESTIMATED = ("nearness", *MAPS)
#: Another model chosen: its resolution and weights, and no estimate (the old one was another model's).
MODEL_CHOSEN = ("resolution", "weights", *ESTIMATED)
#: What "Estimate depth" (in sequence mode *Make depth maps*) reads besides the controls.
RUN_INPUTS = ("image", "model", "resolution", "sequence", "frames", "input_folder", "output_folder", "cutoff")


# ---------------------------------------------------------------- handlers

def maps_outputs(estimated: Estimate | None, controls: MidasControls) -> Updates:
    """`MAPS` from a stored estimate."""
    mask_update = {"visible": bool(controls.mask)}
    if estimated is None:
        return _no_maps(controls, status.hint(HINT))
    try:
        maps: MidasMaps = render(estimated, controls)
        files = write_maps(maps, new_run_dir(), bool(controls.mask))
    except DepthError as exc:
        return _no_maps(controls, status.error(exc))
    h, w = estimated.nearness.shape
    parts = [
        f"{status.esc(model_label(estimated.model))} at resolution {estimated.resolution}",
        f"{w}×{h}",
        f"bg_threshold {controls.bg_threshold:g}",
        f"{maps.background * 100:.1f}% background",
        controls.bits,
        *(f"<b>Note:</b> {status.esc(note)}" for note in estimated.notes),
    ]
    result = Image.fromarray(maps.depth_display).convert("RGB")
    return {"depth_image": maps.depth_display, "normal_image": maps.normal,
            "mask_image": gr.update(value=maps.mask, **mask_update), "status": status.done(parts),
            "downloads": files, "result": result}


def _no_maps(controls: MidasControls, message: str) -> Updates:
    """`MAPS` with nothing to show: the maps cleared, `message` in the status."""
    return {"depth_image": None, "normal_image": None, "mask_image": gr.update(value=None, visible=bool(controls.mask)),
            "status": message, "downloads": None, "result": None}


def on_run(values: Values, progress: Any = gr.Progress()) -> Updates:  # noqa: B008 - gradio's progress bar
    """Run the chosen model: `ESTIMATED`; in sequence mode on every frame (`midas_sequence_events`)."""
    if values.get("sequence"):
        return on_make_sequence(values, progress)
    picture, resolution = values["image"], int(values["resolution"])
    controls = MidasControls.from_values(values)
    if picture is None:
        return _failed(controls, "Upload an image first.")
    try:
        model = model_name(values["model"])
        label = model_label(model)
        single = single_picture_message(model)
        if single:
            return _failed(controls, single)
        with hosting.current().running(f"Depth Tools: {label}", 2) as tracker:
            progress(0.05, desc=f"Loading {label}")
            tracker.step(f"loading {label}")

            def downloading(done: int, total: int | None) -> None:
                progress((done // 2**20, total // 2**20 if total else None), desc=f"Downloading the {label} weights",
                         unit="MiB")

            estimator = load(model, downloading)
            progress(0.3, desc=f"Estimating depth at {resolution}")
            tracker.step("estimating depth")
            estimated = estimate(picture, resolution, estimator, model)
    except DepthError as exc:  # WeightsError included: its message names every place searched
        return _failed(controls, exc)
    except MemoryError:
        return _failed(controls, f"Not enough memory for {label} at {resolution}: lower the resolution.")
    except Exception as exc:  # our bug or a library's: one readable line here, the traceback in the console
        return _failed(controls, internal_error(exc, context="Image tab"))
    return {"nearness": estimated, **maps_outputs(estimated, controls)}


def _failed(controls: MidasControls, message: object) -> Updates:
    """`ESTIMATED` after a failed run: no estimate, the message in the status."""
    return {"nearness": None, **_no_maps(controls, status.error(message))}


def on_controls(values: Values) -> Updates:
    """`MAPS` again from the stored estimate (no model run)."""
    return maps_outputs(values["nearness"], MidasControls.from_values(values))


def on_image(values: Values) -> Updates:
    """`ESTIMATED`: a new (or removed) image; the old estimate no longer applies."""
    return {"nearness": None, **maps_outputs(None, MidasControls.from_values(values))}


def on_model(values: Values) -> Updates:
    """`MODEL_CHOSEN`: the new model's default resolution (on its own grid: a resolution chosen for
    one model means nothing to the other, so the choice starts again from the default), its weights
    and licence, and no maps until it has estimated (maps of the other model would pass for its own)."""
    controls = MidasControls.from_values(values)
    try:
        model = model_name(values["model"])
    except DepthError as exc:
        return {"weights": status.error(exc), "nearness": None, **_no_maps(controls, status.error(exc))}
    minimum, maximum, step, default = resolution_spec(model)
    return {"resolution": gr.update(value=default, minimum=minimum, maximum=maximum, step=step),
            "weights": weights_line(model), "nearness": None, **maps_outputs(None, controls),
            "status": mode_status(bool(values.get("sequence")), model)}


# ---------------------------------------------------------------- layout

PREFIX = "depth_tools_midas"


def _id(name: str) -> str:
    return f"{PREFIX}_{name}"


def build() -> MidasTab:
    model = default_model()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=340):
            choice = gr.Dropdown(label="Depth model", choices=list(MODEL_LABELS), value=model_label(model),
                                 elem_id=_id("model"))
            weights = gr.HTML(weights_line(model), elem_id=_id("weights"))
            sequence = gr.Checkbox(label="As one sequence (video or frames): one mapping for every frame",
                                   elem_id=_id("sequence"))
            picture = image(label="Image", type="numpy", height=360, elem_id=_id("image"))
            frames = gr.File(label="Frames (pictures) or one video", file_count="multiple",
                             file_types=list(UPLOAD_SUFFIXES), visible=False, elem_id=_id("frames"))
            panel = folders_panel(_id, "/photos/shot_010/frame_####.png or /clips/shot_010.mp4")
            resolution = slider(resolution_spec(model), "resolution",
                                "the model's input size (short side); larger is finer and slower")(_id("resolution"))
            for follows_the_setting in (choice, resolution):
                # The WebUI's ui-config.json puts back each control's last value over the one built here
                # (modules/ui_loadsave.py): the model would then ignore the default-model setting, and
                # disagree with the weights line and the resolution's grid. It skips these.
                follows_the_setting.do_not_save_to_config = True
            run = gr.Button(RUN_LABELS[False], variant="primary", elem_id=_id("run"))
            controls = {**lay_out(own_controls(MidasControls), PREFIX), **post_controls(PREFIX)}
            cutoff = gr.Textbox(label="Cutoff (empty: none)", value="", placeholder="none", visible=False,
                                elem_id=_id("cutoff"),
                                info="relative depth: 0 nearest .. 1 farthest of the first frame; all beyond is far")
        with gr.Column(scale=6, min_width=340):
            status_box = gr.HTML(status.hint(HINT), elem_id=_id("status"))
            with gr.Row():
                depth_image = image(label="Depth map", type="numpy", interactive=False, height=320,
                                    elem_id=_id("depth"))
                normal_image = image(label="Normal map", type="numpy", interactive=False, height=320,
                                     elem_id=_id("normal"))
            mask_image = image(label="Mask", type="numpy", interactive=False, height=320, visible=False,
                               elem_id=_id("mask_preview"))
            downloads = gr.File(label="Download", file_count="multiple", interactive=False, elem_id=_id("downloads"))
            result = image(type="pil", visible=False, elem_id=_id("result"))  # PNG on gradio 4 too
            send_buttons(result, PREFIX)
            send_controls(PREFIX, downloads, (*KINDS, BOTH))
            commit = commit_button(PREFIX)
    tab = MidasTab(image=picture, model=choice, weights=weights, resolution=resolution, controls=controls, run=run,
                   status=status_box, depth_image=depth_image, normal_image=normal_image, mask_image=mask_image,
                   downloads=downloads, result=result, nearness=gr.State(None), commit=commit, sequence=sequence,
                   frames=frames, cutoff=cutoff, **panel)
    tab.wired = wire(tab).wired
    return tab


def wire(tab: MidasTab) -> Wiring:
    """Every event of the tab, each through the `Wiring` method of its kind."""
    wiring = Wiring(sequential(PREFIX))
    controls = tab.named(*tab.controls)
    estimated, maps = tab.named(*ESTIMATED), tab.named(*MAPS)
    wiring.work(tab.run.click, on_run, {**tab.named(*RUN_INPUTS), **controls}, estimated)
    wiring.load(tab.sequence.input, on_sequence, tab.named("sequence", "model"), tab.named(*MODE))
    for event in (tab.image.upload, tab.image.clear):
        wiring.load(event, on_image, controls, estimated)
    wiring.load(tab.model.input, on_model, {**tab.named("model", "sequence"), **controls}, tab.named(*MODEL_CHOSEN))
    for event in edit_events(controls_of(MidasControls), tab.controls, tab.commit):
        wiring.preview(event, on_controls, {"nearness": tab.nearness, **controls}, maps)
    return wiring
