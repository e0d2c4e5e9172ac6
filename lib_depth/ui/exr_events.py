"""The "EXR render" tab's event handlers: functions of the components' values by name, returning
the outputs' new values (or `gr.update`s) by name (`events`), so tests call them directly. They
never raise for a user's mistake: the status box says what went wrong and the rest of the tab
keeps its state. The names are `ExrTab`'s; the tuples below are what each kind of handler answers.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ..depth.chart import draw_histogram
from ..depth.errors import DepthError
from . import hosting, status
from .compat import file_paths
from .events import Updates, Values
from .exr import (
    AUTO_CHANNEL,
    MAX_CUT_BUTTONS,
    ExrView,
    MapControls,
    Preview,
    cutoff_at,
    load_view,
    make_maps,
    new_run_dir,
    render_preview,
)
from .shown import SHOWN, cutoff_in_force, tag

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scene.exr"
#: What follows the controls: `preview_outputs`.
PREVIEW = ("chart", "depth_image", "normal_image", "mask_image", "status", "downloads", "result")
CUT_BUTTONS = tuple(f"cut_{i}" for i in range(MAX_CUT_BUTTONS))
#: A (re)loaded file: `view_outputs`.
LOADED = ("view", "view_key", "view_tag", "sample", "cut_panel", "file_choice", "channel", "view_choice",
          *CUT_BUTTONS, "cutoff_state", "cutoff", *PREVIEW)
#: A button or a click set the cutoff: the state, the box and the preview.
WITH_CUTOFF = ("cutoff_state", "cutoff", *PREVIEW)
#: *Make depth maps*.
MADE = ("downloads", "result", "status")
UPLOAD_HINT = (
    "Upload one or more EXR depth renders (Daz Studio iray depth canvas, Blender Z pass, any float depth) "
    "to see where their depths lie and choose the cut."
)


def describe_preview(view: ExrView, preview: Preview, controls: MapControls) -> str:
    depth_map = preview.depth_map
    h, w = view.preview.shape
    size = f"{view.width}×{view.height}"
    if (w, h) != (view.width, view.height):
        size += f" (preview {w}×{h})"
    near, far = ("black", "white") if controls.invert else ("white", "black")
    beyond = "" if controls.cutoff is None else " and beyond"
    parts = [
        status.code(view.name),
        f"channel {status.code(view.channel)}",
        size,
        f"nearest {status.esc(view.fmt(depth_map.near))} → {near}",
        f"{status.esc(view.fmt(depth_map.far))}{beyond} → {far}",
        f"{float(np.mean(depth_map.background)) * 100:.1f}% at the far level",
    ]
    if view.note:
        parts.insert(0, status.esc(view.note))
    if not view.histogram.suggestions:
        parts.append("no empty depth range: no cut suggested")
    if preview.normal is not None:
        parts.append(f"normal map: {float(controls.fov or 0):g}° across, {controls.depth_is} depth")
    return status.info(parts)


def controls_in(values: Values) -> MapControls:
    """The controls in force: the cutoff is the one the server keeps for the render (`shown`: a
    click on the tab's own route may have set it a moment ago), else the state's (the box may
    hold a number being typed)."""
    return MapControls.from_values({**values, "cutoff": cutoff_in_force(values)})


def made_with(values: Values, controls: MapControls) -> bool:
    """Whether the downloads offered were made with `controls` (then a preview keeps them)."""
    shown = SHOWN.get(values.get("view_key"))
    return shown is not None and shown.made == controls


def previewed(values: Values, view: ExrView | None, controls: MapControls) -> Updates:
    """`preview_outputs`, keeping the downloads when they were made with these very controls (a
    value entered again, or entered while *Make* ran, takes nothing away)."""
    return preview_outputs(view, controls, keep_downloads=made_with(values, controls))


def preview_outputs(view: ExrView | None, controls: MapControls, keep_downloads: bool = False) -> Updates:
    """`PREVIEW`: everything that follows the controls. Downloads are cleared (unless
    `keep_downloads`): they no longer match what the preview shows."""
    mask_update, normal_update = {"visible": bool(controls.mask)}, {"visible": bool(controls.normal)}
    cleared = {} if keep_downloads else {"downloads": None, "result": None}
    if view is None:
        return {"chart": None, "depth_image": None, "normal_image": gr.update(value=None, **normal_update),
                "mask_image": gr.update(value=None, **mask_update), "status": status.hint(UPLOAD_HINT), **cleared}
    chart = draw_histogram(view.histogram, controls.cutoff)
    try:
        preview = render_preview(view, controls)
    except DepthError as exc:  # the last good preview stays on screen
        return {"chart": chart, "depth_image": gr.update(), "normal_image": gr.update(**normal_update),
                "mask_image": gr.update(**mask_update), "status": status.error(exc), **cleared}
    message = describe_preview(view, preview, controls)
    return {"chart": chart, "depth_image": preview.depth,
            "normal_image": gr.update(value=preview.normal, **normal_update),
            "mask_image": gr.update(value=preview.mask, **mask_update), "status": message, **cleared}


def _cut_button_updates(view: ExrView | None) -> Updates:
    cuts = view.histogram.suggestions if view is not None else ()
    updates = {}
    for i, name in enumerate(CUT_BUTTONS):
        if i < len(cuts):
            updates[name] = gr.update(value=f"Cut at {view.fmt(cuts[i])}", visible=True)  # type: ignore[union-attr]
        else:
            updates[name] = gr.update(visible=False)
    return updates


def _choice_label(index: int, path: str) -> str:
    return f"{index + 1}: {Path(path).name}"


def _choice_index(choice: str | None) -> int:
    try:
        return max(int(str(choice).split(":", 1)[0]) - 1, 0)
    except ValueError:
        return 0


def _loaded(view: ExrView | None, controls: MapControls, **updates: Any) -> Updates:
    """`LOADED` from `updates` (sample button, cut panel, the dropdowns) and what every load resets:
    the cutoff starts empty ("no cutoff"), since a cut in one render's units means nothing in another."""
    key = SHOWN.add(view) if view is not None else None
    return {"view": view, "view_key": key, "view_tag": tag(key), **updates, **_cut_button_updates(view),
            "cutoff_state": None, "cutoff": gr.update(value=None),
            **preview_outputs(view, replace(controls, cutoff=None))}


def view_outputs(
    paths: list[str], index: int, channel: str | None, controls: MapControls, stereo_view: str | None = None
) -> Updates:
    """`LOADED` for file `index` of `paths` (none: the tab as at the start). The histogram and cut
    controls show only with a file loaded."""
    if not paths:
        return _loaded(
            None, controls, sample=gr.update(visible=SAMPLE.is_file()), cut_panel=gr.update(visible=False),
            file_choice=gr.update(choices=[], value=None, visible=False),
            channel=gr.update(choices=[AUTO_CHANNEL], value=AUTO_CHANNEL),
            view_choice=gr.update(choices=[], value=None, visible=False),
        )
    index = min(index, len(paths) - 1)
    labels = [_choice_label(i, p) for i, p in enumerate(paths)]
    choice = gr.update(choices=labels, value=labels[index], visible=len(paths) > 1)
    try:
        view = load_view(paths[index], channel, stereo_view, hosting.current().max_pixels())
    except DepthError as exc:
        return failed_outputs(str(exc).replace(paths[index], Path(paths[index]).name), choice, controls)
    return shown_outputs(view, choice, channel, controls)


def shown_outputs(view: ExrView, choice: Any, channel: str | None, controls: MapControls) -> Updates:
    """`view_outputs` for a view that loaded (a render, or a sequence: `exr_sequence_events`)."""
    chosen = channel if channel in view.channels else AUTO_CHANNEL
    return _loaded(
        view, controls, sample=gr.update(visible=False), cut_panel=gr.update(visible=True), file_choice=choice,
        channel=gr.update(choices=[AUTO_CHANNEL, *view.channels], value=chosen),
        view_choice=gr.update(choices=list(view.views), value=view.view, visible=bool(view.views)),
    )


def failed_outputs(message: str, choice: Any, controls: MapControls) -> Updates:
    """`view_outputs` when nothing could be loaded: the message in the status, no view."""
    hidden = gr.update(visible=False)
    out = _loaded(None, controls, sample=hidden, cut_panel=hidden, file_choice=choice, channel=gr.update(),
                  view_choice=gr.update())
    out["status"] = status.error(message)
    return out


def on_files(values: Values) -> Updates:
    """New upload (or cleared): load the first file with the channel picked automatically, first view."""
    return view_outputs(file_paths(values["files"]), 0, AUTO_CHANNEL, controls_in(values))


def on_file_choice(values: Values) -> Updates:
    """Another file, channel or view chosen (a view the file lacks gives its first)."""
    index = _choice_index(values["file_choice"])
    return view_outputs(file_paths(values["files"]), index, values["channel"], controls_in(values),
                        values["view_choice"])


def on_controls(values: Values) -> Updates:
    return previewed(values, values["view"], controls_in(values))


def on_cutoff_typed(values: Values) -> Updates:
    """The box's value (empty = no cutoff) comes into force: the state and the preview."""
    typed = values["cutoff"]
    return {"cutoff_state": typed, **previewed(values, values["view"], replace(controls_in(values), cutoff=typed))}


def on_synced(values: Values) -> Updates:
    """`WITH_CUTOFF` as the server keeps it: gradio's values catch up with a cut the tab's own
    route answered (`fast_preview`), where the page needs gradio (downloads to take away)."""
    return _with_cutoff(values, values["view"], cutoff_in_force(values), controls_in(values))


def _with_cutoff(values: Values, view: ExrView | None, cutoff: float | None, controls: MapControls) -> Updates:
    """`WITH_CUTOFF`: a button or a click set the cutoff."""
    return {"cutoff_state": cutoff, "cutoff": cutoff, **previewed(values, view, replace(controls, cutoff=cutoff))}


def on_cut(index: int) -> Callable[[Values], Updates]:
    """Handler of suggestion button `index`: one click sets the cutoff to that suggestion."""

    def pick(values: Values) -> Updates:
        view = values["view"]
        if view is None:
            return preview_outputs(view, controls_in(values))
        return _with_cutoff(values, view, view.cut_value(index), controls_in(values))

    return pick


def on_no_cut(values: Values) -> Updates:
    return _with_cutoff(values, values["view"], None, controls_in(values))


def on_chart_click(values: Values, evt: gr.SelectData) -> Updates:
    """A click on the histogram cuts there (snapping to a suggested cut close by); beside the
    plot nothing changes."""
    view, index = values["view"], getattr(evt, "index", None)
    if view is None or not isinstance(index, (list, tuple)) or not index:
        return {}
    click = cutoff_at(view, float(index[0]), float(index[1]) if len(index) > 1 else None)
    if not click.changed:
        return {}
    return _with_cutoff(values, view, click.cutoff, controls_in(values))


def on_make(values: Values, progress: Any = gr.Progress()) -> Updates:  # noqa: B008 - gradio's progress bar
    """`MADE`: full-size PNGs of every upload, the first as the result image (for "send to"), the status."""
    paths = file_paths(values["files"])
    controls = controls_in(values)
    if not paths:
        return made_outputs(status.error("Upload one or more EXR files first."))
    try:
        controls.options(), controls.normal_options()
    except DepthError as exc:
        return made_outputs(status.error(exc))
    with hosting.current().progress("Depth Tools: depth maps", len(paths)) as tracker:

        def report(i: int, n: int, name: str) -> None:
            progress((i, n), desc=f"Converting {name}")
            tracker.step(name)

        try:
            result = make_maps(paths, values["channel"], controls, new_run_dir(), report, values["view_choice"],
                               hosting.current().max_pixels())
        except (OSError, DepthError) as exc:  # the download folder (disk full, permissions); zip writing
            return made_outputs(status.error(f"Cannot write the PNGs: {exc}"))
    first = Image.fromarray(result.first_map).convert("RGB") if result.first_map is not None else None
    names = [status.code(Path(p).name) for p in result.written]
    if result.errors and not result.written:
        return made_outputs(status.error("No depth map was written.", result.errors))
    summary = [f"Wrote {len(result.written)} PNG{'s' if len(result.written) != 1 else ''}", f"{controls.bits}"]
    if len(paths) > 1:
        summary.append(f"all in {status.code('depth_maps.zip')}")
    message = status.done(summary, names)
    if result.errors:
        message += status.error(f"{len(result.errors)} of {len(paths)} files failed:", result.errors)
    return made_outputs(message, result.downloads or None, first)


def made_outputs(message: str, downloads: list[str] | None = None, result: Image.Image | None = None) -> Updates:
    """`MADE`: nothing to download or send unless given (a failure clears the last run's)."""
    return {"downloads": downloads, "result": result, "status": message}


def on_sample(values: Values) -> Updates:
    """The bundled sample render as the upload, copied to a temporary folder (gradio serves only
    files it may)."""
    del values
    folder = Path(tempfile.mkdtemp(prefix="depth-tools-sample-"))
    return {"files": [str(shutil.copy2(SAMPLE, folder / SAMPLE.name))]}
