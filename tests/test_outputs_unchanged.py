"""Behaviour unchanged: the command line converts the sample and a set of scenes, and every PNG it
writes must be what the code before issue 15's restructuring (57ae3bf) wrote. A refactoring that
moves code around must not change one byte of an EXR map, nor a network's map beyond what the CPU's
own arithmetic moves.

Only the public entry is used (`from lib_depth.cli import main`), with inputs written here from
integers and the committed sample, so nothing but the code under test decides the outputs.

- **EXR scenes**: no network, float32 numpy and opencv only; the same bytes on every machine and in
  every environment (measured at 57ae3bf: webui, forge and newest; AMD AVX2 and Intel AVX-512), so
  tests/data/outputs_before.json keeps their sha256 and any other byte fails.
- **MiDaS scenes**: the network runs through CPU kernels chosen for the processor (MKL, oneDNN and
  ATen's AVX2 / AVX-512 paths), which sum in other orders: its nearness moves by ~4e-6 of its range
  between instruction sets, and a map's rounding or a histogram bucket can flip with it. Measured on
  one Intel Xeon (AVX-512, AMX) with the same weights and code, native against AVX2 against the
  baseline x86-64 kernels (the variables in `OTHER_ARITHMETIC`): 8-bit maps differ in at most 0.03% of
  their pixels by one level, the 16-bit gap-compressed map (a flipped pixel moves a whole bucket's
  mapping) by at most 0.37 of an 8-bit level, 0.03 on average; masks and normal maps not at all;
  between the three environments on one CPU, not one byte. So the maps are stored as PNGs
  (tests/data/outputs_before/<scene>/) and compared pixel by pixel: at most one 8-bit level anywhere
  (257 in a 16-bit map) and 0.15 of a level on average. A rounding turned into truncation (0.5 on
  average), a shifted resize or a changed option moves far more. `test_the_tolerance_holds_for_
  another_cpus_arithmetic` checks the stored maps with the baseline kernels, on whatever CPU runs it.
- **The weights**: `tests/integer_weights.py` fills the test checkpoint from integer arithmetic, so it
  is the same tensors on every machine and with timm 0.9.5 or 1.0 (a seeded torch init was neither:
  the digests of three machines and environments differed); `WEIGHTS` is their digest.

Record (only when an output is meant to change, and only from the code before the change):
`DEPTH_TOOLS_RECORD_OUTPUTS=1 .venv/bin/python -m pytest tests/test_outputs_unchanged.py`. The test then
stores what it wrote and skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth.cli import main
from lib_depth.depth.exr import write_depth
from lib_depth.depth.sample import synthetic_scene
from tests.test_cli_sequence import write_frames

REPO = Path(__file__).resolve().parents[1]
STORED = REPO / "tests" / "data" / "outputs_before.json"
MAPS = REPO / "tests" / "data" / "outputs_before"
RECORD = os.environ.get("DEPTH_TOOLS_RECORD_OUTPUTS") == "1"

#: the key of the EXR scenes' hashes: nothing outside the code decides them (measured, see above)
ANY = "any environment"
#: the digest of the test checkpoint's tensors (tests/integer_weights.py): one on every machine
WEIGHTS = "weights a0ff95a487b86517"
#: how far a network's map may move with the CPU's arithmetic, in 8-bit levels (measured, see above)
MAX_LEVELS, MEAN_LEVELS = 1.0, 0.15
#: the baseline x86-64 kernels of ATen, oneDNN and MKL: another CPU's arithmetic, on this one
OTHER_ARITHMETIC = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
MIDAS_FLAGS = ("--device", "cpu", "--precision", "fp32", "--resolution", "64")


def exr_scene(folder: Path) -> Path:
    path = folder / "scene.exr"
    write_depth(path, synthetic_scene(120, 80), channel="Y")
    return path


def picture(width: int = 96, height: int = 64, shift: int = 0) -> np.ndarray:
    """An RGB image from integers alone (no RNG, no sin: the same pixels under any numpy): a
    diagonal texture and a bright disc at `shift` pixels from the left third."""
    yy, xx = np.mgrid[0:height, 0:width]
    grey = (xx * 7 + yy * 13 + (xx * yy) % 31) % 200 + 20
    image = np.stack([grey, grey * 4 // 5, grey * 3 // 5], axis=2).astype(np.uint8)
    image[(xx - width // 3 - shift) ** 2 + (yy - height // 2) ** 2 <= (height // 4) ** 2] = 255
    return image


def write_picture(path: Path, image: np.ndarray) -> Path:
    """PNG, lossless: the decoder cannot change a pixel (a JPEG's could, between libjpeg versions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


# Each scene writes its inputs into `folder` and returns the command line's arguments (less -o);
# `weights` is the test checkpoint for the MiDaS scenes.
Scene = Callable[[Path, Path | None], list[str]]


def sample(folder: Path, weights: Path | None) -> list[str]:
    return [str(shutil.copy(REPO / "examples" / "scene.exr", folder / "scene.exr"))]


def single(folder: Path, weights: Path | None) -> list[str]:
    return [str(exr_scene(folder))]


def post_processing(folder: Path, weights: Path | None) -> list[str]:
    return [str(exr_scene(folder)), "--compress_map", "--mask", "--noise", "--seed", "7", "--bits", "16"]


def cutoff(folder: Path, weights: Path | None) -> list[str]:
    return [str(exr_scene(folder)), "--depth_cutoff", "280.69", "--invert", "--mask"]


def sequence(folder: Path, weights: Path | None) -> list[str]:
    write_frames(folder / "frames", list(range(1, 7)))
    return ["--sequence", str(folder / "frames" / "render_####.exr"), "--compress_map", "--mask", "--noise"]


def midas_image(folder: Path, weights: Path | None) -> list[str]:
    path = write_picture(folder / "photo.png", picture())
    return [str(path), "--weights", str(weights), *MIDAS_FLAGS, "--normal", "--mask"]


def midas_options(folder: Path, weights: Path | None) -> list[str]:
    path = write_picture(folder / "photo.png", picture(80, 48))
    return [str(path), "--weights", str(weights), *MIDAS_FLAGS, "--depth_cutoff", "0.6", "--compress_map",
            "--bits", "16", "--bg-threshold", "0.2"]


def midas_sequence(folder: Path, weights: Path | None) -> list[str]:
    for k in range(4):
        write_picture(folder / "shots" / f"shot_{k + 1:04d}.png", picture(shift=6 * k))
    return ["--sequence", str(folder / "shots"), "--weights", str(weights), *MIDAS_FLAGS, "--mask"]


SCENES: dict[str, Scene] = {scene.__name__: scene for scene in (
    sample, single, post_processing, cutoff, sequence, midas_image, midas_options, midas_sequence)}


def uses_midas(name: str) -> bool:
    return name.startswith("midas")


@cache
def weights_digest(path: Path) -> str:
    """sha256 over the checkpoint's tensors in key order: which weights, whatever the file is called
    (torch.save writes the file's name into the archive, so the file's own bytes vary with it)."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in sorted(torch.load(str(path), map_location="cpu", weights_only=True, mmap=True).items()):
        digest.update(key.encode())
        digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return f"weights {digest.hexdigest()[:16]}"


def written_pngs(folder: Path) -> dict[str, str]:
    """sha256 of every PNG under `folder`, by its path relative to it."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def load_stored() -> dict[str, dict[str, dict[str, str]]]:
    """scene -> ANY -> file -> sha256 (the EXR scenes)."""
    return json.loads(STORED.read_text(encoding="utf8"))["scenes"] if STORED.is_file() else {}


def record(name: str, out: Path) -> int:
    """Store what scene `name` wrote: the EXR scenes' hashes, the MiDaS scenes' PNGs themselves."""
    if uses_midas(name):
        shutil.rmtree(MAPS / name, ignore_errors=True)
        shutil.copytree(out, MAPS / name, ignore=lambda folder, names: [n for n in names if
                                                                         not n.endswith(".png") and "." in n])
        return len(list((MAPS / name).rglob("*.png")))
    scenes = load_stored()
    scenes[name] = {ANY: written_pngs(out)}
    about = __doc__.split("\n\n")[0].replace("\n", " ")
    STORED.write_text(json.dumps({"about": about, "scenes": dict(sorted(scenes.items()))}, indent=1) + "\n",
                      encoding="utf8")
    return len(scenes[name][ANY])


def exr_changes(name: str, out: Path) -> list[str]:
    """The EXR scene's outputs whose bytes differ from the stored hashes (missing, new or other)."""
    before, files = load_stored().get(name, {}).get(ANY), written_pngs(out)
    if before is None:
        pytest.fail(f"no stored outputs of scene {name!r}: record them from the code before the change "
                    "(see the docstring of tests/test_outputs_unchanged.py)")
    return sorted(f for f in before.keys() | files.keys() if before.get(f) != files.get(f))


def levels_apart(got: Path, stored: Path) -> tuple[float, float] | str:
    """(largest, mean) distance of two maps' pixels in 8-bit levels, or why they cannot be compared."""
    a, b = (cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (got, stored))
    if a is None or b is None or a.shape != b.shape or a.dtype != b.dtype:
        return f"{getattr(a, 'shape', None)} {getattr(a, 'dtype', None)} against the stored " \
               f"{getattr(b, 'shape', None)} {getattr(b, 'dtype', None)}"
    step = 257.0 if a.dtype == np.uint16 else 1.0
    distance = np.abs(a.astype(np.float64) - b.astype(np.float64)) / step
    return float(distance.max()), float(distance.mean())


def map_changes(name: str, out: Path) -> list[str]:
    """The network scene's maps that moved more than the CPU's arithmetic can move them."""
    stored, files = MAPS / name, {p.relative_to(out) for p in out.rglob("*.png")}
    changes = [f"{f}: missing" for f in sorted({p.relative_to(stored) for p in stored.rglob("*.png")} - files)]
    for file in sorted(files):
        if not (stored / file).is_file():
            changes.append(f"{file}: new")
            continue
        apart = levels_apart(out / file, stored / file)
        if isinstance(apart, str):
            changes.append(f"{file}: {apart}")
        elif apart[0] > MAX_LEVELS or apart[1] > MEAN_LEVELS:
            changes.append(f"{file}: {apart[0]:.2f} levels at most, {apart[1]:.3f} on average")
    return changes


def run_scene(name: str, folder: Path, weights: Path | None, capsys: pytest.CaptureFixture[str]) -> Path:
    inputs, out = folder / "in", folder / "out"
    inputs.mkdir()
    assert main([*SCENES[name](inputs, weights), "-o", str(out)]) == 0, capsys.readouterr().err
    assert list(out.rglob("*.png")), "the scene wrote no PNG"
    return out


@pytest.mark.parametrize("name", SCENES)
def test_outputs_are_the_bytes_of_the_code_before(name: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    weights = request.getfixturevalue("midas_checkpoint") if uses_midas(name) else None
    if weights is not None:
        assert weights_digest(weights) == WEIGHTS, f"the test checkpoint {weights} is not the one the maps were " \
            "stored for: tests/integer_weights.py or tests/fixtures_midas.py changed, or the file is another"
    out = run_scene(name, tmp_path, weights, capsys)
    if RECORD:
        pytest.skip(f"recorded {record(name, out)} outputs of {name}")
    changed = map_changes(name, out) if weights is not None else exr_changes(name, out)
    assert not changed, f"{name}: these outputs differ from the code before: {changed}"


@pytest.mark.parametrize("name", ["midas_image", "midas_options"])
def test_the_tolerance_holds_for_another_cpus_arithmetic(name: str, tmp_path: Path, midas_checkpoint: Path) -> None:
    """The stored maps, within the tolerance, from the baseline x86-64 kernels of ATen, oneDNN and MKL
    (on an x86 CPU; elsewhere the variables change nothing and this is one more plain run)."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    environment = {**os.environ, **OTHER_ARITHMETIC, "PYTHONPATH": str(REPO)}
    code = "import sys, torch; from lib_depth.cli import main; print(torch.backends.cpu.get_cpu_capability()); " \
           "sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, *SCENES[name](inputs, midas_checkpoint), "-o", str(out)],
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "DEFAULT", done.stdout  # the variables took effect: another arithmetic ran
    changed = map_changes(name, out)
    assert not changed, f"{name} with {OTHER_ARITHMETIC}: these outputs moved beyond the tolerance: {changed}"
