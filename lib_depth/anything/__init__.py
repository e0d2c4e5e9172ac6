"""Depth Anything V2 (ViT-S, ViT-B, ViT-L) for ordinary images, beside MiDaS; imports `lib_depth.depth`
and `lib_depth.network_base` only (device and precision policy, the estimator and its cache, weights
places and verified downloads, the long-side cap, the DINOv2 encoder and DPT head).

Importing this package is cheap and torch-free: torch is imported on first use. Modules by job:

- `config`: `AnythingConfig`, the network's shape read from a weights file's tensors (never its name).
- `network`: `DepthAnythingV2`, the reference's network over `network_base.dinov2_dpt` (the DINOv2
  encoder + DPT head in plain torch, no timm: same on every host, with DINOv2's own position-embedding
  interpolation), which Video Depth Anything shares.
- `weights`: where the files are (ours, configured folders, ControlNet's and Forge's
  `depth_anything_v2/`, the Hugging Face cache), their published sha256, the ViT-S-only download.
- `checkpoint`: a `.pth` (weights only, never unpickled) or `.safetensors` file -> the network, strictly.
- `geometry`: the reference's preprocessing (lower-bound resize to multiples of 14, cubic, ImageNet
  normalisation) and its bilinear resize back.
- `settings`, `estimator`: `AnythingSettings`, `AnythingEstimator` (MidasEstimator's interface) and
  the per-process cache.

Public: `AnythingSettings`, `AnythingEstimator`, `AnythingConfig`, `Estimation`, `get_estimator`,
`loaded_estimator`, `release_estimators`, `find_weights`, `load_network`, `load_count`, `network_shape`,
`read_config` (a file's size and licence, unloaded), `not_found`, `DEFAULT_RESOLUTION`, `PATCH_SIZE`,
`SMALL_NAME`, `LABELS`, `WeightsError` (network_base's: one type for every model's
weights), `DepthError`.
"""

from ..depth.errors import DepthError
from ..network_base.estimating import Estimation
from ..network_base.weights import WeightsError
from .checkpoint import load_count, load_network, read_config
from .config import LABELS, PATCH_SIZE, AnythingConfig
from .estimator import AnythingEstimator, get_estimator, loaded_estimator, release_estimators
from .geometry import DEFAULT_RESOLUTION, network_shape
from .settings import AnythingSettings, find_weights
from .weights import SMALL_NAME, not_found

__all__ = [
    "DEFAULT_RESOLUTION",
    "LABELS",
    "PATCH_SIZE",
    "SMALL_NAME",
    "AnythingConfig",
    "AnythingEstimator",
    "AnythingSettings",
    "DepthError",
    "Estimation",
    "WeightsError",
    "find_weights",
    "get_estimator",
    "load_count",
    "load_network",
    "loaded_estimator",
    "network_shape",
    "not_found",
    "read_config",
    "release_estimators",
]
