"""`--normal` for EXR renders on the command line and in sequences, checked against Blender's own
Normal pass (tests/data/blender/, made by its scene.py) and the core's `normal_image`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lib_depth.cli import main
from lib_depth.depth.exr import read_depth
from lib_depth.depth.normals import NormalOptions, normal_image
from lib_depth.depth.png import read_png
from tests.test_normals import BLENDER, CAMERAS, FLAT, angles, eroded

RENDER = BLENDER / "move_f1.exr"


def decode(image: np.ndarray) -> np.ndarray:
    """normalbae colours -> unit vectors (left, up, toward)."""
    vectors = image.astype(np.float32) / 127.5 - 1
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_normal_writes_the_geometry_normal_map_beside_the_depth_map(tmp_path: Path) -> None:
    assert main([str(RENDER), "--normal", "-o", str(tmp_path), "-q"]) == 0
    written = read_png(tmp_path / "move_f1.normal.png")
    depth = read_depth(RENDER).depth
    background = ~(np.isfinite(depth) & (np.abs(depth) <= 1e9))
    assert written.shape == (*depth.shape, 3) and written.dtype == np.uint8
    np.testing.assert_array_equal(written, normal_image(depth, NormalOptions(), background))
    assert (written[background] == FLAT).all() and (written[~background] != FLAT).any(axis=-1).any()
    assert (tmp_path / "move_f1.depth.png").is_file()


def test_the_render_pass_and_the_depth_agree_through_the_command_line(tmp_path: Path) -> None:
    """The two ways to a normal map (geometry of the depth; Blender's world-space pass turned into
    camera space with the camera's rotation) agree away from silhouettes: both are exact."""
    rotation = [str(a) for a in CAMERAS["move_f1"]["rotation_degrees"]]
    assert main([str(RENDER), "--normal", "-o", str(tmp_path / "depth"), "-q"]) == 0
    assert main([str(RENDER), "--normal", "--camera-rotation", *rotation, "-o", str(tmp_path / "pass"), "-q"]) == 0
    from_depth = read_png(tmp_path / "depth" / "move_f1.normal.png")
    from_pass = read_png(tmp_path / "pass" / "move_f1.normal.png")
    surface = eroded(~np.all(from_depth == FLAT, axis=-1))
    errors = angles(decode(from_depth)[surface], decode(from_pass)[surface])
    assert np.median(errors) <= 2 and np.percentile(errors, 95) <= 5, (np.median(errors), np.percentile(errors, 95))


def test_the_cutoff_and_the_mask_leave_their_pixels_flat(tmp_path: Path) -> None:
    depth = read_depth(RENDER).depth
    valid = np.isfinite(depth) & (depth < 1e9)
    cutoff = float(np.percentile(depth[valid], 60))
    assert main([str(RENDER), "--normal", "--depth_cutoff", str(cutoff), "-o", str(tmp_path / "cut"), "-q"]) == 0
    cut = read_png(tmp_path / "cut" / "move_f1.normal.png")
    beyond = valid & (depth > cutoff)
    assert beyond.any() and (cut[beyond] == FLAT).all() and (cut[valid & ~beyond] != FLAT).any()
    assert main([str(RENDER), "--normal", "--mask", "-o", str(tmp_path / "mask"), "-q"]) == 0
    masked = read_png(tmp_path / "mask" / "move_f1.normal.png")
    left_out = read_png(tmp_path / "mask" / "move_f1.mask.png") == 0
    assert (masked[left_out] == FLAT).all()


def test_normal_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for flags in (["--camera-rotation", "1", "2", "3"], ["--normal", "--fov", "180"], ["--normal", "--depth-is", "z"]):
        with pytest.raises(SystemExit) as exit_:
            main([str(RENDER), *flags, "-o", str(tmp_path)])
        assert exit_.value.code == 2
    assert not list(tmp_path.iterdir())
    capsys.readouterr()
    sample = Path(__file__).resolve().parents[1] / "examples" / "scene.exr"  # a depth channel, no normal pass
    code = main([str(sample), str(RENDER), "--normal", "--camera-rotation", "0", "0", "0", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and f"error: {sample}: no normal pass found" in err and "Traceback" not in err
    assert not (tmp_path / "scene.depth.png").exists()  # nothing half-written for the failed file
    assert (tmp_path / "move_f1.normal.png").is_file()  # the batch went on


def test_sequence_frames_get_their_normal_maps_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for k, name in enumerate(("move_f1", "move_f2", "move_f1")):  # one size, one channel
        shutil.copy(BLENDER / f"{name}.exr", frames / f"shot_{k + 1:04d}.exr")
    out = tmp_path / "maps"
    args = ["--sequence", str(frames / "shot_####.exr"), "--normal", "-o", str(out), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["sequence"]["converted"] == 3
    normals = [read_png(out / f"shot_{k:04d}.normal.png") for k in (1, 2, 3)]
    depth = read_depth(frames / "shot_0001.exr").depth
    background = ~(np.isfinite(depth) & (depth < 1e9))
    np.testing.assert_array_equal(normals[0], normal_image(depth, NormalOptions(), background))
    np.testing.assert_array_equal(normals[0], normals[2])  # normals need no shared mapping: same frame, same map
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["sequence"]["skipped"] == 3
    (out / "shot_0002.normal.png").unlink()
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)["sequence"]
    assert again["converted"] == 1 and again["skipped"] == 2


def test_invert_compress_and_bits_do_not_change_normals(tmp_path: Path) -> None:
    assert main([str(RENDER), "--normal", "-o", str(tmp_path / "plain"), "-q"]) == 0
    flags = ["--invert", "--compress_map", "--bits", "16", "--noise"]
    assert main([str(RENDER), "--normal", *flags, "-o", str(tmp_path / "levels"), "-q"]) == 0
    plain, levels = (read_png(tmp_path / d / "move_f1.normal.png") for d in ("plain", "levels"))
    np.testing.assert_array_equal(plain, levels)
    assert read_png(tmp_path / "levels" / "move_f1.depth.png").dtype == np.uint16  # the flags did reach the depth map


def test_normal_settings_reconvert_a_sequence_without_scanning_it_again(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    """The normal map's settings decide the outputs (all frames are made again when they change),
    not the depths: the sequence's levels summary is kept and read, never scanned again."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(3):
        shutil.copy(BLENDER / "move_f1.exr", frames / f"shot_{k + 1:04d}.exr")
    out = tmp_path / "maps"
    base = ["--sequence", str(frames / "shot_####.exr"), "--compress_map", "-o", str(out), "--json"]
    for flags, converted in (([], 3), (["--normal"], 3), (["--normal"], 0), (["--normal", "--fov", "50"], 3)):
        assert main([*base, *flags]) == 0
        assert json.loads(capsys.readouterr().out)["sequence"]["converted"] == converted, flags
        assert len(list((out / ".depth-tools").glob("sequence-*.levels.json"))) == 1, flags
