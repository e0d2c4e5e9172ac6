"""The image route: ordinary pictures -> a registered depth model -> depth, for every entry point.

Imports `depth/`, `network_base/` and the model packages (`midas/`, `anything/`, `video/`); torch only
when a model is first loaded. The command line, the tab, the API, the WebUI and ComfyUI reach a model
through here, never a model's package directly, so adding one is one package plus one `registry`
entry (docs/architecture.md, "Adding a fourth network").
Modules by job:

- `registry`: the models by name (`ESTIMATORS`, `EstimatorEntry`, `entry`, `get_estimator`: one
  model held per process) and what an estimator must offer (`Estimator`). `ESTIMATORS` holds the
  picture models only (every picture dropdown, setting and API listing reads it);
  `SEQUENCE_ESTIMATORS` holds the sequence models (Video Depth Anything: `EstimatorEntry.video`
  is true, it runs windows of frames, never one picture); `ALL_ESTIMATORS` is both, what `entry`
  and `get_estimator` look names up in. A sequence mode lists `SEQUENCE_ESTIMATORS`.
- `video_model` (Video Depth Anything loaded once, its maps in frame 0's units) over `video_weights`
  (found, the published Small verified, only Small downloaded), and `video_file` (a video file's
  frames in, a depth video out, through PyAV).
- `image_input`: `ImageInput`, the typed input kind of a `depth.pipeline.Job` for images (model,
  resolution, background threshold, normal map, weights, device, precision), and `estimate_depth`.
- `decode`: an image file -> pixels, bounded before decoding (`read_image`, `read_image_noted`,
  `IMAGE_SUFFIXES`), over `image_file` (the header's size; truncated files named as such).
- `image_sequence` (`prepare_images`: estimate once per frame, in order, aligned; `AlignedDepths`,
  the input kind that reads the stored depths back) over `align` (scale and shift in disparity) and
  `lookahead` (on a GPU the next frames estimated in one batch).

Public: `ImageInput`, `estimate_depth`, `read_image`, `read_image_noted`, `IMAGE_SUFFIXES`,
`ESTIMATORS`, `SEQUENCE_ESTIMATORS`, `ALL_ESTIMATORS`, `EstimatorEntry`, `DEFAULT_MODEL`,
`get_estimator`, `entry`, `prepare_images`, `AlignedDepths`.
"""

from .decode import IMAGE_SUFFIXES, read_image, read_image_noted
from .image_input import ImageInput, estimate_depth
from .image_sequence import AlignedDepths, prepare_images
from .registry import (
    ALL_ESTIMATORS,
    DEFAULT_MODEL,
    ESTIMATORS,
    SEQUENCE_ESTIMATORS,
    EstimatorEntry,
    entry,
    get_estimator,
)

__all__ = [
    "ALL_ESTIMATORS",
    "DEFAULT_MODEL",
    "ESTIMATORS",
    "IMAGE_SUFFIXES",
    "SEQUENCE_ESTIMATORS",
    "AlignedDepths",
    "EstimatorEntry",
    "ImageInput",
    "entry",
    "estimate_depth",
    "get_estimator",
    "prepare_images",
    "read_image",
    "read_image_noted",
]
