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
from .exr import AUTO_CHANNEL, ExrView, MapControls, new_run_dir, to_display
from .exr_events import failed_outputs, on_file_choice, on_files, on_make, preview_outputs, shown_outputs
from .exr_sequence import SequenceView, link_uploads, load_sequence, make_sequence, server_frames

#: The status box's place from the end of `exr_events.view_outputs` (`preview_outputs`' 4th of 6).
_STATUS = -3
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


def sequence_outputs(
    files: Any, sequence: bool, folder: str | None, channel: str | None, controls: MapControls
) -> list[Any]:
    """`exr_events.view_outputs` + [frame slider, folders panel]: the frames loaded as one sequence
    (uploads, or the server folder when one is named), previewing the first."""
    hidden = gr.update(choices=[], value=None, visible=False)
    panel = gr.update(visible=bool(sequence))
    no_slider = gr.update(visible=False, value=1)
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
            out = on_files(None, AUTO_CHANNEL, *vars(controls).values())
            out[_STATUS] = status.hint(SEQUENCE_HINT)
            return [*out, no_slider, panel]
        view = load_sequence(listing, channel)
    except DepthError as exc:
        return [*failed_outputs(_short(str(exc), paths), hidden, controls), no_slider, panel]
    out = shown_outputs(view, hidden, channel, controls)
    out[_STATUS] += _left_out(view)
    count = len(view.frames)
    slider = gr.update(minimum=1, maximum=max(count, 2), value=1, step=1, visible=count > 1,
                       label=f"Frame (1-{count})")
    return [*out, slider, panel]


def _left_out(view: SequenceView) -> str:
    extra = ""
    if view.bad:
        extra += status.error(f"{len(view.bad)} of the frames left out of the sequence:", list(view.bad))
    if view.gaps:
        extra += status.error("Frames are missing from the numbering:", list(view.gaps))
    return extra


def on_source(files: Any, sequence: bool, folder: str | None, channel: str | None, *controls: Any) -> list[Any]:
    """Upload, "as one sequence" ticked or not, a folder entered: loaded outputs + [slider, panel]."""
    values = MapControls(*controls)
    if not sequence:
        return [*on_files(files, channel, *controls), gr.update(visible=False, value=1), gr.update(visible=False)]
    return sequence_outputs(files, True, folder, AUTO_CHANNEL, values)


def on_channel(
    files: Any, sequence: bool, folder: str | None, choice: str | None, channel: str | None,
    stereo_view: str | None, *controls: Any,
) -> list[Any]:
    """Another depth channel: the render (or the whole sequence) again with it."""
    if not sequence:
        return [*on_file_choice(files, choice, channel, stereo_view, *controls), gr.update(), gr.update()]
    return sequence_outputs(files, True, folder, channel, MapControls(*controls))


def on_frame(view: ExrView | None, number: float | None, *controls: Any) -> list[Any]:
    """[view] + preview_outputs: the frame slider moved (frames count from 1). The mapping and the
    histogram stay the sequence's; only the previewed frame changes."""
    unchanged = [gr.update()] * (1 + len(preview_outputs(None, MapControls())))
    if not isinstance(view, SequenceView) or number is None or int(number) - 1 == view.index:
        return unchanged
    try:
        moved = view.at(int(number) - 1)
    except DepthError as exc:
        out = preview_outputs(view, MapControls(*controls))
        out[3] = status.error(exc)
        return [gr.update(), *out]
    return [moved, *preview_outputs(moved, MapControls(*controls))]


def on_make_any(
    sequence: bool,
    view: ExrView | None,
    output_folder: str | None,
    files: Any,
    channel: str | None,
    stereo_view: str | None,
    *controls: Any,
    progress: Any = gr.Progress(),  # noqa: B008 - gradio's way of asking for a progress bar
) -> list[Any]:
    """*Make depth maps*: each upload on its own (`exr_events.on_make`), or the sequence with its
    one mapping into a zip or the server's output folder: [downloads, result image, status].
    A multi-view file's chosen view applies to uploads made one by one."""
    if not sequence:
        return on_make(files, channel, stereo_view, *controls, progress=progress)
    if not isinstance(view, SequenceView):
        return [None, None, status.error("Load the frames first: upload them, or press Enter in the folder box.")]
    values = MapControls(*controls)
    target = _folder(output_folder)
    refusal = _refused() if target else None
    if refusal:
        return [None, None, status.error(refusal)]
    try:
        values.options()
        output_dir = Path(target).expanduser() if target else new_run_dir()
        total = len(view.frames)
        with hosting.current().progress("Depth Tools: sequence", total) as tracker:

            def report(done: int, count: int, left: str) -> None:
                desc = f"Frame {done} of {count}" + (f", {left}" if left else "")
                progress((done, count), desc=desc)
                if done:
                    tracker.step(desc)

            made = make_sequence(view, values, output_dir, not target, report, lambda: tracker.interrupted)
    except (OSError, DepthError) as exc:
        return [None, None, status.error(f"Cannot make the sequence: {exc}")]
    return _made_outputs(made, view, output_dir if target else None, values)


def _made_outputs(made: Any, view: SequenceView, folder: Path | None, values: MapControls) -> list[Any]:
    total = len(view.frames)
    done = made.converted + made.skipped
    if not made.written:
        return [None, None, status.error("No depth map was written.", made.errors)]
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
    return [made.downloads or None, first, message]

