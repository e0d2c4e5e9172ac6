"""What every network package shares (issue 24, item 1); imports only `lib_depth.depth`.

midas/, anything/ and video/ build on this base and never on each other (tests/test_layers.py).
Importing it is cheap and torch-free: torch is imported on first use. Modules by job:

- `device`: where a network runs and in which float format (`pick_device`, autocast, the CPU's
  bf16 probe, to which each network hands its own input and lock).
- `estimating`: `NetworkEstimator` (placement, precision, batches, the fp16 fallback), `Estimation`,
  `EstimatorCache` (one load per settings and process); a network's estimator subclasses it.
- `settings`: `NetworkSettings`, where the weights are and how to run them (MiDaS's under its name).
- `weights`: `WeightsError`, `ProgressFn`, the state file, remembered sha256s, the verified download,
  the Hugging Face cache and the WebUI's folders.
- `strict_load`: `can_assign`, `first_line`, `human_size` for strict checkpoint loading and its errors;
  `torch_load`: a checkpoint's tensors, weights only, through the loader the host hands over.
- `geometry`: uint8 RGB, the resolution check, `NetworkShape` and the long-side cap, `patch_shape`
  (sides multiples of a patch).
- `dinov2_dpt`: the DINOv2 encoder and DPT head in plain torch; `dinov2_dpt_layout`: their widths
  read from a state dict (`DinoDptConfig`, `PATCH_SIZE`).
- `device_io`: a network's input made and its output resized back on a device other than the CPU
  (`Recipe`, `estimate_batch`); `batching`: which pictures share a forward pass (`batches`).
- `maps`: nearness -> the depth `lib_depth.depth` expects, and ControlNet's normal map (pure numpy).

Public: `nearness_to_depth`, `normal_map`, `normalised_nearness`, `use_loader`, `load_tensors`, and by
module: `NetworkEstimator`, `Estimation`, `EstimatorCache`, `NetworkSettings`, `WeightsError`,
`ProgressFn`, `pick_device`, `NetworkShape`, `as_rgb8`, `patch_shape`, `DinoDptConfig`, `dinov2_dpt_classes`.
"""

from .maps import nearness_to_depth, normal_map, normalised_nearness
from .torch_load import load_tensors, use_loader

__all__ = ["load_tensors", "nearness_to_depth", "normal_map", "normalised_nearness", "use_loader"]
