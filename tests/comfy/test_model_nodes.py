"""The MiDaS node in a real ComfyUI: a drop-in for the seed node's inputs, the command line's map
for the same picture and weights (random weights in the published layout), at the input's size;
missing weights are one line and the server goes on."""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import numpy as np

from tests.anything_support import random_state_dict, save_pth
from tests.comfy.server import Comfy, error_of, upload
from tests.comfy.test_exr_nodes import cli, png, saved

WEIGHTS = "midas-random.pt"


def picture(path: Path, width: int = 160, height: int = 96) -> Path:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 7) % 256], axis=2).astype(np.uint8)
    cv2.circle(rgb, (width // 2, height // 2), height // 3, (250, 240, 230), -1)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def midas_graph(image: str, weights: str = WEIGHTS, resolution: int = 256) -> dict:
    return {"image": {"class_type": "LoadImage", "inputs": {"image": image}},
            "midas": {"class_type": "DepthTools_MiDaS",
                      "inputs": {"image": ["image", 0], "a": 6.28, "bg_threshold": 0.1, "resolution": resolution,
                                 "weights": weights}},
            "save": {"class_type": "DepthTools_SavePng16",
                     "inputs": {"images": ["midas", 0], "filename_prefix": f"m/{uuid.uuid4().hex[:8]}", "bits": "16"}}}


def place_weights(comfy: Comfy, checkpoint: Path) -> None:
    folder = comfy.root / "models" / "depth_tools"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / WEIGHTS).exists():
        (folder / WEIGHTS).symlink_to(checkpoint)


#: The seed node's inputs as it declares them (comfyui_controlnet_aux's MIDAS_Depth_Map_Preprocessor
#: through its utils.create_node_input_types; ComfyUI's nodes.MAX_RESOLUTION is 16384).
SEED_INPUTS = {"a": ["FLOAT", {"default": np.pi * 2.0, "min": 0.0, "max": np.pi * 5.0, "step": 0.05}],
               "bg_threshold": ["FLOAT", {"default": 0.1, "min": 0, "max": 1, "step": 0.05}],
               "resolution": ["INT", {"default": 512, "min": 64, "max": 16384, "step": 64}]}


def test_the_midas_node_takes_the_seed_nodes_inputs(comfy: Comfy) -> None:
    info = comfy.object_info()["DepthTools_MiDaS"]
    assert info["input"]["required"] == {"image": ["IMAGE"]}
    optional = info["input"]["optional"]
    assert {name: optional[name] for name in SEED_INPUTS} == SEED_INPUTS
    assert info["output"][:2] == ["IMAGE", comfy.object_info()["DepthTools_LoadExrDepth"]["output"][0]]


def test_midas_gives_the_command_lines_map_at_the_pictures_size(comfy: Comfy, midas_checkpoint: Path,
                                                               tmp_path: Path) -> None:
    place_weights(comfy, midas_checkpoint)
    photo = picture(tmp_path / f"photo-{uuid.uuid4().hex[:6]}.png")
    entry = comfy.run(midas_graph(upload(comfy, photo)))
    assert error_of(entry) is None, error_of(entry)
    cli(photo, "--bits", 16, "--resolution", 256, "--weights", midas_checkpoint, "--device", "cpu",
        "--precision", "fp32", "-o", tmp_path / "out")
    expected = png((tmp_path / "out" / f"{photo.stem}.depth.png").read_bytes())
    (got,) = saved(comfy, entry)
    assert got.shape == (96, 160) and got.dtype == np.uint16
    assert np.array_equal(got, expected)


def test_missing_weights_are_one_line_and_the_next_prompt_runs(comfy: Comfy, midas_checkpoint: Path,
                                                              tmp_path: Path) -> None:
    place_weights(comfy, midas_checkpoint)
    name = upload(comfy, picture(tmp_path / f"miss-{uuid.uuid4().hex[:6]}.png", 96, 64))
    entry = comfy.run(midas_graph(name, weights="auto", resolution=320))
    message = error_of(entry)
    assert message is not None and "\n" not in message.strip() and "dpt_hybrid-midas-501f0c75.pt" in message, message
    assert error_of(comfy.run(midas_graph(name, resolution=320))) is None


def test_depth_anything_gives_the_command_lines_map(comfy: Comfy, tmp_path: Path) -> None:
    """Depth Anything V2 (ViT-S, random weights in the published checkpoint's layout) through the node
    equals `python -m lib_depth --model depth-anything-v2` for the same picture and file."""
    checkpoint = save_pth(comfy.root / "models" / "depth_tools" / "depth_anything_v2_vits.pth",
                          random_state_dict("vits"))
    photo = picture(tmp_path / f"da2-{uuid.uuid4().hex[:6]}.png", 98, 70)
    graph = {"image": {"class_type": "LoadImage", "inputs": {"image": upload(comfy, photo)}},
             "da2": {"class_type": "DepthTools_DepthAnythingV2",
                     "inputs": {"image": ["image", 0], "bg_threshold": 0.1, "resolution": 70,
                                "weights": checkpoint.name}},
             "save": {"class_type": "DepthTools_SavePng16",
                      "inputs": {"images": ["da2", 0], "filename_prefix": f"d/{uuid.uuid4().hex[:8]}", "bits": "16"}}}
    entry = comfy.run(graph)
    assert error_of(entry) is None, error_of(entry)
    cli(photo, "--model", "depth-anything-v2", "--bits", 16, "--resolution", 70, "--weights", checkpoint,
        "--device", "cpu", "--precision", "fp32", "-o", tmp_path / "out")
    expected = png((tmp_path / "out" / f"{photo.stem}.depth.png").read_bytes())
    (got,) = saved(comfy, entry)
    assert got.shape == (70, 98) and got.dtype == np.uint16
    assert np.array_equal(got, expected)
