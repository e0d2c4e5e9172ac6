"""The command line through a real subprocess: every flag, every exit status, every bad input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lib_depth.cli import Progress
from lib_depth.depth.exr import write_depth
from lib_depth.depth.png import read_png
from lib_depth.depth.sample import synthetic_scene
from tests.exr_files import write_multiview

REPO = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "lib_depth", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    path = tmp_path / "scene.exr"
    write_depth(path, synthetic_scene(120, 80), channel="Y")
    return path


def test_default_run_writes_depth_beside_input(scene: Path) -> None:
    before = digest(scene)
    proc = run(scene.name, cwd=scene.parent)
    assert proc.returncode == 0, proc.stderr
    out = scene.with_name("scene.depth.png")
    levels = read_png(out)
    assert levels.shape == (80, 120) and levels.dtype == np.uint8
    assert levels.max() == 255 and levels.min() == 0
    assert levels[0, 0] == 0  # the sky strip is background -> far
    assert not scene.with_name("scene.mask.png").exists()
    assert digest(scene) == before  # the input is never modified
    assert f"wrote {out.name}" in proc.stdout


def test_histo_prints_the_seed_table_and_suggestions_and_leaves_map_unchanged(scene: Path, tmp_path: Path) -> None:
    plain = run(scene, "-o", tmp_path / "plain", cwd=tmp_path)
    histo = run(scene, "--depth_cutoff", "histo", "-o", tmp_path / "histo", cwd=tmp_path)
    assert plain.returncode == histo.returncode == 0
    lines = histo.stdout.splitlines()
    assert lines[0] == "** providing cutting histogram advice, but leaving depthmap unchanged"
    buckets = [line for line in lines if line.startswith("** - ")]
    assert len(buckets) == 20 and buckets[0].startswith("** - 00 - ")
    assert any(line.startswith("** suggested cuts (--depth_cutoff): ") for line in lines)
    assert digest(tmp_path / "plain/scene.depth.png") == digest(tmp_path / "histo/scene.depth.png")


def test_cutoff_compress_mask_noise_seed(scene: Path, tmp_path: Path) -> None:
    args = [scene, "--depth_cutoff", "280", "--compress_map", "--mask", "--noise"]
    first = run(*args, "--seed", "3", "-o", tmp_path / "a", cwd=tmp_path)
    again = run(*args, "--seed", "3", "-o", tmp_path / "b", cwd=tmp_path)
    other = run(*args, "--seed", "4", "-o", tmp_path / "c", cwd=tmp_path)
    assert first.returncode == again.returncode == other.returncode == 0
    depth_a, mask_a = tmp_path / "a/scene.depth.png", tmp_path / "a/scene.mask.png"
    assert digest(depth_a) == digest(tmp_path / "b/scene.depth.png")
    assert digest(depth_a) != digest(tmp_path / "c/scene.depth.png")
    mask, levels = read_png(mask_a), read_png(depth_a)
    assert set(np.unique(mask)) == {0, 255}
    depth = synthetic_scene(120, 80)
    assert np.all(mask[depth >= 280] == 0)  # everything at or beyond the cutoff is background
    assert np.all(mask[depth < 279] == 255)  # the subject (depths in the last level may round to far)
    assert levels[mask == 255].min() > 0
    noise = levels[mask == 0]
    assert noise.std() > 50  # the background is noise, not a flat far level


def test_bits_16_invert_and_background_above(scene: Path, tmp_path: Path) -> None:
    proc = run(scene, "--bits", "16", "--invert", "--background-above", "500", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    levels = read_png(scene.with_name("scene.depth.png"))
    assert levels.dtype == np.uint16
    depth = synthetic_scene(120, 80)
    near = np.unravel_index(np.argmin(depth), depth.shape)
    assert levels[near] == 0  # inverted: near is black
    assert np.all(levels[depth > 500] == 65535)  # the wall is beyond the background limit


def test_channel_flag_and_capital_suffix(tmp_path: Path) -> None:
    path = tmp_path / "RENDER.EXR"
    depth = synthetic_scene(40, 30)
    write_depth(path, depth, channel="Z", extra={"Y": np.ones_like(depth)})
    proc = run(path.name, "--channel", "Z", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    levels = read_png(tmp_path / "RENDER.depth.png")
    assert levels.max() == 255 and len(np.unique(levels)) > 10  # Z, not the flat Y


def test_json_output(scene: Path, tmp_path: Path) -> None:
    proc = run(scene, "--json", "--mask", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (entry,) = doc["files"]
    assert entry["error"] is None and entry["channel"] == "Y"
    assert [Path(p).name for p in entry["outputs"]] == ["scene.depth.png", "scene.mask.png"]
    hist = entry["histogram"]
    assert len(hist["buckets"]) == 20 and hist["suggestions"]
    assert entry["near"] == pytest.approx(hist["min"])


def test_jobs_give_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    names = []
    for i in range(3):
        path = tmp_path / f"f{i}.exr"
        write_depth(path, synthetic_scene(60 + i * 10, 40), channel="Y")
        names.append(path.name)
    serial = run(*names, "-o", "serial", "--noise", cwd=tmp_path)
    parallel = run(*names, "-o", "parallel", "--noise", "--jobs", "2", cwd=tmp_path)
    assert serial.returncode == parallel.returncode == 0
    for i in range(3):
        assert digest(tmp_path / f"serial/f{i}.depth.png") == digest(tmp_path / f"parallel/f{i}.depth.png")


def test_bad_inputs_fail_alone_and_nothing_is_written_for_them(scene: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "photo.exr"
    renamed.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    truncated = tmp_path / "cut.exr"
    write_depth(truncated, synthetic_scene(64, 64), channel="Y", compression=OpenEXR.NO_COMPRESSION)
    truncated.write_bytes(truncated.read_bytes()[:9000])
    good = tmp_path / "good.exr"
    write_depth(good, synthetic_scene(50, 40), channel="Y")
    inputs = [renamed, truncated, scene, good]
    before = {p: digest(p) for p in inputs}

    proc = run(*[p.name for p in inputs], "--channel", "Y", "--mask", "--json", cwd=tmp_path)
    assert proc.returncode == 1
    json.loads(proc.stdout)  # OpenEXR's native complaints did not leak into stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert "photo.exr: not an OpenEXR file" in errors[0]
    assert "cut.exr: damaged or truncated EXR" in errors[1]
    assert "Traceback" not in proc.stderr
    assert "2 of 4 files failed" in proc.stderr
    for failed in ("photo", "cut"):
        assert not list(tmp_path.glob(f"{failed}.*.png"))
    for ok in ("scene", "good"):
        assert (tmp_path / f"{ok}.depth.png").exists() and (tmp_path / f"{ok}.mask.png").exists()
    assert {p: digest(p) for p in inputs} == before
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written output


def test_unknown_channel_lists_channels(scene: Path) -> None:
    proc = run(scene.name, "--channel", "depth", cwd=scene.parent)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {scene.name}: no channel named 'depth'; channels in this file: Y"
    assert not scene.with_name("scene.depth.png").exists()


def test_cutoff_below_nearest_is_a_one_line_error(scene: Path) -> None:
    proc = run(scene.name, "--depth_cutoff", "10", cwd=scene.parent)
    assert proc.returncode == 1
    assert "cutoff 10 is at or below the nearest depth" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not scene.with_name("scene.depth.png").exists()


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    proc = run("missing.exr", "notes.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert "missing.exr: file not found" in proc.stderr
    assert "notes.txt: unsupported file type '.txt'" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [[], ["x.exr", "--depth_cutoff", "far"], ["x.exr", "--bits", "12"], ["x.exr", "--jobs", "0"],
     ["x.exr", "--depth_cutoff", "nan"], ["x.exr", "--background-above", "-1"], ["x.exr", "--nope"]],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "Traceback" not in proc.stderr


def test_help_reads_well(tmp_path: Path) -> None:
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for flag in ("--depth_cutoff", "--compress_map", "--noise", "--mask", "--bits", "--invert", "--channel",
                 "--output-dir", "--seed", "--background-above", "--json", "--jobs", "--view", "--max-pixels",
                 "examples:"):
        assert flag in proc.stdout


def test_seed_spelling_with_equals_and_dash_alias(scene: Path, tmp_path: Path) -> None:
    a = run(scene, "--depth_cutoff=280", "-o", tmp_path / "a", cwd=tmp_path)
    b = run(scene, "--depth-cutoff", "280", "-o", tmp_path / "b", cwd=tmp_path)
    assert a.returncode == b.returncode == 0
    assert digest(tmp_path / "a/scene.depth.png") == digest(tmp_path / "b/scene.depth.png")


def test_progress_bar_draws_on_a_terminal_only() -> None:
    tty = io.StringIO()
    bar = Progress(2, tty, enabled=True)
    bar.advance("a.exr")
    bar.advance("b.exr")
    text = tty.getvalue()
    assert "1/2 a.exr" in text and "2/2 b.exr" in text and text.endswith("\n")
    assert "[" + "#" * 30 + "]" in text
    piped = io.StringIO()
    Progress(2, piped, enabled=False).advance("a.exr")
    assert piped.getvalue() == ""


def test_view_and_max_pixels_flags(tmp_path: Path) -> None:
    depth = synthetic_scene(40, 30)
    stereo = write_multiview(tmp_path / "stereo.exr", depth, depth[:, ::-1])
    left = run(stereo.name, "-o", "left", cwd=tmp_path)
    right = run(stereo.name, "--view", "right", "-o", "right", cwd=tmp_path)
    assert left.returncode == right.returncode == 0, left.stderr + right.stderr
    np.testing.assert_array_equal(read_png(tmp_path / "left/stereo.depth.png")[:, ::-1],
                                  read_png(tmp_path / "right/stereo.depth.png"))
    unknown = run(stereo.name, "--view", "centre", cwd=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: stereo.exr: no view named 'centre'; views in this file: left, right"
    big = run(stereo.name, "--max-pixels", "1000", cwd=tmp_path)
    assert big.returncode == 1 and not (tmp_path / "stereo.depth.png").exists()
    assert big.stderr.strip() == ("error: stereo.exr: image too large: the header claims a data window of 40 x 30 = "
                                  "1,200 pixels, over the limit of 1,000 (max_pixels, --max-pixels)")
    assert run(stereo.name, "--max-pixels", "0", cwd=tmp_path).returncode == 2
