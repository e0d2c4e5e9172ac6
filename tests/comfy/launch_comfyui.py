"""Start ComfyUI's `main.py` (in the current folder) with the test machine's torchvision fixed.

This machine kind has a CUDA torchvision beside the CPU torch, and ComfyUI imports torchvision at
start-up: it fails with "operator torchvision::nms does not exist". Defining the two operator
schemas first lets it import (nothing here runs them); real installs have a matching pair. Self-
contained on purpose: the server must not see the repository's `lib_depth` on its path, or a
wrong top-level import in the pack would pass here and fail in a real ComfyUI.
"""

import runpy
import sys

import torch

try:
    import torchvision
except RuntimeError as exc:
    if "torchvision::nms does not exist" not in str(exc):
        raise
    _schemas = torch.library.Library("torchvision", "DEF")
    for _op in ("nms", "qnms"):
        _schemas.define(f"{_op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    for _name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[_name]
    import torchvision  # noqa: F401

sys.argv = ["main.py", *sys.argv[1:]]
sys.path.insert(0, ".")
runpy.run_path("main.py", run_name="__main__")
