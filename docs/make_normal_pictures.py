"""Makes the README's normal-map pictures (`PYTHONPATH=. python docs/make_normal_pictures.py` from the repository root):

- docs/images/normal_sphere.png: a sphere's normal map as `--normal` writes it, with the colours named;
- docs/images/blender_depth_normal.png: two Blender renders (tests/data/blender/): the depth map, our
  normal map from the depth pass, and Blender's own Normal pass turned into camera space.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from lib_depth.depth.exr import read_depth
from lib_depth.depth.exr_normals import read_normal_pass
from lib_depth.depth.normals import normal_map, pass_normal_map
from lib_depth.depth.process import DepthOptions, make_depth_map

REPO = Path(__file__).resolve().parents[1]
BLENDER = REPO / "tests" / "data" / "blender"
OUT = REPO / "docs" / "images"


def sphere_depth(size: int = 256, fov: float = 39.6) -> np.ndarray:
    """Planar depth of a sphere (radius 1, 4 units in front of the camera), inf beside it."""
    k = 2 * math.tan(math.radians(fov) / 2) / size
    x = (np.arange(size) + 0.5 - size / 2) * k
    ray = np.stack(np.broadcast_arrays(x[None, :], -x[:, None], -np.ones((size, size))), axis=-1)
    centre = np.array([0.0, 0.0, -4.0])
    rc, rr = ray @ centre, np.sum(ray * ray, axis=-1)
    disc = rc**2 - rr * (centre @ centre - 1.0)
    return np.where(disc > 0, (rc - np.sqrt(np.maximum(disc, 0))) / rr, np.inf).astype(np.float32)


def label(image: np.ndarray, text: str, at: tuple[int, int]) -> None:
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)


def sphere_picture() -> np.ndarray:
    image = np.ascontiguousarray(normal_map(sphere_depth()))
    label(image, "facing left: red", (4, 132))
    label(image, "up: green", (96, 20))
    label(image, "facing you: (128,128,255)", (40, 250))
    return image


def blender_picture() -> np.ndarray:
    cameras = json.loads((BLENDER / "cameras.json").read_text())
    rows = []
    for name in ("move_f1", "lens35"):
        camera, path = cameras[name], BLENDER / cameras[name]["file"]
        depth = read_depth(path).depth
        levels = make_depth_map(depth, DepthOptions()).levels
        ours = normal_map(depth, fov_degrees=camera["fov_degrees"])
        theirs = pass_normal_map(read_normal_pass(path).normals, camera_rotation=camera["rotation_degrees"])
        rows.append(np.hstack([np.repeat(levels[..., None], 3, 2), ours, theirs]))
    return cv2.resize(np.vstack(rows), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / "normal_sphere.png"), sphere_picture()[..., ::-1])
    cv2.imwrite(str(OUT / "blender_depth_normal.png"), blender_picture()[..., ::-1])
