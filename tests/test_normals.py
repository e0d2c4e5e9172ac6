"""Normal maps from depth: analytic geometry under a perspective camera, then real Blender 3.4 renders
(tests/data/blender: their Normal pass, turned into camera space with the known camera, is the truth)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from lib_depth.depth.errors import DepthError, OptionsError
from lib_depth.depth.exr import read_depth
from lib_depth.depth.exr_normals import normal_channels, read_normal_pass
from lib_depth.depth.normals import (
    NormalOptions,
    camera_normals,
    camera_rotation_matrix,
    encode_normals,
    horizontal_fov,
    normal_map,
    pass_normal_map,
    world_to_camera,
)

BLENDER = Path(__file__).parent / "data" / "blender"
CAMERAS = json.loads((BLENDER / "cameras.json").read_text())
SCENE_RENDERS = [name for name in CAMERAS if name != "wall"]  # wall: a plane square to the view
FLAT = (128, 128, 255)


def rays(height: int, width: int, fov: float) -> np.ndarray:
    """Each pixel centre's ray (right, up, -1) through the plane at depth 1, float64 HxWx3."""
    k = 2 * math.tan(math.radians(fov) / 2) / width
    right = (np.arange(width) + 0.5 - width / 2) * k
    up = (height / 2 - 0.5 - np.arange(height)) * k
    ray = np.empty((height, width, 3))
    ray[..., 0], ray[..., 1], ray[..., 2] = right[None, :], up[:, None], -1.0
    return ray


def sphere(height: int, width: int, fov: float, centre: tuple[float, float, float], radius: float):
    """Planar depth, distance and true normals (left, up, toward) of a sphere; inf where it is missed."""
    ray = rays(height, width, fov)
    c = np.asarray(centre, dtype=float)
    rc = ray @ c
    rr = np.sum(ray * ray, axis=-1)
    disc = rc**2 - rr * (c @ c - radius**2)
    hit = disc > 0
    t = np.where(hit, (rc - np.sqrt(np.where(hit, disc, 0))) / rr, np.inf)
    point = ray * np.where(hit, t, 0)[..., None]
    normal = (point - c) / radius
    normal[..., 0] *= -1  # right -> left
    normal[~hit] = 0
    return t.astype(np.float32), (t * np.sqrt(rr)).astype(np.float32), normal, hit


def angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def eroded(mask: np.ndarray, pixels: int = 2) -> np.ndarray:
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.erode(mask.astype(np.uint8), kernel, borderValue=0).astype(bool)


@pytest.mark.parametrize("depth_is", ["planar", "distance"])
@pytest.mark.parametrize("fov", [39.6, 70.0])
def test_sphere_normals_match_the_analytic_sphere(depth_is: str, fov: float) -> None:
    planar, distance, truth, hit = sphere(120, 160, fov, (0.6, -0.3, -6.0), 1.5)
    depth = planar if depth_is == "planar" else distance
    ours = camera_normals(depth, NormalOptions(fov_degrees=fov, depth_is=depth_is))
    error = angles(ours, truth)[eroded(hit)]
    assert np.median(error) < 0.5
    assert np.percentile(error, 95) < 2.0
    assert not np.any(ours[~hit])  # no surface: no normal


def test_the_wrong_depth_kind_or_field_of_view_gives_wrong_normals() -> None:
    """Perspective matters: read as the other kind, or with another lens, the sphere's normals are off."""
    planar, distance, truth, hit = sphere(120, 160, 39.6, (0.0, 0.0, -4.0), 1.5)
    inner = eroded(hit)
    as_planar = camera_normals(distance, NormalOptions(depth_is="planar"))
    other_lens = camera_normals(planar, NormalOptions(fov_degrees=20.0))
    assert np.median(angles(as_planar, truth)[inner]) > 3
    assert np.median(angles(other_lens, truth)[inner]) > 3


def test_colours_follow_controlnet_normalbae_left_red_up_green_front_blue() -> None:
    planar, _, _, hit = sphere(121, 161, 39.6, (0.0, 0.0, -6.0), 1.5)
    image = normal_map(planar)
    rows, cols = np.nonzero(hit)
    middle_row, middle_col = 60, 80
    left, right = cols[rows == middle_row].min(), cols[rows == middle_row].max()
    top, bottom = rows[cols == middle_col].min(), rows[cols == middle_col].max()
    assert tuple(image[middle_row, middle_col]) == FLAT  # facing the camera
    assert image[middle_row, left + 1, 0] > 220 and image[middle_row, right - 1, 0] < 35  # left is red
    assert image[top + 1, middle_col, 1] > 220 and image[bottom - 1, middle_col, 1] < 35  # up is green
    assert np.all(image[~hit] == FLAT)
    midas = normal_map(planar, style="midas")  # ControlNet 1.0: channels (toward, up, left)
    assert np.array_equal(midas, image[..., ::-1])
    assert tuple(midas[0, 0]) == (255, 128, 128)


def tilted_plane(height: int, width: int, fov: float, normal: tuple[float, float, float], offset: float):
    """Planar depth of the plane n . P = offset (n in right, up, toward) seen from the origin."""
    ray = rays(height, width, fov)
    n = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    return (offset / (ray @ n)).astype(np.float32), n * [-1, 1, 1]


def test_planes_are_exact_in_every_pixel_across_row_blocks() -> None:
    """Inverse depth is linear on a plane: every pixel, borders included, gets its exact normal,
    in an image of several row blocks (each computed with a row of its neighbours)."""
    depth, truth = tilted_plane(700, 500, 50.0, (0.3, 0.5, 1.0), -8.0)
    assert depth.min() > 0
    error = angles(camera_normals(depth, NormalOptions(fov_degrees=50.0)), truth)
    assert error.max() < 0.05


def test_a_depth_jump_does_not_smear_normals_across_the_silhouette() -> None:
    """A card facing the camera in front of a tilted floor: on both sides of its outline, every pixel
    keeps the normal of its own surface, as a pixel's own side's one-sided difference gives."""
    floor, floor_normal = tilted_plane(96, 128, 39.6, (0.0, 1.0, 0.4), -2.0)
    depth = floor.copy()
    card = np.zeros(depth.shape, bool)
    card[30:60, 40:90] = True
    depth[card] = 3.0
    ours = camera_normals(depth)
    assert np.all(angles(ours[card], np.array([0.0, 0.0, 1.0])) < 0.01)
    assert np.all(angles(ours[~card], floor_normal) < 0.05)


def test_pixels_without_a_neighbour_on_their_surface_face_the_camera_along_that_axis() -> None:
    """A lone pixel, a one-pixel line in front of a wall, a single row: no side to take a slope from,
    so no slope (not the jump to the background or to the wall behind)."""
    lone = np.full((5, 5), np.nan, np.float32)
    lone[2, 2] = 3.0
    assert tuple(normal_map(lone)[2, 2]) == FLAT
    wire = np.full((9, 9), 10.0, np.float32)
    wire[4, :] = 2.0
    assert np.all(normal_map(wire)[4, 1:-1] == FLAT)
    for shape in [(1, 7), (1, 1), (4, 1), (2, 3)]:  # tiny images too (padded for OpenCV, then cropped)
        assert np.all(normal_map(np.full(shape, 5.0)) == FLAT)
        assert camera_normals(np.full(shape, 5.0), background=np.zeros(shape, bool)).shape == (*shape, 3)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e10, 0.0, -2.0, 1e-20])
def test_background_is_flat(value: float) -> None:
    depth, _ = tilted_plane(40, 60, 39.6, (0.5, 0.2, 1.0), -5.0)
    depth[10:20, 10:30] = value
    image = normal_map(depth)
    assert np.all(image[10:20, 10:30] == FLAT)
    assert not np.any(np.all(image[25:, 35:] == FLAT, axis=-1))  # the tilted plane is not flat


def test_a_background_mask_and_limit_make_pixels_background() -> None:
    depth, _ = tilted_plane(40, 60, 39.6, (0.5, 0.2, 1.0), -5.0)
    mask = np.zeros(depth.shape, bool)
    mask[:, :20] = True
    image = normal_map(depth, background=mask)
    assert np.all(image[:, :20] == FLAT) and not np.any(np.all(image[:, 21:] == FLAT, axis=-1))
    limited = normal_map(depth, background_above=float(np.median(depth)))
    assert np.array_equal(np.all(limited == FLAT, axis=-1), depth > np.median(depth))


def test_encoding_matches_the_float_normals_and_rounds_the_middle_to_128() -> None:
    planar, _, _, _ = sphere(60, 80, 39.6, (0.0, 0.0, -5.0), 1.5)
    unit = camera_normals(planar)
    assert np.abs(encode_normals(unit).astype(int) - normal_map(planar).astype(int)).max() <= 1
    assert tuple(encode_normals(np.array([[[0.0, 0.0, 1.0], [-1.0, 1.0, 0.0]]]))[0, 0]) == FLAT
    assert tuple(encode_normals(np.array([[[-1.0, 1.0, 0.0]]]))[0, 0]) == (0, 255, 128)


@pytest.mark.parametrize(
    "options",
    [{"fov_degrees": 0}, {"fov_degrees": 180}, {"fov_degrees": math.nan}, {"depth_is": "zdepth"},
     {"style": "dsine"}, {"background_above": 0}],
)
def test_bad_options_are_refused(options: dict) -> None:
    with pytest.raises(OptionsError):
        normal_map(np.ones((4, 4), np.float32), **options)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(OptionsError):
        normal_map(np.ones((4, 4, 3), np.float32))
    with pytest.raises(OptionsError):
        normal_map(np.ones((4, 4), np.float32), background=np.zeros((4, 5), bool))
    with pytest.raises(OptionsError):
        world_to_camera(np.zeros((4, 4)), (0, 0, 0))
    with pytest.raises(OptionsError):
        pass_normal_map(np.zeros((4, 4, 3)), camera_rotation=(0, 0, 0), background=np.zeros((4, 5), bool))


@pytest.mark.parametrize(
    ("rotation", "world", "expected"),
    [
        ((0, 0, 0), (0, 0, 1), FLAT),  # Blender's unrotated camera looks down -Z: +Z faces it
        ((90, 0, 0), (0, -1, 0), FLAT),  # X 90: looks along +Y
        ((90, 0, 0), (-1, 0, 0), (255, 128, 128)),  # ... world -X is its left: red
        ((90, 0, 0), (0, 0, 1), (128, 255, 128)),  # ... world +Z is its up: green
        ((90, 0, 90), (1, 0, 0), FLAT),  # then Z 90: looks along -X
        ((90, 0, 90), (0, -1, 0), (255, 128, 128)),
    ],
)
def test_world_normals_turn_into_camera_space_with_the_rotation(rotation, world, expected) -> None:
    normals = np.tile(np.asarray(world, np.float32), (2, 3, 1))
    assert np.all(pass_normal_map(normals, camera_rotation=rotation) == expected)


def test_a_world_space_pass_without_the_camera_rotation_is_refused() -> None:
    with pytest.raises(OptionsError, match="world space"):
        pass_normal_map(np.zeros((2, 2, 3), np.float32), camera_rotation=None)
    for bad in [(90, 0), (90, 0, math.inf), ("x", 0, 0), None, 5]:
        with pytest.raises(OptionsError):
            camera_rotation_matrix(bad)


def test_pass_background_is_flat() -> None:
    normals = np.zeros((2, 2, 3), np.float32)
    normals[0, 0] = (0, -1, 0)
    normals[0, 1] = np.nan
    mask = np.zeros((2, 2), bool)
    mask[1, 1] = True
    normals[1, 1] = (1, 0, 0)
    image = pass_normal_map(normals, camera_rotation=(90, 0, 0), background=mask)
    assert np.all(image == FLAT)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["ViewLayer.Depth.Z", "ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z"],
         ("ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z")),
        (["N.Z", "N.Y", "N.X"], ("N.X", "N.Y", "N.Z")),
        (["normals.R", "normals.G", "normals.B", "R"], ("normals.R", "normals.G", "normals.B")),
        (["ViewLayer.Normal.X", "ViewLayer.Normal.Y"], None),
        (["R", "G", "B", "Z"], None),
    ],
)
def test_normal_channels_are_found_by_layer_name(names: list[str], expected) -> None:
    assert normal_channels(names) == expected


def test_a_file_without_a_normal_pass_says_which_channels_it_has(tmp_path: Path) -> None:
    path = tmp_path / "depth.exr"
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {"Z": np.ones((4, 4), np.float32)}).write(str(path))
    with pytest.raises(DepthError, match=r"no normal pass.*channels in this file: Z"):
        read_normal_pass(path)


def blender_render(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    camera = CAMERAS[name]
    depth = read_depth(BLENDER / camera["file"])
    assert depth.channel == "ViewLayer.Depth.Z"
    normals = read_normal_pass(BLENDER / camera["file"])
    assert normals.channels == ("ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z")
    return depth.depth, normals.normals, camera


def depth_jumps(depth: np.ndarray, share: float = 0.05) -> np.ndarray:
    """Surface pixels beside a neighbour more than `share` of their depth nearer or farther: occlusions."""
    d = np.where(depth < 1e9, depth, np.nan)
    padded = np.pad(d, 1, constant_values=np.nan)
    jump = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            neighbour = padded[1 + dy : 1 + dy + d.shape[0], 1 + dx : 1 + dx + d.shape[1]]
            jump |= np.abs(neighbour - d) > share * d
    return jump


@pytest.mark.parametrize("name", SCENE_RENDERS)
def test_blender_render_normals_match_its_own_normal_pass(name: str) -> None:
    """Median <= 2 and 95th percentile <= 5 degrees away from silhouettes (foreground eroded by 2 px);
    and at occlusions (a surface pixel beside a much nearer or farther one) no smear: median <= 2."""
    depth, world, camera = blender_render(name)
    ours = camera_normals(depth, NormalOptions(fov_degrees=camera["fov_degrees"]))
    truth = world_to_camera(world, camera["rotation_degrees"])
    surface = depth < 1e9
    assert np.array_equal(surface, np.any(truth, axis=-1))  # the same pixels have a surface
    error = angles(ours, truth)
    inner = error[eroded(surface)]
    assert inner.size > 5000
    assert np.median(inner) <= 2 and np.percentile(inner, 95) <= 5
    edges = error[depth_jumps(depth) & surface]
    assert edges.size > 100 and np.median(edges) <= 2


#: scene.py's sphere (world units): its centre and radius
SPHERE_CENTRE, SPHERE_RADIUS = np.array([0.0, 0.0, 1.2]), 1.2


@pytest.mark.parametrize("name", SCENE_RENDERS)
def test_blender_sphere_alone_is_within_the_bounds_too(name: str) -> None:
    """The floor and the cube are planes (exact here, which makes the whole image's median 0): the
    curved surface alone, found by unprojecting each pixel into the world, meets the bounds as well."""
    depth, world, camera = blender_render(name)
    ray = rays(*depth.shape, camera["fov_degrees"])
    points = (ray * np.where(depth < 1e9, depth, np.nan)[..., None]) @ camera_rotation_matrix(
        camera["rotation_degrees"]).T + camera["location"]
    with np.errstate(invalid="ignore"):
        on_sphere = np.abs(np.linalg.norm(points - SPHERE_CENTRE, axis=-1) - SPHERE_RADIUS) < 0.01
    ours = camera_normals(depth, NormalOptions(fov_degrees=camera["fov_degrees"]))
    error = angles(ours, world_to_camera(world, camera["rotation_degrees"]))[eroded(on_sphere)]
    assert error.size > 500
    assert np.median(error) <= 2 and np.percentile(error, 95) <= 5


def test_blender_orientation_left_is_red_up_is_green() -> None:
    """Checked on the render itself, without our world-to-camera turn: the floor (world normal +Z)
    faces up (green), the sphere's left rim faces left (red), its right rim right, its top up."""
    depth, world, camera = blender_render("move_f1")
    image = normal_map(depth, fov_degrees=camera["fov_degrees"])
    floor = eroded(world[..., 2] > 0.9999)
    assert floor.sum() > 3000
    assert np.all(image[floor][:, 1] > 235) and np.all(np.abs(image[floor][:, 0].astype(int) - 128) <= 2)
    row = 30
    sphere_cols = np.nonzero((depth[row] < 1e9) & (world[row, :, 2] < 0.9999) & (np.arange(depth.shape[1]) < 90))[0]
    left, right = sphere_cols.min(), sphere_cols.max()
    assert right - left > 30
    assert image[row, left + 2, 0] > 220 and image[row, right - 2, 0] < 35
    col = (left + right) // 2
    top = np.nonzero(depth[:, col] < 1e9)[0].min()
    assert world[top + 2, col, 2] < 0.9999  # the sphere, not the floor
    assert image[top + 2, col, 1] > 220


def test_blender_portrait_render_has_the_narrower_horizontal_field() -> None:
    """Sensor fit AUTO puts the 36 mm across the longer side: a 96x128 render's horizontal field is
    30.2 degrees, and only that matches Blender's own Normal pass."""
    depth, world, camera = blender_render("portrait")
    assert depth.shape == (128, 96)
    fov = horizontal_fov(depth.shape, lens_mm=camera["lens_mm"], sensor_mm=camera["sensor_width_mm"])
    assert fov == pytest.approx(camera["fov_degrees"], abs=1e-4) and fov == pytest.approx(30.219, abs=1e-3)
    truth = world_to_camera(world, camera["rotation_degrees"])
    inner = eroded(depth < 1e9)
    right = angles(camera_normals(depth, NormalOptions(fov_degrees=fov)), truth)[inner]
    assert np.median(right) <= 2 and np.percentile(right, 95) <= 5
    landscape_fov = angles(camera_normals(depth, NormalOptions(fov_degrees=39.6)), truth)[inner]
    assert np.median(landscape_fov) > 2


@pytest.mark.parametrize(
    ("shape", "options", "expected"),
    [((96, 128), {}, 39.5978), ((128, 96), {}, 30.2192), ((96, 128), {"lens_mm": 35.0}, 54.4322),
     ((128, 96), {"sensor_fit": "horizontal"}, 39.5978), ((96, 128), {"sensor_fit": "vertical"}, 51.2820)],
)
def test_horizontal_fov_follows_blenders_sensor_fit(shape, options, expected) -> None:
    assert horizontal_fov(shape, **options) == pytest.approx(expected, abs=1e-3)


def test_blender_depth_is_planar_and_normal_is_world_space() -> None:
    """A wall square to the view axis: Depth.Z reads 20.0 everywhere (a distance would grow to ~21.9
    in the corners); its Normal pass holds the world normal (0, -1, 0), not camera space (0, 0, 1)."""
    depth, world, camera = blender_render("wall")
    assert np.all(depth == 20.0)
    assert np.allclose(world, (0.0, -1.0, 0.0), atol=1e-6)
    assert np.all(normal_map(depth, fov_degrees=camera["fov_degrees"]) == FLAT)
    assert np.all(pass_normal_map(world, camera_rotation=camera["rotation_degrees"]) == FLAT)


def test_blender_each_frame_and_lens_needs_its_own_camera() -> None:
    """The moving camera's frame 2 checked with frame 1's rotation, or the 35 mm render with the
    default field of view, is far off: the camera is what makes the comparison (and the map) right."""
    depth, world, camera = blender_render("move_f2")
    ours = camera_normals(depth, NormalOptions(fov_degrees=camera["fov_degrees"]))
    stale = world_to_camera(world, CAMERAS["move_f1"]["rotation_degrees"])
    assert np.median(angles(ours, stale)[eroded(depth < 1e9)]) > 10
    depth, world, camera = blender_render("lens35")
    assert camera["lens_mm"] == 35.0
    default_lens = camera_normals(depth)  # 39.6 degrees, not the render's 54.4
    truth = world_to_camera(world, camera["rotation_degrees"])
    assert np.median(angles(default_lens, truth)[eroded(depth < 1e9)]) > 2
