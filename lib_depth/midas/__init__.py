"""The MiDaS (DPT-hybrid) network as an estimator; imports only `lib_depth.depth` and `lib_depth.network_base`.

Reached through `lib_depth.images.registry` (the entry "midas"), never directly by the entry points.

Importing this package is cheap and torch-free: torch and controlnet_aux's network are imported
on first use. Modules by job:

- `weights`: the MiDaS file's name, folders and messages (hashing, the state file and the verified
  download are `network_base.weights`').
- `network`: weights file -> controlnet_aux's DPT-hybrid network (every damaged file a clear error).
- `settings`: `MidasSettings` (`network_base.settings.NetworkSettings` under MiDaS's name).
- `device`: the shared precision probe run on MiDaS's own input; `geometry`: padding to multiples of 32.
- `hf_folder`, `hf_layout`: the same network in Hugging Face's layout (Intel/dpt-hybrid-midas, a
  transformers folder): where its files are, and its tensors renamed to ours, strictly.
- `estimator`: `MidasEstimator` (`from_pretrained(settings)`, then call it; `estimate` also gives the
  notes for the user, e.g. the long-side cap of `network_base.geometry.MAX_NETWORK_SIDE`) and the
  per-process cache (`network_base.estimating`).
- `maps`, `torch_load`: re-exports of `network_base.maps` (nearness -> depth, ControlNet's normal map)
  and `network_base.torch_load` (`use_loader`, the WebUI floor's).

Public: `MidasSettings`, `MidasEstimator`, `Estimation`, `get_estimator`, `loaded_estimator`,
`release_estimators`, `find_weights`,
`nearness_to_depth`, `normal_map`, `normalised_nearness`, `as_rgb8`, `network_shape`, `WEIGHTS_NAME`,
`WeightsError`, `network_class`, `load_count`.
"""

from ..network_base.maps import nearness_to_depth, normal_map, normalised_nearness
from .estimator import Estimation, MidasEstimator, get_estimator, loaded_estimator, release_estimators
from .geometry import as_rgb8, network_shape
from .network import load_count, network_class
from .settings import MidasSettings, find_weights
from .weights import WEIGHTS_NAME, WeightsError

__all__ = [
    "WEIGHTS_NAME",
    "Estimation",
    "MidasEstimator",
    "MidasSettings",
    "WeightsError",
    "as_rgb8",
    "find_weights",
    "get_estimator",
    "load_count",
    "loaded_estimator",
    "nearness_to_depth",
    "network_class",
    "network_shape",
    "normal_map",
    "normalised_nearness",
    "release_estimators",
]
