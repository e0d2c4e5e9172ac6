"""The image route: ordinary pictures -> a registered depth model -> depth, for every entry point.

Imports `depth/` and the model packages (`midas/`); torch only when a model is first loaded. The
command line, the tab, the API and the WebUI reach a model through here, never a model's package
directly, so adding one (Depth Anything V2 next) is one package plus one `registry` entry.
Modules by job:

- `registry`: the models by name (`ESTIMATORS`, `EstimatorEntry`, `entry`, `get_estimator`: one
  model held per process) and what an estimator must offer (`Estimator`).
- `image_input`: `ImageInput`, the typed input kind of a `depth.pipeline.Job` for images (model,
  resolution, background threshold, normal map, weights, device, precision), and `estimate_depth`.
- `decode`: an image file -> pixels, bounded before decoding (`read_image`, `read_image_noted`,
  `IMAGE_SUFFIXES`), over `image_file` (the header's size; truncated files named as such).
- `image_sequence` (`prepare_images`: estimate once per frame, in order, aligned; `AlignedDepths`,
  the input kind that reads the stored depths back) over `align` (scale and shift in disparity).

Public: `ImageInput`, `estimate_depth`, `read_image`, `read_image_noted`, `IMAGE_SUFFIXES`,
`ESTIMATORS`, `EstimatorEntry`, `DEFAULT_MODEL`, `get_estimator`, `entry`, `prepare_images`,
`AlignedDepths`.
"""

from .decode import IMAGE_SUFFIXES, read_image, read_image_noted
from .image_input import ImageInput, estimate_depth
from .image_sequence import AlignedDepths, prepare_images
from .registry import DEFAULT_MODEL, ESTIMATORS, EstimatorEntry, entry, get_estimator

__all__ = [
    "DEFAULT_MODEL",
    "ESTIMATORS",
    "IMAGE_SUFFIXES",
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
