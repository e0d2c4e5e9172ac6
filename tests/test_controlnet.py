"""The preprocessors at work in each ControlNet flavour: real MiDaS network (random weights), real
controlnet_aux, the host double's registries and HTTP API. Small resolutions keep it fast."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_depth import midas
from lib_depth.webui import preprocessors
from tests.fixtures_webui import CONTROLNET_FLAVOURS
from tests.host_double import WebUI

RES = 64
DEPTH, COMPRESSED, NORMAL = "depth_tools_midas", "depth_tools_midas_compressed", "normal_tools_midas"


@pytest.fixture
def webui_with_model(make_webui: Callable[..., WebUI], midas_checkpoint: Path, midas_estimator: object):
    """`(flavour) -> WebUI` whose settings name the random checkpoint (CPU, fp32): the preprocessors
    share the session's loaded estimator, as every caller in one WebUI process does."""

    def make(flavour: str, **options: object) -> WebUI:
        settings = {
            "depth_tools_weights_dir": str(midas_checkpoint.parent),
            "depth_tools_device": "cpu",
            "depth_tools_precision": "fp32",
            "depth_tools_allow_download": False,
            **options,
        }
        return make_webui(flavour, **settings)

    return make


def scene(height: int = 54, width: int = 96, seed: int = 3) -> np.ndarray:
    """A small RGB picture with structure (a gradient and a bright disc)."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], axis=2)
    disc = (yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (height / 4) ** 2
    img[disc] = 240
    noise = np.random.default_rng(seed).integers(0, 20, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def variants(rgb: np.ndarray) -> dict[str, np.ndarray]:
    alpha = np.full((*rgb.shape[:2], 1), 255, np.uint8)
    alpha[:, : rgb.shape[1] // 4] = 0  # a transparent strip: composited on white
    gray = rgb.mean(axis=2).astype(np.uint8)
    return {"rgb": rgb, "rgba": np.concatenate([rgb, alpha], axis=2), "gray": gray, "gray1": gray[:, :, None]}


@pytest.mark.parametrize("flavour", CONTROLNET_FLAVOURS)
def test_each_flavour_returns_uint8_rgb_at_the_preprocessor_resolution(webui_with_model, flavour: str) -> None:
    webui = webui_with_model(flavour)
    # 54x96 (the aspect of 640x360) at 64: short side 64, long side 96 * 64/54 = 113.8 -> 114
    expected = (RES, 114, 3)
    calls = [(DEPTH, kind, image) for kind, image in variants(scene()).items()]
    calls += [(name, "rgb", scene()) for name in (COMPRESSED, NORMAL)]
    for name, kind, image in calls:
        spec = next(s for s in preprocessors.SPECS if s.name == name)
        out = webui.call(name, image, RES, spec.slider_1.value, getattr(spec.slider_2, "value", None))
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8, (name, kind)
        assert out.shape == expected, (name, kind, out.shape)
        assert out.flags.c_contiguous
    assert webui.errors == []


def test_portrait_and_exact_aspect(webui_with_model) -> None:
    webui = webui_with_model("controlnet")
    out = webui.call(DEPTH, scene(100, 37), 96)
    assert out.shape == (round(100 * 96 / 37), 96, 3)  # short side 96, the other rounded as ControlNet does
    assert webui.call(DEPTH, scene(64, 64), 64).shape == (64, 64, 3)


def test_deterministic_and_every_channel_equal(webui_with_model) -> None:
    webui = webui_with_model("forge")
    image = scene()
    first = webui.call(DEPTH, image, RES, 0.1)
    again = webui.call(DEPTH, image.copy(), RES, 0.1)
    assert first.tobytes() == again.tobytes()
    assert (first[:, :, 0] == first[:, :, 1]).all() and (first[:, :, 1] == first[:, :, 2]).all()
    assert first.max() == 255 and first.min() == 0  # nearest white, farthest black


def test_depth_matches_the_shared_processing(webui_with_model, midas_estimator) -> None:
    """The map is process.make_depth_map of MiDaS' nearness at the map's own size, background at 0."""
    from lib_depth.depth.process import DepthOptions, make_depth_map

    webui = webui_with_model("controlnet_legacy")
    image = scene(64, 64)
    nearness = midas_estimator(image, resolution=RES)
    for name, compress in ((DEPTH, False), (COMPRESSED, True)):
        for threshold in (0.0, 0.3):
            expected = make_depth_map(midas.nearness_to_depth(nearness, threshold), DepthOptions(compress=compress))
            out = webui.call(name, image, RES, threshold)
            assert np.array_equal(out[:, :, 0], expected.levels), (name, threshold)
    plain = webui.call(DEPTH, image, RES, 0.3)
    assert (plain == 0).mean() > (webui.call(DEPTH, image, RES, 0.0) == 0).mean()  # more background


def test_normal_map_uses_a_and_bg_threshold(webui_with_model, midas_estimator) -> None:
    webui = webui_with_model("controlnet")
    image = scene(64, 64)
    nearness = midas_estimator(image, resolution=RES)
    out = webui.call(NORMAL, image, RES, 3.0, 0.4)
    assert np.array_equal(out, midas.normal_map(nearness, 3.0, 0.4, RES))
    assert not np.array_equal(out, webui.call(NORMAL, image, RES, 9.0, 0.4))


def test_out_of_range_sliders_mean_the_default(webui_with_model) -> None:
    """Legacy ControlNet's API sends 64 for an omitted threshold, Mikubill's -1, Forge anything."""
    webui = webui_with_model("forge")
    image = scene(64, 64)
    depth = webui.call(DEPTH, image, RES, 0.1)
    normal = webui.call(NORMAL, image, RES, preprocessors.NORMAL_A.value, 0.1)
    for raw in (None, -1, 64, float("nan"), "x"):
        assert np.array_equal(webui.call(DEPTH, image, RES, raw), depth), raw
    for raw in (None, 64):
        assert np.array_equal(webui.call(NORMAL, image, RES, raw, raw), normal), raw


def test_resolution_out_of_range() -> None:
    assert preprocessors.pick_resolution(-1) == 512 and preprocessors.pick_resolution(None) == 512  # the default
    assert preprocessors.pick_resolution(float("nan")) == 512 and preprocessors.pick_resolution(10) == 512
    assert preprocessors.pick_resolution(5000) == 2048  # pixel-perfect past the slider: its maximum
    assert preprocessors.pick_resolution(100.4) == 100


def png_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode(b64: str) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(base64.b64decode(b64))))


@pytest.mark.parametrize("flavour", CONTROLNET_FLAVOURS)
def test_http_detect(webui_with_model, flavour: str) -> None:
    """POST /controlnet/detect with an RGBA and a grayscale PNG, thresholds omitted and explicit."""
    from fastapi.testclient import TestClient

    webui = webui_with_model(flavour)
    client = TestClient(webui.app())
    listed = client.get("/controlnet/module_list").json()["module_list"]
    assert {spec.name for spec in preprocessors.SPECS} <= set(listed)
    image = variants(scene())
    for name in (DEPTH, NORMAL) if flavour == "controlnet" else (DEPTH,):
        reply = client.post(
            "/controlnet/detect",
            json={
                "controlnet_module": name,
                "controlnet_input_images": [png_b64(image["rgba"]), png_b64(image["gray"])],
                "controlnet_processor_res": RES,
            },
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["info"] == "Success"
        outs = [decode(b) for b in body["images"]]
        assert [o.shape for o in outs] == [(RES, 114, 3)] * 2
        assert all(o.dtype == np.uint8 for o in outs)
    explicit = client.post(
        "/controlnet/detect",
        json={
            "controlnet_module": DEPTH,
            "controlnet_input_images": [png_b64(image["rgb"])],
            "controlnet_processor_res": RES,
            "controlnet_threshold_a": 0.1,
            "controlnet_threshold_b": 0.5,
        },
    ).json()["images"][0]
    assert np.array_equal(decode(explicit), webui.call(DEPTH, image["rgb"], RES, 0.1))


def test_http_detect_without_weights_is_a_clear_error(
    make_webui: Callable[..., WebUI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, midas_cache: Path, capfd
) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    empty = tmp_path / "no-weights-here"
    empty.mkdir()
    webui = make_webui("controlnet", depth_tools_weights_dir=str(empty), depth_tools_allow_download=False)
    client = TestClient(webui.app(), raise_server_exceptions=False)
    reply = client.post(
        "/controlnet/detect",
        json={
            "controlnet_module": DEPTH,
            "controlnet_input_images": [png_b64(scene())],
            "controlnet_processor_res": RES,
        },
    )
    assert reply.status_code == 503
    body = reply.json()
    assert body["error"] == "PreprocessorError" and body["detail"] == body["errors"]
    assert "not found" in body["detail"] and str(empty) in body["detail"] and "Settings > Depth Tools" in body["detail"]
    assert "Traceback" not in capfd.readouterr().err  # a user's mistake: the WebUI prints no traceback


@pytest.mark.parametrize("flavour", ["controlnet", "forge"])
def test_webui_safe_loader_does_not_refuse_a_current_checkpoint(
    make_webui: Callable[..., WebUI], midas_checkpoint: Path, tmp_path: Path, flavour: str, capsys
) -> None:
    """Inside A1111 torch.load is its checking loader, which refuses a checkpoint saved by a current
    torch (entries like `.format_version`) and returns None. The MiDaS weights are read through the
    unwrapped loader (weights only), so the preprocessor works, in the UI path and over HTTP."""
    from fastapi.testclient import TestClient

    folder = tmp_path / "weights"  # a path of its own: the estimator cache must not already hold it
    folder.mkdir()
    os.symlink(midas_checkpoint, folder / midas.WEIGHTS_NAME)
    webui = make_webui(
        flavour, depth_tools_weights_dir=str(folder), depth_tools_device="cpu", depth_tools_precision="fp32"
    )
    webui.install_safe_loader()
    first = webui.call(DEPTH, scene(), RES)
    assert first.dtype == np.uint8 and first.ndim == 3 and np.ptp(first) > 0
    assert "Error verifying pickled file" not in capsys.readouterr().err
    client = TestClient(webui.app(), raise_server_exceptions=False)
    reply = client.post(
        "/controlnet/detect",
        json={
            "controlnet_module": DEPTH,
            "controlnet_input_images": [png_b64(scene())],
            "controlnet_processor_res": RES,
        },
    )
    assert reply.status_code == 200, reply.text


def test_unload_keeps_the_model_for_the_next_call(webui_with_model) -> None:
    """ControlNet calls unload() after every API detect: on the CPU that must not cost a reload."""
    webui = webui_with_model("controlnet")
    webui.call(DEPTH, scene(seed=20), RES)
    loads = midas.load_count()
    assert webui.preprocessor(DEPTH).unload() is True
    webui.call(DEPTH, scene(seed=21), RES)
    assert midas.load_count() == loads


def test_lowvram_keeps_it_in_memory_and_keep_loaded_off_frees_it(
    webui_with_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib_depth.webui import models

    # a cache of its own: freeing must not take the session's model from the other tests
    monkeypatch.setattr(midas.estimator._cache, "estimators", {})
    monkeypatch.setattr(midas.estimator._cache, "loading", {})
    webui = webui_with_model("controlnet")
    webui.shared.cmd_opts.lowvram = True
    loads = midas.load_count()
    # a new picture each call: ControlNet's result cache would answer a repeated one without us
    webui.call(DEPTH, scene(seed=10), RES)
    assert midas.load_count() == loads + 1
    estimator = midas.get_estimator(models.midas_settings())
    webui.call(DEPTH, scene(seed=11), RES)
    assert midas.load_count() == loads + 1 and estimator.model is not None  # off the GPU (none here), kept
    webui.shared.opts.data["depth_tools_keep_loaded"] = False
    webui.shared.cmd_opts.lowvram = False
    webui.call(DEPTH, scene(seed=12), RES)
    assert estimator.model is None  # freed after the run: memory back, the next run loads again


@pytest.mark.parametrize("flavour", ["controlnet", "forge"])
def test_an_internal_error_is_a_readable_reply_not_a_bare_500(
    webui_with_model, midas_estimator, monkeypatch: pytest.MonkeyPatch, flavour: str, caplog, capfd
) -> None:
    """A bug of ours (here: the network raising as timm 0.9.5 once made it) gives the one line
    "internal error in Depth Tools: ..." in the preview and in /controlnet/detect, logged once."""
    import logging

    from fastapi.testclient import TestClient

    def broken(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")

    monkeypatch.setattr(type(midas_estimator), "forward", broken)
    webui = webui_with_model(flavour)
    expected = "internal error in Depth Tools: NotImplementedError: Cannot copy out of meta tensor; no data!"
    with caplog.at_level(logging.ERROR, logger="lib_depth"), pytest.raises(preprocessors.PreprocessorError) as caught:
        webui.call(DEPTH, scene(), RES)
    assert str(caught.value) == expected and caught.value.status_code == 500
    assert len([r for r in caplog.records if r.exc_info]) == 1  # the traceback, once
    client = TestClient(webui.app(), raise_server_exceptions=False)
    reply = client.post(
        "/controlnet/detect",
        json={"controlnet_module": NORMAL, "controlnet_input_images": [png_b64(scene())],
              "controlnet_processor_res": RES, "controlnet_threshold_a": 6.28, "controlnet_threshold_b": 0.1},
    )
    assert reply.status_code == 500 and reply.json()["detail"] == expected
    assert len([r for r in caplog.records if r.exc_info]) == 2  # one more call, one more traceback: ours
    assert "API error" not in capfd.readouterr().err  # the WebUI's handler printed none of its own
