"""The Image tab's "as one sequence (video or frames)": its handler called directly with real
picture frames, a real video file and Video Depth Anything with random weights in the official
layout (`tests/video_support.py`), compared byte for byte with what the command line writes; the
WebUI's Interrupt between frames and a rerun that resumes; and the clear answer for one picture.

Tiny frames (the network sees 70 px), so that everything runs on a CPU in seconds.
"""

from __future__ import annotations

import html
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import cli
from lib_depth.depth.png import read_png
from lib_depth.ui import hosting
from lib_depth.ui import midas as ui_midas
from lib_depth.ui.midas import MidasControls, StandaloneOptions
from lib_depth.ui.midas_sequence_events import MODE, on_sequence
from lib_depth.ui.midas_tab import ESTIMATED, MODEL_CHOSEN, on_model, on_run
from tests.anything_support import save_pth
from tests.host_double import WebUI
from tests.ui_values import upload
from tests.video_support import frames, video_state_dict

H, W, COUNT, RES = 42, 56, 5, 70
VDA = "Video Depth Anything"
CLI_MODEL = ["--model", "video-depth-anything", "--device", "cpu", "--resolution", str(RES)]


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vda_tab")
    save_pth(folder / "video_depth_anything_vits.pth", video_state_dict("vits"))
    return folder


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip's frames in a folder (read by every test, written by none)."""
    folder = tmp_path_factory.mktemp("vda_shot") / "shot"
    write_frames(folder)
    return folder


@pytest.fixture(scope="module")
def cli_16(shot: Path, weights_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """`python -m lib_depth --sequence shot/ --model video-depth-anything --bits 16`'s PNGs, run once."""
    return cli_pngs([str(shot)], tmp_path_factory.mktemp("vda_cli"), weights_folder, "--bits", "16")


@pytest.fixture
def tab_weights(monkeypatch: pytest.MonkeyPatch, weights_folder: Path) -> Path:
    """The standalone tab pointed at the folder, as `--weights DIR --device cpu` do."""
    monkeypatch.setattr(ui_midas, "standalone", StandaloneOptions(weights=str(weights_folder), device="cpu"))
    return weights_folder


def write_frames(folder: Path) -> list[Path]:
    """The synthetic clip as PNG frames in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rgb in enumerate(frames(COUNT, H, W)):
        paths.append(folder / f"shot_{i + 1:04d}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return paths


def as_uploads(paths: list[Path], root: Path) -> list[Path]:
    """Copies as gradio keeps uploads: each in a folder of its own, the folders' order not the frames'."""
    copies = []
    for i, path in enumerate(paths):
        copy = root / f"upload{len(paths) - i}" / path.name
        copy.parent.mkdir(parents=True)
        shutil.copy2(path, copy)
        copies.append(copy)
    return copies


def cli_pngs(inputs: list[str], out: Path, weights: Path, *flags: str) -> dict[str, bytes]:
    """What `python -m lib_depth --sequence ... --model video-depth-anything` writes into `out`."""
    assert cli.main(["--sequence", *inputs, *CLI_MODEL, "--weights", str(weights), "-o", str(out), "-q", *flags]) == 0
    return pngs(out)


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def make(**changes: object) -> dict[str, object]:
    """What *Make depth maps* hands `on_run` in sequence mode: nothing uploaded, no folder named."""
    values: dict[str, object] = {**vars(MidasControls()), "image": None, "model": VDA, "resolution": RES,
                                 "sequence": True, "frames": None, "input_folder": "", "output_folder": "",
                                 "cutoff": ""}  # the cutoff box's text: empty, no cutoff
    return {**values, **changes}


class Bar:
    """gradio's gr.Progress as the handler calls it; `then` runs once the description starts with `at`."""

    def __init__(self, then: Callable[[], None] | None = None, at: str = "") -> None:
        self.calls: list[tuple[tuple[int, int], str]] = []
        self.then, self.at = then, at

    def __call__(self, progress: tuple[int, int], desc: str = "") -> None:
        self.calls.append((progress, desc))
        if self.then is not None and desc.startswith(self.at):
            self.then()


def text(out: dict[str, object]) -> str:
    return html.unescape(str(out["status"]))


def test_uploaded_frames_give_the_command_lines_16_bit_pngs(
        tab_weights: Path, shot: Path, cli_16: dict[str, bytes], tmp_path: Path) -> None:
    uploads = as_uploads(sorted(shot.glob("*.png")), tmp_path / "gradio")
    bar = Bar()
    out = on_run(make(frames=upload(*reversed(uploads)), bits="16-bit"), progress=bar)
    assert set(out) == set(ESTIMATED)
    assert "Wrote 5 frames" in text(out) and "16-bit" in text(out) and "5 estimated now" in text(out)
    [archive] = out["downloads"]
    with zipfile.ZipFile(archive) as zf:
        zipped = {name: zf.read(name) for name in sorted(zf.namelist())}
    assert zipped == cli_16 and list(zipped) == [f"shot_{i:04d}.depth.png" for i in range(1, COUNT + 1)]
    first = read_png(Path(out["downloads"][0]).with_name("shot_0001.depth.png"))
    assert first.dtype == np.uint16 and first.shape == (H, W)
    np.testing.assert_array_equal(out["depth_image"][:, :, 0], (first >> 8).astype(np.uint8))  # the first map
    assert out["result"].mode == "RGB" and out["nearness"] is None
    assert [c[1].split(",")[0] for c in bar.calls if c[0][0] == 1] == ["Estimating frame 1 of 5", "Frame 1 of 5"]
    assert bar.calls[-1][0] == (COUNT, COUNT)


def test_a_server_folder_with_cutoff_compress_noise_into_an_output_folder(
        tab_weights: Path, shot: Path, tmp_path: Path) -> None:
    target = tmp_path / "controlnet_batch"
    chosen = dict(cutoff=" 0.6 ", compress=True, noise=True, seed=7, mask=True)
    out = on_run(make(input_folder=str(shot / "shot_####.png"), output_folder=str(target), **chosen), progress=Bar())
    assert out["downloads"] is None and "Wrote 5 frames" in text(out) and str(target) in text(out)
    assert "cutoff 0.6" in text(out) and f"{VDA} at resolution {RES}" in text(out)
    expected = cli_pngs([str(shot)], tmp_path / "cli", tab_weights, "--depth_cutoff", "0.6",
                        "--compress_map", "--noise", "--seed", "7", "--mask")
    assert pngs(target) == expected and len(expected) == 2 * COUNT  # maps and masks, byte for byte


def test_an_uploaded_video_is_decoded_and_gives_the_command_lines_pngs(tab_weights: Path, tmp_path: Path) -> None:
    pytest.importorskip("av")
    from tests.test_video_paths import write_video

    clip = write_video(tmp_path / "clip.mp4")
    out = on_run(make(frames=upload(clip)), progress=Bar())
    assert "Wrote 5 frames" in text(out)
    with zipfile.ZipFile(out["downloads"][0]) as zf:
        zipped = {name: zf.read(name) for name in sorted(zf.namelist())}
    assert cli.main([str(clip), *CLI_MODEL, "--weights", str(tab_weights), "-o", str(tmp_path / "cli"), "-q"]) == 0
    assert zipped == pngs(tmp_path / "cli") and len(zipped) == COUNT
    assert clip.stat().st_size > 0 and set(tmp_path.iterdir()) == {clip, tmp_path / "cli"}  # the input as it was
    both = on_run(make(frames=upload(clip, tmp_path / "cli" / "clip_000001.depth.png")), progress=Bar())
    assert "upload one video" in text(both) and both["downloads"] is None


@pytest.fixture
def webui_host(make_webui: Callable[..., WebUI], weights_folder: Path) -> Iterator[WebUI]:
    """The tab in a WebUI (the host double) whose settings name the weights folder: its progress,
    its model settings, and its Interrupt button."""
    from lib_depth.webui.tabs import tab_host

    webui = make_webui("controlnet", depth_tools_weights_dir=str(weights_folder), depth_tools_device="cpu")
    hosting.use(tab_host())
    yield webui
    hosting.use(hosting.TabHost())


@pytest.mark.parametrize("stop_at", ["Frame 2 of", "Estimating frame 2 of"])
def test_interrupt_leaves_complete_files_and_a_rerun_resumes(
        shot: Path, cli_16: dict[str, bytes], tmp_path: Path, webui_host: WebUI, stop_at: str) -> None:
    target = tmp_path / "out"
    values = make(input_folder=str(shot), output_folder=str(target), bits="16-bit")
    expected = cli_16
    stopped = on_run(values, progress=Bar(then=webui_host.shared.state.interrupt, at=stop_at))
    written = pngs(target)
    if stop_at.startswith("Frame"):  # stopped after the second map: two complete PNGs, the CLI's
        assert "Interrupted after 2 of 5 frames" in text(stopped) and "make again" in text(stopped)
        assert written == {name: expected[name] for name in ("shot_0001.depth.png", "shot_0002.depth.png")}
        assert stopped["result"] is not None
    else:  # stopped while estimating: no map written at all
        assert "Interrupted while estimating" in text(stopped) and written == {}
    assert not list(target.glob("*.partial*")) and "Traceback" not in text(stopped)
    steps = [h for h in webui_host.shared.state.history if h[0] == "nextjob"]
    assert steps and webui_host.shared.state.history[0] == ("begin", f"Depth Tools: {VDA} sequence")
    again = on_run(values, progress=Bar())
    assert "Wrote 5 frames" in text(again) and pngs(target) == expected
    if stop_at.startswith("Frame"):  # the depths were all stored: none estimated again, two maps up to date
        assert "2 already up to date" in text(again) and "0 estimated now" in text(again)


def test_video_depth_anything_for_one_picture_is_a_clear_message(tab_weights: Path) -> None:
    picture = next(frames(1, H, W))
    out = on_run(make(sequence=False, image=picture))
    assert set(out) == set(ESTIMATED) and out["nearness"] is None and out["downloads"] is None
    message = text(out)
    assert "Video Depth Anything estimates sequences" in message and "As one sequence" in message
    assert "Depth Anything V2" in message and "Traceback" not in message and "internal error" not in message
    chosen = on_model({**make(sequence=False)})
    assert set(chosen) == set(MODEL_CHOSEN) and "estimates sequences" in text(chosen)
    assert "estimates sequences" not in text(on_model(make()))  # in sequence mode it is the right choice


def test_the_checkbox_lists_the_sequence_models_and_swaps_the_inputs() -> None:
    on = on_sequence({"sequence": True, "model": "MiDaS DPT-hybrid"})
    assert set(on) == set(MODE)
    assert VDA in on["model"]["choices"] and on["frames"]["visible"] and not on["image"]["visible"]
    assert not on["normal_image"]["visible"]
    assert on["run"]["value"] == "Make depth maps" and on["folders"]["visible"] and on["cutoff"]["visible"]
    off = on_sequence({"sequence": False, "model": "MiDaS DPT-hybrid"})
    assert VDA not in off["model"]["choices"] and off["image"]["visible"] and not off["frames"]["visible"]
    kept = on_sequence({"sequence": False, "model": VDA})  # the choice stays, and the status says why it cannot run
    assert VDA in kept["model"]["choices"] and "estimates sequences" in text(kept)


def test_nothing_to_make_a_bad_cutoff_and_refused_folders_are_messages(shot: Path, tmp_path: Path) -> None:
    assert "Upload the frames or a video first" in text(on_run(make(), progress=Bar()))
    bad = on_run(make(input_folder=str(shot), output_folder=str(tmp_path / "o"), cutoff="far"), progress=Bar())
    assert "the cutoff must be a number" in text(bad) and "'far'" in text(bad) and not (tmp_path / "o").exists()
    previous = hosting.current()
    hosting.use(hosting.TabHost(server_folders=lambda: "Server folders are off: started with --listen"))
    try:
        refused = on_run(make(input_folder=str(tmp_path), output_folder=str(tmp_path / "o")), progress=Bar())
    finally:
        hosting.use(previous)
    assert "started with --listen" in text(refused) and not (tmp_path / "o").exists()
