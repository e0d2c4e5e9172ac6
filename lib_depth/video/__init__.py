"""Video Depth Anything (Small, Base, Large; relative and metric): Depth Anything V2's encoder with a
temporal DPT head, run over a whole video the way the official `infer_video_depth` does (32-frame
windows every 22 frames, key frames carried over, each window aligned to the previous ones), but
streamed: frames in and maps out one at a time, in the memory of about two windows.

Imports `lib_depth.network_base` (the DINOv2 encoder and DPT head, their layout and sizes) and
`lib_depth.depth` only.
Importing this package is cheap and torch-free. Modules by job:

- `config`: `VideoConfig`, the size read from the tensors (metric from the file's name, as run.py).
- `network`: the temporal head and motion modules in plain torch, official key names.
- `checkpoint`: a `.pth` -> the network, strictly, weights only.
- `frames`: the official frame preparation (`device_frames`: the same on the device, off the CPU);
  `align`: the official joining of windows (numpy).
- `stream`: the window schedule and the streaming generator; `estimator`: `VideoEstimator`.

Public: `VideoEstimator`, `VideoConfig`, `load_video_network`, `stream_depths`, `LABELS`,
`INFER_LEN`, `OVERLAP`, `KEYFRAMES`, `INTERP_LEN`, `is_metric_name`.
"""

from .checkpoint import load_video_network
from .config import LABELS, VideoConfig, is_metric_name
from .estimator import VideoEstimator
from .stream import INFER_LEN, INTERP_LEN, KEYFRAMES, OVERLAP, stream_depths

__all__ = [
    "INFER_LEN",
    "INTERP_LEN",
    "KEYFRAMES",
    "LABELS",
    "OVERLAP",
    "VideoConfig",
    "VideoEstimator",
    "is_metric_name",
    "load_video_network",
    "stream_depths",
]
