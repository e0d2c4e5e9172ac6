"""Checkpoints inside a WebUI whose `torch.load` is its checking wrapper (A1111's modules/safe.py).

That wrapper's list of zip member names predates what torch 2.13 writes (`.format_version`,
`.storage_alignment`), so it refuses a valid checkpoint a user saves today and returns None. Depth
Tools loads through the unwrapped loader the host adapter hands over (`modules.safe.unsafe_torch_load`),
always with `weights_only=True`: such a file loads, and a file holding Python objects is still refused.
The double's safe.py reproduces the WebUI's (tests/host_double/webui/modules/safe.py).
"""

from __future__ import annotations

import argparse
import base64
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.anything_support import random_state_dict, save_pth
from tests.host_double import WebUI

ANYTHING = "depth_tools_anything_v2"


def png_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def picture(height: int = 42, width: int = 70) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], axis=2).astype(np.uint8)


def detect(webui: WebUI) -> tuple[int, dict]:
    from fastapi.testclient import TestClient

    client = TestClient(webui.app(), raise_server_exceptions=False)
    reply = client.post("/controlnet/detect", json={
        "controlnet_module": ANYTHING, "controlnet_input_images": [png_b64(picture())],
        "controlnet_processor_res": 70,
    })
    return reply.status_code, reply.json()


def a1111_with_weights(make_webui: Callable[..., WebUI], folder: Path) -> WebUI:
    webui = make_webui("controlnet", depth_tools_weights_dir=str(folder), depth_tools_device="cpu",
                       depth_tools_precision="fp32", depth_tools_allow_download=False)
    webui.install_safe_loader()
    return webui


def test_a_checkpoint_saved_by_todays_torch_loads_behind_the_webuis_safe_loader(
    make_webui: Callable[..., WebUI], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lib_depth.images import registry

    registry.release_all(free=True)  # this file, not a model another test left loaded
    weights = save_pth(tmp_path / "weights" / "depth_anything_v2_vits.pth", random_state_dict("vits"))
    names = zipfile.ZipFile(weights).namelist()
    assert any(name.endswith("/.format_version") for name in names)  # what the WebUI's list lacks
    webui = a1111_with_weights(make_webui, weights.parent)
    try:
        status, body = detect(webui)
        assert status == 200, body
        depth = np.array(Image.open(io.BytesIO(base64.b64decode(body["images"][0]))))
        assert depth.ndim in (2, 3) and np.ptp(depth) > 0  # a map, from the random network
        assert "Error verifying pickled file" not in capsys.readouterr().err  # the wrapper never saw it
    finally:
        registry.release_all(free=True)


def test_a_checkpoint_with_python_objects_is_still_refused_there(
    make_webui: Callable[..., WebUI], tmp_path: Path
) -> None:
    """The unwrapped loader is called with weights_only=True: no less strict than the wrapper."""
    state = {**random_state_dict("vits"), "args": argparse.Namespace(lr=0.1)}  # as training scripts save
    weights = save_pth(tmp_path / "weights" / "depth_anything_v2_vits.pth", state)
    webui = a1111_with_weights(make_webui, weights.parent)
    status, body = detect(webui)
    assert status == 503, body
    assert "Python objects" in body["detail"] and "argparse.Namespace" in body["detail"], body
    assert str(weights) in body["detail"]


def test_the_host_hands_over_the_unwrapped_loader(make_webui: Callable[..., WebUI]) -> None:
    import torch

    from lib_depth.webui import host

    original = torch.load
    assert host.torch_loader() is None  # no WebUI: torch's own torch.load
    webui = make_webui("controlnet")
    safe = webui.install_safe_loader()
    assert torch.load is safe.load and host.torch_loader() is original


def test_video_depth_anything_loads_behind_the_webuis_safe_loader(
    make_webui: Callable[..., WebUI], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in the real A1111 1.10.1: Video Depth Anything called torch.load itself, the wrapper
    refused today's file and answered None ("the file holds a NoneType")."""
    from lib_depth.video import load_video_network
    from tests.video_support import video_state_dict

    weights = save_pth(tmp_path / "video_depth_anything_vits.pth", video_state_dict("vits"))
    webui = make_webui("controlnet")
    webui.install_safe_loader()
    _, config = load_video_network(weights)
    assert config.encoder == "vits"
    assert "Error verifying pickled file" not in capsys.readouterr().err  # the wrapper never saw it
