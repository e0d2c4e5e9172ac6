"""`--sequence`, `--scan`, `--levels`, `--force` through a real subprocess: patterns, gaps, chunks on
"several machines", resume after a killed run, Ctrl-C, bad frames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lib_depth.depth.exr import write_depth
from lib_depth.depth.png import read_png
from lib_depth.depth.sample import synthetic_scene
from tests.test_cli import REPO, digest, run


def write_frames(folder: Path, numbers: list[int], width: int = 96, height: int = 64, name: str = "render") -> None:
    """A still scene with a box that comes nearer frame by frame (frame i: the box at 180 - 5 i)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = synthetic_scene(width, height)
    for i in numbers:
        depth = base.copy()
        depth[height // 4 : height // 2, 4 : width // 3] = 180.0 - 5.0 * i
        write_depth(folder / f"{name}_{i:04d}.exr", depth, channel="Y")


def pngs(folder: Path) -> dict[str, str]:
    return {p.name: digest(p) for p in sorted(folder.glob("*.png"))}


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    write_frames(tmp_path / "in", list(range(1, 9)))
    return tmp_path / "in"


OPTIONS = ["--compress_map", "--mask", "--noise", "--seed", "7"]


def test_pattern_gaps_names_and_one_mapping(tmp_path: Path) -> None:
    write_frames(tmp_path / "in", [1, 2, 3, 6, 7])
    proc = run("--sequence", tmp_path / "in/render_####.exr", "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == f"warning: {tmp_path}/in/render_####.exr: frames 0004-0005 are missing (2 frames)"
    names = sorted(pngs(tmp_path / "out"))
    assert names == [f"render_{i:04d}.depth.png" for i in (1, 2, 3, 6, 7)]
    assert "sequence: 5 frames: 5 converted, 0 already up to date, 0 failed" in proc.stdout
    maps = [read_png(tmp_path / "out" / n) for n in names]
    wall = (slice(40, 64), slice(40, 96))  # never moves
    assert all(np.array_equal(m[wall], maps[0][wall]) for m in maps)
    assert maps[-1].max() == 255 and maps[0].max() < 255  # the last frame's box is the nearest depth
    printf = run("--sequence", tmp_path / "in/render_%04d.exr", "-o", tmp_path / "printf", cwd=tmp_path)
    assert printf.returncode == 0 and pngs(tmp_path / "printf") == pngs(tmp_path / "out")


def test_histogram_printed_once_for_the_sequence_and_as_json(frames: Path, tmp_path: Path) -> None:
    proc = run("--sequence", frames, "--depth_cutoff", "histo", "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("** providing cutting histogram advice") == 1
    assert "** sequence of 8 frames (render_0001.exr .. render_0008.exr)" in proc.stdout
    assert sum(line.startswith("** - ") for line in proc.stdout.splitlines()) == 20
    as_json = run("--sequence", frames, "--json", "-o", tmp_path / "json", cwd=tmp_path)
    data = json.loads(as_json.stdout)
    seq = data["sequence"]
    assert seq["frames"] == seq["converted"] == 8 and seq["failed"] == 0
    assert seq["levels"]["near"] == 180.0 - 5.0 * 8 and len(seq["levels"]["histogram"]["buckets"]) == 20
    assert [f["frame"] for f in data["files"]] == list(range(1, 9))


def test_scan_chunks_merge_and_convert_like_one_machine(frames: Path, tmp_path: Path) -> None:
    """The farm workflow: scan two chunks, count them on the merged range, convert them apart."""
    one = run("--sequence", frames, *OPTIONS, "--bits", "16", "-o", tmp_path / "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    files = sorted(frames.glob("*.exr"))
    chunks = [files[5:], files[:5]]  # any split, any order
    for i, chunk in enumerate(chunks):
        proc = run("--sequence", *chunk, "--scan", tmp_path / f"range_{i}.json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert not list(frames.glob("*.png"))  # --scan writes no maps
    ranges = ["--levels", tmp_path / "range_0.json", "--levels", tmp_path / "range_1.json"]
    for i, chunk in enumerate(chunks):
        proc = run("--sequence", *chunk, *ranges, "--scan", tmp_path / f"table_{i}.json", *OPTIONS, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / f"table_{i}.json").stat().st_size < 16384
    tables = ["--levels", tmp_path / "table_1.json", "--levels", tmp_path / "table_0.json"]
    for chunk in chunks:
        proc = run("--sequence", *chunk, *tables, *OPTIONS, "--bits", "16", "-o", tmp_path / "farm", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert pngs(tmp_path / "farm") == pngs(tmp_path / "one") and len(pngs(tmp_path / "one")) == 16
    # without compress, the stage 1 summaries are all a conversion needs
    plain = run("--sequence", frames, "-o", tmp_path / "plain1", cwd=tmp_path)
    assert plain.returncode == 0
    for chunk in chunks:
        assert run("--sequence", *chunk, *ranges, "-o", tmp_path / "plain2", cwd=tmp_path).returncode == 0
    assert pngs(tmp_path / "plain2") == pngs(tmp_path / "plain1")
    # compress from stage 1 alone: a one-line error saying what to run
    bad = run("--sequence", *chunks[0], *ranges, "--compress_map", "-o", tmp_path / "x", cwd=tmp_path)
    assert bad.returncode == 1 and "no levels table (stage 2)" in bad.stderr and "Traceback" not in bad.stderr


def test_jobs_give_the_same_bytes(frames: Path, tmp_path: Path) -> None:
    a = run("--sequence", frames, *OPTIONS, "-o", tmp_path / "a", cwd=tmp_path)
    b = run("--sequence", frames, *OPTIONS, "-o", tmp_path / "b", "--jobs", "2", cwd=tmp_path)
    assert a.returncode == b.returncode == 0, b.stderr
    assert pngs(tmp_path / "a") == pngs(tmp_path / "b")
    noise = [read_png(tmp_path / f"a/render_{i:04d}.depth.png")[:5] for i in (1, 2)]
    assert not np.array_equal(*noise)  # seed + frame number: each frame its own noise


def test_resume_redoes_only_what_is_missing_or_stale_and_force_redoes_all(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run("--sequence", frames, *OPTIONS, "-o", out, cwd=tmp_path)
    assert first.returncode == 0
    reference = pngs(out)
    (out / "render_0003.depth.png").unlink()
    (out / "render_0005.mask.png").write_bytes(b"truncated")
    again = run("--sequence", frames, *OPTIONS, "-o", out, cwd=tmp_path)
    assert "2 converted, 6 already up to date" in again.stdout
    assert pngs(out) == reference
    other = run("--sequence", frames, *OPTIONS, "--invert", "-o", out, cwd=tmp_path)
    assert "8 converted, 0 already up to date" in other.stdout  # other settings: every output is stale
    touched = frames / "render_0002.exr"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    changed = run("--sequence", frames, *OPTIONS, "--invert", "-o", out, cwd=tmp_path)
    assert "converted" in changed.stdout and "0 failed" in changed.stdout
    # a changed input changes the sequence (its range may move): the summary is made again, and only
    # frames whose record no longer matches are converted
    forced = run("--sequence", frames, *OPTIONS, "--invert", "--force", "-o", out, cwd=tmp_path)
    assert "8 converted, 0 already up to date" in forced.stdout
    assert run("--force", frames / "render_0001.exr", cwd=tmp_path).returncode == 2  # --force is for sequences


def default_sigint() -> None:
    """In the child before it runs Python: Ctrl-C at its default. A shell's background job (`cmd &`,
    nohup, many CI runners) starts its children with SIGINT ignored, and Python keeps an ignored
    SIGINT ignored, so the test's Ctrl-C would never arrive (the command line rightly honours that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """The command line as a process the signal tests stop, with Ctrl-C deliverable whoever started pytest."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "lib_depth", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def wait_for_outputs(folder: Path, count: int, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list(folder.glob("*.depth.png")))
        if done >= count:
            return done
        time.sleep(0.01)
    raise AssertionError(f"the run ended or stalled before {count} outputs: {proc.poll()}")


@pytest.fixture
def long_sequence(tmp_path: Path) -> Path:
    write_frames(tmp_path / "long", list(range(1, 41)), 640, 360)
    return tmp_path / "long"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_run_resumes_to_the_bytes_of_an_uninterrupted_one(
    long_sequence: Path, tmp_path: Path, how: signal.Signals
) -> None:
    args = ["--sequence", long_sequence, *OPTIONS]
    whole = run(*args, "-o", tmp_path / "whole", cwd=tmp_path)
    assert whole.returncode == 0
    out = tmp_path / "out"
    proc = popen(*args, "-o", out, cwd=tmp_path)
    wait_for_outputs(out, 3, proc)
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=60)
    written = len(list(out.glob("*.depth.png")))
    assert 3 <= written < 40, "the run should have stopped mid-sequence"
    if how == signal.SIGINT:
        assert proc.returncode == 130
        assert "interrupted: sequence: 40 frames:" in stderr and "run the same command again" in stderr
        assert "Traceback" not in stderr
    leftovers = [p.name for p in out.iterdir() if not p.name.endswith(".png") and p.name != ".depth-tools"]
    assert leftovers == []  # no temporary file, no half-written PNG
    resumed = run(*args, "-o", out, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    up_to_date = int(resumed.stdout.split(" converted, ")[1].split()[0])
    assert up_to_date >= written - 1  # the frame in hand when killed may lack its record: redone
    assert pngs(out) == pngs(tmp_path / "whole")


def test_ctrl_c_with_jobs_stops_cleanly(long_sequence: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = popen("--sequence", long_sequence, "--jobs", "2", "-o", out, cwd=tmp_path)
    wait_for_outputs(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr and "interrupted" in stderr


def test_bad_frames_are_one_line_each_and_the_others_are_converted(frames: Path, tmp_path: Path) -> None:
    damaged = frames / "render_0003.exr"
    damaged.write_bytes(damaged.read_bytes()[:300])  # a render cut short
    write_depth(frames / "render_0004.exr", synthetic_scene(48, 32), channel="Y")  # another size
    write_depth(frames / "render_0005.exr", synthetic_scene(96, 64), channel="Z")  # another channel
    missing = frames / "render_0009.exr"
    proc = run("--sequence", *sorted(frames.glob("*.exr")), missing, "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1
    errors = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    assert len([e for e in errors if e.startswith("error: ")]) == 4, proc.stderr
    assert any("render_0003.exr: damaged or truncated EXR" in e for e in errors)
    assert any("render_0004.exr: differently sized frame: 48 x 32, the sequence is 96 x 64 (render_0001.exr)" in e
               for e in errors)
    assert any("render_0005.exr: depth channel 'Z' differs from 'Y' of render_0001.exr" in e for e in errors)
    assert any("render_0009.exr: file not found" in e for e in errors)
    assert sorted(pngs(tmp_path / "out")) == [f"render_{i:04d}.depth.png" for i in (1, 2, 6, 7, 8)]
    assert "5 converted, 0 already up to date, 4 failed" in proc.stdout
