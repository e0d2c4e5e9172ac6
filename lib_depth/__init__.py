"""Depth Tools: float depth (EXR renders, depth models on images) -> depth maps for ControlNet.

Packages by layer (each may import only those before it; `tests/test_layers.py` enforces it, and
`docs/architecture.md` shows how a job flows through them):

- `depth/`: the core, torch-free: EXR reading, the depth semantics, PNG writing, the pipeline.
- `midas/`: the MiDaS DPT-hybrid network, its weights and device (torch on first use).
- `images/`: the image route: a model registry, `ImageInput`, image sequences (alignment).
- `cli/`: the command line (`python -m lib_depth`).
- `api/`: the HTTP API. `ui/`: the gradio tab, host-agnostic (`python -m lib_depth.ui` serves it alone).
- `webui/`: the only code that knows a WebUI exists: host adapter, settings, ControlNet preprocessors.

Importing `lib_depth` imports numpy and OpenCV, never torch, gradio or the WebUI.
"""

from .depth.errors import DepthError
from .depth.process import DepthMap, DepthOptions, Histogram, histogram, make_depth_map

__all__ = ["DepthError", "DepthMap", "DepthOptions", "Histogram", "histogram", "make_depth_map"]
__version__ = "0.1.0"
