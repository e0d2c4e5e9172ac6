"""Images on the command line: MiDaS through the same pipeline, naming and error rules as EXR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import cli, midas
from lib_depth.depth.errors import DepthError
from lib_depth.depth.pipeline import Job, convert
from lib_depth.depth.png import read_png
from lib_depth.images import ImageInput, read_image
from lib_depth.midas import weights as midas_weights

REPO = Path(__file__).resolve().parents[1]
FLAGS = ("--resolution", "64", "--device", "cpu", "--precision", "fp32")


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    """A 72x120 JPEG: textured left half, flat grey right half."""
    image = np.full((72, 120, 3), 128, np.uint8)
    image[:, :60] = np.random.default_rng(0).integers(0, 256, (72, 60, 3), dtype=np.uint8)
    path = tmp_path / "Photo.JPG"
    cv2.imwrite(str(path), image)
    return path


def test_image_to_depth_normal_and_mask(picture: Path, midas_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    out = picture.parent / "maps"
    code = cli.main([str(picture), "--weights", str(midas_checkpoint), *FLAGS, "--normal", "--mask",
                     "--bits", "16", "--bg-threshold", "0.2", "-a", "3", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    depth, normal, mask = (read_png(out / f"Photo.{kind}.png") for kind in ("depth", "normal", "mask"))
    assert depth.shape == (72, 120) and depth.dtype == np.uint16 and depth.max() == 65535
    assert normal.shape == (72, 120, 3) and normal.dtype == np.uint8
    background = mask == 0
    assert background.any() and (~background).any()
    assert (depth[background] == 0).all()
    assert "wrote" in capsys.readouterr().out


def test_image_settings_reach_the_source(picture: Path, midas_checkpoint: Path) -> None:
    extra = {"weights": str(midas_checkpoint), "resolution": 64, "device": "cpu", "precision": "fp32"}
    low = ImageInput(**extra, bg_threshold=0.0).load(picture, max_pixels=1 << 28)
    high = ImageInput(**extra, bg_threshold=0.5, normal=True).load(picture, max_pixels=1 << 28)
    assert not np.isnan(low.depth).any() and np.isnan(high.depth).any()
    assert low.extra_images == {} and high.extra_images["normal"].shape == (72, 120, 3)
    valid = ~np.isnan(high.depth)
    np.testing.assert_allclose(high.depth[valid], low.depth[valid])  # same estimate, only the threshold differs


def test_missing_weights_exit_1_with_the_folders(
    picture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, midas_cache: Path
) -> None:
    monkeypatch.setattr(midas_weights, "EXTENSION_MODELS_DIR", tmp_path / "models")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    code = cli.main([str(picture), *FLAGS])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: {picture}: MiDaS weights dpt_hybrid-midas-501f0c75.pt not found")
    assert str(tmp_path / "models") in err and str(tmp_path / "hf") in err and "--weights" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not list(picture.parent.glob("*.png"))


def test_bad_image_names_the_file(tmp_path: Path, midas_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "broken.webp"
    bad.write_bytes(b"RIFF....WEBPVP8 garbage")
    with pytest.raises(DepthError, match="cannot decode the image") as err:
        read_image(bad)
    assert err.value.path == str(bad)
    assert cli.main([str(bad), "--weights", str(midas_checkpoint), *FLAGS]) == 1
    assert f"error: {bad}: cannot decode" in capsys.readouterr().err
    with pytest.raises(DepthError, match="no such file"):
        convert(Job(source=tmp_path / "absent.png", input=ImageInput()))


def test_usage_errors_for_midas_flags(picture: Path, capsys: pytest.CaptureFixture) -> None:
    for flags in (["--resolution", "32"], ["--bg-threshold", "2"], ["--precision", "fp8"], ["-a", "nan"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main([str(picture), *flags])
        assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_fresh_process_on_an_image(picture: Path, midas_checkpoint: Path, midas_cache: Path) -> None:
    """`python -m lib_depth photo.jpg` in a new interpreter (torch, controlnet_aux, torchvision
    imported for real, with the CPU-torch workaround where this venv needs it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "DEPTH_TOOLS_CACHE": str(midas_cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "lib_depth", str(picture), "--weights", str(midas_checkpoint), *FLAGS],
        cwd=picture.parent, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert read_png(picture.with_name("Photo.depth.png")).shape == (72, 120)


def test_read_image_keeps_alpha_and_colour_order(tmp_path: Path) -> None:
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 0] = 200  # red in RGB order
    rgba[:, :5, 3] = 255  # left half opaque
    path = tmp_path / "cutout.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    image = read_image(path)
    assert np.array_equal(image, rgba)
    composited = midas.as_rgb8(image)  # transparent pixels over white, as ControlNet's HWC3
    assert (composited[:, :5] == (200, 0, 0)).all() and (composited[:, 5:] == 255).all()


def test_image_settings_are_typed(picture: Path, capsys: pytest.CaptureFixture) -> None:
    """A misspelled setting or an unknown model is an error, not silently dropped (it once was, in a dict)."""
    with pytest.raises(TypeError, match="resolutoin"):
        ImageInput(resolutoin=256)  # type: ignore[call-arg]
    with pytest.raises(DepthError, match="unknown depth model 'midass'; choose one of depth-anything-v2, midas"):
        ImageInput(model="midass")
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(picture), "--model", "nope"])
    assert exit_.value.code == 2 and "--model" in capsys.readouterr().err
