"""The EXR tab's normal map (issue 17): the "Normal map" option, its field of view and depth kind,
the preview beside the depth preview, and `<stem>.normal.png` in the downloads, for single renders
and sequences. Handlers are called directly with real EXR files, as in test_ui_exr.py.

The truth is geometry, not our own code: a tilted plane seen through a known lens has one exact
normal everywhere (tests/test_normals.py's analytic scenes), and the written PNGs are compared byte
for byte with what the command line's `--normal` writes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from lib_depth.cli import main as cli_main
from lib_depth.depth.exr import read_depth, write_depth
from lib_depth.depth.png import read_png
from lib_depth.depth.process import DepthOptions, make_depth_map
from lib_depth.ui.exr import MapControls, load_view, make_maps, render_preview
from lib_depth.ui.exr_events import PREVIEW, on_controls, on_files, on_make
from lib_depth.ui.exr_sequence_events import on_frame, on_make_any, on_source
from tests.test_normals import angles, tilted_plane
from tests.ui_values import controls, files, made, text

FLAT = (128, 128, 255)
PLANE_NORMAL = (0.4, 0.3, 1.0)  # right, up, toward the viewer


def encoded(normal: np.ndarray) -> np.ndarray:
    """The colour ControlNet's normalbae convention gives a unit normal (left, up, toward)."""
    return np.round((np.asarray(normal) + 1) * 127.5).astype(np.uint8)


def decoded(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) / 127.5 - 1


def card_on_plane(height: int, width: int, fov: float) -> tuple[np.ndarray, np.ndarray]:
    """A tilted plane (its normal known exactly) behind a card facing the camera, inf above the
    plane's horizon-free top rows (no surface): planar depth, and the plane's true normal."""
    depth, truth = tilted_plane(height, width, fov, PLANE_NORMAL, -10.0)
    depth[: height // 8] = np.inf
    depth[height // 3 : height // 2, width // 3 : width // 2] = 4.0
    return depth, truth


def render(tmp_path: Path, name: str, depth: np.ndarray) -> Path:
    path = tmp_path / name
    write_depth(path, depth, channel="Z")
    return path


def cli_normal(path: Path, out: Path, *flags: str) -> bytes:
    """What `python -m lib_depth <render> --normal ...` writes as the normal map."""
    assert cli_main([str(path), "--normal", *flags, "-o", str(out)]) == 0
    return (out / f"{path.stem}.normal.png").read_bytes()


def test_preview_beside_the_depth_is_the_render_s_exact_normal_map(tmp_path: Path) -> None:
    depth, truth = card_on_plane(240, 320, 54.43)
    path = render(tmp_path, "plane.exr", depth)
    view = on_files(files(path))["view"]
    plain = on_controls({"view": view, **controls()})
    assert set(plain) == set(PREVIEW)
    assert plain["normal_image"]["value"] is None and plain["normal_image"]["visible"] is False  # not asked for
    out = on_controls({"view": view, **controls(normal=True, fov=54.43)})
    normal = out["normal_image"]["value"]
    assert out["normal_image"]["visible"] is True and normal.shape == (240, 320, 3) and normal.dtype == np.uint8
    plane = np.isfinite(depth) & (depth > 5)
    plane[: 240 // 8 + 1] = False  # the row beside the background takes its own side: still exact, but skip
    error = angles(decoded(normal[plane]), truth)
    assert np.percentile(error, 99) < 1.5  # every plane pixel: the plane's one true normal
    assert tuple(normal[200, 300]) == tuple(encoded(truth))
    assert tuple(normal[100, 130]) == FLAT  # the card faces the camera
    assert np.all(normal[: 240 // 8] == FLAT)  # no surface: flat
    assert "normal map: 54.43° across, planar depth" in text(out["status"])
    wrong_lens = on_controls({"view": view, **controls(normal=True, fov=20.0)})["normal_image"]["value"]
    assert np.median(angles(decoded(wrong_lens[plane]), truth)) > 3  # the field of view matters


def test_downscaled_preview_keeps_the_field_of_view_and_make_writes_the_full_size_png(tmp_path: Path) -> None:
    """A 1600x1200 render previews at 768x576 with the same (horizontal) field of view: the same
    normals. Make writes `<stem>.normal.png` at full size, the bytes `--normal --fov` writes."""
    depth, truth = card_on_plane(1200, 1600, 54.43)
    path = render(tmp_path, "big.exr", depth)
    chosen = dict(normal=True, fov=54.43, mask=True)
    view = load_view(str(path))
    preview = render_preview(view, MapControls(**chosen))
    assert preview.normal is not None and preview.normal.shape == (576, 768, 3)
    small = view.preview
    plane = np.isfinite(small) & (small > 5)
    plane[:80] = False
    error = angles(decoded(preview.normal[plane]), truth)
    # 1600 -> 768 is no whole ratio: nearest-neighbour samples are 2 or 3 pixels apart, so the
    # preview's slopes wobble by a few degrees (the issue's own limits for a close look hold)
    assert np.median(error) < 2 and np.percentile(error, 95) < 5
    downloads, result, message = made(on_make(files(path, **chosen)))
    assert [Path(p).name for p in downloads] == ["big.depth.png", "big.mask.png", "big.normal.png"]
    assert "Wrote 3 PNGs" in message and result.size == (1600, 1200)  # the depth map stays the one to send
    written = read_png(downloads[2])
    assert written.shape == (1200, 1600, 3)
    full_plane = np.isfinite(depth) & (depth > 5)
    full_plane[:160] = False
    assert np.percentile(angles(decoded(written[full_plane]), truth), 99) < 1  # exact but for 8-bit rounding
    assert Path(downloads[2]).read_bytes() == cli_normal(path, tmp_path / "cli", "--fov", "54.43", "--mask")


def test_flat_beyond_the_cutoff_and_as_the_mask_says(sample_exr: Path, tmp_path: Path) -> None:
    """The cutoff flattens what lies beyond it; with the mask on, the map is flat exactly where the
    mask is black, in the preview and in the PNG alike (the sample is 768 wide: preview = file)."""
    depth = read_depth(sample_exr).depth
    view = on_files(files(sample_exr))["view"]
    beyond = on_controls({"view": view, **controls(normal=True, cutoff=254.5)})["normal_image"]["value"]
    assert np.all(beyond[~(depth <= 254.5)] == FLAT)
    assert not np.all(beyond[depth <= 254.5] == FLAT)  # the near subject has its slopes
    masked = on_controls({"view": view, **controls(normal=True, cutoff=254.5, mask=True)})
    mask = masked["mask_image"]["value"]
    normal = masked["normal_image"]["value"]
    assert np.all(normal[mask == 0] == FLAT)
    downloads, _, _ = made(on_make(files(sample_exr, normal=True, cutoff=254.5, mask=True)))
    np.testing.assert_array_equal(read_png(downloads[2]), normal)
    assert Path(downloads[2]).read_bytes() == cli_normal(sample_exr, tmp_path / "cli", "--mask", "--depth_cutoff",
                                                         "254.5")


def test_distance_depth_and_invert_compress_noise(tmp_path: Path) -> None:
    """"Depth is: distance" reads the pass along each ray (Iray's Distance canvas); the depth map's
    own options (invert, compress, noise, 16 bits) leave the normals as they are."""
    depth, truth = card_on_plane(120, 160, 39.6)
    distance = render(tmp_path, "distance.exr", depth * np.sqrt(1 + _ray_tangents(120, 160, 39.6)))
    view = load_view(str(distance))
    as_distance = render_preview(view, MapControls(normal=True, depth_is="distance")).normal
    as_planar = render_preview(view, MapControls(normal=True)).normal
    plane = np.isfinite(depth) & (depth > 5)
    plane[:16] = False
    assert np.percentile(angles(decoded(as_distance[plane]), truth), 99) < 1.5
    assert np.median(angles(decoded(as_planar[plane]), truth)) > 1.5
    styled = MapControls(normal=True, depth_is="distance", invert=True, compress=True, noise=True, bits="16-bit")
    np.testing.assert_array_equal(render_preview(view, styled).normal, as_distance)


def _ray_tangents(height: int, width: int, fov: float) -> np.ndarray:
    """(right² + up²) of each pixel's ray at depth 1: distance = planar * sqrt(1 + that)."""
    k = 2 * np.tan(np.radians(fov) / 2) / width
    right = (np.arange(width) + 0.5 - width / 2) * k
    up = (height / 2 - 0.5 - np.arange(height)) * k
    return (right[None, :] ** 2 + up[:, None] ** 2).astype(np.float32)


@pytest.mark.parametrize("fov", [None, 0.0, 180.0, float("nan")])
def test_a_bad_field_of_view_is_a_message_and_keeps_the_preview(sample_exr: Path, fov: float | None) -> None:
    view = on_files(files(sample_exr))["view"]
    out = on_controls({"view": view, **controls(normal=True, fov=fov)})
    assert "Problem" in out["status"] and "field of view" in out["status"] and "Traceback" not in out["status"]
    assert out["depth_image"] == gr.update() and out["normal_image"]["visible"] is True
    downloads, result, message = made(on_make(files(sample_exr, normal=True, fov=fov)))
    assert downloads is None and result is None and "field of view" in message
    unticked = on_controls({"view": view, **controls(normal=False, fov=fov)})  # not asked for: no complaint
    assert "Problem" not in unticked["status"]


def test_several_uploads_zip_their_normal_maps(sample_exr: Path, tmp_path: Path) -> None:
    other = render(tmp_path, "plane.exr", card_on_plane(60, 80, 39.6)[0])
    run = tmp_path / "run"
    run.mkdir()
    result = make_maps([str(sample_exr), str(other)], None, MapControls(normal=True), run)
    assert result.errors == []
    with zipfile.ZipFile(result.downloads[0]) as zf:
        assert sorted(zf.namelist()) == ["plane.depth.png", "plane.normal.png", "scene.depth.png", "scene.normal.png"]
    np.testing.assert_array_equal(result.first_map, make_depth_map(read_depth(sample_exr).depth).levels)


def test_a_sequence_writes_each_frame_s_normal_map_as_the_command_line(tmp_path: Path) -> None:
    """"As one sequence" with the normal map: every frame's `<stem>.normal.png` in the zip, the bytes
    `--sequence --normal` writes; the frame slider's preview shows that frame's normals."""
    paths = []
    for i in range(3):
        depth, _ = card_on_plane(60, 80, 39.6)
        depth[30:40, 10 + 10 * i : 30 + 10 * i] = 3.0 + i
        folder = tmp_path / f"upload{i}"  # gradio keeps each upload in a folder of its own
        folder.mkdir()
        paths.append(render(folder, f"shot_{i + 1:04d}.exr", depth))
    chosen = dict(normal=True, fov=39.6, depth_is="planar")
    view = on_source({**files(*paths, **chosen), "sequence": True, "input_folder": ""})["view"]
    second = on_frame({"view": view, "frame": 2, **controls(**chosen)})
    downloads, _, message = made(on_make_any({**files(**chosen), "sequence": True, "view": second["view"],
                                              "output_folder": ""}))
    assert "Wrote 3 frames" in message
    with zipfile.ZipFile(downloads[0]) as zf:
        zipped = {name: zf.read(name) for name in zf.namelist() if name.endswith(".normal.png")}
    out = tmp_path / "cli"
    assert cli_main(["--sequence", *map(str, paths), "--normal", "-o", str(out)]) == 0
    assert zipped == {p.name: p.read_bytes() for p in sorted(out.glob("*.normal.png"))} and len(zipped) == 3
    np.testing.assert_array_equal(second["normal_image"]["value"], read_png(out / "shot_0002.normal.png"))


def test_depth_options_unchanged_by_the_normal_controls() -> None:
    """The normal map's controls set nothing in the depth map's options."""
    assert MapControls(normal=True, fov=70.0, depth_is="distance").options() == DepthOptions()
    assert MapControls().normal_options() is None
    made_options = MapControls(normal=True, fov=70.0, depth_is="distance").normal_options()
    assert made_options is not None and (made_options.fov_degrees, made_options.depth_is) == (70.0, "distance")
