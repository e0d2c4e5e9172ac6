"""Video Depth Anything on the sequence paths: the command line over a folder and a #### pattern,
one consistent mapping, resume, a single picture's clear answer, and where its weights are found.

Random weights in the official layout (`tests/video_support.py`), tiny frames (the network sees
70 px), so that everything runs on a CPU in seconds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import cli
from lib_depth.images import registry
from lib_depth.images.registry import ModelSettings
from tests.anything_support import save_pth
from tests.video_support import frames, video_state_dict

H, W, COUNT = 42, 56, 5
COMMON = ["--model", "video-depth-anything", "--device", "cpu", "--resolution", "70"]


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("vda") / "video_depth_anything_vits.pth", video_state_dict("vits"))


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, rgb in enumerate(frames(COUNT, H, W)):
        cv2.imwrite(str(folder / f"shot_{i + 1:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def maps(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("shot_*.depth.png"))]


def test_a_folder_and_a_pattern_give_one_mapping_and_resume(
        shot: Path, small_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [*COMMON, "--weights", str(small_weights)]
    assert cli.main(["--sequence", str(shot), "-o", str(tmp_path / "a"), *args]) == 0
    assert f"{COUNT} converted" in capsys.readouterr().out
    folder_maps = maps(tmp_path / "a")
    assert len(folder_maps) == COUNT and all(m.shape == (H, W) and m.dtype == np.uint8 for m in folder_maps)
    # one mapping for the clip: the nearest level is reached in one frame, not in every one
    assert max(int(m.max()) for m in folder_maps) == 255 and min(int(m.max()) for m in folder_maps) < 255
    assert cli.main(["--sequence", str(shot / "shot_####.png"), "-o", str(tmp_path / "b"), *args]) == 0
    assert all(np.array_equal(a, b) for a, b in zip(folder_maps, maps(tmp_path / "b"), strict=True))
    capsys.readouterr()
    (tmp_path / "a" / "shot_0003.depth.png").unlink()  # as a kill leaves it: one output missing
    assert cli.main(["--sequence", str(shot), "-o", str(tmp_path / "a"), *args]) == 0
    assert "1 converted" in capsys.readouterr().out
    assert np.array_equal(maps(tmp_path / "a")[2], folder_maps[2])


def test_sixteen_bits_and_a_cutoff_go_through(shot: Path, small_weights: Path, tmp_path: Path) -> None:
    args = [*COMMON, "--weights", str(small_weights), "-o", str(tmp_path / "o")]
    assert cli.main(["--sequence", str(shot), "--bits", "16", *args]) == 0
    sixteen = maps(tmp_path / "o")
    assert all(m.dtype == np.uint16 for m in sixteen) and max(int(m.max()) for m in sixteen) == 65535


def test_a_single_picture_gets_a_clear_answer(
        shot: Path, small_weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picture = shot / "shot_0001.png"
    assert cli.main([str(picture), *COMMON, "--weights", str(small_weights)]) == 1
    err = capsys.readouterr().err
    assert "shot_0001.png" in err and "--model depth-anything-v2" in err and "Traceback" not in err
    assert not (shot / "shot_0001.depth.png").exists()


def test_large_is_found_where_the_user_has_it_and_never_downloaded(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    (folder / "video_depth_anything").mkdir(parents=True)
    small = folder / "video_depth_anything_vits.pth"
    small.write_bytes(b"")
    large = folder / "video_depth_anything" / "video_depth_anything_vitl.pth"
    large.write_bytes(b"")
    entry = registry.entry("video-depth-anything")
    settings = ModelSettings(search_dirs=(str(folder),), allow_download=False, models_dir=str(tmp_path / "own"))
    assert entry.find_weights(settings) == large  # the best size first
    large.unlink()
    small.unlink()
    report = registry.weights_report("video-depth-anything", settings)
    assert report.path is None and "never downloaded" in report.problem and str(tmp_path / "own") in report.problem
    with pytest.raises(Exception, match="not found"):
        entry.load(settings, None)
    assert not any((tmp_path / "own").rglob("*"))  # nothing fetched


# --- video files in and out ----------------------------------------------------------------------


def write_video(path: Path, count: int = COUNT, fps: int = 12) -> Path:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for rgb in frames(count, H, W):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_video_file_in_and_a_depth_video_out(
        small_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("av")
    from lib_depth.images.video_file import read_video_frames

    clip = write_video(tmp_path / "clip.mp4")
    out = tmp_path / "depth.mp4"
    assert cli.main([str(clip), *COMMON, "--weights", str(small_weights), "--video-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{COUNT} converted" in printed and f"wrote {out} ({COUNT} frames)" in printed
    pngs = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((tmp_path / "clip_depth").glob("*.depth.png"))]
    assert len(pngs) == COUNT
    video = read_video_frames(out)
    assert len(video) == COUNT and all(v.shape == (H, W, 3) and v.dtype == np.uint8 for v in video)
    for shown, png in zip(video, pngs, strict=True):
        assert np.abs(shown[:, :, 0].astype(int) - shown[:, :, 2].astype(int)).max() <= 2  # gray in 3 channels
        # near = white: the video's levels are the map's (H.264 rounds a few levels at most)
        assert np.abs(shown[:, :, 1].astype(int) - png.astype(int)).mean() < 3
    assert max(int(v.max()) for v in video) >= 250
    # a rerun after a kill decodes nothing again and converts nothing, and still writes the video
    out.unlink()
    assert cli.main([str(clip), *COMMON, "--weights", str(small_weights), "--video-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0 converted" in printed and out.is_file()


def test_a_damaged_video_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("av")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert cli.main([str(bad), *COMMON]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.mp4" in err and "cannot decode this video" in err
    assert bad.read_bytes() == b"not a video at all" and sorted(tmp_path.iterdir()) == [bad]  # nothing written


def test_without_pyav_a_video_is_one_line_naming_the_package(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.python_without import WITHOUT_PACKAGE

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 64)
    code = WITHOUT_PACKAGE + "from lib_depth.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", code, "av", str(clip), "--model", "video-depth-anything"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "reading video files needs the Python package av" in done.stderr and '"av>=14,<20"' in done.stderr
