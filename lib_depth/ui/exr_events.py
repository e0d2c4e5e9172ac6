"""The "EXR render" tab's event handlers: functions of the components' values, returning the
outputs' new values (or `gr.update`s), so tests call them directly. They never raise for a user's
mistake: the status box says what went wrong and the rest of the tab keeps its state.
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

from ..depth.errors import DepthError
from . import hosting, status
from .chart import draw_histogram
from .compat import file_paths
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

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scene.exr"
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
    return status.info(parts)


def preview_outputs(view: ExrView | None, controls: MapControls) -> list[Any]:
    """[chart, depth preview, mask preview, status, downloads, result]: everything that follows
    the controls. Downloads are cleared: they no longer match what the preview shows."""
    mask_update = {"visible": bool(controls.mask)}
    if view is None:
        return [None, None, gr.update(value=None, **mask_update), status.hint(UPLOAD_HINT), None, None]
    chart = draw_histogram(view.histogram, controls.cutoff)
    try:
        preview = render_preview(view, controls)
    except DepthError as exc:
        return [chart, gr.update(), gr.update(**mask_update), status.error(exc), None, None]
    message = describe_preview(view, preview, controls)
    return [chart, preview.depth, gr.update(value=preview.mask, **mask_update), message, None, None]


def _cut_button_updates(view: ExrView | None) -> list[Any]:
    cuts = view.histogram.suggestions if view is not None else ()
    updates = []
    for i in range(MAX_CUT_BUTTONS):
        if i < len(cuts):
            updates.append(gr.update(value=f"Cut at {view.fmt(cuts[i])}", visible=True))  # type: ignore[union-attr]
        else:
            updates.append(gr.update(visible=False))
    return updates


def _choice_label(index: int, path: str) -> str:
    return f"{index + 1}: {Path(path).name}"


def _choice_index(choice: str | None) -> int:
    try:
        return max(int(str(choice).split(":", 1)[0]) - 1, 0)
    except ValueError:
        return 0


def view_outputs(
    paths: list[str], index: int, channel: str | None, controls: MapControls, stereo_view: str | None = None
) -> list[Any]:
    """[view, sample button, cut panel, file choice, channel, view choice, *cut buttons, cutoff state,
    cutoff box] + preview_outputs,
    for a (re)loaded file. The histogram and cut controls show only with a file loaded; the cutoff
    starts empty ("no cutoff"): a cut in one render's units means nothing in another."""
    controls = replace(controls, cutoff=None)
    if not paths:
        return [
            None,
            gr.update(visible=SAMPLE.is_file()),
            gr.update(visible=False),
            gr.update(choices=[], value=None, visible=False),
            gr.update(choices=[AUTO_CHANNEL], value=AUTO_CHANNEL),
            gr.update(choices=[], value=None, visible=False),
            *_cut_button_updates(None),
            None,
            gr.update(value=None),
            *preview_outputs(None, controls),
        ]
    index = min(index, len(paths) - 1)
    labels = [_choice_label(i, p) for i, p in enumerate(paths)]
    choice = gr.update(choices=labels, value=labels[index], visible=len(paths) > 1)
    try:
        view = load_view(paths[index], channel, stereo_view, hosting.current().max_pixels())
    except DepthError as exc:
        return failed_outputs(str(exc).replace(paths[index], Path(paths[index]).name), choice, controls)
    return shown_outputs(view, choice, channel, controls)


def shown_outputs(view: ExrView, choice: Any, channel: str | None, controls: MapControls) -> list[Any]:
    """`view_outputs` for a view that loaded (a render, or a sequence: `exr_sequence_events`)."""
    chosen = channel if channel in view.channels else AUTO_CHANNEL
    channel_update = gr.update(choices=[AUTO_CHANNEL, *view.channels], value=chosen)
    views_update = gr.update(choices=list(view.views), value=view.view, visible=bool(view.views))
    return [
        view,
        gr.update(visible=False),
        gr.update(visible=True),
        choice,
        channel_update,
        views_update,
        *_cut_button_updates(view),
        None,
        gr.update(value=None),
        *preview_outputs(view, replace(controls, cutoff=None)),
    ]


def failed_outputs(message: str, choice: Any, controls: MapControls) -> list[Any]:
    """`view_outputs` when nothing could be loaded: the message in the status, no view."""
    outputs = preview_outputs(None, replace(controls, cutoff=None))
    outputs[3] = status.error(message)
    hidden = gr.update(visible=False)
    cuts = _cut_button_updates(None)
    return [None, hidden, hidden, choice, gr.update(), gr.update(), *cuts, None, gr.update(value=None), *outputs]


def on_files(files: Any, channel: str | None, *controls: Any) -> list[Any]:
    """New upload (or cleared): load the first file with the channel picked automatically, first view."""
    del channel
    return view_outputs(file_paths(files), 0, AUTO_CHANNEL, MapControls(*controls))


def on_file_choice(
    files: Any, choice: str | None, channel: str | None, stereo_view: str | None, *controls: Any
) -> list[Any]:
    """Another file, channel or view chosen (a view the file lacks gives its first)."""
    return view_outputs(file_paths(files), _choice_index(choice), channel, MapControls(*controls), stereo_view)


def on_controls(view: ExrView | None, *controls: Any) -> list[Any]:
    return preview_outputs(view, MapControls(*controls))


def on_cutoff_typed(view: ExrView | None, typed: float | None, *controls: Any) -> list[Any]:
    """[cutoff state] + preview_outputs: the box's value (empty = no cutoff) comes into force."""
    return [typed, *preview_outputs(view, MapControls(typed, *controls[1:]))]


def _with_cutoff(view: ExrView | None, cutoff: float | None, controls: tuple[Any, ...]) -> list[Any]:
    """[cutoff state, cutoff box] + preview_outputs: a button or a click set the cutoff."""
    values = MapControls(cutoff, *controls[1:])
    return [cutoff, cutoff, *preview_outputs(view, values)]


def on_cut(index: int) -> Callable[..., list[Any]]:
    """Handler of suggestion button `index`: one click sets the cutoff to that suggestion."""

    def pick(view: ExrView | None, *controls: Any) -> list[Any]:
        if view is None:
            return [gr.update(), gr.update(), *preview_outputs(view, MapControls(*controls))]
        return _with_cutoff(view, view.cut_value(index), controls)

    return pick


def on_no_cut(view: ExrView | None, *controls: Any) -> list[Any]:
    return _with_cutoff(view, None, controls)


def on_chart_click(
    view: ExrView | None,
    cutoff: float | None,
    compress: bool,
    noise: bool,
    seed: float | None,
    mask: bool,
    invert: bool,
    bits: str,
    evt: gr.SelectData,
) -> list[Any]:
    """A click on the histogram cuts there (snapping to a suggested cut close by)."""
    controls = (cutoff, compress, noise, seed, mask, invert, bits)
    index = getattr(evt, "index", None)
    if view is None or not isinstance(index, (list, tuple)) or not index:
        return [gr.update()] * 8
    click = cutoff_at(view, float(index[0]), float(index[1]) if len(index) > 1 else None)
    if not click.changed:
        return [gr.update()] * 8
    return _with_cutoff(view, click.cutoff, controls)


def on_make(
    files: Any,
    channel: str | None,
    stereo_view: str | None,
    cutoff: float | None,
    compress: bool,
    noise: bool,
    seed: float | None,
    mask: bool,
    invert: bool,
    bits: str,
    progress: Any = gr.Progress(),  # noqa: B008 - gradio's way of asking for a progress bar
) -> list[Any]:
    """Full-size PNGs of every upload: [downloads, result image (for "send to"), status]."""
    paths = file_paths(files)
    controls = MapControls(cutoff, compress, noise, seed, mask, invert, bits)
    if not paths:
        return [None, None, status.error("Upload one or more EXR files first.")]
    try:
        controls.options()
    except DepthError as exc:
        return [None, None, status.error(exc)]
    with hosting.current().progress("Depth Tools: depth maps", len(paths)) as tracker:

        def report(i: int, n: int, name: str) -> None:
            progress((i, n), desc=f"Converting {name}")
            tracker.step(name)

        try:
            result = make_maps(paths, channel, controls, new_run_dir(), report, stereo_view,
                               hosting.current().max_pixels())
        except (OSError, DepthError) as exc:  # the download folder (disk full, permissions); zip writing
            return [None, None, status.error(f"Cannot write the PNGs: {exc}")]
    first = Image.fromarray(result.first_map).convert("RGB") if result.first_map is not None else None
    names = [status.code(Path(p).name) for p in result.written]
    if result.errors and not result.written:
        return [None, None, status.error("No depth map was written.", result.errors)]
    summary = [f"Wrote {len(result.written)} PNG{'s' if len(result.written) != 1 else ''}", f"{bits}"]
    if len(paths) > 1:
        summary.append(f"all in {status.code('depth_maps.zip')}")
    message = status.done(summary, names)
    if result.errors:
        message += status.error(f"{len(result.errors)} of {len(paths)} files failed:", result.errors)
    return [result.downloads or None, first, message]


def on_sample() -> list[str]:
    """The bundled sample render, copied to a temporary folder (gradio serves only files it may)."""
    folder = Path(tempfile.mkdtemp(prefix="depth-tools-sample-"))
    return [str(shutil.copy2(SAMPLE, folder / SAMPLE.name))]
