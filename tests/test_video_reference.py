"""Our Video Depth Anything, streamed, equals the official `VideoDepthAnything.infer_video_depth` run on
the whole list (DepthAnything/Video-Depth-Anything, imported from a checkout: tests/video_support.py),
on the same random weights in the official layout, loaded from files with both official names
(`video_depth_anything_vits.pth`: relative, windows aligned by scale and shift;
`metric_video_depth_anything_vits.pth`: metric, joined without). Sequences: 100 frames (five windows,
more than three: key frames carried twice and more, the alignment chained), 20 (one padded window)
and 23 (a second window that is nearly all padding).

Tolerance: 2e-5 of the maps' range. Both sides run fp32; they differ in the order of float
operations only (attention by scaled_dot_product_attention against baddbmm/softmax/bmm, the encoder
four frames at a time against 32), which moves a map by 1.5e-6 to 8e-6 of its range here, the
chained scale-and-shift fits included (their conditioning: `video_spread`). Taking frame 11 for key
frame 12 (one frame off) moves the 100-frame maps by 1.8e-4: the bound tells those apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.anything_support import save_pth
from tests.devices import DEVICE
from tests.video_support import MODEL_CONFIGS, REFERENCE_ENV, frames, official_class, official_root, video_state_dict

torch = pytest.importorskip("torch")
pytest.importorskip("einops")  # the official motion module's
if official_root() is None:
    pytest.skip(f"set {REFERENCE_ENV} to a checkout of DepthAnything/Video-Depth-Anything to compare with it",
                allow_module_level=True)

TOLERANCE = 2e-5
HEIGHT, WIDTH, SIZE = 56, 84, 56  # 4 x 6 patches: the whole schedule at little cost
NAMES = {False: "video_depth_anything_vits.pth", True: "metric_video_depth_anything_vits.pth"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    state = video_state_dict("vits")
    folder = tmp_path_factory.mktemp("vda")
    for name in NAMES.values():
        save_pth(folder / name, state)
    return state, folder


@pytest.fixture(scope="module")
def official(weights: tuple[dict[str, Any], Path]) -> dict[bool, Any]:
    """The official model, metric and not, strictly loaded as run.py loads it."""
    models = {}
    for metric in (False, True):
        model = official_class()(**MODEL_CONFIGS["vits"], metric=metric)
        model.load_state_dict(torch.load(str(weights[1] / NAMES[metric]), map_location="cpu"), strict=True)
        models[metric] = model.to(DEVICE).eval()
    return models


def deviation(ours: np.ndarray, theirs: np.ndarray) -> float:
    spread = float(theirs.max() - theirs.min())
    assert spread > 0 and float((theirs > 0).mean()) > 0.5, "random weights gave a flat output"
    return float(np.abs(ours - theirs).max()) / spread


@pytest.mark.parametrize("metric", [False, True], ids=["relative", "metric"])
@pytest.mark.parametrize("count", [100, 20, 23])
def test_stream_equals_infer_video_depth(weights: tuple[dict[str, Any], Path], official: dict[bool, Any],
                                         metric: bool, count: int) -> None:
    from lib_depth.video import VideoEstimator

    video = np.stack(list(frames(count, HEIGHT, WIDTH)))
    with torch.no_grad():
        theirs, _ = official[metric].infer_video_depth(video, 30, input_size=SIZE, device=DEVICE, fp32=True)
    estimator = VideoEstimator.from_file(weights[1] / NAMES[metric], device=DEVICE)
    assert estimator.config.metric is metric and estimator.config.encoder == "vits"
    ours = np.stack(list(estimator.depths(frames(count, HEIGHT, WIDTH), input_size=SIZE)))
    assert ours.shape == theirs.shape == (count, HEIGHT, WIDTH) and ours.dtype == np.float32
    error = deviation(ours, theirs)
    print(f"{count} frames, {'metric' if metric else 'relative'}: max deviation {error:.2e} of the range")
    assert error < TOLERANCE


def test_the_network_equals_the_official_forward(weights: tuple[dict[str, Any], Path],
                                                 official: dict[bool, Any]) -> None:
    """One window through both networks, at a size with more patches (the head's micro-batches)."""
    from lib_depth.video import load_video_network

    ours, _ = load_video_network(weights[1] / NAMES[False])
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in official[False].parameters())
    x = torch.from_numpy(np.random.RandomState(0).standard_normal((1, 32, 3, 70, 98)).astype(np.float32))
    with torch.inference_mode():
        error = deviation(ours.to(DEVICE)(x.to(DEVICE)).cpu().numpy(), official[False](x.to(DEVICE)).cpu().numpy())
    print(f"one window 70x98: max deviation {error:.2e} of the range")
    assert error < TOLERANCE
