"""Video Depth Anything test material: official-layout weights from integer arithmetic, synthetic
videos, and the official code, loaded from a checkout of DepthAnything/Video-Depth-Anything.

The layout comes from `video_reference_layouts.json`, recorded from the official
`VideoDepthAnything(**model_configs[encoder]).state_dict()` (names and shapes), not from our
network. The values are `tests/integer_weights.py`'s: the same bits on every CPU.

No package registry has the official code, and fetched code is not committed: the reference tests
import it from the checkout that `DEPTH_TOOLS_VDA_REFERENCE` names (its root, holding
`video_depth_anything/` and `utils/`) and skip without one. Its imports are met as they stand,
except `easydict`, which it uses only to pass keyword arguments (`dpt_temporal.py`): a dict.
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.integer_weights import default_spread, integer_state_dict

LAYOUTS = Path(__file__).with_name("video_reference_layouts.json")
REFERENCE_ENV = "DEPTH_TOOLS_VDA_REFERENCE"
OUTPUT_BIAS = "head.scratch.output_conv2.2.bias"  # lifted above the final ReLU: every pixel carries signal
OUTPUT_WEIGHT = "head.scratch.output_conv2.2.weight"


@cache
def reference_layout(encoder: str) -> dict[str, tuple[int, ...]]:
    return {name: tuple(shape) for name, shape in json.loads(LAYOUTS.read_text(encoding="utf8"))[encoder]}


def video_spread(key: str, shape: tuple[int, ...], layout: dict[str, tuple[int, ...]]) -> tuple[float, float]:
    """`default_spread`, with the last convolution's weights 4x wider: with the output bias at 0.3 the
    maps' spread is then a fifth of their mean (0.41 +- 0.09 for the test video, all above 0), where
    the default and a bias of 1 give 1.03 +- 0.02. The windows' scale-and-shift fit is a least-squares
    problem whose conditioning is about mean / spread: nearly flat maps would turn fp32 rounding into
    percent-level differences in the fitted scale, chained from window to window."""
    centre, half = default_spread(key, shape, layout)
    return (centre, 4 * half) if key == OUTPUT_WEIGHT else (centre, half)


def video_state_dict(encoder: str = "vits") -> dict[str, Any]:
    return integer_state_dict(reference_layout(encoder), spread=video_spread, lift={OUTPUT_BIAS: 0.3})


def frames(count: int, height: int, width: int) -> Iterator[np.ndarray]:
    """A deterministic synthetic video: gradients, a disc moving right by 4 px a frame at 84 wide (so
    that a frame taken for its neighbour shows), growing, fixed noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = (np.arange(height * width * 3, dtype=np.uint64).reshape(height, width, 3) * 2654435761 % 41).astype(
        np.float32)
    for i in range(count):
        cx, r = width * (0.2 + 0.6 * (i % 13) / 13), min(height, width) * (0.15 + 0.004 * (i % 37))
        disc = ((yy - height * 0.55) ** 2 + (xx - cx) ** 2 < r * r) * 90.0
        rgb = np.stack([xx / width * 200 + disc, yy / height * 180 + (i % 7) * 3, (xx + yy) / (width + height) * 120
                        + disc], -1) + noise
        yield np.clip(rgb, 0, 255).astype(np.uint8)


def official_root() -> Path | None:
    root = os.environ.get(REFERENCE_ENV)
    return Path(root) if root and (Path(root) / "video_depth_anything" / "video_depth.py").is_file() else None


def official_class() -> Any:
    """The official `VideoDepthAnything`, imported from the checkout."""
    from lib_depth.midas.network import _ensure_torchvision

    root = official_root()
    assert root is not None
    _ensure_torchvision()  # video_depth.py imports torchvision.transforms
    sys.modules.setdefault("easydict", types.SimpleNamespace(EasyDict=dict))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from video_depth_anything.video_depth import VideoDepthAnything

    return VideoDepthAnything


#: run.py's model_configs
MODEL_CONFIGS = {"vits": {"encoder": "vits", "features": 64, "out_channels": [48, 96, 192, 384]},
                 "vitb": {"encoder": "vitb", "features": 128, "out_channels": [96, 192, 384, 768]},
                 "vitl": {"encoder": "vitl", "features": 256, "out_channels": [256, 512, 1024, 1024]}}
