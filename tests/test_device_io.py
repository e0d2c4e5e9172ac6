"""The device path (network_base/device_io.py), run on CPU tensors, against the cv2 path the CPU keeps.

Tolerances, measured (see the module docstring for why each differs):
- MiDaS input: at most 1 uint8 level, on at most 0.1% of pixels (cv2's fixed-point rounding of
  INTER_CUBIC / INTER_AREA on uint8 against float32 then round); measured <= 0.02%.
- Depth Anything V2 input: below 0.02 of an 8-bit level (float32 against
  cv2's float64 bicubic); measured <= 0.012.
- Output resize: the same torch call as the CPU path's `restore`, so equal to float rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lib_depth.anything import geometry as ag  # noqa: E402
from lib_depth.anything.estimator import AnythingEstimator  # noqa: E402
from lib_depth.midas import geometry as mg  # noqa: E402
from lib_depth.midas.estimator import MidasEstimator  # noqa: E402
from lib_depth.network_base import device_io  # noqa: E402

CPU = torch.device("cpu")
#: (height, width, MiDaS resolution): shrink at integer and non-integer ratios, grow, odd sides
SIZES = [(360, 640, 384), (1000, 700, 384), (200, 300, 512), (257, 511, 384)]


def picture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth shapes plus noise: edges and flat parts, the worst case for rounding ties."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([127 + 120 * np.sin(x / 7 + c) * np.cos(y / 11) for c in range(3)], -1)
    return (base + rng.normal(0, 20, (height, width, 3))).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize(("height", "width", "resolution"), SIZES)
def test_midas_input_within_one_level(height: int, width: int, resolution: int) -> None:
    image = picture(height, width, height)
    cpu, shape = mg.prepare(image, resolution)
    want = mg.to_network_input(cpu[None], CPU)
    got = device_io.resize_input(torch.from_numpy(image)[None], shape, MidasEstimator.device_recipe)
    levels = (got - want).abs() * 127.5
    assert got.shape == want.shape
    assert float(levels.max()) <= 1.0 + 1e-4
    assert float((levels > 0.01).float().mean()) <= 1e-3


@pytest.mark.parametrize(("height", "width", "resolution"), SIZES)
def test_anything_input_within_fp_rounding(height: int, width: int, resolution: int) -> None:
    image = picture(height, width, width)
    cpu, shape = ag.prepare(image, 518 if resolution == 384 else resolution)
    got = device_io.resize_input(torch.from_numpy(image)[None], shape, AnythingEstimator.device_recipe)[0]
    levels = (got - torch.from_numpy(cpu)).abs() * torch.tensor(ag.STD).view(3, 1, 1) * 255
    assert got.shape == cpu.shape
    assert float(levels.max()) < 0.02


def test_area_weights_are_cv2_inter_area() -> None:
    """The matmul form of INTER_AREA against cv2 itself on float input (no uint8 rounding): fp only."""
    import cv2

    image = picture(97, 131, 1).astype(np.float32)
    want = cv2.resize(image, (50, 37), interpolation=cv2.INTER_AREA)
    got = device_io.area_resize(torch.from_numpy(image).permute(2, 0, 1)[None], (37, 50))[0].permute(1, 2, 0)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-3)


@pytest.mark.parametrize("model", ["midas", "anything"])
def test_output_resize_is_the_cpu_restore(model: str) -> None:
    geometry, recipe = (mg, MidasEstimator.device_recipe) if model == "midas" else (ag, AnythingEstimator.device_recipe)
    shape = geometry.network_shape(357, 641, 384)
    out = torch.from_numpy(np.random.default_rng(3).random((2, *shape.padded), dtype=np.float32))
    got = device_io.resize_output(out, shape, recipe).numpy()
    for row in range(2):
        np.testing.assert_allclose(got[row], geometry.restore(out[row], shape), atol=1e-6)


def test_whole_estimate_batch_on_the_device_path_matches_the_cpu_maps(tmp_path) -> None:
    """Depth Anything V2 Small (random weights, official layout): the device path's estimate_batch, run
    here on the CPU, against the estimator's own cv2 path, in levels of the 8-bit map (max-normalised)."""
    from lib_depth.anything import AnythingSettings
    from lib_depth.anything.estimator import AnythingEstimator as Estimator
    from tests.anything_support import random_state_dict, save_pth

    weights = save_pth(tmp_path / "depth_anything_v2_vits.pth", random_state_dict("vits"))
    est = Estimator.from_pretrained(AnythingSettings(weights=str(weights), device="cpu", precision="fp32"))
    images = [picture(90, 160, 1), picture(90, 160, 2), picture(120, 100, 3)]
    want = est.estimate_batch(images, 70)
    got = device_io.estimate_batch(est, images, 70, mg.as_rgb8)
    for (nearness, shape), done in zip(got, want, strict=True):
        assert shape == done.shape and nearness.shape == done.nearness.shape
        levels = np.abs(nearness - done.nearness) / done.nearness.max() * 255
        assert float(levels.max()) < 0.05
