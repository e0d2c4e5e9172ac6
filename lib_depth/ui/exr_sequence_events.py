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
from PIL import Image

from ..depth.errors import DepthError
from ..depth.png import read_png
from . import hosting, status
from .compat import file_paths
from .events import Updates, Values
from .exr import AUTO_CHANNEL, MapControls, new_run_dir, to_display
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
from .exr_sequence import SequenceView, link_uploads, load_sequence, make_sequence, server_frames
from .shown import SHOWN

#: A source (re)loaded: `exr_events.LOADED`, the frame slider and the server folders panel.
SOURCE = (*LOADED, "frame", "folders")
#: Another frame of the sequence previewed.
FRAME = ("view", *PREVIEW)
SEQUENCE_HINT = "Upload the frames (or name a server folder below) to see the histogram of the whole sequence."


def folders_note() -> str:
    """The folder boxes' note: what they take, or why the host refuses them."""
    refusal = hosting.current().server_folders()
    if refusal:
        return status.error(refusal)
    return status.hint("A folder, a glob or a frame pattern (render_####.exr) on the server, as on the command line. "
                       "The output folder can be ControlNet's batch input folder; a rerun converts only what changed.")


def _folder(value: str | None) -> str:
    return (value or "").strip()


def _refused() -> str | None:
    return hosting.current().server_folders()


def _short(message: str, paths: list[str]) -> str:
    """Errors name uploads by their file names, not gradio's temporary folders."""
    for path in paths:
        message = message.replace(str(Path(path).parent) + "/", "")
    return message


def sequence_outputs(files: Any, folder: str | None, channel: str | None, controls: MapControls) -> Updates:
    """`SOURCE`: the frames loaded as one sequence (uploads, or the server folder when one is
    named), previewing the first."""
    hidden = gr.update(choices=[], value=None, visible=False)
    extra = {"frame": gr.update(visible=False, value=1), "folders": gr.update(visible=True)}
    paths = file_paths(files)
    named = _folder(folder)
    try:
        if named:
            refusal = _refused()
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
        return {**failed_outputs(_short(str(exc), paths), hidden, controls), **extra}
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
    target = _folder(values["output_folder"])
    refusal = _refused() if target else None
    if refusal:
        return made_outputs(status.error(refusal))
    try:
        controls.options(), controls.normal_options()
        output_dir = Path(target).expanduser() if target else new_run_dir()
        total = len(view.frames)
        with hosting.current().progress("Depth Tools: sequence", total) as tracker:

            def report(done: int, count: int, left: str) -> None:
                desc = f"Frame {done} of {count}" + (f", {left}" if left else "")
                progress((done, count), desc=desc)
                if done:
                    tracker.step(desc)

            made = make_sequence(view, controls, output_dir, not target, report, lambda: tracker.interrupted)
    except (OSError, DepthError) as exc:
        return made_outputs(status.error(f"Cannot make the sequence: {exc}"))
    return _sequence_made(made, view, output_dir if target else None, controls)


def _sequence_made(made: Any, view: SequenceView, folder: Path | None, values: MapControls) -> Updates:
    total = len(view.frames)
    done = made.converted + made.skipped
    if not made.written:
        return made_outputs(status.error("No depth map was written.", made.errors))
    first = Image.fromarray(to_display(read_png(made.written[0]))).convert("RGB")
    parts = [f"{done} of {total} frames" if made.interrupted else f"Wrote {total} frames", values.bits]
    if made.skipped:
        parts.append(f"{made.skipped} already up to date")
    parts.append(f"in {status.code(folder)}" if folder is not None else f"all in {status.code('depth_maps.zip')}")
    if made.interrupted:
        again = "make again to convert the rest" if folder is not None else "the zip holds those"
        message = status.error(f"Interrupted after {done} of {total} frames: the frames written are complete; {again}.")
        message += status.done(parts)
    else:
        message = status.done(parts)
    if made.errors:
        message += status.error(f"{len(made.errors)} of {total} frames failed:", made.errors)
    return made_outputs(message, made.downloads or None, first)

