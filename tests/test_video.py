"""Video Depth Anything without the official code: our modules carry the official layout (recorded in
video_reference_layouts.json) for every size, the size and the metric kind come from where the
official run.py takes them, bad files fail with one line, and the stream reads at most one window
ahead of the maps it has given (what keeps a 10,000-frame video in the memory of a 32-frame one).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.anything_support import random_state_dict, save_pth
from tests.video_support import frames, reference_layout, video_state_dict

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_our_network_has_the_official_layout(encoder: str) -> None:
    from lib_depth.video.config import VideoConfig
    from lib_depth.video.network import build

    layout = reference_layout(encoder)
    cfg = VideoConfig.from_state_dict({k: torch.empty(s, device="meta") for k, s in layout.items()})
    with torch.device("meta"):
        ours = {k: tuple(v.shape) for k, v in build(cfg).state_dict().items()}
    assert cfg.encoder == encoder and ours == layout


@pytest.mark.parametrize(("name", "metric"), [("video_depth_anything_vits.pth", False),
                                              ("metric_video_depth_anything_vits.pth", True),
                                              ("renamed.pth", False)])
def test_the_size_from_the_tensors_the_kind_from_the_name(tmp_path: Path, name: str, metric: bool) -> None:
    from lib_depth.video import load_video_network

    _, cfg = load_video_network(save_pth(tmp_path / name, video_state_dict("vits")))
    assert (cfg.encoder, cfg.metric, cfg.licence) == ("vits", metric, "Apache-2.0")


def test_wrong_files_fail_with_one_line(tmp_path: Path) -> None:
    from lib_depth.anything import WeightsError
    from lib_depth.video import load_video_network

    image_model = save_pth(tmp_path / "depth_anything_v2_vits.pth", random_state_dict("vits"))
    with pytest.raises(WeightsError, match=r"no head\.motion_modules tensors \(this is a Depth Anything V2 image"):
        load_video_network(image_model)
    code = tmp_path / "video_depth_anything_vitl.pth"
    code.write_bytes(pickle.dumps(Path("x")))  # a Python object, never unpickled
    with pytest.raises(WeightsError, match="weights-only") as caught:
        load_video_network(code)
    assert "\n" not in str(caught.value) and str(code) in str(caught.value)
    state = video_state_dict("vits")
    del state["head.motion_modules.3.temporal_transformer.proj_out.bias"]
    with pytest.raises(WeightsError, match="do not fit its layout"):
        load_video_network(save_pth(tmp_path / "cut.pth", state))


@pytest.mark.parametrize("count", [1, 21, 22, 23, 32, 33, 54, 55, 120])
def test_the_stream_reads_one_window_ahead(count: int) -> None:
    """Every frame gets one map, in order, and when map i is given at most 32 frames past it have been read.
    The estimate here is a stand-in (each map is its input frame's mean, plus one): this is the schedule."""
    from lib_depth.video import stream_depths

    read = 0

    def counted() -> object:
        nonlocal read
        for frame in frames(count, 28, 42):
            read += 1
            yield frame

    def estimate(window: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
        assert window.shape[:2] == (32, 3)
        return [np.full(size, 1 + float(x.mean()), np.float32) for x in window]

    given = 0
    for depth in stream_depths(estimate, counted(), input_size=28):
        assert depth.shape == (28, 42) and read - given <= 32
        given += 1
    assert given == read == count


def test_frames_of_another_size_fail_with_one_line() -> None:
    from lib_depth.anything import DepthError
    from lib_depth.video import stream_depths

    video = [*frames(3, 28, 42), next(frames(1, 30, 42))]
    with pytest.raises(DepthError, match="frame 3 is 42x30, the first was 42x28"):
        list(stream_depths(lambda w, s: [np.ones(s, np.float32)] * 32, video, input_size=28))
