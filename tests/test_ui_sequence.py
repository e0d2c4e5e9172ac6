"""The EXR tab's "as one sequence": handlers called directly with real EXR frames, compared with
what the command line's sequence core writes, and the host's rule for server folders.

Outputs are read by the names of `ExrTab`'s components (pinned to the wiring by the last test).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lib_depth.depth.exr import read_depth, write_depth
from lib_depth.depth.frames import expand_frames
from lib_depth.depth.png import read_png
from lib_depth.depth.process import DepthOptions, histogram
from lib_depth.depth.sample import synthetic_scene
from lib_depth.depth.sequence import SequenceJob, run_sequence
from lib_depth.ui import hosting
from lib_depth.ui.app import parse_args, standalone_host
from lib_depth.ui.exr_sequence import SequenceView
from lib_depth.ui.exr_sequence_events import FRAME, SOURCE, on_channel, on_frame, on_make_any, on_source
from lib_depth.ui.sequences import eta
from tests.host_double import WebUI
from tests.ui_values import controls, files, made, text, upload

VIEW, CHOICE, DEPTH, STATUS, SLIDER, PANEL = "view", "file_choice", "depth_image", "status", "frame", "folders"


def source(*paths: Path, sequence: bool = True, folder: str = "", channel: str = "auto",
           **changes: object) -> dict[str, object]:
    """The values of the events that (re)load the source: uploads or a server folder."""
    return {**files(*paths, channel=channel, **changes), "sequence": sequence, "input_folder": folder}


def make(view: object, output_folder: str = "", **changes: object) -> dict[str, object]:
    """The values *Make depth maps* gets with "as one sequence" ticked and nothing uploaded."""
    return {**files(**changes), "sequence": True, "view": view, "output_folder": output_folder}


def frame(view: object, number: float | None, **changes: object) -> dict[str, object]:
    return {VIEW: view, "frame": number, **controls(**changes)}


def frame_depth(i: int) -> np.ndarray:
    """A still wall and floor with a subject that walks nearer frame by frame."""
    depth = synthetic_scene(96, 64)
    depth[20:44, 30 + 8 * i : 50 + 8 * i] = 150.0 - 20 * i
    return depth


@pytest.fixture
def frames(tmp_path: Path) -> list[Path]:
    """Three frames, each in a folder of its own as gradio keeps uploads, named out of order."""
    paths = []
    for i in range(3):
        path = tmp_path / f"upload{2 - i}" / f"shot_{i + 1:04d}.exr"
        path.parent.mkdir()
        write_depth(path, frame_depth(i), channel="Y")
        paths.append(path)
    return paths


@pytest.fixture
def host() -> Callable[..., None]:
    """`host(server_folders=...)`: a TabHost for one test, the standalone one again afterwards."""
    previous = hosting.current()
    yield lambda **fields: hosting.use(hosting.TabHost(**fields))
    hosting.use(previous)


def cli_pngs(frames: list[Path], out: Path, options: DepthOptions = DepthOptions()) -> dict[str, bytes]:  # noqa: B008
    """What `python -m lib_depth --sequence` writes for these frames (the sequence core, one machine)."""
    run_sequence(list(expand_frames(frames).frames), SequenceJob(options=options, output_dir=out))
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}


def test_uploads_as_one_sequence_share_one_histogram_and_the_slider_moves(frames: list[Path]) -> None:
    out = on_source(source(*reversed(frames)))
    assert set(out) == set(SOURCE)
    view = out[VIEW]
    assert isinstance(view, SequenceView) and [f.path.name for f in view.frames] == [
        "shot_0001.exr", "shot_0002.exr", "shot_0003.exr"]  # natural order of the names, not of the uploads
    everything = np.vstack([frame_depth(i) for i in range(3)])
    assert view.histogram.suggestions == histogram(everything).suggestions  # the sequence's, not one frame's
    assert view.histogram.suggestions != histogram(frame_depth(0)).suggestions
    assert out[SLIDER]["visible"] is True and out[SLIDER]["maximum"] == 3 and out[PANEL]["visible"] is True
    assert out[CHOICE]["visible"] is False  # one sequence, not a list of files
    assert "frame 1 of 3" in text(out[STATUS]) and "shot_0001.exr" in text(out[STATUS])
    moved = on_frame(frame(view, 3))
    assert set(moved) == set(FRAME)
    assert moved[VIEW].index == 2 and "frame 3 of 3" in text(moved[STATUS])
    assert not np.array_equal(moved[DEPTH], out[DEPTH])
    # the still wall keeps its level: both previews use the sequence's range
    np.testing.assert_array_equal(moved[DEPTH][:, :8], out[DEPTH][:, :8])
    assert on_frame(frame(moved[VIEW], 3)) == {}  # the same frame: nothing re-read, nothing changes


def test_make_gives_a_zip_of_the_command_lines_pngs(frames: list[Path], tmp_path: Path) -> None:
    view = on_source(source(*frames))[VIEW]
    cut = view.cut_value(0)
    assert cut is not None
    chosen = dict(cutoff=cut, compress=True, noise=True, seed=7)
    shown = on_frame(frame(view, 2, **chosen))
    downloads, first, message = made(on_make_any(make(shown[VIEW], **chosen)))
    assert [Path(p).name for p in downloads] == ["depth_maps.zip"] and "Wrote 3 frames" in message
    with zipfile.ZipFile(downloads[0]) as zf:
        zipped = {name: zf.read(name) for name in sorted(zf.namelist())}
    options = DepthOptions(cutoff=cut, compress=True, noise=True, seed=7)
    assert zipped == cli_pngs(frames, tmp_path / "cli", options)  # byte for byte
    assert list(zipped) == ["shot_0001.depth.png", "shot_0002.depth.png", "shot_0003.depth.png"]
    np.testing.assert_array_equal(shown[DEPTH], read_png(tmp_path / "cli" / "shot_0002.depth.png"))  # preview = PNG
    assert first.mode == "RGB"


def test_bad_frame_is_left_out_and_named(frames: list[Path], tmp_path: Path) -> None:
    odd = tmp_path / "odd" / "shot_0004.exr"
    odd.parent.mkdir()
    write_depth(odd, synthetic_scene(48, 32), channel="Y")
    out = on_source(source(*frames, odd))
    assert len(out[VIEW].frames) == 3
    assert "1 of the frames left out" in text(out[STATUS]) and "shot_0004.exr" in text(out[STATUS])
    assert "differently sized frame" in text(out[STATUS]) and str(tmp_path) not in out[STATUS]


def test_not_ticked_is_the_tab_as_before_and_channel_reloads_the_sequence(frames: list[Path]) -> None:
    single = on_source(source(*frames, sequence=False))
    assert not isinstance(single[VIEW], SequenceView) and single[SLIDER]["visible"] is False
    assert single[CHOICE]["visible"] is True and single[PANEL]["visible"] is False
    again = on_channel(source(*frames, channel="Y"))
    assert isinstance(again[VIEW], SequenceView) and again[VIEW].channel == "Y"
    wrong = on_channel(source(*frames, channel="Z"))
    assert wrong[VIEW] is None and "no channel named 'Z'" in text(wrong[STATUS])
    assert "Load the frames first" in made(on_make_any({**make(None), "files": upload(*frames)}))[2]


def test_server_folders_in_and_out_resume(frames: list[Path], tmp_path: Path, host) -> None:
    folder = tmp_path / "renders"
    folder.mkdir()
    for path in frames:
        path.rename(folder / path.name)
    host()
    out = on_source(source(folder=str(folder / "shot_####.exr")))
    view = out[VIEW]
    assert isinstance(view, SequenceView) and len(view.frames) == 3
    target = tmp_path / "controlnet_batch"
    downloads, _, message = made(on_make_any(make(view, str(target))))
    assert downloads is None and "Wrote 3 frames" in message and str(target) in text(message)
    assert sorted(p.name for p in target.glob("*.png")) == ["shot_0001.depth.png", "shot_0002.depth.png",
                                                            "shot_0003.depth.png"]
    assert {p.name: p.read_bytes() for p in sorted(target.glob("*.png"))} == cli_pngs(
        sorted(folder.iterdir()), tmp_path / "cli")
    again = made(on_make_any(make(view, str(target))))[2]
    assert "3 already up to date" in again


def test_refused_server_folders_read_and_write_nothing(frames: list[Path], tmp_path: Path, host) -> None:
    host(server_folders=lambda: "Server folders are off: started with --listen")
    out = on_source(source(folder=str(frames[0].parent)))
    assert out[VIEW] is None and "started with --listen" in text(out[STATUS])
    view = on_source(source(*frames))[VIEW]  # uploads still work
    target = tmp_path / "out"
    refused = made(on_make_any(make(view, str(target))))
    assert refused[0] is None and "started with --listen" in text(refused[2]) and not target.exists()


class Bar:
    """gradio's gr.Progress as the handler calls it; `then` runs at the given count."""

    def __init__(self, then: Callable[[], None] | None = None, at: int = 1) -> None:
        self.calls: list[tuple[tuple[int, int], str]] = []
        self.then, self.at = then, at

    def __call__(self, progress: tuple[int, int], desc: str = "") -> None:
        self.calls.append((progress, desc))
        if self.then is not None and progress[0] == self.at:
            self.then()


def test_progress_counts_frames_and_interrupt_stops_between_frames(
    frames: list[Path], tmp_path: Path, make_webui: Callable[..., WebUI]
) -> None:
    from lib_depth.webui.tabs import tab_host

    webui = make_webui("controlnet")
    hosting.use(tab_host())
    try:
        view = on_source(source(*frames))[VIEW]
        bar = Bar()
        on_make_any(make(view, str(tmp_path / "all")), progress=bar)
        assert [c[0] for c in bar.calls] == [(0, 3), (1, 3), (2, 3), (3, 3)]
        assert "left" in bar.calls[1][1] and bar.calls[1][1].startswith("Frame 1 of 3")
        steps = [h for h in webui.shared.state.history if h[0] == "nextjob"]
        assert len(steps) == 3 and webui.shared.state.history[0] == ("begin", "Depth Tools: sequence")

        target = tmp_path / "stopped"
        stop = Bar(then=webui.shared.state.interrupt, at=1)  # the WebUI's Interrupt button, during frame 2
        _, first, message = made(on_make_any(make(view, str(target)), progress=stop))
        assert "Interrupted after 1 of 3 frames" in text(message) and "make again" in text(message)
        assert [p.name for p in target.glob("*.png")] == ["shot_0001.depth.png"] and first is not None
        rest = made(on_make_any(make(view, str(target))))[2]
        assert "1 already up to date" in rest  # the rerun converts only the rest
    finally:
        hosting.use(hosting.TabHost())


def test_eta() -> None:
    assert eta(0, 10, 5.0) == "" and eta(10, 10, 5.0) == ""
    assert eta(2, 10, 4.0) == "about 16 s left" and eta(1, 100, 60.0) == "about 99 min left"


@pytest.mark.parametrize("flag, value", [("listen", True), ("share", True), ("server_name", "0.0.0.0"),
                                         ("ngrok", "token")])
def test_an_exposed_webui_refuses_server_folders_naming_the_flag(
    make_webui: Callable[..., WebUI], flag: str, value: object
) -> None:
    from lib_depth.webui.tabs import tab_host

    webui = make_webui("controlnet")
    assert tab_host().server_folders() is None  # a WebUI on 127.0.0.1
    setattr(webui.shared.cmd_opts, flag, value)
    refusal = tab_host().server_folders()
    assert refusal is not None and f"--{flag.replace('_', '-')}" in refusal
    assert "--enable-insecure-extension-access" in refusal
    webui.shared.cmd_opts.enable_insecure_extension_access = True
    assert tab_host().server_folders() is None


def test_standalone_binds_this_machine_and_allows_server_folders() -> None:
    args = parse_args([])
    assert args.host == "127.0.0.1"
    assert standalone_host(args.host).server_folders() is None
    assert hosting.TabHost().server_folders() is None
    refusal = standalone_host("0.0.0.0").server_folders()
    assert refusal is not None and "--host 0.0.0.0" in refusal


def test_sequence_handlers_answer_what_is_wired(frames: list[Path]) -> None:
    """Loading a sequence answers every output its events are wired to, moving a frame every
    output of its own; by the names of the tab's components."""
    from lib_depth.ui import build_ui

    tab = build_ui().exr
    outputs = {wired.handler: set(wired.outputs) for wired in tab.wired}
    out = on_source(source(*frames))
    assert set(out) == outputs[on_source] == outputs[on_channel] == set(SOURCE)
    assert tab.named(VIEW, STATUS, DEPTH, SLIDER, PANEL, CHOICE) == {
        VIEW: tab.view, STATUS: tab.status, DEPTH: tab.depth_image, SLIDER: tab.frame, PANEL: tab.folders,
        CHOICE: tab.file_choice}
    assert set(on_frame(frame(out[VIEW], 2))) == outputs[on_frame] == set(FRAME)
    assert set(on_make_any(make(out[VIEW]))) == outputs[on_make_any]
    assert read_depth(frames[0]).channel == out[VIEW].channel
