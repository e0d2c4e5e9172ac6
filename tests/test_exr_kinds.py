"""Every kind of EXR the format allows, written here with OpenEXR, read as depth: scanline and
tiled, mip/rip-mapped (level 0), luminance/chroma, multipart, multi-view, deep (scanline, tiled);
and the header bound that refuses absurd sizes before anything is decoded."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from lib_depth.depth.errors import DepthError
from lib_depth.depth.exr import DEFAULT_MAX_PIXELS, list_channels, read_depth, write_depth
from lib_depth.depth.exr_deep import front_sample
from lib_depth.depth.exr_header import read_header
from tests.exr_files import (
    attributes,
    deep_samples,
    write_deep,
    write_image,
    write_luminance_chroma,
    write_multipart,
    write_multiview,
    write_tiled_levels,
)


@pytest.fixture
def depth(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(10, 500, size=(37, 53)).astype(np.float32)


@pytest.mark.parametrize("compression", [OpenEXR.NO_COMPRESSION, OpenEXR.ZIP_COMPRESSION, OpenEXR.PIZ_COMPRESSION])
@pytest.mark.parametrize("tiled", [False, True], ids=["scanline", "tiled"])
def test_scanline_and_tiled_in_each_compression(tmp_path: Path, depth: np.ndarray, tiled: bool,
                                                compression: OpenEXR.Compression) -> None:
    path = write_image(tmp_path / "d.exr", {"Z": depth, "R": depth * 0}, tiled=tiled, compression=compression)
    got = read_depth(path)
    assert got.channel == "Z" and got.view is None
    np.testing.assert_array_equal(got.depth, depth)


@pytest.mark.parametrize("mode", [OpenEXR.MIPMAP_LEVELS, OpenEXR.RIPMAP_LEVELS], ids=["mipmap", "ripmap"])
def test_mip_and_rip_mapped_files_give_level_0(tmp_path: Path, depth: np.ndarray, mode: OpenEXR.LevelMode) -> None:
    path = write_tiled_levels(tmp_path / "levels.exr", depth, mode)
    assert OpenEXR.File(str(path), header_only=True).parts[0].header["tiles"].mode == mode
    np.testing.assert_array_equal(read_depth(path).depth, depth)  # the smaller levels hold depth + 1000


def test_luminance_chroma_reads_full_resolution_luminance(tmp_path: Path, depth: np.ndarray) -> None:
    depth = depth[:36, :52]
    path = write_luminance_chroma(tmp_path / "yc.exr", depth)
    got = read_depth(path)
    assert got.channel == "Y" and set(got.channels) == {"Y", "RY", "BY"}
    np.testing.assert_array_equal(got.depth, depth.astype(np.float16).astype(np.float32))
    chroma = read_depth(path, "RY").depth  # subsampled 2x2: repeated up to the image's size
    assert chroma.shape == depth.shape


def test_multipart_finds_depth_in_a_later_part(tmp_path: Path, depth: np.ndarray) -> None:
    colour = np.zeros_like(depth)
    path = write_multipart(tmp_path / "mp.exr", [("beauty", {"R": colour, "G": colour}, {}),
                                                 ("depth", {"depth.Z": depth}, {})])
    got = read_depth(path)
    assert got.channel == "depth.Z" and got.channels == ("G", "R", "depth.Z")  # sorted, as the format stores them
    np.testing.assert_array_equal(got.depth, depth)
    assert read_depth(path, "G").depth.max() == 0


def test_multiview_uses_the_first_view_unless_one_is_named(tmp_path: Path, depth: np.ndarray) -> None:
    path = write_multiview(tmp_path / "stereo.exr", depth, depth + 7)
    left = read_depth(path)
    assert (left.view, left.channel, left.channels) == ("left", "Z", ("Z",))
    np.testing.assert_array_equal(left.depth, depth)
    right = read_depth(path, view="right")
    assert (right.view, right.channel) == ("right", "right.Z")
    np.testing.assert_array_equal(right.depth, depth + 7)
    np.testing.assert_array_equal(read_depth(path, "right.Z").depth, depth + 7)  # its full name works too
    with pytest.raises(DepthError) as err:
        read_depth(path, view="centre")
    assert str(err.value) == f"{path}: no view named 'centre'; views in this file: left, right"


def test_multiview_one_part_per_view(tmp_path: Path, depth: np.ndarray) -> None:
    path = write_multipart(tmp_path / "parts.exr", [("left", {"Z": depth}, {"view": "left"}),
                                                    ("right", {"Z": depth + 3}, {"view": "right"})])
    np.testing.assert_array_equal(read_depth(path).depth, depth)
    np.testing.assert_array_equal(read_depth(path, view="right").depth, depth + 3)


def test_a_view_asked_of_a_plain_file_says_it_has_none(tmp_path: Path, depth: np.ndarray) -> None:
    path = write_image(tmp_path / "plain.exr", {"Z": depth})
    with pytest.raises(DepthError, match="no view named 'left'; views in this file: none"):
        read_depth(path, view="left")


@pytest.mark.parametrize("tiled", [False, True], ids=["deepscanline", "deeptile"])
def test_deep_gives_the_front_most_sample_and_empty_pixels_are_background(
        tmp_path: Path, depth: np.ndarray, rng: np.random.Generator, tiled: bool) -> None:
    empty = rng.random(depth.shape) < 0.2
    z = deep_samples(depth, rng, empty)
    alpha = np.empty_like(z)
    for index, samples in np.ndenumerate(z):
        alpha[index] = None if samples is None else np.arange(len(samples), dtype=np.float32)
    path = write_deep(tmp_path / "deep.exr", {"Z": z, "A": alpha}, tiled=tiled)
    got = read_depth(path)
    assert got.channel == "Z"
    np.testing.assert_array_equal(got.depth[~empty], depth[~empty])
    assert np.isnan(got.depth[empty]).all()
    # another channel is read at the front-most sample too (ordered by Z, not by its own values)
    front_index = np.array([np.argmin(s) if s is not None else -1 for s in z.flat]).reshape(z.shape)
    np.testing.assert_array_equal(read_depth(path, "A").depth[~empty], front_index[~empty])


def test_front_sample_on_an_image_with_no_samples() -> None:
    assert np.isnan(front_sample(np.full((2, 3), None, dtype=object))).all()


def test_display_window_that_misses_the_data_window_says_so(tmp_path: Path) -> None:
    path = tmp_path / "away.exr"
    write_depth(path, np.ones((4, 4), np.float32), data_window=(200, 200), display_size=(100, 100))
    with pytest.raises(DepthError) as err:
        read_depth(path)
    assert "display window (0, 0)-(99, 99) misses the data window (200, 200)-(203, 203) entirely" in str(err.value)


def _with_data_window(path: Path, box: tuple[int, int, int, int]) -> Path:
    data = bytearray(path.read_bytes())
    (value_at,) = [v for name, _, v in attributes(bytes(data)) if name == "dataWindow"]
    data[value_at : value_at + 16] = struct.pack("<4i", *box)
    path.write_bytes(bytes(data))
    return path


def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _with_data_window(write_image(tmp_path / "huge.exr", {"Z": np.ones((8, 8))}), (0, 0, 65535, 65535))
    tracemalloc.start()
    with pytest.raises(DepthError) as err:
        read_depth(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "image too large: the header claims a data window of 65536 x 65536 = 4,294,967,296 pixels" in str(err.value)
    assert f"limit of {DEFAULT_MAX_PIXELS:,}" in str(err.value)
    assert peak < 1 << 20  # nothing was allocated for the claimed pixels


def test_max_pixels_is_a_parameter(tmp_path: Path, depth: np.ndarray) -> None:
    path = write_image(tmp_path / "d.exr", {"Z": depth})
    assert read_depth(path, max_pixels=depth.size).depth.shape == depth.shape
    with pytest.raises(DepthError, match=r"53 x 37 = 1,961 pixels, over the limit of 1,960"):
        read_depth(path, max_pixels=depth.size - 1)


def test_header_parse_matches_openexr_on_every_kind(tmp_path: Path, depth: np.ndarray,
                                                    rng: np.random.Generator) -> None:
    files = [
        write_image(tmp_path / "t.exr", {"Z": depth, "B": depth}, tiled=True),
        write_luminance_chroma(tmp_path / "yc.exr", depth),
        write_multipart(tmp_path / "mp.exr", [("a", {"R": depth}, {}), ("b", {"Z": depth}, {"view": "v"})]),
        write_multiview(tmp_path / "mv.exr", depth, depth),
        write_deep(tmp_path / "deep.exr", {"Z": deep_samples(depth, rng)}),
        write_tiled_levels(tmp_path / "rip.exr", depth, OpenEXR.RIPMAP_LEVELS),
    ]
    for path in files:
        ours = read_header(path)
        theirs = OpenEXR.File(str(path), header_only=True).parts
        assert len(ours) == len(theirs), path.name
        for mine, part in zip(ours, theirs, strict=True):
            (x0, y0), (x1, y1) = part.header["dataWindow"]
            assert mine.data_window == (x0, y0, x1, y1)
            assert [c.name for c in mine.channels] == [c.name for c in part.header["channels"]]
            assert mine.type == part.type().name
            assert mine.view == part.header.get("view")
        assert list_channels(path)


def test_a_header_lying_about_an_attribute_size_is_one_error(tmp_path: Path, depth: np.ndarray) -> None:
    path = write_image(tmp_path / "lie.exr", {"Z": depth})
    data = bytearray(path.read_bytes())
    (size_at,) = [s for name, s, _ in attributes(bytes(data)) if name == "channels"]
    data[size_at : size_at + 4] = struct.pack("<i", 2**31 - 1)
    path.write_bytes(bytes(data))
    with pytest.raises(DepthError, match="truncated EXR \\(the file ends inside its header\\)"):
        read_depth(path)
