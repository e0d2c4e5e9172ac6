"""The WebUI's download rule in ComfyUI: with `auto` and no usable file, a node fetches the
permissively licensed file only (MiDaS; Depth Anything V2 and Video Depth Anything Small, never Base
or Large) from `HF_ENDPOINT` (here the tests' stand-in hub), and a file that is not the published one
is deleted, not loaded: the prompt fails with one line and nothing new is left in the models folder."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.comfy.server import Comfy, error_of, upload
from tests.comfy.test_model_nodes import picture

CASES = {
    "DepthTools_MiDaS": ({"a": 6.28, "bg_threshold": 0.1, "resolution": 256}, "depth_tools",
                         "/lllyasviel/Annotators/resolve/main/dpt_hybrid-midas-501f0c75.pt"),
    "DepthTools_DepthAnythingV2": ({"bg_threshold": 0.1, "resolution": 70}, "depth_tools",
                                   "/depth-anything/Depth-Anything-V2-Small/resolve/main/depth_anything_v2_vits.pth"),
    "DepthTools_VideoDepthAnything": ({"bg_threshold": 0.1, "resolution": 70}, "video_depth_anything",
                                      "/depth-anything/Video-Depth-Anything-Small/resolve/main/"
                                      "video_depth_anything_vits.pth"),
}


def _files(folder: Path) -> dict[str, int]:
    return {p.name: p.lstat().st_size for p in folder.iterdir()} if folder.is_dir() else {}


@pytest.mark.parametrize("node", list(CASES))
def test_auto_fetches_only_the_permissive_file_and_loads_it_only_if_published(comfy: Comfy, tmp_path: Path,
                                                                             node: str) -> None:
    inputs, folder, path = CASES[node]
    models = comfy.root / "models" / folder
    before = _files(models)
    comfy.hub.files[path] = b"not the published weights\n" * 4096
    comfy.hub.asked.clear()
    image = upload(comfy, picture(tmp_path / f"dl-{uuid.uuid4().hex[:6]}.png", 64, 48))
    graph = {"image": {"class_type": "LoadImage", "inputs": {"image": image}},
             "depth": {"class_type": node, "inputs": {"image": ["image", 0], **inputs, "weights": "auto"}},
             "save": {"class_type": "DepthTools_SavePng16", "inputs": {
                 "images": ["depth", 0], "filename_prefix": f"dl/{uuid.uuid4().hex[:8]}", "bits": "16"}}}
    message = error_of(comfy.run(graph))
    assert message is not None and "\n" not in message.strip(), message
    assert "deleted, not loaded" in message and path.rsplit("/", 1)[1] in message, message
    assert comfy.hub.asked == [path]  # the Small / permissive file alone, asked once
    assert _files(models) == before  # no half file, no wrong file kept
