"""The EXR nodes in a real ComfyUI: the pack loads from a clean clone, and the same EXR with the same
flags gives the command line's 16-bit pixels (one render, a sequence, normals); bad files give the
command line's one-line message and the server goes on serving."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth.depth.chart import HEIGHT, SCALE, TITLE, WIDTH, draw_histogram
from lib_depth.depth.exr import read_depth, write_depth
from lib_depth.depth.process import histogram
from lib_depth.depth.sample import synthetic_scene
from tests.comfy.server import PACK, REPO, Comfy, error_of, upload

NODES = ("DepthTools_LoadExrDepth", "DepthTools_DepthHistogram", "DepthTools_DepthToMap",
         "DepthTools_NormalFromRender", "DepthTools_SavePng16")


def cli(*args: object) -> None:
    """`python -m lib_depth ...` in this environment, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "lib_depth", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def saved(comfy: Comfy, entry: dict, node: str = "save") -> list[np.ndarray]:
    return [png(comfy.view(image)) for image in entry["outputs"][node]["images"]]


def load_node(exr: str = "", path: str = "", channel: str = "") -> dict:
    return {"class_type": "DepthTools_LoadExrDepth", "inputs": {"exr": exr, "path": path, "channel": channel,
                                                                "view": ""}}


def map_graph(load: dict, **flags: object) -> dict:
    settings = {"use_cutoff": False, "cutoff": 0.0, "compress": False, "invert": False, "noise": False, "seed": 0,
                **flags}
    return {"load": load,
            "map": {"class_type": "DepthTools_DepthToMap", "inputs": {"depth": ["load", 0], **settings}},
            "save": {"class_type": "DepthTools_SavePng16",
                     "inputs": {"images": ["map", 0], "filename_prefix": f"t/{uuid.uuid4().hex[:8]}", "bits": "16"}}}


def scene(path: Path, width: int = 96, height: int = 64, shift: float = 0.0) -> Path:
    write_depth(path, synthetic_scene(width, height) + np.float32(shift), channel="Y")
    return path


def test_the_pack_loads_from_a_clean_clone(comfy: Comfy) -> None:
    info = comfy.object_info()
    for name in NODES:
        assert name in info, f"{name} missing from /object_info"
        assert info[name]["python_module"] == f"custom_nodes.{PACK}"
    assert info["DepthTools_DepthToMap"]["output"] == ["IMAGE", "MASK"]
    assert info["DepthTools_LoadExrDepth"]["output"][0] == info["DepthTools_DepthToMap"]["input"]["required"][
        "depth"][0]
    failed = [line for line in comfy.log.read_text().splitlines() if "Cannot import" in line and PACK in line]
    assert not failed, failed


def test_one_render_gives_the_command_lines_pixels(comfy: Comfy, tmp_path: Path) -> None:
    name = f"render-{uuid.uuid4().hex[:6]}.exr"
    exr = scene(comfy.root / "input" / name)
    entry = comfy.run(map_graph(load_node(exr=name), use_cutoff=True, cutoff=205.0, compress=True, noise=True,
                                seed=7))
    assert error_of(entry) is None, error_of(entry)
    cli(exr, "--bits", 16, "--depth_cutoff", 205.0, "--compress_map", "--noise", "--seed", 7, "-o", tmp_path)
    expected = png((tmp_path / f"{exr.stem}.depth.png").read_bytes())
    (got,) = saved(comfy, entry)
    assert got.dtype == np.uint16 and expected.dtype == np.uint16
    assert np.array_equal(got, expected)


def test_a_sequence_gives_the_command_lines_frames(comfy: Comfy, tmp_path: Path) -> None:
    folder = tmp_path / "shot"
    folder.mkdir()
    for number, shift in ((1, 0.0), (2, 30.0), (3, -15.0)):
        scene(folder / f"shot_{number:04d}.exr", shift=shift)
    entry = comfy.run(map_graph(load_node(path=str(folder / "shot_####.exr")), compress=True, noise=True, seed=3,
                                invert=True))
    assert error_of(entry) is None, error_of(entry)
    out = tmp_path / "out"
    cli("--sequence", folder / "shot_####.exr", "--bits", 16, "--compress_map", "--noise", "--seed", 3, "--invert",
        "-o", out)
    got = saved(comfy, entry)
    assert len(got) == 3
    for number, image in enumerate(got, start=1):
        assert np.array_equal(image, png((out / f"shot_{number:04d}.depth.png").read_bytes())), number


def test_normals_give_the_command_lines_normal_map(comfy: Comfy, tmp_path: Path) -> None:
    exr = scene(tmp_path / "normals.exr", 120, 80)
    graph = {"load": load_node(path=str(exr)),
             "normal": {"class_type": "DepthTools_NormalFromRender",
                        "inputs": {"depth": ["load", 0], "fov": 50.0, "depth_is": "distance", "style": "bae",
                                   "use_cutoff": True, "cutoff": 215.0}},
             "save": {"class_type": "DepthTools_SavePng16",
                      "inputs": {"images": ["normal", 0], "filename_prefix": "t/normal", "bits": "8"}}}
    entry = comfy.run(graph)
    assert error_of(entry) is None, error_of(entry)
    cli(exr, "--normal", "--fov", 50, "--depth-is", "distance", "--depth_cutoff", 215.0, "-o", tmp_path / "out")
    expected = png((tmp_path / "out" / "normals.normal.png").read_bytes())
    (got,) = saved(comfy, entry)
    assert got.shape == (80, 120, 3) and np.array_equal(got, expected)


def test_the_histogram_advice_is_the_command_lines(comfy: Comfy, tmp_path: Path) -> None:
    exr = scene(tmp_path / "histo.exr")
    graph = {"load": load_node(path=str(exr)),
             "histo": {"class_type": "DepthTools_DepthHistogram", "inputs": {"depth": ["load", 0]}}}
    entry = comfy.run(graph)
    assert error_of(entry) is None, error_of(entry)
    text = entry["outputs"]["histo"]["text"][0]
    done = subprocess.run([sys.executable, "-m", "lib_depth", str(exr), "--depth_cutoff", "histo"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    buckets = [line for line in done.stdout.splitlines() if line.startswith("** - ")]
    assert len(buckets) == 20 and text.splitlines()[:20] == buckets


def chart_of(comfy: Comfy, exr: Path) -> np.ndarray:
    """The histogram node's chart IMAGE, saved by ComfyUI's own SaveImage and read back (RGB)."""
    graph = {"load": load_node(path=str(exr)),
             "histo": {"class_type": "DepthTools_DepthHistogram", "inputs": {"depth": ["load", 0]}},
             "save": {"class_type": "SaveImage",
                      "inputs": {"images": ["histo", 2], "filename_prefix": f"c/{uuid.uuid4().hex[:8]}"}}}
    entry = comfy.run(graph)
    assert error_of(entry) is None, error_of(entry)
    return cv2.cvtColor(saved(comfy, entry)[0], cv2.COLOR_BGR2RGB)


def test_the_histogram_chart_is_the_tabs_drawing_of_that_render(comfy: Comfy, tmp_path: Path) -> None:
    exr = scene(tmp_path / "chart.exr")
    got = chart_of(comfy, exr)
    expected = draw_histogram(histogram(read_depth(exr).depth), title=TITLE)
    assert got.shape == expected.shape == (HEIGHT * SCALE, WIDTH * SCALE, 3)
    # SaveImage truncates 255 * (level / 255) in float32: a level may come back one lower
    assert np.abs(got.astype(int) - expected).max() <= 1
    other = chart_of(comfy, scene(tmp_path / "far.exr", shift=40.0))  # other depths: other bars and labels
    assert np.abs(other.astype(int) - got).max() > 100


@pytest.mark.parametrize("damage", ["truncated", "no depth channel", "wrong-sized frame"])
def test_bad_input_is_one_line_and_the_next_prompt_runs(comfy: Comfy, tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    good = scene(folder / "f_0001.exr")
    if damage == "truncated":
        bad = folder / "f_0002.exr"
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "no depth channel":
        bad = folder / "f_0002.exr"
        write_depth(bad, synthetic_scene(96, 64), channel="A")
    else:
        bad = scene(folder / "f_0002.exr", 80, 64)
    entry = comfy.run(map_graph(load_node(path=str(folder / "f_####.exr"))))
    message = error_of(entry)
    assert message is not None and "\n" not in message.strip() and str(bad) in message, message
    assert "Traceback" not in message
    ok = comfy.run(map_graph(load_node(path=str(good))))
    assert error_of(ok) is None and len(saved(comfy, ok)) == 1


def test_cancel_stops_between_frames_and_leaves_no_half_written_file(comfy: Comfy, tmp_path: Path) -> None:
    """`POST /interrupt` while a long sequence runs: the prompt ends interrupted, every file it wrote
    is a whole PNG (no temporary left), and the next prompt runs. (Where it stops, ComfyUI's check
    between nodes or ours between frames, this does not tell: here it stopped before any save.)"""
    folder = tmp_path / "long"
    folder.mkdir()
    for number in range(1, 41):
        scene(folder / f"l_{number:04d}.exr", 768, 512, shift=float(number))
    graph = map_graph(load_node(path=str(folder / "l_####.exr")), compress=True)
    prefix = graph["save"]["inputs"]["filename_prefix"]
    prompt = comfy.queue(graph)
    end = time.monotonic() + 60
    while time.monotonic() < end and not json.loads(comfy.get("/queue"))["queue_running"]:
        time.sleep(0.05)
    time.sleep(0.5)
    assert comfy.post("/interrupt")[0] == 200
    entry = comfy.wait(prompt)
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, kinds
    written = sorted((comfy.root / "output").glob(f"{prefix}_*.png"))
    assert len(written) < 40, len(written)
    for path in written:
        assert png(path.read_bytes()).shape == (512, 768)
    assert list((comfy.root / "output" / Path(prefix).parent).glob(".*")) == []
    ok = comfy.run(map_graph(load_node(path=str(folder / "l_0001.exr"))))
    assert error_of(ok) is None


def test_an_uploaded_render_is_listed_and_loads_as_its_path_does(comfy: Comfy, tmp_path: Path) -> None:
    """Load EXR's file list is the input folder's renders with an upload button, as LoadImage's:
    an EXR sent through /upload/image (the page's upload) is listed and gives the path's map."""
    exr = scene(tmp_path / f"upload-{uuid.uuid4().hex[:6]}.exr", shift=3.0)
    declared = comfy.object_info()["DepthTools_LoadExrDepth"]["input"]["required"]["exr"]
    assert declared[1].get("image_upload") is True and exr.name not in declared[0]
    name = upload(comfy, exr)
    assert name == exr.name and name in comfy.object_info()["DepthTools_LoadExrDepth"]["input"]["required"]["exr"][0]
    by_upload = comfy.run(map_graph(load_node(exr=name)))
    by_path = comfy.run(map_graph(load_node(path=str(exr))))
    assert error_of(by_upload) is None and error_of(by_path) is None, (error_of(by_upload), error_of(by_path))
    assert np.array_equal(saved(comfy, by_upload)[0], saved(comfy, by_path)[0])
