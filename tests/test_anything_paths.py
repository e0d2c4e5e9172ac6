"""Depth Anything V2 through every path: the command line (files and sequences), the HTTP API, the
ControlNet preprocessors, the registry's one-model-per-process rule; each map equals the estimator's
own nearness put through the core (`nearness_to_depth`, `make_depth_map`, `normal_map`)."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lib_depth.cli import main
from lib_depth.depth.png import read_png
from lib_depth.depth.process import DepthOptions, make_depth_map
from lib_depth.images import ImageInput, registry
from lib_depth.midas import MidasSettings
from lib_depth.midas.maps import nearness_to_depth, normal_map
from lib_depth.webui import preprocessors
from tests.anything_support import picture, random_state_dict, save_pth
from tests.fixtures_webui import CONTROLNET_FLAVOURS, make_webui  # noqa: F401 (a fixture)

torch = pytest.importorskip("torch")

FLAGS = ("--device", "cpu", "--precision", "fp32")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("da_cli") / "depth_anything_v2_vits.pth", random_state_dict("vits", 3))


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("da_photo") / "photo.png"
    cv2.imwrite(str(path), picture(90, 150)[:, :, ::-1])
    return path


def estimator(weights_file: Path) -> Any:
    return registry.get_estimator("depth-anything-v2", MidasSettings(weights=str(weights_file), device="cpu",
                                                                      precision="fp32"))


def test_the_command_line_runs_depth_anything_through_the_core(weights_file: Path, photo: Path, tmp_path: Path) -> None:
    flags = ["--model", "depth-anything-v2", "--weights", str(weights_file), *FLAGS, "--resolution", "140"]
    assert main([str(photo), *flags, "--normal", "--mask", "--bits", "16", "-o", str(tmp_path), "-q"]) == 0
    nearness = estimator(weights_file).estimate(cv2.imread(str(photo))[:, :, ::-1].copy(), 140).nearness
    depth = nearness_to_depth(nearness, 0.1)
    expected = make_depth_map(depth, DepthOptions(bits=16))
    np.testing.assert_array_equal(read_png(tmp_path / "photo.depth.png"), expected.levels)
    np.testing.assert_array_equal(read_png(tmp_path / "photo.mask.png") == 0, expected.background)
    np.testing.assert_array_equal(read_png(tmp_path / "photo.normal.png"), normal_map(nearness, 2 * np.pi, 0.1, 140))
    assert read_png(tmp_path / "photo.depth.png").shape == (90, 150)


def test_the_default_resolution_is_the_models(weights_file: Path) -> None:
    assert ImageInput(model="depth-anything-v2").resolution == 518
    assert ImageInput().resolution == 512 and ImageInput(model="midas", resolution=384).resolution == 384
    assert registry.entry("Depth-Anything-V2").name == "depth-anything-v2"


def test_an_image_sequence_with_depth_anything(weights_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(3):
        cv2.imwrite(str(frames / f"f_{k:03d}.png"), np.roll(picture(56, 84), 4 * k, axis=1)[:, :, ::-1])
    args = ["--sequence", str(frames), "--model", "depth-anything-v2", "--weights", str(weights_file), *FLAGS,
            "--resolution", "70", "-o", str(tmp_path / "out"), "--json"]
    assert main(args) == 0
    done = json.loads(capsys.readouterr().out)["sequence"]
    assert done["converted"] == 3 and done["failed"] == 0
    assert all(read_png(tmp_path / "out" / f"f_{k:03d}.depth.png").shape == (56, 84) for k in range(3))


def test_one_model_per_process(weights_file: Path, tmp_path: Path) -> None:
    """Asking for another model releases the one loaded, before the other is even found."""
    from lib_depth import anything

    settings = MidasSettings(weights=str(weights_file), device="cpu", precision="fp32")
    estimator(weights_file)
    assert anything.loaded_estimator(registry.anything_settings(settings)) is not None
    with pytest.raises(anything.WeightsError):  # no MiDaS weights there: only the release is seen
        registry.get_estimator("midas", MidasSettings(weights=str(tmp_path / "absent.pt")))
    assert anything.loaded_estimator(registry.anything_settings(settings)) is None


def test_a_midas_file_given_to_depth_anything_is_a_clear_error(tmp_path: Path, photo: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    wrong = tmp_path / "dpt_hybrid-midas-501f0c75.pt"
    torch.save({"pretrained.model.cls_token": torch.zeros(1, 1, 768)}, str(wrong))
    assert main([str(photo), "--model", "depth-anything-v2", "--weights", str(wrong), *FLAGS, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {wrong}: these are not Depth Anything V2 weights") and "MiDaS" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.png"))


def test_the_http_api_runs_either_model_and_lists_both(weights_file: Path, photo: Path, tmp_path: Path) -> None:
    """`model` on /midas gives the command line's bytes; /info lists both models with their licences."""
    from fastapi import FastAPI

    from lib_depth.api import make_router
    from tests.api_support import docs_client, request, serve

    client = docs_client()
    app = FastAPI()
    folder = str(weights_file.parent)
    app.include_router(make_router(settings_fn=lambda model: MidasSettings(weights=folder, device="cpu",
                                                                           precision="fp32")))
    flags = ["--model", "depth-anything-v2", "--weights", str(weights_file.parent), *FLAGS, "--normal"]
    assert main([str(photo), *flags, "-o", str(tmp_path), "-q"]) == 0
    with serve(app) as url:
        answer = client.call("midas", photo, url, model="depth-anything-v2", normal=True)
        status, info = request(f"{url}/depth-tools/v1/info", method="GET")
        with pytest.raises(client.DepthToolsError) as caught:
            client.call("midas", photo, url, model="zoedepth")
    assert answer["model"] == "depth-anything-v2"
    for name in ("depth", "normal"):
        assert base64.b64decode(answer[name]) == (tmp_path / f"photo.{name}.png").read_bytes()
    models = {m["name"]: m for m in info["models"]}
    assert status == 200 and set(models) == {"midas", "depth-anything-v2"}
    assert models["depth-anything-v2"]["weights"] == str(weights_file) and models["depth-anything-v2"]["loaded"]
    assert "CC-BY-NC-4.0" in models["depth-anything-v2"]["licence"] and models["midas"]["licence"] == "MIT"
    assert caught.value.status == 422 and "unknown depth model 'zoedepth'" in caught.value.detail


@pytest.mark.parametrize("flavour", CONTROLNET_FLAVOURS)
def test_controlnet_preprocessors_run_depth_anything(make_webui: Callable[..., Any], weights_file: Path,  # noqa: F811
                                                     flavour: str) -> None:
    """`depth_tools_anything_v2` (+ `_compressed`) in every ControlNet flavour: the weights are found in
    a searched folder's `depth_anything_v2/` (where ControlNet keeps its own), the map is the core's."""
    folder = weights_file.parent.parent / f"webui-weights-{flavour}"
    (folder / "depth_anything_v2").mkdir(parents=True, exist_ok=True)
    shutil.copy(weights_file, folder / "depth_anything_v2" / weights_file.name)
    shutil.copy(weights_file, folder / "dpt_hybrid-midas-501f0c75.pt")  # MiDaS's file beside it: not Depth Anything's
    webui = make_webui(flavour, depth_tools_weights_dir=str(folder), depth_tools_device="cpu",
                       depth_tools_precision="fp32", depth_tools_allow_download=False)
    from lib_depth.webui import models

    for model, found in (("midas", folder / "dpt_hybrid-midas-501f0c75.pt"),
                         ("depth-anything-v2", folder / "depth_anything_v2" / weights_file.name)):
        assert registry.entry(model).find_weights(models.model_settings(model)) == found  # each its own file
    image = picture(54, 96)
    resized = preprocessors.resize_to(image, *preprocessors.target_size(54, 96, 140))
    nearness = estimator(weights_file).estimate(resized, 140).nearness
    for name, compress in (("depth_tools_anything_v2", False), ("depth_tools_anything_v2_compressed", True)):
        out = webui.call(name, image, 140, 0.1, None)
        levels = make_depth_map(nearness_to_depth(nearness, 0.1), DepthOptions(compress=compress)).levels
        assert out.shape == (140, 249, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, np.repeat(levels[:, :, None], 3, axis=2))
    assert webui.errors == []
