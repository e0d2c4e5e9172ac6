"""Render farms, run for real: the OpenJD bundle (`farm/openjd/`) under `openjd run` and the OpenCue
outline's commands, against `python -m lib_depth --sequence` on the same frames.

`openjd run` (openjd-cli, pinned in the newest environment's lock) executes the template locally:
every step, every chunk of CHUNK[INT] frames, in dependency order, each task a process of its own,
as a worker would. No Cuebot runs here: the OpenCue outline is checked against pyoutline's own model
(layers, ranges, chunk sizes, dependencies), and its commands are run chunk by chunk in layer order.
Where the packages are missing (the webui and forge environments) these tests skip, saying so.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lib_depth.depth.errors import DepthError
from lib_depth.depth.exr import write_depth
from lib_depth.depth.sample import synthetic_scene
from lib_depth.farm.chunks import frames_in_chunk, parse_range

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "farm" / "openjd" / "template.yaml"
OPENJD = Path(sys.executable).with_name("openjd")
FLAGS = "--compress_map --bits 16 --depth_cutoff 300"


def write_sequence(folder: Path, count: int) -> Path:
    """`count` small frames, a box that comes nearer frame by frame (always inside the still scene's range)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = synthetic_scene(48, 32)
    for i in range(1, count + 1):
        depth = base.copy()
        depth[8:16, 4:16] = 200.0 - 2.0 * i
        write_depth(folder / f"render_{i:04d}.exr", depth, channel="Y")
    return folder / "render_####.exr"


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def one_machine(pattern: Path, out: Path, flags: str) -> dict[str, str]:
    command = [sys.executable, "-m", "lib_depth", "--sequence", str(pattern), *flags.split(), "-o", str(out), "-q"]
    done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return pngs(out)


def pngs(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def openjd_run(pattern: Path, frames: str, out: Path, flags: str, *task: str) -> subprocess.CompletedProcess[str]:
    if not OPENJD.is_file():
        pytest.skip(f"openjd-cli is not installed in this environment ({OPENJD}): the newest environment has it")
    params = {"Frames": str(pattern), "FrameRange": frames, "OutputDir": str(out), "ChunkSize": "16",
              "ConversionFlags": flags, "Python": sys.executable}
    args = [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
    return subprocess.run([str(OPENJD), "run", str(TEMPLATE), *args, *task], env=environment(), capture_output=True,
                          text=True, timeout=600)


def chunks_run(done: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"Chunk\(CHUNK\[INT\]\) = (\S+)", done.stdout))


def test_a_chunk_is_its_frame_numbers(tmp_path: Path) -> None:
    assert parse_range("1-4") == {1, 2, 3, 4} and parse_range("1-9:4,12") == {1, 5, 9, 12}
    for bad in ("", "a-b", "9-1", "1-4:0"):
        with pytest.raises(DepthError):
            parse_range(bad)
    pattern = write_sequence(tmp_path / "f", 6)
    assert [p.name for p in frames_in_chunk(pattern, "2-3")] == ["render_0002.exr", "render_0003.exr"]
    with pytest.raises(DepthError, match="no file for frame 7, 8 of chunk 5-8"):
        frames_in_chunk(pattern, "5-8")


def test_the_openjd_bundle_gives_the_one_machine_bytes(tmp_path: Path) -> None:
    """60 frames in chunks of at most 16 (OpenJD's CONTIGUOUS chunking balances them: 1-15 .. 46-60),
    compressed 16-bit maps: each PNG the bytes of one `--sequence` run over all frames."""
    pattern = write_sequence(tmp_path / "frames", 60)
    done = openjd_run(pattern, "1-60", tmp_path / "farm", FLAGS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    farm = pngs(tmp_path / "farm")
    assert len(farm) == 60 and farm == one_machine(pattern, tmp_path / "one", FLAGS)
    chunks = chunks_run(done)  # OpenJD balances them: 4 of 15
    sizes = [len(parse_range(chunk)) for chunk in chunks]
    assert len(chunks) == 4 and max(sizes) <= 16 and sum(sizes) == 60, chunks


def test_a_damaged_frame_fails_its_task_and_a_rerun_converts_only_it(tmp_path: Path) -> None:
    pattern = write_sequence(tmp_path / "frames", 40)
    damaged = tmp_path / "frames" / "render_0020.exr"
    good = damaged.read_bytes()
    damaged.write_bytes(good[:300])
    done = openjd_run(pattern, "1-40", tmp_path / "farm", "--bits 16")
    assert done.returncode != 0
    assert "render_0020.exr: damaged or truncated EXR" in done.stdout
    # `openjd run` ends its one local session at the first failed task; a farm runs every task of the
    # step whatever another did: each Convert chunk as a session of its own, as a worker would
    for chunk in sorted(chunks_run(done)):
        alone = openjd_run(pattern, "1-40", tmp_path / "farm", "--bits 16", "--step", "Convert",
                           "--no-run-dependencies", "--task-param", f"Chunk={chunk}")
        assert (alone.returncode != 0) == (20 in parse_range(chunk)), alone.stdout[-2000:]
    written = pngs(tmp_path / "farm")
    assert sorted(written) == [f"render_{i:04d}.depth.png" for i in range(1, 41) if i != 20]
    times = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "farm").glob("*.png")}
    damaged.write_bytes(good)  # mended
    again = openjd_run(pattern, "1-40", tmp_path / "farm", "--bits 16")
    assert again.returncode == 0, again.stdout[-3000:]
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "farm").glob("*.png")}
    assert {n for n in after if after[n] != times.get(n)} == {"render_0020.depth.png"}
    assert pngs(tmp_path / "farm") == one_machine(pattern, tmp_path / "one", "--bits 16")


def test_the_opencue_outline_has_the_stages_and_its_commands_make_the_maps(tmp_path: Path) -> None:
    outline = pytest.importorskip("outline", reason="opencue-pyoutline is installed in the newest environment only")
    from lib_depth.farm import build_outline

    pattern = write_sequence(tmp_path / "frames", 20)
    out = tmp_path / "cue"
    job = build_outline(frames=str(pattern), frame_range="1-20", output=str(out), chunk_size=8,
                        options=FLAGS.split(), python=sys.executable)
    assert isinstance(job, outline.Outline)
    layers = job.get_layers()
    assert [layer.get_name() for layer in layers] == ["scan", "count", "merge", "convert"]
    assert [(layer.get_frame_range(), layer.get_chunk_size()) for layer in layers] == \
        [("1-20", 8), ("1-20", 8), ("1", 1), ("1-20", 8)]
    for layer, before in zip(layers[1:], layers[:-1], strict=True):
        (depend,) = layer.get_depends()
        assert depend.get_depend_on_layer() is before and depend.get_type() == outline.depend.DependType.LayerOnLayer
    for layer in layers:  # what the render nodes would run, chunk by chunk, layer after layer
        starts = [1] if layer.get_name() == "merge" else range(1, 21, 8)
        for start in starts:
            end = min(start + layer.get_chunk_size() - 1, 20)
            command = [a.replace("#FRAME_START#", str(start)).replace("#FRAME_END#", str(end))
                       for a in layer.get_arg("command")]
            done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
    assert pngs(out) == one_machine(pattern, tmp_path / "one", FLAGS)
    shutil.rmtree(out)
