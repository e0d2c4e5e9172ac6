"""Depth Tools: float depth (EXR renders, MiDaS estimates) -> depth maps for ControlNet.

Packages by layer (each may import only those before it; `tests/test_layers.py` enforces it):

- `depth/`: the core, torch-free: EXR reading, the depth semantics, PNG writing, the pipeline.
- `midas/`: MiDaS depth estimation for ordinary images (torch and controlnet_aux on first use).
- `cli.py`: the command line (`python -m lib_depth`).
- `ui/`: the gradio tab, host-agnostic (`python -m lib_depth.ui` serves it alone).
- `webui/`: the only code that knows a WebUI exists: host adapter, settings, ControlNet preprocessors.

Importing `lib_depth` imports numpy and OpenCV, never torch, gradio or the WebUI.
"""

from .depth.errors import DepthError
from .depth.pipeline import register_source
from .depth.process import DepthMap, DepthOptions, Histogram, histogram, make_depth_map

__all__ = ["IMAGE_SUFFIXES", "DepthError", "DepthMap", "DepthOptions", "Histogram", "histogram", "make_depth_map"]
__version__ = "0.1.0"

#: Ordinary images go through MiDaS. Registered here (by name, imported on first use), so the
#: EXR core never imports MiDaS, and every process that unpickles a Job (`--jobs`) has them.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
register_source(IMAGE_SUFFIXES, "lib_depth.midas.source:load_image")
