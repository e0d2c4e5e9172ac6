"""Our Depth Anything V2 against the `depth_anything_v2` package ControlNet 1.1.455 and Forge install
(the UDAV2-ControlNet v1.0.0 release wheel, built from its public repository), whole call against
whole call: preprocessing, network and resize back, on the same random weights in the official layout.

Never part of the suite, never installed into our environments: put the package somewhere scratch and
name it on PYTHONPATH, e.g.

    pip wheel --no-deps -w /tmp/udav2 <checkout of MackinationsAi/UDAV2-ControlNet at v1.0.0>
    pip install --no-deps --target /tmp/udav2-site /tmp/udav2/depth_anything_v2-*.whl
    PYTHONPATH=/tmp/udav2-site .venv-forge/bin/python tools/compare_anything_package.py vits vitl

The reference's `infer_image` takes a BGR picture (what cv2.imread gives); ours takes RGB.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: the reference's model_configs (run.py / app.py of Depth-Anything-V2)
CONFIGS = {"vits": dict(encoder="vits", features=64, out_channels=[48, 96, 192, 384]),
           "vitb": dict(encoder="vitb", features=128, out_channels=[96, 192, 384, 768]),
           "vitl": dict(encoder="vitl", features=256, out_channels=[256, 512, 1024, 1024])}
#: (height, width, resolution): square at 518, landscape, portrait, odd, and other resolutions
CASES = [(518, 518, 518), (360, 640, 518), (640, 360, 518), (333, 517, 518), (301, 517, 266), (480, 640, 364)]


def compare(encoder: str, folder: Path) -> float:
    import torch
    from depth_anything_v2.dpt import DepthAnythingV2

    from lib_depth.anything import AnythingEstimator, AnythingSettings
    from tests.anything_support import picture, random_state_dict, save_pth

    state = random_state_dict(encoder, seed=0)
    reference = DepthAnythingV2(**CONFIGS[encoder]).eval()
    reference.load_state_dict(state, strict=True)
    path = save_pth(folder / f"depth_anything_v2_{encoder}.pth", state)
    ours = AnythingEstimator.from_pretrained(AnythingSettings(weights=str(path), device="cpu", precision="fp32"))
    worst = 0.0
    for height, width, resolution in CASES:
        rgb = picture(height, width)
        with torch.inference_mode():
            theirs = reference.infer_image(np.ascontiguousarray(rgb[..., ::-1]), resolution)
        got = ours(rgb, resolution)
        assert got.shape == theirs.shape, (got.shape, theirs.shape)
        error = float(np.abs(got - theirs).max() / (theirs.max() - theirs.min()))
        worst = max(worst, error)
        print(f"{encoder} {height}x{width} at {resolution}: max |ours - reference| = {error:.2e} of the range")
    return worst


def main() -> int:
    from lib_depth.midas.network import _ensure_torchvision

    _ensure_torchvision()  # the reference imports torchvision.transforms (Compose); see docs/hosts.md
    with tempfile.TemporaryDirectory() as scratch:
        worst = max(compare(encoder, Path(scratch)) for encoder in sys.argv[1:] or ["vits"])
    print(f"worst: {worst:.2e} of the range (target < 1e-4)")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
