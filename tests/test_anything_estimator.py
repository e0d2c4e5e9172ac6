"""The Depth Anything V2 estimator: MidasEstimator's interface, the reference's sizes, maps at the
picture's own size, one load per process, thread safety, and the same numbers in every environment
(webui: timm 0.9.5, numpy 1.26; forge: timm 1.0.31; newest: numpy 2) — the network is plain torch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.anything_support import picture, random_state_dict, save_pth
from tests.devices import DEVICE, cpu_only

torch = pytest.importorskip("torch")

#: (height, width, resolution) -> (h, w) the reference's Resize gives: computed by running
#: depth_anything_v2/util/transform.py at a561b84 (Resize(r, r, keep_aspect_ratio=True,
#: ensure_multiple_of=14, resize_method="lower_bound")).get_size, not by our code
REFERENCE_SIZES = [
    (360, 640, 518, 518, 924), (640, 360, 518, 924, 518), (1080, 1920, 518, 518, 924), (333, 517, 518, 518, 798),
    (517, 333, 518, 798, 518), (100, 100, 518, 518, 518), (1, 1000, 518, 518, 518000), (768, 512, 512, 770, 518),
    (480, 640, 364, 364, 490), (719, 1279, 700, 700, 1246), (2000, 20, 518, 51800, 518), (518, 518, 518, 518, 518),
    (37, 41, 64, 70, 70)]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("da_est") / "depth_anything_v2_vits.pth", random_state_dict("vits", 0))


@pytest.fixture(scope="module")
def settings(weights_file: Path) -> Any:
    from lib_depth.anything import AnythingSettings

    return AnythingSettings(weights=str(weights_file), device=DEVICE, precision="fp32")


@pytest.fixture(scope="module")
def estimator(settings: Any) -> Any:
    from lib_depth.anything import get_estimator

    return get_estimator(settings)


@pytest.mark.parametrize(("height", "width", "resolution", "want_h", "want_w"), REFERENCE_SIZES)
def test_network_sizes_are_the_references(height: int, width: int, resolution: int, want_h: int, want_w: int) -> None:
    from lib_depth.anything.geometry import reference_size

    assert reference_size(height, width, resolution) == (want_h, want_w)


def test_the_long_side_is_capped_with_a_note(estimator: Any) -> None:
    from lib_depth.midas.geometry import MAX_NETWORK_SIDE

    done = estimator.estimate(picture(20, 4000), 518)
    assert done.shape.wanted == (518, 103600) and max(done.shape.content) <= MAX_NETWORK_SIDE
    assert done.shape.content == (14, 4088) and done.nearness.shape == (20, 4000)
    assert len(done.notes) == 1 and "capped at 4096 px" in done.notes[0] and "Depth Anything" in done.notes[0]


@pytest.mark.parametrize(("height", "width", "channels"), [(90, 160, 3), (161, 97, 3), (77, 131, 4), (64, 64, 0)])
def test_maps_come_back_at_the_pictures_size(estimator: Any, height: int, width: int, channels: int) -> None:
    image = picture(height, width)
    if channels == 4:
        image = np.dstack([image, np.full((height, width), 200, np.uint8)])
    elif channels == 0:
        image = image[:, :, 0]
    done = estimator.estimate(image, 140)
    assert done.nearness.shape == (height, width) and done.nearness.dtype == np.float32
    assert done.notes == () and done.shape.source == (height, width)
    assert min(done.shape.content) == 140 and all(side % 14 == 0 for side in done.shape.content)
    assert float(done.nearness.min()) >= 0 and float(done.nearness.std()) > 0


def test_the_interface_mirrors_midas(estimator: Any, settings: Any) -> None:
    """What the registry calls on either estimator: the same names, the same kinds of answers."""
    from lib_depth.midas import MidasEstimator

    for name in ("from_pretrained", "to", "unload", "free", "__call__", "estimate", "batch", "estimate_batch",
                 "forward", "model", "weights", "verified", "settings", "device", "precision", "max_batch"):
        assert hasattr(MidasEstimator, name) or name in ("model", "weights", "verified", "settings", "device",
                                                         "precision", "max_batch")
        assert hasattr(estimator, name), name
    image = picture(70, 120)
    assert np.array_equal(estimator(image, 140), estimator.estimate(image, 140).nearness)
    assert (estimator.encoder, estimator.verified, estimator.precision) == ("vits", False, "fp32")
    assert "vits" in repr(estimator) and estimator.config.licence == "Apache-2.0"


def test_a_batch_equals_single_calls(estimator: Any) -> None:
    images = [picture(70, 120, seed=s) for s in range(3)] + [picture(120, 70)]
    batched = estimator.batch(images, 140)
    for image, got in zip(images, batched, strict=True):
        single = estimator(image, 140)
        assert np.abs(got - single).max() <= 1e-5 * max(1.0, float(np.abs(single).max()))


def test_threads_share_one_model_and_get_their_own_answers(estimator: Any) -> None:
    images = {i: picture(60 + 14 * i, 100, seed=i) for i in range(4)}
    expected = {i: estimator(image, 112) for i, image in images.items()}
    got: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        got[i] = estimator(images[i], 112)

    threads = [threading.Thread(target=run, args=(i,)) for i in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(got[i], expected[i]) for i in images)


def test_loaded_once_per_process_and_reloaded_after_free(settings: Any) -> None:
    from lib_depth.anything import AnythingSettings, get_estimator, load_count, loaded_estimator

    first = get_estimator(settings)
    before = load_count()
    assert get_estimator(AnythingSettings(weights=settings.weights, device=DEVICE, precision="fp32")) is first
    assert load_count() == before and loaded_estimator(settings) is first
    image = picture(50, 90)
    expected = first(image, 112)
    first.unload()  # on the CPU: nothing to move
    first.free()
    assert loaded_estimator(settings) is None
    assert np.array_equal(first(image, 112), expected) and load_count() == before + 1


def test_settings_are_checked_and_normalised() -> None:
    from lib_depth.anything import AnythingSettings
    from lib_depth.depth.errors import OptionsError

    assert AnythingSettings(encoder="Large", device="auto", precision="float16", search_dirs="x") == \
        AnythingSettings(encoder="vitl", precision="fp16", search_dirs=("x",))
    with pytest.raises(OptionsError, match="vitg"):
        AnythingSettings(encoder="vitg")
    with pytest.raises(TypeError):
        AnythingSettings("file.pth")  # type: ignore[misc]  # keyword-only


# The same numbers everywhere: what the forge environment (timm 1.0.31, numpy 1.26) computes for these
# seeded weights and this picture at six pixels, then the map's mean and std. The webui environment
# (timm 0.9.5, transformers 4.30) gave the same bits; newest (numpy 2) the same to 1e-7.
SAME_EVERYWHERE_POINTS = [(0, 0), (10, 149), (63, 63), (99, 0), (99, 149), (50, 120)]
SAME_EVERYWHERE_EXPECTED = [1.3697785139083862, 0.7574182152748108, 0.3109402358531952, 1.123764991760254,
                            1.5284348726272583, 0.7663758397102356, 0.8876216411590576, 0.5301709771156311]


@cpu_only("numbers recorded on the CPU, bit for bit")
def test_the_same_map_in_every_environment(estimator: Any) -> None:
    done = estimator.estimate(picture(100, 150, seed=7), 140)
    values = [float(done.nearness[y, x]) for y, x in SAME_EVERYWHERE_POINTS]
    summary = [float(done.nearness.mean()), float(done.nearness.std())]
    np.testing.assert_allclose(values + summary, SAME_EVERYWHERE_EXPECTED, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(360, 640, 3), (518, 700, 3), (333, 517, 4), (97, 61)])
def test_preparation_is_the_references_arithmetic_bit_for_bit(shape: tuple[int, ...]) -> None:
    """The plane-at-a-time normalisation gives exactly what the reference's
    `(image / 255.0 -> cv2 cubic resize -> (x - mean) / std)` on HxWx3 float64 gives, cast to float32."""
    import cv2

    from lib_depth.anything.geometry import network_shape, prepare
    from lib_depth.midas import as_rgb8

    image = np.random.default_rng(len(shape) + shape[0]).integers(0, 256, shape, dtype=np.uint8)
    got, done = prepare(image, 518)
    rgb = as_rgb8(image)
    h, w = network_shape(*rgb.shape[:2], 518).content
    x = rgb / 255.0
    if (h, w) != rgb.shape[:2]:
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert done.content == (h, w) and got.dtype == np.float32 and got.flags.c_contiguous
    assert np.array_equal(got, x.transpose(2, 0, 1).astype(np.float32))
