"""EXR reading with real files written by OpenEXR: channel choice, data windows, every failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lib_depth.depth.errors import DepthError
from lib_depth.depth.exr import is_exr_path, list_channels, pick_channel, read_depth, write_depth


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["R", "G", "B", "Y"], "Y"),  # Daz iray: depth in Y even beside colour
        (["Z", "Y"], "Y"),
        (["R", "G", "B", "Z"], "Z"),  # Blender single-layer
        (["ViewLayer.Combined.R", "ViewLayer.Depth.Z", "ViewLayer.Combined.A"], "ViewLayer.Depth.Z"),
        (["depth.V"], "depth.V"),
        (["Combined.R", "depth.V", "Combined.G"], "depth.V"),
        (["R", "G", "B"], "R"),  # RGB export repeating depth
        (["distance"], "distance"),  # the only channel
        (["A", "B"], None),
        ([], None),
    ],
)
def test_pick_channel_automatic_order(names: list[str], expected: str | None) -> None:
    assert pick_channel(names) == expected


def test_pick_channel_by_name_exact_then_case_insensitive() -> None:
    assert pick_channel(["Y", "Z"], "Z") == "Z"
    assert pick_channel(["ViewLayer.Depth.Z"], "viewlayer.depth.z") == "ViewLayer.Depth.Z"
    assert pick_channel(["Y", "Z"], "Q") is None


def test_is_exr_path_ignores_case() -> None:
    assert is_exr_path("a/RENDER.EXR") and is_exr_path("b.exr") and not is_exr_path("c.png")


@pytest.mark.parametrize("channel", ["Y", "Z", "ViewLayer.Depth.Z", "depth.V"])
def test_round_trip_single_channel(tmp_path: Path, channel: str, rng: np.random.Generator) -> None:
    depth = rng.uniform(10, 500, size=(17, 23)).astype(np.float32)
    path = tmp_path / "d.exr"
    write_depth(path, depth, channel=channel)
    got = read_depth(path)
    assert got.channel == channel
    assert got.depth.dtype == np.float32
    np.testing.assert_array_equal(got.depth, depth)


def test_rgb_half_export_reads_r_as_float32(tmp_path: Path) -> None:
    depth = np.linspace(1, 100, 12 * 8, dtype=np.float32).reshape(8, 12)
    path = tmp_path / "rgb.exr"
    write_depth(path, depth, channel="R", half=True, extra={"G": depth, "B": depth})
    got = read_depth(path)
    assert got.channel == "R"
    assert set(got.channels) == {"R", "G", "B"}
    assert got.depth.dtype == np.float32
    np.testing.assert_allclose(got.depth, depth.astype(np.float16).astype(np.float32))


def test_blender_multilayer_prefers_depth_over_colour(tmp_path: Path) -> None:
    depth = np.full((4, 5), 7.5, np.float32)
    colour = np.zeros((4, 5), np.float32)
    path = tmp_path / "multilayer.exr"
    extra = {f"ViewLayer.Combined.{c}": colour for c in "RGBA"}
    write_depth(path, depth, channel="ViewLayer.Depth.Z", extra=extra)
    got = read_depth(path)
    assert got.channel == "ViewLayer.Depth.Z"
    np.testing.assert_array_equal(got.depth, depth)
    assert "ViewLayer.Combined.R" in list_channels(path)


def test_inf_and_nan_backgrounds_survive(tmp_path: Path) -> None:
    depth = np.array([[1.0, np.inf], [np.nan, 1e10]], np.float32)
    path = tmp_path / "bg.exr"
    write_depth(path, depth, channel="Z")
    got = read_depth(path).depth
    assert got[0, 0] == 1.0 and np.isposinf(got[0, 1]) and np.isnan(got[1, 0]) and got[1, 1] == np.float32(1e10)


def test_one_pixel_and_non_square_orientation(tmp_path: Path) -> None:
    write_depth(tmp_path / "one.exr", np.array([[3.0]], np.float32), channel="Y")
    assert read_depth(tmp_path / "one.exr").depth.shape == (1, 1)
    wide = np.zeros((3, 7), np.float32)
    wide[0, 6] = 9.0  # top-right corner marks orientation
    write_depth(tmp_path / "wide.exr", wide, channel="Y")
    got = read_depth(tmp_path / "wide.exr").depth
    assert got.shape == (3, 7) and got[0, 6] == 9.0 and got.sum() == 9.0


def test_data_window_is_placed_in_display_window(tmp_path: Path) -> None:
    crop = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    path = tmp_path / "crop.exr"
    write_depth(path, crop, channel="Z", data_window=(2, 1), display_size=(6, 4))
    got = read_depth(path).depth
    assert got.shape == (4, 6)
    np.testing.assert_array_equal(got[1:3, 2:5], crop)
    outside = np.ones(got.shape, bool)
    outside[1:3, 2:5] = False
    assert np.isnan(got[outside]).all()


def test_named_channel_and_unknown_channel_lists_existing(tmp_path: Path) -> None:
    path = tmp_path / "two.exr"
    write_depth(path, np.ones((2, 2), np.float32), channel="Y", extra={"Z": np.full((2, 2), 5, np.float32)})
    assert read_depth(path, "Z").depth[0, 0] == 5
    with pytest.raises(DepthError) as err:
        read_depth(path, "depth")
    message = str(err.value)
    assert str(path) in message and "'depth'" in message and "Y" in message and "Z" in message


def test_no_usable_channel_lists_channels(tmp_path: Path) -> None:
    path = tmp_path / "ab.exr"
    write_depth(path, np.ones((2, 2), np.float32), channel="A", extra={"B": np.ones((2, 2), np.float32)})
    with pytest.raises(DepthError, match=r"no depth channel found; channels in this file: (A, B|B, A)"):
        read_depth(path)


def _fail(path: Path) -> str:
    with pytest.raises(DepthError) as err:
        read_depth(path)
    assert str(path) in str(err.value)
    return err.value.reason


def test_missing_file(tmp_path: Path) -> None:
    assert _fail(tmp_path / "nope.exr") == "file not found"


def test_folder_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.exr"
    folder.mkdir()
    assert "folder" in _fail(folder)


def test_png_renamed_exr(tmp_path: Path) -> None:
    path = tmp_path / "fake.exr"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "not an OpenEXR file" in _fail(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.exr"
    path.touch()
    assert "empty file" in _fail(path)


def test_truncated_exr(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "cut.exr"
    write_depth(path, rng.uniform(1, 9, size=(64, 64)).astype(np.float32), channel="Y",
                compression=OpenEXR.NO_COMPRESSION)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "damaged or truncated" in _fail(path)


def test_reading_never_modifies_the_file(scene_exr: Path) -> None:
    before = scene_exr.read_bytes()
    read_depth(scene_exr)
    assert scene_exr.read_bytes() == before
