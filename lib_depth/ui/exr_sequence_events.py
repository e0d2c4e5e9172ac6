"""The EXR tab's "as one sequence" handlers: what the checkbox, the server folders, the frame
slider and *Make depth maps* do with several frames. Functions of the components' values, as in
`exr_events` (tests call them directly); a user's mistake is a message, never a traceback.

Server folders are the host's decision (`TabHost.server_folders`): a WebUI others can reach
refuses them, and the handlers ask again on every use (the browser's state is never trusted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ..depth.errors import DepthError
from . import status
from .compat import file_paths
from .events import Updates, Values
from .exr import AUTO_CHANNEL, MapControls, new_run_dir
from .exr_events import (
    LOADED,
    PREVIEW,
    controls_in,
    failed_outputs,
    made_outputs,
    on_file_choice,
    on_files,
    on_make,
    preview_outputs,
    shown_outputs,
    view_outputs,
)
from .exr_sequence import SequenceView, load_sequence, make_sequence
from .sequence_events import first_map, folder_value, frame_bar, made_message, refused, short_names
from .sequences import link_uploads, server_frames
from .shown import SHOWN

#: A source (re)loaded: `exr_events.LOADED`, the frame slider and the server folders panel.
SOURCE = (*LOADED, "frame", "folders")
#: Another frame of the sequence previewed.
FRAME = ("view", *PREVIEW)
SEQUENCE_HINT = "Upload the frames (or name a server folder below) to see the histogram of the whole sequence."


def sequence_outputs(files: Any, folder: str | None, channel: str | None, controls: MapControls) -> Updates:
    """`SOURCE`: the frames loaded as one sequence (uploads, or the server folder when one is
    named), previewing the first."""
    hidden = gr.update(choices=[], value=None, visible=False)
    extra = {"frame": gr.update(visible=False, value=1), "folders": gr.update(visible=True)}
    paths = file_paths(files)
    named = folder_value(folder)
    try:
        if named:
            refusal = refused()
            if refusal:
                raise DepthError(refusal)
            listing = server_frames(named)
        elif paths:
            listing = link_uploads(paths, new_run_dir() / "frames")
        else:
            out = view_outputs([], 0, AUTO_CHANNEL, controls)
            out["status"] = status.hint(SEQUENCE_HINT)
            return {**out, **extra}
        view = load_sequence(listing, channel)
    except DepthError as exc:
        return {**failed_outputs(short_names(str(exc), paths), hidden, controls), **extra}
    out = shown_outputs(view, hidden, channel, controls)
    out["status"] += _left_out(view)
    count = len(view.frames)
    extra["frame"] = gr.update(minimum=1, maximum=max(count, 2), value=1, step=1, visible=count > 1,
                               label=f"Frame (1-{count})")
    return {**out, **extra}


def _left_out(view: SequenceView) -> str:
    extra = ""
    if view.bad:
        extra += status.error(f"{len(view.bad)} of the frames left out of the sequence:", list(view.bad))
    if view.gaps:
        extra += status.error("Frames are missing from the numbering:", list(view.gaps))
    return extra


def on_source(values: Values) -> Updates:
    """`SOURCE`: upload, "as one sequence" ticked or not, a folder entered."""
    if not values["sequence"]:
        return {**on_files(values), "frame": gr.update(visible=False, value=1), "folders": gr.update(visible=False)}
    return sequence_outputs(values["files"], values["input_folder"], AUTO_CHANNEL, controls_in(values))


def on_channel(values: Values) -> Updates:
    """`SOURCE`: another depth channel, the render (or the whole sequence) again with it."""
    if not values["sequence"]:
        return on_file_choice(values)
    return sequence_outputs(values["files"], values["input_folder"], values["channel"], controls_in(values))


def on_frame(values: Values) -> Updates:
    """`FRAME`: the frame slider moved (frames count from 1). The mapping and the histogram stay
    the sequence's; only the previewed frame changes."""
    view, number = values["view"], values["frame"]
    if not isinstance(view, SequenceView) or number is None or int(number) - 1 == view.index:
        return {}
    try:
        moved = view.at(int(number) - 1)
    except DepthError as exc:
        out = preview_outputs(view, controls_in(values))
        out["status"] = status.error(exc)
        return out
    SHOWN.update(values.get("view_key"), view=moved)  # the tab's own route previews this frame now
    return {"view": moved, **preview_outputs(moved, controls_in(values))}


def on_make_any(values: Values, progress: Any = gr.Progress()) -> Updates:  # noqa: B008 - gradio's progress bar
    """`MADE`: *Make depth maps*, each upload on its own (`exr_events.on_make`), or the sequence with
    its one mapping into a zip or the server's output folder. A multi-view file's chosen view
    applies to uploads made one by one. The controls are kept with the render shown, so that a
    preview with the same ones leaves these downloads offered (`exr_events.made_with`)."""
    SHOWN.update(values.get("view_key"), made=controls_in(values))
    if not values["sequence"]:
        return on_make(values, progress=progress)
    view = values["view"]
    if not isinstance(view, SequenceView):
        return made_outputs(status.error("Load the frames first: upload them, or press Enter in the folder box."))
    controls = controls_in(values)
    target = folder_value(values["output_folder"])
    refusal = refused() if target else None
    if refusal:
        return made_outputs(status.error(refusal))
    try:
        controls.options(), controls.normal_options()
        output_dir = Path(target).expanduser() if target else new_run_dir()
        with frame_bar("Depth Tools: sequence", len(view.frames), progress) as bar:
            made = make_sequence(view, controls, output_dir, not target, bar.report(), bar.interrupted)
    except (OSError, DepthError) as exc:
        return made_outputs(status.error(f"Cannot make the sequence: {exc}"))
    return _sequence_made(made, view, output_dir if target else None, controls)


def _sequence_made(made: Any, view: SequenceView, folder: Path | None, values: MapControls) -> Updates:
    if not made.written:
        return made_outputs(status.error("No depth map was written.", made.errors))
    return made_outputs(made_message(made, len(view.frames), folder, values.bits), made.downloads or None,
                        first_map(made))
