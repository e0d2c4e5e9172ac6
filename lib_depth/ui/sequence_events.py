"""What both sub-tabs' "as one sequence" modes share on the gradio side: the server folders panel,
the host's word on server folders (asked again on every use: the browser's state is never trusted),
the progress bar and Interrupt of a run, and the message of what a run made.

Server folders are the host's decision (`TabHost.server_folders`): a WebUI others can reach
refuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ..depth.png import read_png
from . import hosting, status
from .exr import to_display
from .sequences import Report, SequenceResult


def folders_note() -> str:
    """The folder boxes' note: what they take, or why the host refuses them."""
    refusal = refused()
    if refusal:
        return status.error(refusal)
    return status.hint("A folder, a glob or a frame pattern (render_####.exr) on the server, as on the command line. "
                       "The output folder can be ControlNet's batch input folder; a rerun converts only what changed.")


def folders_panel(elem_id: Callable[[str], str], frames_placeholder: str) -> dict[str, Any]:
    """The server folders, hidden until "as one sequence" is ticked: `folders` (the panel),
    `input_folder`, `output_folder`. Not editable where the host refuses them."""
    with gr.Column(visible=False, elem_id=elem_id("folders")) as folders:
        off = refused() is not None
        with gr.Row():
            input_folder = gr.Textbox(
                label="Or frames on the server (Enter loads them)", interactive=not off,
                placeholder=frames_placeholder, elem_id=elem_id("input_folder"),
            )
            output_folder = gr.Textbox(
                label="Output folder on the server (empty: a zip)", interactive=not off,
                placeholder="/webui/controlnet_batch_input", elem_id=elem_id("output_folder"),
            )
        gr.HTML(folders_note(), elem_id=elem_id("folders_note"))
    return {"folders": folders, "input_folder": input_folder, "output_folder": output_folder}


def folder_value(value: str | None) -> str:
    return (value or "").strip()


def refused() -> str | None:
    """Why the host refuses server folders now (None: allowed)."""
    return hosting.current().server_folders()


def short_names(message: str, paths: list[str]) -> str:
    """Errors name uploads by their file names, not gradio's temporary folders."""
    for path in paths:
        message = message.replace(str(Path(path).parent) + "/", "")
    return message


@dataclass(frozen=True)
class FrameBar:
    """A run's progress: the host's (its Interrupt too) and gradio's bar, told of every frame."""

    tracker: hosting.Progress
    progress: Any  # gradio's gr.Progress (or what a test hands over)

    def report(self, what: str = "Frame") -> Report:
        """The `Report` of one pass over the frames: `Frame 2 of 5, about 3 s left` to both."""

        def report(done: int, count: int, left: str) -> None:
            desc = f"{what} {done} of {count}" + (f", {left}" if left else "")
            self.progress((done, count), desc=desc)
            if done:
                self.tracker.step(desc)

        return report

    def interrupted(self) -> bool:
        return self.tracker.interrupted


@contextmanager
def frame_bar(job: str, steps: int, progress: Any, model: bool = False) -> Iterator[FrameBar]:
    """The bar of a run of `steps` frames; `model`: the run loads a depth model, and afterwards the
    host's model policy applies (`TabHost.running`)."""
    host = hosting.current()
    with (host.running if model else host.progress)(job, steps) as tracker:
        yield FrameBar(tracker, progress)


def made_message(made: SequenceResult, total: int, folder: Path | None, bits: str, extra: Sequence[str] = ()) -> str:
    """What a run made, as the status says it: how many frames, how many were up to date already
    (and the `extra` facts), where they are; after Interrupt, that the frames written are complete;
    the frames that failed."""
    done = made.done
    parts = [f"{done} of {total} frames" if made.interrupted else f"Wrote {done} frames", bits, *extra]
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
    return message


def first_map(made: SequenceResult) -> Any:
    """The first PNG written, as the picture the send-to buttons take (RGB)."""
    return Image.fromarray(to_display(read_png(made.written[0]))).convert("RGB")
