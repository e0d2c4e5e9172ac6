"""Depth Tools: float depth (EXR renders, MiDaS estimates) -> depth maps for ControlNet.

The core (`exr`, `process`, `png`, `pipeline`, `cli`) needs only numpy, OpenEXR and OpenCV;
nothing here imports torch, gradio or the WebUI until a feature that needs it is used.
"""

from .errors import DepthError
from .process import DepthMap, DepthOptions, Histogram, histogram, make_depth_map

__all__ = ["DepthError", "DepthMap", "DepthOptions", "Histogram", "histogram", "make_depth_map"]
__version__ = "0.1.0"
