"""The ComfyUI node pack: the ONLY code that knows ComfyUI exists, a thin floor over `lib_depth`
(as `webui/` is over the same layers for A1111). The repository's root `__init__.py` imports this
package, relatively, when ComfyUI loads the folder from `custom_nodes/`. Modules by job:

- `host`: the only module importing ComfyUI (`folder_paths`, `comfy.utils`, `comfy.model_management`):
  folders, the progress bar and Cancel.
- `frames`: the DEPTH socket's value (`DepthFrames`) and EXR loading, as the command line reads files.
- `tensors`: numpy <-> IMAGE / MASK tensors. `errors`: the one-line messages (`one_line`).
- `exr_nodes`: Load EXR depth, Depth histogram, Depth to ControlNet map, Normal map from the render.
- `save_nodes`: Save 16-bit PNG.
- `models`: where the weights are, and the network handed to ComfyUI's model manager.
- `model_nodes`: MiDaS and Depth Anything V2 on IMAGE batches (frames aligned as `--sequence`).
- `video_nodes`: Video Depth Anything on an IMAGE batch (one consistent sequence).

Public: `NODE_CLASS_MAPPINGS`, `NODE_DISPLAY_NAME_MAPPINGS` (ComfyUI's classic node mappings, which
0.3.x and later load).
"""

from .exr_nodes import DepthHistogram, DepthToMap, LoadExrDepth, NormalFromRender
from .model_nodes import DepthAnythingV2, MidasDepth
from .save_nodes import SaveDepthPng
from .video_nodes import VideoDepthAnything

NODE_CLASS_MAPPINGS = {
    "DepthTools_LoadExrDepth": LoadExrDepth,
    "DepthTools_DepthHistogram": DepthHistogram,
    "DepthTools_DepthToMap": DepthToMap,
    "DepthTools_NormalFromRender": NormalFromRender,
    "DepthTools_SavePng16": SaveDepthPng,
    "DepthTools_MiDaS": MidasDepth,
    "DepthTools_DepthAnythingV2": DepthAnythingV2,
    "DepthTools_VideoDepthAnything": VideoDepthAnything,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "DepthTools_LoadExrDepth": "Load EXR depth (Depth Tools)",
    "DepthTools_DepthHistogram": "Depth histogram (Depth Tools)",
    "DepthTools_DepthToMap": "Depth to ControlNet map (Depth Tools)",
    "DepthTools_NormalFromRender": "Normal map from the render (Depth Tools)",
    "DepthTools_SavePng16": "Save 16-bit PNG (Depth Tools)",
    "DepthTools_MiDaS": "MiDaS depth map (Depth Tools)",
    "DepthTools_DepthAnythingV2": "Depth Anything V2 (Depth Tools)",
    "DepthTools_VideoDepthAnything": "Video Depth Anything (Depth Tools)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
