"""EXR decoding on every core (OpenEXR's thread pool), and `--jobs` workers that cannot hang on it.

A child forked after its parent started OpenEXR's pool waits forever at its first decode (the pool's
threads are not copied), so `depth.workers` forks only while no decode thread runs and starts the
workers with forkserver otherwise. The scenarios that could hang run in a subprocess with a deadline.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lib_depth.depth import blocks, exr
from lib_depth.depth.exr import THREADS_VARIABLE, read_depth, write_depth

REPO = Path(__file__).resolve().parents[1]
DEADLINE = 120  # seconds: a hang fails the test instead of the whole suite
CORES = os.cpu_count() or 1


def run_python(code: str, **env: str) -> list[str]:
    """`code` in a fresh interpreter (no decode has run there yet); its stdout lines."""
    environment = {k: v for k, v in os.environ.items() if k != THREADS_VARIABLE} | env
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("compression", ["ZIP_COMPRESSION", "PIZ_COMPRESSION", "ZIPS_COMPRESSION"])
def test_threaded_decode_gives_the_same_pixels(tmp_path: Path, compression: str) -> None:
    depth = np.random.default_rng(3).uniform(1, 500, (300, 257)).astype(np.float32)
    depth[::7, ::5] = np.nan
    path = tmp_path / "render.exr"
    write_depth(path, depth, channel="Y", compression=getattr(OpenEXR, compression))
    before = list(exr._decode_threads)
    try:
        exr.set_decode_threads(0)
        alone = read_depth(path).depth
        assert not exr.decode_threads_started()
        exr.set_decode_threads(4)
        assert exr.decode_threads_started()
        threaded = read_depth(path).depth
    finally:
        exr.set_decode_threads(before[0] if before else 0)
    assert alone.tobytes() == threaded.tobytes() == depth.tobytes()


def test_the_first_decode_starts_every_core_unless_the_variable_says_otherwise(tmp_path: Path) -> None:
    write_depth(tmp_path / "a.exr", np.ones((32, 32), np.float32), channel="Y")
    code = f"""
        from lib_depth.depth import exr
        exr.list_channels({str(tmp_path / "a.exr")!r})  # the header alone starts nothing
        print(exr.decode_threads_started())
        exr.read_depth({str(tmp_path / "a.exr")!r})
        print(exr.decode_threads_started(), exr._decode_threads[0])
    """
    expected_default = ["False", str(CORES > 1), str(CORES if CORES > 1 else 0)]
    assert run_python(code) == expected_default
    assert run_python(code, **{THREADS_VARIABLE: "0"}) == ["False", "False", "0"]
    assert run_python(code, **{THREADS_VARIABLE: "3"}) == ["False", "True", "3"]
    assert run_python(code, **{THREADS_VARIABLE: "many"}) == expected_default  # not a number: the default


def test_workers_are_forked_only_before_a_threaded_decode_and_never_hang(tmp_path: Path) -> None:
    """The real hazard, end to end: decode with threads here, then read in a pool of workers."""
    paths = []
    for k in range(4):
        paths.append(tmp_path / f"shot_{k}.exr")
        write_depth(paths[-1], np.full((64, 48), 10.0 + k, np.float32), channel="Y")
    code = f"""
        from lib_depth.depth import exr, workers
        print(workers.start_method())
        exr.set_decode_threads(2)
        exr.read_depth({str(paths[0])!r})
        print(workers.start_method())
        with workers.process_pool(2) as pool:
            means = list(pool.map(workers_probe.mean_depth, {[str(p) for p in paths]!r}))
        print(*means)
    """
    code = "from tests import workers_probe\n" + textwrap.dedent(code)
    lines = run_python(code)
    forked_first = "fork" in multiprocessing.get_all_start_methods()
    assert lines[0] == ("fork" if forked_first else lines[1])
    assert lines[1] in ("forkserver", "spawn")
    means = [float(v) for v in lines[2::2]]
    threads = {int(v) for v in lines[3::2]}
    assert means == [10.0, 11.0, 12.0, 13.0]
    assert threads == {CORES // 2 if CORES // 2 > 1 else 0}  # each worker: its share of the cores


def _blocks_in_child() -> None:
    out = np.zeros((2048, 512), np.float32)

    def fill(rows: slice) -> None:
        out[rows] = 1.0

    blocks.for_each_block(fill, out.shape)
    sys.exit(0 if out.all() else 3)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this OS")
def test_a_forked_child_starts_its_own_block_pool() -> None:
    """`blocks`' Python thread pool is an object a child inherits without its threads."""
    out = np.zeros((2048, 512), np.float32)
    blocks.for_each_block(lambda rows: out.__setitem__(rows, 1.0), out.shape)  # the pool now runs here
    assert blocks._pool is not None
    child = multiprocessing.get_context("fork").Process(target=_blocks_in_child)
    child.start()
    child.join(DEADLINE)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0
