"""Video Depth Anything's device path (`video/device_frames.py`), run on CPU tensors so it is
tested everywhere: the frames it prepares follow the official cv2 transform within float32 rounding,
and a clip through it gives the cv2 path's maps. On the CPU the estimator keeps the cv2 path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.anything_support import save_pth
from tests.video_support import frames, video_state_dict

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(("height", "width", "shape"), [(48, 64, (70, 98)), (360, 640, (126, 224)),
                                                        (61, 37, (56, 28))])
def test_a_frame_prepared_on_the_device_is_the_official_transforms(height: int, width: int,
                                                                     shape: tuple[int, int]) -> None:
    from lib_depth.video.device_frames import device_preparer
    from lib_depth.video.frames import prepare_frame

    frame = next(frames(1, height, width))
    ours = device_preparer("cpu")(frame, shape).numpy()
    official = prepare_frame(frame, shape)
    assert ours.shape == official.shape == (3, *shape) and ours.dtype == np.float32
    level = 1 / (255 * 0.229)  # one uint8 level of the input, in normalised units (the widest std's)
    assert np.abs(ours - official).max() < 0.01 * level  # cv2's and torch's float32 rounding: ~0.002 seen


def test_a_clip_through_the_device_path_gives_the_cv2_paths_maps(tmp_path: Path) -> None:
    """Two windows (40 frames): the kept key frames and padding are tensors on this path too."""
    from lib_depth.video import VideoEstimator, stream_depths
    from lib_depth.video.device_frames import device_preparer

    torch.manual_seed(0)
    estimator = VideoEstimator.from_file(save_pth(tmp_path / "video_depth_anything_vits.pth",
                                                  video_state_dict("vits")))
    clip = list(frames(40, 40, 56))
    official = np.stack(list(estimator.depths(iter(clip), input_size=28)))
    ours = np.stack(list(stream_depths(estimator.estimate_window, iter(clip), input_size=28,
                                       prepare=device_preparer("cpu"))))
    assert ours.shape == official.shape == (40, 40, 56)
    span = float(official.max() - official.min())
    assert span > 0 and np.abs(ours - official).max() <= 1e-4 * span


def test_on_the_cpu_the_estimator_keeps_the_cv2_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lib_depth.video.estimator as module
    from lib_depth.video import VideoEstimator

    asked: list[object] = []
    monkeypatch.setattr(module, "device_preparer", lambda device: asked.append(device))
    estimator = VideoEstimator.from_file(save_pth(tmp_path / "video_depth_anything_vits.pth",
                                                  video_state_dict("vits")))
    assert len(list(estimator.depths(frames(3, 40, 56), input_size=28))) == 3 and asked == []

