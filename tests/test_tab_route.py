"""The EXR tab's own preview route (`ui/fast_preview.py`) over real HTTP, in the stand-in WebUI's
app (mounted whether or not the WebUI serves its API): the exact preview of a render the server
holds, and a clear 4xx JSON `detail` for everything else, the server serving on."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth.depth.exr import read_depth
from lib_depth.depth.process import DepthOptions, make_depth_map
from lib_depth.ui.exr import load_view
from lib_depth.ui.fast_preview import MAX_BODY, PREVIEW_ROUTE
from lib_depth.ui.shown import SHOWN
from tests.api_support import post_json, request, serve
from tests.host_double import WebUI

SCENE = Path(__file__).resolve().parents[1] / "examples" / "scene.exr"


@pytest.fixture
def route(make_webui: Callable[..., WebUI]) -> Iterator[str]:
    """The route's URL in a WebUI started without --api."""
    webui = make_webui("controlnet")
    with serve(webui.app()) as url:
        yield url + PREVIEW_ROUTE
    assert webui.errors == []


def pixels(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    png = base64.b64decode(data_url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)


def test_a_held_render_answers_its_exact_preview_and_keeps_the_cutoff(route: str) -> None:
    key = SHOWN.add(load_view(str(SCENE)))
    depth = read_depth(SCENE).depth
    status, cut = post_json(route, {"view": key, "action": "cut", "index": 0, "controls": {"mask": True}})
    assert status == 200 and cut["changed"] is True and cut["cutoff"] == pytest.approx(254.5)
    expected = make_depth_map(depth, DepthOptions(cutoff=254.5))
    np.testing.assert_array_equal(pixels(cut["depth"]), expected.levels)
    np.testing.assert_array_equal(pixels(cut["mask"]), expected.mask_image())
    assert cut["normal"] is None and "254.50 and beyond" in cut["status"] and cut["stale"] is True
    assert SHOWN.get(key).cutoff == pytest.approx(254.5)  # what Make and the gradio events read next

    status, seeded = post_json(route, {"view": key, "action": "controls",
                                       "controls": {"noise": True, "seed": "7", "bits": "16-bit"}})
    noisy = make_depth_map(depth, DepthOptions(cutoff=254.5, noise=True, seed=7, bits=16)).levels
    assert status == 200 and seeded["cutoff"] == pytest.approx(254.5)  # the cutoff kept
    np.testing.assert_array_equal(pixels(seeded["depth"]), (noisy >> 8).astype(np.uint8))

    status, too_near = post_json(route, {"view": key, "action": "typed", "cutoff": "100"})
    assert status == 200 and too_near["depth"] is None  # the last good preview stays
    assert "Problem" in too_near["status"] and "nearest depth" in too_near["status"]
    status, beside = post_json(route, {"view": key, "action": "chart", "x": 2, "y": 2})
    assert (status, beside["changed"]) == (200, False)


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"view": "no-such-key", "action": "no_cut"}, 404, "upload it again"),
    ({"view": "KEY", "action": "delete"}, 422, "action must be one of"),
    ({"view": "KEY", "action": "cut", "index": 9}, 422, "index must be"),
    ({"view": "KEY", "action": "cut", "index": "0"}, 422, "index must be"),
    ({"view": "KEY", "action": "chart"}, 422, "needs x"),
    ({"view": "KEY", "action": "typed", "cutoff": "far"}, 422, "cutoff must be a number"),
    ({"view": "KEY", "action": "no_cut", "controls": {"bits": "12-bit"}}, 422, "bits must be one of"),
    ({"view": "KEY", "action": "no_cut", "controls": {"invert": "yes"}}, 422, "invert must be true or false"),
    ({"view": "KEY", "action": "no_cut", "controls": {"path": "/etc/passwd"}}, 422, "unknown controls: path"),
    ({"view": "KEY", "action": "no_cut", "controls": [1]}, 400, "controls must be an object"),
    ([1, 2], 400, "a JSON object"),
])
def test_bad_requests_get_a_clear_4xx(route: str, body: object, status: int, says: str) -> None:
    key = SHOWN.add(load_view(str(SCENE)))
    body = json.loads(json.dumps(body).replace('"KEY"', json.dumps(key)))
    got, answer = post_json(route, body)
    assert got == status and says in answer["detail"], answer
    assert SHOWN.get(key).cutoff is None  # nothing changed


def test_what_is_not_a_small_json_request_is_refused(route: str) -> None:
    assert request(route, b"{", {"Content-Type": "application/json"})[0] == 400
    assert request(route, b"view=1", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
    status, answer = request(route, b" " * (MAX_BODY + 1), {"Content-Type": "application/json"})
    assert status == 413 and "bytes" in answer["detail"]
    assert request(route, method="GET", send_body=False)[0] == 405
    assert post_json(route, {"view": SHOWN.add(load_view(str(SCENE))), "action": "no_cut"})[0] == 200  # still serving
