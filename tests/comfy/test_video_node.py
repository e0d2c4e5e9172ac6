"""The Video Depth Anything node in a real ComfyUI: frames batched by ComfyUI's own nodes (LoadImage,
ImageBatch) give the command line's `--model video-depth-anything --sequence FRAMES --bits 16` maps,
byte for byte, through the node's own map and through its DEPTH socket and *Depth to ControlNet map*
(one mapping for the clip); one frame is `--sequence` of one frame; missing weights are one line
naming the folder, and the next prompt runs; `POST /free` drops the cached network. Random weights in
the official layout (`tests/video_support.py`), 64 x 48 frames, a 70-pixel network input: seconds on a
CPU."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.anything_support import save_pth
from tests.comfy.server import Comfy, error_of, upload
from tests.comfy.test_exr_nodes import cli, png, saved
from tests.video_support import frames, video_state_dict

NODE = "DepthTools_VideoDepthAnything"
#: not an official file name, so that `auto` never finds it (the missing-weights case stays missing)
WEIGHTS = "vda-random-vits.pth"
H, W = 48, 64


@pytest.fixture(scope="module")
def weights(comfy: Comfy) -> Path:
    return save_pth(comfy.root / "models" / "video_depth_anything" / WEIGHTS, video_state_dict("vits"))


def shot(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i, rgb in enumerate(frames(count, H, W)):
        paths.append(folder / f"{folder.name}_{i:04d}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return paths


def video_graph(comfy: Comfy, pictures: list[Path], weights: str = WEIGHTS) -> dict:
    """LoadImage per frame, joined into one batch by ComfyUI's ImageBatch; the node's map saved, and its
    DEPTH through *Depth to ControlNet map* (no cutoff, compress or noise) saved too."""
    graph: dict = {f"f{i}": {"class_type": "LoadImage", "inputs": {"image": upload(comfy, p)}}
                   for i, p in enumerate(pictures)}
    batch = ["f0", 0]
    for i in range(1, len(pictures)):
        graph[f"b{i}"] = {"class_type": "ImageBatch", "inputs": {"image1": batch, "image2": [f"f{i}", 0]}}
        batch = [f"b{i}", 0]
    return depth_graph(graph, batch, weights)


def depth_graph(graph: dict, batch: list, weights: str) -> dict:
    """`graph` (whose node `batch` gives the frames) with the node, its map saved and its DEPTH mapped."""
    prefix = f"v/{uuid.uuid4().hex[:8]}"
    graph["vda"] = {"class_type": NODE, "inputs": {"image": batch, "bg_threshold": 0.1, "resolution": 70,
                                                    "weights": weights}}
    graph["save"] = {"class_type": "DepthTools_SavePng16",
                     "inputs": {"images": ["vda", 0], "filename_prefix": prefix, "bits": "16"}}
    graph["map"] = {"class_type": "DepthTools_DepthToMap",
                    "inputs": {"depth": ["vda", 1], "use_cutoff": False, "cutoff": 0.0, "compress": False,
                               "invert": False, "noise": False, "seed": 0}}
    graph["save_map"] = {"class_type": "DepthTools_SavePng16",
                         "inputs": {"images": ["map", 0], "filename_prefix": prefix + "m", "bits": "16"}}
    return graph


def cli_maps(pictures: list[Path], weights: Path, out: Path) -> list[np.ndarray]:
    cli("--model", "video-depth-anything", "--sequence", pictures[0].parent, "--bits", 16, "--resolution", 70,
        "--bg_threshold", 0.1, "--weights", weights, "--device", "cpu", "-o", out)
    return [png((out / f"{p.stem}.depth.png").read_bytes()) for p in pictures]


@pytest.mark.parametrize("count", [4, 1])
def test_the_node_gives_the_command_lines_sequence(comfy: Comfy, weights: Path, tmp_path: Path,
                                                   count: int) -> None:
    pictures = shot(tmp_path / f"clip{uuid.uuid4().hex[:6]}", count)
    entry = comfy.run(video_graph(comfy, pictures))
    assert error_of(entry) is None, error_of(entry)
    expected = cli_maps(pictures, weights, tmp_path / "out")
    for node in ("save", "save_map"):
        got = saved(comfy, entry, node)
        assert len(got) == count and all(g.shape == (H, W) and g.dtype == np.uint16 for g in got)
        assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True)), node
    if count > 1:  # one mapping for the clip, not one per frame: not every frame reaches the nearest level
        assert max(int(e.max()) for e in expected) == 65535 and min(int(e.max()) for e in expected) < 65535


def test_a_video_through_comfyuis_load_video_gives_the_command_lines_maps(comfy: Comfy, weights: Path,
                                                                         tmp_path: Path) -> None:
    """The way a user brings a clip in (core *Load Video* -> *Get Video Components*, PyAV's rgb24
    frames) against `python -m lib_depth --model video-depth-anything clip.mp4` (the same decoder)."""
    import av

    clip = tmp_path / f"clip{uuid.uuid4().hex[:6]}.mp4"
    with av.open(str(clip), mode="w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.height, stream.width, stream.pix_fmt = H, W, "yuv420p"
        for rgb in frames(5, H, W):
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    graph = {"video": {"class_type": "LoadVideo", "inputs": {"file": upload(comfy, clip)}},
             "parts": {"class_type": "GetVideoComponents", "inputs": {"video": ["video", 0]}}}
    entry = comfy.run(depth_graph(graph, ["parts", 0], WEIGHTS))
    assert error_of(entry) is None, error_of(entry)
    cli("--model", "video-depth-anything", clip, "--bits", 16, "--resolution", 70, "--bg_threshold", 0.1,
        "--weights", weights, "--device", "cpu", "-o", tmp_path / "out")
    expected = [png((tmp_path / "out" / f"{clip.stem}_{i:06d}.depth.png").read_bytes()) for i in range(1, 6)]
    got = saved(comfy, entry)
    assert len(got) == 5 and all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


def test_missing_weights_are_one_line_and_the_next_prompt_runs(comfy: Comfy, weights: Path,
                                                              tmp_path: Path) -> None:
    pictures = shot(tmp_path / f"miss{uuid.uuid4().hex[:6]}", 2)
    message = error_of(comfy.run(video_graph(comfy, pictures, weights="auto")))
    assert message is not None and "\n" not in message.strip(), message
    assert "video_depth_anything_vits.pth" in message and "never downloaded" in message, message
    # every folder `auto` searched (the message lists the very folders the search walks), ours first
    searched = [str(Path("models") / name) for name in ("video_depth_anything", "videodepthanything", "depth_tools")]
    assert all(folder in message for folder in searched), message
    assert message.index(searched[0]) < message.index(searched[1]) < message.index(searched[2]), message
    assert error_of(comfy.run(video_graph(comfy, pictures))) is None


def test_object_info_lists_the_node_and_its_inputs(comfy: Comfy, weights: Path) -> None:
    info = comfy.object_info()
    node = info[NODE]
    assert node["category"] == "Depth Tools" and node["display_name"] == "Video Depth Anything (Depth Tools)"
    assert node["input"]["required"] == {"image": ["IMAGE"]}
    optional = node["input"]["optional"]
    assert set(optional) == {"bg_threshold", "resolution", "weights"}
    assert optional["resolution"][0] == "INT" and optional["resolution"][1]["default"] == 518
    assert optional["resolution"][1]["step"] == 14
    assert optional["bg_threshold"][0] == "FLOAT"
    assert optional["weights"][0][0] == "auto" and weights.name in optional["weights"][0]
    assert node["output"] == ["IMAGE", info["DepthTools_LoadExrDepth"]["output"][0]]


def test_free_unloads_the_video_network(comfy: Comfy, weights: Path, tmp_path: Path) -> None:
    """As `test_free.py` for MiDaS: while cached, a damaged file changes nothing; after /free the next
    run loads it again and fails on it, naming it (each prompt's bg_threshold differs, so that
    ComfyUI's output cache cannot answer it)."""
    placed = weights.with_name(f"free-{uuid.uuid4().hex[:6]}.pth")
    shutil.copyfile(weights, placed)
    pictures = shot(tmp_path / f"free{uuid.uuid4().hex[:6]}", 2)

    def run(step: int) -> str | None:
        graph = video_graph(comfy, pictures, weights=placed.name)
        graph["vda"]["inputs"]["bg_threshold"] = 0.1 + step * 1e-3
        return error_of(comfy.run(graph))

    try:
        assert run(1) is None
        damaged = placed.with_suffix(".part")  # a new file in its place: the cached one may be memory-mapped
        damaged.write_bytes(placed.read_bytes()[:4096])
        damaged.replace(placed)
        assert run(2) is None  # still cached
        status, _ = comfy.post("/free", {"unload_models": True, "free_memory": True})
        assert status == 200
        # The prompt worker reads /free's flags when its wait for a prompt ends: at once if it was
        # waiting, else (it was still finishing the last prompt) only after the next one. A prompt
        # of ComfyUI's own nodes in between makes sure they are applied before ours runs.
        preview = {"i": {"class_type": "LoadImage", "inputs": {"image": upload(comfy, pictures[0])}},
                   "p": {"class_type": "PreviewImage", "inputs": {"images": ["i", 0]}}}
        assert error_of(comfy.run(preview)) is None
        message = run(3)
    finally:
        placed.unlink()
    assert message is not None and placed.name in message and "\n" not in message.strip(), message
