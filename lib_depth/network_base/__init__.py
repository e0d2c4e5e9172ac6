"""What every network package shares (issue 24, item 1); imports only `lib_depth.depth`.

midas/, anything/ and video/ build on this base and never on each other. Modules by job so far:

- `maps`: nearness -> the depth `lib_depth.depth` expects, and ControlNet's normal map (pure numpy).
- `torch_load`: a checkpoint's tensors, weights only, through the loader the host hands over.
- `device_io`: a network's input made and its output resized back on a device other than the CPU
  (`Recipe`, `estimate_batch`); `batching`: which pictures share a forward pass (`batches`).

Still in midas/ (to move here next): device and precision choice, the estimator cache, weights
finding / verifying / downloading, strict checkpoint loading, the geometry of network inputs.

Public: `nearness_to_depth`, `normal_map`, `normalised_nearness`, `use_loader`, `load_tensors`.
"""

from .maps import nearness_to_depth, normal_map, normalised_nearness
from .torch_load import load_tensors, use_loader

__all__ = ["load_tensors", "nearness_to_depth", "normal_map", "normalised_nearness", "use_loader"]
