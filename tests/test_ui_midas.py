"""The MiDaS tab's handlers with the real network (random weights, small resolutions) and real images.

The model's output itself is the MiDaS tests' business; here: the tab runs it once, renders depth,
normal and mask from it as the controls move, writes the PNGs, and turns every failure (missing
weights first of all) into a message.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pytest

from lib_depth import midas
from lib_depth.depth.png import read_png
from lib_depth.depth.process import DepthOptions, make_depth_map
from lib_depth.ui import midas as ui_midas
from lib_depth.ui.midas import Estimate, MidasControls, StandaloneOptions
from lib_depth.ui.midas_tab import ESTIMATED, MAPS, on_controls, on_image, on_run

RES = 64
A = round(2 * math.pi, 2)
# The names the handlers answer by (MidasTab's attributes): on_run answers ESTIMATED, on_controls MAPS.
EST, DEPTH, NORMAL, MASK, STATUS, FILES, RESULT = ESTIMATED


def photo(height: int = 72, width: int = 120) -> np.ndarray:
    """A bright disc on a darker gradient: something with structure for the network."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.dstack([x / width * 120, y / height * 90, np.full_like(x, 60)])
    disc = (x - width * 0.4) ** 2 + (y - height * 0.55) ** 2 < (height * 0.3) ** 2
    image[disc] = (230, 210, 190)
    return image.astype(np.uint8)


def controls(**changes: object) -> dict[str, object]:
    """The controls' values by name, as the tab's events hand them over."""
    return {**vars(MidasControls()), **changes}


def run(image: np.ndarray | None, **changes: object) -> dict[str, object]:
    """What "Estimate depth" hands its handler: the image, the resolution and the controls."""
    return {"image": image, "model": "MiDaS DPT-hybrid", "resolution": RES, **controls(**changes)}


def again(estimate: Estimate | None, **changes: object) -> dict[str, object]:
    """What a control's edit hands its handler: the stored estimate and the controls."""
    return {"nearness": estimate, **controls(**changes)}


@pytest.fixture
def with_weights(monkeypatch: pytest.MonkeyPatch, midas_checkpoint: Path, midas_estimator) -> None:
    """The tab pointed at the random checkpoint, as `--weights FILE --device cpu --precision fp32` do."""
    options = StandaloneOptions(weights=str(midas_checkpoint), device="cpu", precision="fp32")
    monkeypatch.setattr(ui_midas, "standalone", options)
    assert ui_midas.settings() == midas_estimator.settings  # the session's loaded model is reused


def test_run_gives_depth_normal_mask_and_pngs(with_weights, midas_estimator) -> None:
    image = photo()
    out = on_run(run(image, mask=True))
    assert set(out) == set(ESTIMATED)
    estimate = out[EST]
    assert isinstance(estimate, Estimate) and estimate.resolution == RES
    np.testing.assert_array_equal(estimate.nearness, midas_estimator(image, resolution=RES))
    assert estimate.nearness.shape == image.shape[:2]  # the image's own size, not the network's
    depth = midas.nearness_to_depth(estimate.nearness, 0.1)
    expected = make_depth_map(depth)
    np.testing.assert_array_equal(out[DEPTH], expected.levels)
    np.testing.assert_array_equal(out[NORMAL], midas.normal_map(estimate.nearness, A, 0.1, RES))
    assert out[MASK]["visible"] is True
    np.testing.assert_array_equal(out[MASK]["value"], expected.mask_image())
    assert [Path(p).name for p in out[FILES]] == ["image.depth.png", "image.normal.png", "image.mask.png"]
    np.testing.assert_array_equal(read_png(out[FILES][0]), expected.levels)
    np.testing.assert_array_equal(read_png(out[FILES][1]), out[NORMAL])
    np.testing.assert_array_equal(read_png(out[FILES][2]), expected.mask_image())
    assert out[RESULT].mode == "RGB" and out[RESULT].size == (120, 72)
    status = html.unescape(out[STATUS])
    assert "MiDaS DPT-hybrid at resolution 64" in status and "Problem" not in status


def test_controls_after_the_model_rerender_from_the_stored_estimate(with_weights) -> None:
    estimate = on_run(run(photo()))[EST]
    values = dict(bg_threshold=0.4, a=1.0, compress=True, noise=True, seed=3, invert=True, bits="16-bit")
    out = on_controls(again(estimate, **values))
    assert set(out) == set(MAPS)
    depth = midas.nearness_to_depth(estimate.nearness, 0.4)
    expected = make_depth_map(depth, DepthOptions(compress=True, noise=True, seed=3, invert=True, bits=16))
    written = read_png(out[FILES][0])
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, expected.levels)
    np.testing.assert_array_equal(out[DEPTH], (expected.levels >> 8).astype(np.uint8))
    np.testing.assert_array_equal(out[NORMAL], midas.normal_map(estimate.nearness, 1.0, 0.4, RES))
    assert out[MASK]["visible"] is False and len(out[FILES]) == 2  # no mask asked: none written
    assert "MiDaS DPT-hybrid at resolution 64" in out[STATUS]  # still says what the estimate was made at


def test_missing_weights_is_a_message_naming_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "weights"
    empty.mkdir()
    monkeypatch.setattr(ui_midas, "standalone", StandaloneOptions(weights=str(empty), device="cpu"))
    out = on_run(run(photo()))
    status = html.unescape(out[STATUS])
    assert set(out) == set(ESTIMATED) and out[EST] is None and out[DEPTH] is None and out[FILES] is None
    assert "Problem" in status and midas.WEIGHTS_NAME in status and str(empty) in status
    assert "Traceback" not in status


def test_bad_inputs_are_messages(with_weights) -> None:
    assert "Upload an image first" in on_run(run(None))[STATUS]
    wrong = on_run(run(np.zeros((8, 8, 2), np.uint8)))
    assert wrong[EST] is None and "Problem" in wrong[STATUS]


def test_new_image_clears_the_old_estimate() -> None:
    out = on_image(controls())
    assert set(out) == set(ESTIMATED)
    assert out[EST] is None and out[DEPTH] is None and "Estimate depth" in out[STATUS]
    assert on_controls(again(None))[DEPTH] is None  # nothing to re-render


def test_an_internal_error_is_a_readable_message(
    with_weights, midas_estimator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")

    monkeypatch.setattr(type(midas_estimator), "forward", broken)
    out = on_run(run(photo()))
    status = html.unescape(out[STATUS])
    assert out[EST] is None and out[DEPTH] is None
    assert "internal error in Depth Tools: NotImplementedError: Cannot copy out of meta tensor" in status
    assert "Traceback" not in status


def test_wired_handlers_read_their_inputs_and_answer_their_outputs(with_weights) -> None:
    """Each event of the tab built for real, its handler called with exactly the values its wiring
    hands over: nothing it reads is missing, nothing it answers is outside its outputs."""
    from lib_depth.ui import build_ui

    tab = build_ui().midas
    # run, image upload and clear, the model, "as one sequence", 2 sliders, 5 boxes, the typed seed's commit
    assert len(tab.wired) == 13
    assert set(tab.controls) == set(controls())  # every control of MidasControls, and only those
    estimate = on_run(run(photo()))[EST]
    sequence_off = {"sequence": False, "frames": None, "input_folder": "", "output_folder": "", "cutoff": None}
    known = {**run(photo(), mask=True), **sequence_off, "nearness": estimate}
    for wired in tab.wired:
        answer = wired.handler({name: known[name] for name in wired.inputs})
        assert answer and set(answer) <= set(wired.outputs), wired
        assert "Problem" not in answer["status"]
    assert tab.named(DEPTH, NORMAL, EST) == {DEPTH: tab.depth_image, NORMAL: tab.normal_image, EST: tab.nearness}
