"""`depth_tools_relevel`: an existing depth map's levels spent again (far cutoff, compress), in the
core and through every ControlNet flavour of the host double, in preview calls and over HTTP detect."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from lib_depth.depth.process import DepthOptions, make_depth_map
from lib_depth.depth.relevel import gray_levels, levels_to_depth, relevel
from lib_depth.webui import preprocessors
from tests.fixtures_webui import CONTROLNET_FLAVOURS
from tests.host_double import WebUI

NAME = "depth_tools_relevel"


def old_map(height: int = 64, width: int = 96) -> np.ndarray:
    """An 8-bit map as other tools make them: a subject using only 100..200, background at 0."""
    yy, xx = np.mgrid[0:height, 0:width]
    levels = np.zeros((height, width), np.uint8)
    subject = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (height / 3) ** 2
    levels[subject] = (100 + (xx[subject] * 100) // width).astype(np.uint8)
    return levels


def expected(levels: np.ndarray, cutoff: float, compress: bool, top: int = 255) -> np.ndarray:
    depth = (top - levels.astype(np.float32)).astype(np.float32)
    near, far = float(depth.min()), float(depth.max())
    cut = None if cutoff >= 1 else near + cutoff * (far - near)
    return make_depth_map(depth, DepthOptions(cutoff=cut, compress=compress)).levels


def test_levels_to_depth_reads_gray_rgb_and_16_bit() -> None:
    gray = old_map()
    np.testing.assert_array_equal(levels_to_depth(gray), 255 - gray.astype(np.float32))
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 7)])
    np.testing.assert_array_equal(levels_to_depth(rgba), levels_to_depth(gray))  # alpha ignored
    wide = gray.astype(np.uint16) * 257
    assert gray_levels(wide)[1] == 65535
    np.testing.assert_array_equal(levels_to_depth(wide), 65535 - wide.astype(np.float32))
    assert gray_levels(wide.astype(np.int32))[1] == 65535  # Pillow's mode I
    with pytest.raises(Exception, match="gray or RGB"):
        levels_to_depth(np.zeros((4, 4, 5), np.uint8))


def test_relevel_spends_the_levels_again() -> None:
    levels = old_map()
    depth = levels_to_depth(levels)
    plain = relevel(depth).levels
    assert plain.max() == 255 and plain.min() == 0  # the subject's 100..200 now spans the range
    np.testing.assert_array_equal(plain, expected(levels, 1.0, False))
    squeezed = relevel(depth, compress=True).levels
    np.testing.assert_array_equal(squeezed, expected(levels, 1.0, True))
    assert len(np.unique(squeezed)) == len(np.unique(levels))  # one output level per occupied level
    cut = relevel(depth, cutoff=0.15).levels
    np.testing.assert_array_equal(cut, expected(levels, 0.15, False))
    assert (cut == 0).sum() > (plain == 0).sum()  # the far 85 % of the range is now far
    assert not relevel(depth, cutoff=0.0).levels.any()  # nothing left: all far, not an error
    flat = relevel(levels_to_depth(np.full((8, 8), 90, np.uint8)), cutoff=0.15).levels
    assert not flat.any()


@pytest.mark.parametrize("flavour", CONTROLNET_FLAVOURS)
def test_each_flavour(make_webui: Callable[..., WebUI], flavour: str) -> None:
    webui = make_webui(flavour)
    levels = old_map()
    for image in (levels, np.dstack([levels] * 3), levels[:, :, None]):
        for cutoff, compress in ((1.0, 0), (0.1, 0), (1.0, 1), (0.1, 1)):
            out = webui.call(NAME, image, 64, cutoff, compress)
            assert out.dtype == np.uint8 and out.shape == (64, 96, 3) and out.flags.c_contiguous
            np.testing.assert_array_equal(out[:, :, 0], expected(levels, cutoff, bool(compress)))
            assert (out[:, :, 0] == out[:, :, 2]).all()
    big = webui.call(NAME, levels, 128, 1.0, 0)
    assert big.shape == (128, 192, 3)  # ControlNet's rule: short side at the resolution, aspect kept
    for raw in (None, -1, 64, float("nan")):  # omitted or out of range: the defaults (no cutoff, no compress)
        np.testing.assert_array_equal(webui.call(NAME, levels, 64, raw, raw)[:, :, 0], expected(levels, 1.0, False))
    if flavour == "controlnet_legacy":
        assert webui.module("scripts.global_state").cn_preprocessor_unloadable[NAME]() is True
    else:
        assert webui.preprocessor(NAME).unload() is True
    assert webui.errors == []


def test_sixteen_bit_map_keeps_its_steps(make_webui: Callable[..., WebUI]) -> None:
    """65536 levels in, the 8-bit output spread over the subject's own range."""
    webui = make_webui("forge")
    ramp = np.tile(np.linspace(20000, 40000, 96).astype(np.uint16), (64, 1))
    out = webui.call(NAME, ramp, 64, 1.0, 0)
    depth = 65535 - ramp.astype(np.float32)
    np.testing.assert_array_equal(out[:, :, 0], make_depth_map(depth).levels)


def test_registered_after_controlnets_own_depth_preprocessors(make_webui: Callable[..., WebUI]) -> None:
    webui = make_webui("controlnet")
    base = webui.module("scripts.supported_preprocessor").Preprocessor
    names = [p.label for p in base.get_filtered_preprocessors("Depth")]
    assert NAME in names and names.index(NAME) > names.index("depth_midas")
    assert base.get_default_preprocessor("Depth").label == "depth_midas"
    p = base.get_preprocessor(NAME)
    assert p.tags == ["Depth"] and p.slider_1.label == preprocessors.FAR_CUTOFF.label and p.slider_1.value == 1.0
    assert (p.slider_2.minimum, p.slider_2.maximum, p.slider_2.step, p.slider_2.value) == (0, 1, 1, 0)


def png_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("flavour", CONTROLNET_FLAVOURS)
def test_http_detect(make_webui: Callable[..., WebUI], flavour: str) -> None:
    from fastapi.testclient import TestClient

    webui = make_webui(flavour)
    client = TestClient(webui.app())
    assert NAME in client.get("/controlnet/module_list").json()["module_list"]
    levels = old_map()
    reply = client.post(
        "/controlnet/detect",
        json={
            "controlnet_module": NAME,
            "controlnet_input_images": [png_b64(levels), png_b64(np.dstack([levels] * 3))],
            "controlnet_processor_res": 64,
            "controlnet_threshold_a": 0.6,
            "controlnet_threshold_b": 1,
        },
    )
    assert reply.status_code == 200, reply.text
    outs = [np.array(Image.open(io.BytesIO(base64.b64decode(b)))) for b in reply.json()["images"]]
    for out in outs:
        np.testing.assert_array_equal(out[:, :, 0], expected(levels, 0.6, True))
