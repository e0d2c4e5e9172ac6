"""PNG output: bit depths survive, masks are 1-bit, and a failed write leaves nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_depth.depth import png
from lib_depth.depth.errors import DepthError


def test_eight_and_sixteen_bit_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        image = rng.integers(0, top, size=(9, 13), endpoint=True).astype(dtype)
        path = png.write_png(tmp_path / f"{dtype.__name__}.png", image)
        back = png.read_png(path)
        assert back.dtype == dtype
        np.testing.assert_array_equal(back, image)
        with Image.open(path) as pil:  # a second decoder agrees on the bit depth and the values
            # Pillow >= 10 opens 16-bit gray as "I;16", Pillow 9.5 (the WebUIs' pin) as 32-bit "I"
            assert pil.mode in (("L",) if dtype == np.uint8 else ("I;16", "I"))
            np.testing.assert_array_equal(np.asarray(pil).astype(np.int64), image.astype(np.int64))
        assert path.read_bytes()[24] == (8 if dtype == np.uint8 else 16)  # IHDR bit depth


def test_colour_images_keep_rgb_order(tmp_path: Path) -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 200  # red
    path = png.write_png(tmp_path / "rgb.png", image)
    with Image.open(path) as pil:
        assert pil.getpixel((0, 0)) == (200, 0, 0)
    np.testing.assert_array_equal(png.read_png(path), image)


def test_bilevel_mask_is_one_bit_and_reads_back_as_0_255(tmp_path: Path) -> None:
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    path = tmp_path / "m.png"
    png.write_bytes_atomic(path, png.encode_png(mask, bilevel=True))
    with Image.open(path) as pil:
        assert pil.mode == "1"
    np.testing.assert_array_equal(png.read_png(path), mask)


def test_rejects_float_images() -> None:
    with pytest.raises(DepthError, match="uint8 or uint16"):
        png.encode_png(np.zeros((2, 2), np.float32))


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    path = png.write_png(tmp_path / "p.png", np.zeros((2, 2), np.uint8))
    assert stat.S_IMODE(path.stat().st_mode) == png.FILE_MODE
    assert png.FILE_MODE & stat.S_IRGRP  # not the 0600 of a temp file


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"previous result")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        png.write_bytes_atomic(target, b"new bytes")
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="unnamed files are Linux's O_TMPFILE")
def test_a_new_output_never_has_a_temporary_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new file is linked to its own name once complete: there is no moment at which a kill
    would leave a temporary behind (only replacing an existing file takes a temporary name)."""
    names: list[str] = []

    def no_rename(src: str, dst: str) -> None:
        names.append(Path(src).name)
        raise AssertionError("a new output must not go through a temporary name")

    monkeypatch.setattr(os, "replace", no_rename)
    png.write_bytes_atomic(tmp_path / "new.png", b"complete bytes")
    assert names == [] and (tmp_path / "new.png").read_bytes() == b"complete bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["new.png"]
    monkeypatch.undo()
    png.write_bytes_atomic(tmp_path / "new.png", b"replaced")  # an existing one: renamed over
    assert (tmp_path / "new.png").read_bytes() == b"replaced" and len(list(tmp_path.iterdir())) == 1


def test_a_side_beyond_libpngs_limit_is_one_clear_error() -> None:
    """Found by tools/fuzz_exr.py: a display window of 1 x 1,048,576 pixels passes the pixel bound,
    and libpng then printed a warning and made no PNG."""
    with pytest.raises(DepthError, match=r"a 1 x 1000001 image cannot be a PNG \(libpng takes sides up to 1,000,000"):
        png.encode_png(np.zeros((png.PNG_MAX_SIDE + 1, 1), np.uint8))
    assert png.encode_png(np.zeros((png.PNG_MAX_SIDE, 1), np.uint8)).startswith(b"\x89PNG")
