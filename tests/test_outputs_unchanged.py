"""Behaviour unchanged: the command line converts the sample and a set of scenes, and every PNG it
writes must have the bytes recorded in tests/data/outputs_before.json from the code before issue 15's
restructuring (57ae3bf). A refactoring that moves code around must not change one byte of a map.

Only the public entry is used (`from lib_depth.cli import main`), with inputs written here from
integers and the committed sample, so nothing but the code under test decides the outputs.

What else decides the bytes was measured (at 57ae3bf, every scene in the three environments: webui
numpy 1.26.2 + opencv 4.11 + timm 0.9.5, forge the same with timm 1.0.31, newest numpy 2.4.6 + opencv
5.0 + timm 1.0.31; torch 2.13 in all): the EXR maps are the same bytes everywhere, and so are the MiDaS
maps made with the same weights. The random test weights are what differ: `tests/fixtures_midas.py`
seeds torch, but timm 0.9.5 and 1.0.x build the network in another order (157 of its 368 tensors come
out different). `tools/test.sh` shares one checkpoint, made by its first environment (webui, timm
0.9.5); an environment run on its own makes its own. So the EXR scenes have one set of hashes, and the
MiDaS scenes one per checkpoint, keyed by a digest of its tensors. Weights without an entry fail,
saying how to record one; a map that differs fails with the names of the files that differ.

Record (only when an output is meant to change, or for new test weights, and only from the code
before the change): `DEPTH_TOOLS_RECORD_OUTPUTS=1 .venv/bin/python -m pytest tests/test_outputs_unchanged.py`,
once with the checkpoint tools/test.sh shares and once with the one `.venv-forge` makes alone (a
DEPTH_TOOLS_TEST_CHECKPOINT that names a file not yet there makes it). The test then stores what it
wrote and skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
RECORD = os.environ.get("DEPTH_TOOLS_RECORD_OUTPUTS") == "1"

#: the key of the EXR scenes' hashes: nothing outside the code decides them (measured, see above)
ANY = "any environment"
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
    """scene -> key (ANY, or the weights' digest) -> file -> sha256."""
    return json.loads(STORED.read_text(encoding="utf8"))["scenes"] if STORED.is_file() else {}


def record(name: str, key: str, files: dict[str, str]) -> None:
    scenes = load_stored()
    scenes.setdefault(name, {})[key] = files
    STORED.parent.mkdir(parents=True, exist_ok=True)
    about = __doc__.split("\n\n")[0].replace("\n", " ")
    STORED.write_text(json.dumps({"about": about, "scenes": dict(sorted(scenes.items()))}, indent=1) + "\n",
                      encoding="utf8")


def expected(name: str, key: str) -> dict[str, str]:
    stored = load_stored().get(name, {})
    if key not in stored:
        pytest.fail(f"no stored outputs of scene {name!r} for {key}: record them from the code before the change "
                    "(see the docstring of tests/test_outputs_unchanged.py)")
    return stored[key]


@pytest.mark.parametrize("name", SCENES)
def test_outputs_are_the_bytes_of_the_code_before(name: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    weights = request.getfixturevalue("midas_checkpoint") if uses_midas(name) else None
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    assert main([*SCENES[name](inputs, weights), "-o", str(out)]) == 0, capsys.readouterr().err
    files, key = written_pngs(out), weights_digest(weights) if weights else ANY
    assert files, "the scene wrote no PNG"
    if RECORD:
        record(name, key, files)
        pytest.skip(f"recorded {len(files)} outputs of {name} for {key}")
    before = expected(name, key)
    changed = sorted(f for f in before.keys() | files.keys() if before.get(f) != files.get(f))
    assert not changed, f"{name}: these outputs differ from the code before (missing, new or other bytes): {changed}"
