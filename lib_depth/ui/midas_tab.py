"""The "Image (MiDaS)" tab: components, and the handlers that connect them to `ui_midas`.

"Estimate depth" runs the model (with progress) and keeps its nearness in the session; the
sliders and boxes after it re-render from that without running the model again. Missing weights
and any other failure show as a message in the status box, never as a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ..depth.errors import DepthError, internal_error
from . import hosting, status
from .compat import commit_events, image, sequential
from .controlnet_send import send_controls
from .controls import post_controls, send_buttons
from .exr import new_run_dir
from .midas import (
    BG_THRESHOLD,
    NORMAL_A,
    RESOLUTION,
    Estimate,
    MidasControls,
    MidasMaps,
    estimate,
    load,
    render,
    write_maps,
)

log = logging.getLogger(__name__)

HINT = "Upload a photo or a render without depth, then press Estimate depth (MiDaS DPT-hybrid)."


@dataclass
class MidasTab:
    """The components, for ui.py and the tests (elem_ids are `depth_tools_midas_<name>`)."""

    image: Any
    resolution: Any
    bg_threshold: Any
    a: Any
    compress: Any
    invert: Any
    mask: Any
    noise: Any
    seed: Any
    bits: Any
    run: Any
    status: Any
    depth_image: Any
    normal_image: Any
    mask_image: Any
    downloads: Any
    result: Any
    nearness: Any

    @property
    def controls(self) -> list[Any]:
        """In `MidasControls` field order."""
        return [self.bg_threshold, self.a, self.compress, self.noise, self.seed, self.mask, self.invert, self.bits]


# ---------------------------------------------------------------- handlers

def maps_outputs(estimated: Estimate | None, controls: MidasControls) -> list[Any]:
    """[depth, normal, mask, status, downloads, result] from a stored estimate."""
    mask_update = {"visible": bool(controls.mask)}
    if estimated is None:
        return [None, None, gr.update(value=None, **mask_update), status.hint(HINT), None, None]
    try:
        maps: MidasMaps = render(estimated, controls)
        files = write_maps(maps, new_run_dir(), bool(controls.mask))
    except DepthError as exc:
        return [None, None, gr.update(value=None, **mask_update), status.error(exc), None, None]
    h, w = estimated.nearness.shape
    parts = [
        f"MiDaS at resolution {estimated.resolution}",
        f"{w}×{h}",
        f"bg_threshold {controls.bg_threshold:g}",
        f"{maps.background * 100:.1f}% background",
        controls.bits,
        *(f"<b>Note:</b> {status.esc(note)}" for note in estimated.notes),
    ]
    result = Image.fromarray(maps.depth_display).convert("RGB")
    mask_out = gr.update(value=maps.mask, **mask_update)
    return [maps.depth_display, maps.normal, mask_out, status.done(parts), files, result]


def on_run(
    picture: np.ndarray | None,
    resolution: float,
    bg_threshold: float,
    a: float,
    compress: bool,
    noise: bool,
    seed: float | None,
    mask: bool,
    invert: bool,
    bits: str,
    progress: Any = gr.Progress(),  # noqa: B008 - gradio's way of asking for a progress bar
) -> list[Any]:
    """Run MiDaS: [nearness state] + maps_outputs."""
    controls = MidasControls(bg_threshold, a, compress, noise, seed, mask, invert, bits)
    if picture is None:
        return [None, *_failed(controls, "Upload an image first.")]
    try:
        with hosting.current().running("Depth Tools: MiDaS", 2) as tracker:
            progress(0.05, desc="Loading MiDaS")
            tracker.step("loading MiDaS")

            def downloading(done: int, total: int | None) -> None:
                progress((done // 2**20, total // 2**20 if total else None), desc="Downloading MiDaS weights",
                         unit="MiB")

            estimator = load(downloading)
            progress(0.3, desc=f"Estimating depth at {int(resolution)}")
            tracker.step("estimating depth")
            estimated = estimate(picture, int(resolution), estimator)
    except DepthError as exc:  # WeightsError included: its message names every place searched
        return [None, *_failed(controls, exc)]
    except MemoryError:
        return [None, *_failed(controls, f"Not enough memory for MiDaS at {int(resolution)}: lower the resolution.")]
    except Exception as exc:  # our bug or a library's: one readable line here, the traceback in the console
        return [None, *_failed(controls, internal_error(exc, context="MiDaS tab"))]
    return [estimated, *maps_outputs(estimated, controls)]


def _failed(controls: MidasControls, message: object) -> list[Any]:
    outputs = maps_outputs(None, controls)
    outputs[3] = status.error(message)
    return outputs


def on_controls(estimated: Estimate | None, *controls: Any) -> list[Any]:
    return maps_outputs(estimated, MidasControls(*controls))


def on_image(_picture: Any, *controls: Any) -> list[Any]:
    """A new (or removed) image: the old estimate no longer applies."""
    return [None, *maps_outputs(None, MidasControls(*controls))]


# ---------------------------------------------------------------- layout

def _id(name: str) -> str:
    return f"depth_tools_midas_{name}"


def _slider(spec: tuple, label: str, info: str, name: str) -> gr.Slider:
    minimum, maximum, step, value = spec
    return gr.Slider(minimum=minimum, maximum=maximum, step=step, value=value, label=label, info=info,
                     elem_id=_id(name))


def build() -> MidasTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=340):
            picture = image(label="Image", type="numpy", height=360, elem_id=_id("image"))
            resolution = _slider(RESOLUTION, "resolution", "MiDaS input size (short side); larger is finer and slower",
                                 "resolution")
            run = gr.Button("Estimate depth", variant="primary", elem_id=_id("run"))
            bg_threshold = _slider(BG_THRESHOLD, "bg_threshold", "nearness below this is background", "bg_threshold")
            a = _slider(NORMAL_A, "a", "normal map: the z of the normals (smaller = stronger relief)", "a")
            post = post_controls("depth_tools_midas")
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
            send_buttons(result, "depth_tools_midas")
            send_controls("depth_tools_midas", downloads, ("Depth map", "Normal map"))
    nearness = gr.State(None)
    tab = MidasTab(picture, resolution, bg_threshold, a, post.compress, post.invert, post.mask, post.noise, post.seed,
                   post.bits, run, status_box, depth_image, normal_image, mask_image, downloads, result, nearness)
    _wire(tab)
    return tab


def _wire(tab: MidasTab) -> None:
    maps = [tab.depth_image, tab.normal_image, tab.mask_image, tab.status, tab.downloads, tab.result]
    controls = tab.controls
    order = sequential("depth_tools_midas")
    tab.run.click(on_run, [tab.image, tab.resolution, *controls], [tab.nearness, *maps], **order)
    tab.image.upload(on_image, [tab.image, *controls], [tab.nearness, *maps], **order)
    tab.image.clear(on_image, [tab.image, *controls], [tab.nearness, *maps], **order)
    for slider in (tab.bg_threshold, tab.a):
        slider.release(on_controls, [tab.nearness, *controls], maps, **order)
    for box in (tab.compress, tab.invert, tab.mask, tab.noise, tab.bits):
        box.input(on_controls, [tab.nearness, *controls], maps, **order)
    for event in commit_events(tab.seed):
        event(on_controls, [tab.nearness, *controls], maps, **order)
