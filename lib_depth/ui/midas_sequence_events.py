"""The Image tab's "as one sequence (video or frames)" handlers: the checkbox (it swaps the picture
for the frames' upload, shows the server folders and the cutoff, lists the sequence models) and
*Make depth maps* of every frame. Functions of the components' values, as in `midas_tab` (tests
call them directly); a user's mistake is a message, never a traceback.

The server folders, progress bar, Interrupt and result message are the EXR sequence mode's
(`sequence_events`); the host is asked about server folders again on every use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..depth.errors import DepthError, internal_error
from . import status
from .compat import file_paths
from .events import Updates, Values
from .exr import new_run_dir
from .midas import HINT, MODEL_LABELS, SEQUENCE_LABELS, MidasControls, model_label, model_name
from .midas_sequence import (
    Bars,
    SequenceChoice,
    cutoff_value,
    make_image_sequence,
    server_sequence,
    single_picture_message,
    upload_frames,
)
from .sequence_events import first_map, folder_value, frame_bar, made_message, refused, short_names
from .sequences import SequenceResult

#: The checkbox ticked or not: what shows (a sequence has no normal map), which models are listed,
#: what the button says, the status.
MODE = ("image", "normal_image", "frames", "folders", "cutoff", "run", "model", "status")
SEQUENCE_HINT = ("Upload the frames (pictures, in the order of their names) or one video, or name them on the "
                 "server below, then press Make depth maps: one mapping for every frame, no flicker.")
RUN_LABELS = {False: "Estimate depth", True: "Make depth maps"}


def _model(choice: Any) -> str | None:
    try:
        return model_name(choice)
    except DepthError:
        return None


def mode_status(sequence: bool, model: str | None) -> str:
    """The hint of the mode, or why the chosen model cannot work in it (a sequence model, one picture)."""
    message = None if sequence or model is None else single_picture_message(model)
    if message:
        return status.error(message)
    return status.hint(SEQUENCE_HINT if sequence else HINT)


def on_sequence(values: Values) -> Updates:
    """`MODE`: "as one sequence" ticked or not. A sequence model chosen stays listed when the box is
    unticked (the status then says what it needs), so that the choice never silently changes."""
    on, choice = bool(values["sequence"]), values["model"]
    labels = list(SEQUENCE_LABELS if on else MODEL_LABELS)
    if choice in SEQUENCE_LABELS and choice not in labels:
        labels.append(choice)
    shown, hidden = gr.update(visible=on), gr.update(visible=not on)
    return {"image": hidden, "normal_image": hidden, "frames": shown, "folders": shown, "cutoff": shown,
            "run": gr.update(value=RUN_LABELS[on]), "model": gr.update(choices=labels),
            "status": mode_status(on, _model(choice))}


def _no_maps(message: str) -> Updates:
    """`midas_tab.ESTIMATED` with nothing made: `message` in the status."""
    return {"nearness": None, "depth_image": None, "normal_image": None,
            "mask_image": gr.update(value=None, visible=False), "status": message, "downloads": None, "result": None}


def on_make_sequence(values: Values, progress: Any) -> Updates:
    """`midas_tab.ESTIMATED`: every frame (uploads, or the server folder when one is named) through
    the chosen model, one mapping, the PNGs into a zip or the server's output folder; the first
    map shown and offered to the send-to buttons."""
    controls = MidasControls.from_values(values)
    paths = file_paths(values["frames"])
    named, target = folder_value(values["input_folder"]), folder_value(values["output_folder"])
    refusal = refused() if named or target else None
    if refusal:
        return _no_maps(status.error(refusal))
    if not (named or paths):
        return _no_maps(status.error("Upload the frames or a video first, or name them on the server."))
    try:
        model = model_name(values["model"])
        choice = SequenceChoice(model=model, resolution=int(values["resolution"]), controls=controls,
                                cutoff=cutoff_value(values["cutoff"]))  # a bad one is said before anything runs
        run_dir = new_run_dir()
        output_dir = Path(target).expanduser() if target else run_dir
        listing = server_sequence(named, output_dir) if named else upload_frames(paths, output_dir, run_dir / "frames")
        frames = list(listing.frames)
        with frame_bar(f"Depth Tools: {model_label(model)} sequence", 2 * len(frames), progress, model=True) as bar:
            bars = Bars(estimating=bar.report("Estimating frame"), writing=bar.report("Frame"),
                        interrupted=bar.interrupted)
            made = make_image_sequence(frames, choice, output_dir, not target, bars)
    except DepthError as exc:  # WeightsError included: its message names every place searched
        return _no_maps(status.error(short_names(str(exc), paths)))
    except OSError as exc:
        return _no_maps(status.error(f"Cannot make the sequence: {exc}"))
    except MemoryError:
        return _no_maps(status.error("Not enough memory for this sequence: lower the resolution."))
    except Exception as exc:  # our bug or a library's: one readable line here, the traceback in the console
        return _no_maps(status.error(internal_error(exc, context="Image tab sequence")))
    gaps = [str(g) for g in listing.gaps]
    return _made(made, len(frames), output_dir if target else None, choice, gaps)


def _made(made: SequenceResult, total: int, folder: Path | None, choice: SequenceChoice, gaps: list[str]) -> Updates:
    if not made.written:
        if made.interrupted:
            return _no_maps(status.error("Interrupted while estimating the depths: no depth map was written yet; "
                                         "make again to go on."))
        return _no_maps(status.error("No depth map was written.", made.errors))
    extra = [f"{status.esc(model_label(choice.model))} at resolution {choice.resolution}"]
    extra += [] if choice.cutoff is None else [f"cutoff {choice.cutoff:g}"]
    extra += [] if made.estimated is None else [f"{made.estimated} estimated now"]
    message = made_message(made, total, folder, choice.controls.bits, extra)
    if gaps:
        message += status.error("Frames are missing from the numbering:", gaps)
    first = first_map(made)
    return {**_no_maps(message), "depth_image": np.asarray(first), "downloads": made.downloads or None,
            "result": first}
