"""Faults while writing, made real: a full disk (a small tmpfs, RLIMIT_FSIZE), a read-only folder
(a read-only tmpfs: chmod does not stop root), the output replaced by a folder, SIGKILL mid-write.
Each gives one clear line, leaves the input untouched, no temporary file, earlier outputs intact.

The mounts happen in a private mount namespace (`unshare -m`), invisible to the rest of the
machine and gone when the test's shell exits; without that privilege those cases are skipped.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from lib_depth.depth.exr import write_depth
from lib_depth.depth.sample import synthetic_scene

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
CLI = [sys.executable, "-m", "lib_depth"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def can_mount() -> bool:
    try:
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                "mount -t tmpfs -o size=4k tmpfs /mnt"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not can_mount(), reason="no private mount namespace here (needs root)")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """A small render (its PNG fits anywhere) and a large noisy one (its 16-bit PNG does not)."""
    small = tmp_path / "small.exr"
    write_depth(small, synthetic_scene(120, 80), channel="Y")
    big = tmp_path / "big.exr"
    write_depth(big, np.random.default_rng(0).uniform(1, 9, (300, 400)).astype(np.float32), channel="Y")
    return {"small": small, "big": big}


def in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`script` (sh) in a private mount namespace; `$CLI` runs the command line."""
    env = {**ENV, "CLI": shlex.join(CLI)}
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def errors_of(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@needs_mount
def test_full_disk_is_one_line_and_leaves_earlier_outputs(tmp_path: Path, inputs: dict[str, Path]) -> None:
    before = {name: digest(p) for name, p in inputs.items()}
    out = tmp_path / "disk"
    out.mkdir()
    proc = in_namespace(
        'mount -t tmpfs -o size=256k tmpfs disk && $CLI small.exr big.exr -o disk -q && sha256sum disk/*'
        ' && { $CLI big.exr -o disk --bits 16; echo "rc=$?"; }'
        ' && echo listing: $(ls -A disk) && sha256sum disk/*', tmp_path)
    lines = proc.stdout.splitlines()
    assert "rc=1" in lines, proc.stdout + proc.stderr
    assert lines[-3] == "listing: big.depth.png small.depth.png"  # no temporary file, no half a PNG
    assert lines[:2] == lines[-2:]  # the earlier outputs are intact, big.depth.png's old version too
    (error,) = errors_of(proc.stderr)
    assert error == "error: big.exr: cannot write disk/big.depth.png (No space left on device)"
    assert {name: digest(p) for name, p in inputs.items()} == before


def test_file_size_limit_is_one_line(tmp_path: Path, inputs: dict[str, Path]) -> None:
    """RLIMIT_FSIZE: the same fault without root (Python ignores SIGXFSZ, so write() fails)."""
    out = tmp_path / "out"
    subprocess.run([*CLI, inputs["small"], "-o", out, "-q"], env=ENV, check=True, timeout=120)
    earlier = digest(out / "small.depth.png")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    proc = subprocess.run([*CLI, inputs["big"], "-o", out, "--bits", "16", "--noise"], env=ENV,
                          preexec_fn=limit, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [f"error: {inputs['big']}: cannot write {out / 'big.depth.png'} (File too large)"]
    assert sorted(p.name for p in out.iterdir()) == ["small.depth.png"]
    assert digest(out / "small.depth.png") == earlier


@needs_mount
def test_read_only_folder_is_one_line(tmp_path: Path, inputs: dict[str, Path]) -> None:
    before = digest(inputs["small"])
    (tmp_path / "ro").mkdir()
    proc = in_namespace(
        'mount -t tmpfs tmpfs ro && $CLI small.exr -o ro -q && sha256sum ro/small.depth.png'
        ' && mount -o remount,ro ro && { $CLI small.exr big.exr -o ro --mask; echo "rc=$?"; }'
        ' && { $CLI small.exr -o ro/new; echo "rc=$?"; }'
        ' && echo listing: $(ls -A ro) && sha256sum ro/small.depth.png', tmp_path)
    lines = proc.stdout.splitlines()
    assert lines.count("rc=1") == 2, proc.stdout + proc.stderr
    assert lines[-2] == "listing: small.depth.png" and lines[0] == lines[-1]
    assert errors_of(proc.stderr) == [
        "error: small.exr: cannot write ro/small.depth.png (Read-only file system)",
        "error: big.exr: cannot write ro/big.depth.png (Read-only file system)",
        "error: small.exr: cannot create output folder ro/new (Read-only file system)",
    ]
    assert digest(inputs["small"]) == before


def test_output_replaced_by_a_folder_is_one_line(tmp_path: Path, inputs: dict[str, Path]) -> None:
    src = inputs["small"]
    before = digest(src)
    subprocess.run([*CLI, src, "-q"], env=ENV, check=True, timeout=120)
    target = tmp_path / "small.depth.png"
    target.unlink()
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    proc = subprocess.run([*CLI, src, "--mask"], env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert errors_of(proc.stderr) == [f"error: {src}: cannot write {target} (Is a directory)"]
    assert (target / "keep.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "small.mask.png").exists()
    assert digest(src) == before


KILLED_MID_WRITE = """
import sys, time
from lib_depth.depth import png
from lib_depth.cli import main
original = png._write_all
def half_then_wait(fd, data):
    original(fd, data[: len(data) // 2])
    open(sys.argv[1], "w").close()
    time.sleep(120)
png._write_all = half_then_wait
sys.exit(main(sys.argv[2:]))
"""


def _open_files_in(pid: int, folder: Path) -> list[tuple[str, int]]:
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(str(folder)):
                found.append((target, os.stat(f"/proc/{pid}/fd/{fd}").st_size))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to watch the write")
def test_sigkill_mid_write_leaves_no_trace(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "out"
    subprocess.run([*CLI, inputs["small"], inputs["big"], "-o", out, "-q"], env=ENV, check=True, timeout=120)
    earlier = {p.name: digest(p) for p in out.iterdir()}
    src_before = {name: digest(p) for name, p in inputs.items()}
    marker = tmp_path / "half-written"
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(marker), str(inputs["big"]),
                              "--bits", "16", "--noise", "-o", str(out)], env=ENV)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the child never reached its write"
        time.sleep(0.02)
    writing = _open_files_in(child.pid, out)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert len(writing) == 1 and writing[0][1] > 0  # killed with half a PNG written
    assert {p.name: digest(p) for p in out.iterdir()} == earlier  # nothing new, nothing lost
    assert {name: digest(p) for name, p in inputs.items()} == src_before
