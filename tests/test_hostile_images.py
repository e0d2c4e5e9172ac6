"""Hostile images into MiDaS through its three entry points: the command line (real files written by
OpenCV/Pillow), the preprocessors (ndarrays as ControlNet hands them) and the tab's handler.

Each gives a result or one clear line naming the file, never a traceback; the network input stays
bounded (MAX_NETWORK_SIDE) and the cap is said where the user looks; a decompression bomb is refused
from its header, in a process whose address space could not hold the decoded image.
"""

from __future__ import annotations

import io
import json
import logging
import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lib_depth import cli
from lib_depth.depth.png import read_png
from lib_depth.images.image_file import read_header
from lib_depth.midas.geometry import MAX_NETWORK_SIDE, network_shape

REPO = Path(__file__).resolve().parents[1]
RES = 64
FLAGS = ("--resolution", str(RES), "--device", "cpu", "--precision", "fp32")
CAP = f"capped at {MAX_NETWORK_SIDE} px"


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(path: Path, side: int) -> Path:
    """A real decompression bomb: a valid side x side 8-bit grey PNG of zeros, a few hundred KiB
    that inflate to side^2 bytes (20000: 400 MB)."""
    packer = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    body = b"".join(packer.compress(row * 500) for _ in range(side // 500)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", body)
                     + png_chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A small real JPEG whose frame header claims another size (what a bomb does)."""
    data = bytearray(cv2.imencode(".jpg", texture(16, 16))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def animated_webp(path: Path, frames: list[np.ndarray]) -> Path:
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, "WEBP", save_all=True, append_images=images[1:], duration=100, loop=0, lossless=True)
    return path


def cmyk_jpeg(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).convert("CMYK").save(path, "JPEG", quality=95)
    return path


@pytest.fixture
def webui_with_model(make_webui, midas_checkpoint: Path, midas_estimator):
    """`(flavour) -> WebUI` whose settings name the random checkpoint (the session's loaded model)."""

    def make(flavour: str):
        return make_webui(flavour, depth_tools_weights_dir=str(midas_checkpoint.parent), depth_tools_device="cpu",
                          depth_tools_precision="fp32", depth_tools_allow_download=False)

    return make


def run_cli(files: list[Path], weights: Path, capsys: pytest.CaptureFixture, *flags: str) -> tuple[int, str, dict]:
    code = cli.main([*map(str, files), "--weights", str(weights), *FLAGS, "--json", *flags])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err, json.loads(captured.out) if captured.out.strip() else {}


# ---------------------------------------------------------------------------------------------
# the command line: real files


def test_command_line_on_hostile_files(tmp_path: Path, midas_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    """Each kind of file: converted at its own size, or refused with one line naming it."""
    rgb = texture(48, 64, seed=1)
    good_png = cv2.imencode(".png", rgb)[1].tobytes()
    good_jpg = cv2.imencode(".jpg", rgb)[1].tobytes()
    (tmp_path / "cut.png").write_bytes(good_png[: len(good_png) // 2])
    (tmp_path / "cut.jpg").write_bytes(good_jpg[: len(good_jpg) // 2])
    cv2.imwrite(str(tmp_path / "dot.png"), rgb[:1, :1])
    cv2.imwrite(str(tmp_path / "strip.png"), texture(20, 20000, seed=2))
    cv2.imwrite(str(tmp_path / "deep.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "flat.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cmyk_jpeg(tmp_path / "print.jpg", rgb)
    frames = [rgb, texture(48, 64, seed=7), texture(48, 64, seed=8)]
    animated_webp(tmp_path / "anim.webp", frames)
    Image.fromarray(rgb).save(tmp_path / "still.webp", "WEBP", lossless=True)
    jpeg_claiming(tmp_path / "bomb.jpg", 65000, 65000)
    names = ["cut.png", "cut.jpg", "dot.png", "strip.png", "deep.png", "flat.png", "print.jpg", "anim.webp",
             "still.webp", "bomb.jpg"]
    files = [tmp_path / n for n in names]

    code, err, report = run_cli(files, midas_checkpoint, capsys, "-o", str(tmp_path / "out"))
    assert code == 1
    results = {Path(r["source"]).name: r for r in report["files"]}
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and all(line.count(str(tmp_path)) == 1 for line in errors)  # one line each, named
    assert "the PNG file is truncated" in results["cut.png"]["error"]
    assert "the JPEG file is truncated" in results["cut.jpg"]["error"]
    claims = "image too large: the JPEG header claims 65000 x 65000 = 4,225,000,000 pixels"
    assert claims in results["bomb.jpg"]["error"]
    out = tmp_path / "out"
    assert not list(out.glob("cut.*")) and not list(out.glob("bomb.*"))  # nothing written for a refused file
    assert read_png(out / "dot.depth.png").shape == (1, 1)
    strip = read_png(out / "strip.depth.png")
    assert strip.shape == (20, 20000)  # back at the image's own size
    assert CAP in results["strip.png"]["notes"][0] and "MiDaS saw it at 4096x4" in results["strip.png"]["notes"][0]
    assert f"note: {tmp_path / 'strip.png'}: very elongated image (20000x20)" in err
    # 16 bits are the same picture: v * 257 gives back v, and the same map
    np.testing.assert_array_equal(read_png(out / "deep.depth.png"), read_png(out / "flat.depth.png"))
    assert read_png(out / "print.depth.png").shape == (48, 64)
    assert "animated WebP (3 frames): the first frame is used" in results["anim.webp"]["notes"]
    np.testing.assert_array_equal(read_png(out / "anim.depth.png"), read_png(out / "still.depth.png"))
    assert results["flat.png"]["notes"] == []


def test_headers_are_read_for_every_format(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--max-pixels refuses by the header's own size: PNG, JPEG, WebP lossy/lossless/animated."""
    rgb = texture(30, 50)
    cv2.imwrite(str(tmp_path / "a.png"), rgb)
    cv2.imwrite(str(tmp_path / "b.jpg"), rgb)
    Image.fromarray(rgb).save(tmp_path / "c.webp", "WEBP", quality=80)
    Image.fromarray(rgb).save(tmp_path / "d.webp", "WEBP", lossless=True)
    animated_webp(tmp_path / "e.webp", [rgb, rgb[::-1].copy()])
    for path in sorted(tmp_path.iterdir()):
        header = read_header(path.read_bytes())
        assert header is not None and (header.width, header.height) == (50, 30), path.name
    files = sorted(tmp_path.iterdir())
    code = cli.main([*map(str, files), "--max-pixels", "1000", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("claims 50 x 30 = 1,500 pixels, over the limit of 1,000") == 5


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    """20000 x 20000 (400 MB decoded) under a 1 GiB address space: refused from the header alone;
    the process stays small (a decoder that ran would need the 400 MB and OpenCV's copies)."""
    bomb = png_bomb(tmp_path / "bomb.png", 20000)
    assert bomb.stat().st_size < 2**20

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking (pytest) process across exec
    code = ("import re, sys; from lib_depth import cli; c = cli.main(sys.argv[1:]); "
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]); sys.exit(c)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code, str(bomb)], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"error: {bomb}: image too large: the PNG header claims 20000 x 20000 = 400,000,000 pixels, "
                           "over the limit of 268,435,456 (max_pixels, --max-pixels); refused before decoding\n")
    assert int(proc.stdout) < 200_000  # KiB of peak RSS: nothing near the 400 MB image was allocated
    assert not list(tmp_path.glob("*.depth.png"))


# ---------------------------------------------------------------------------------------------
# the bound itself, and the preprocessor and tab entry points


def test_network_shape_caps_the_long_side() -> None:
    shape = network_shape(20, 20000, 512)
    assert shape.content == (4, 4096) and shape.padded == (32, 4096) and shape.wanted == (512, 512000)
    assert CAP in (shape.note or "") and "4096x4 instead of 512000x512" in (shape.note or "")
    assert network_shape(9000, 16, 64).content == (4096, 7)  # portrait strips too
    ordinary = network_shape(1080, 1920, 2048)  # 16:9 at the largest slider value: not capped
    assert ordinary.wanted is None and ordinary.note is None and max(ordinary.content) <= MAX_NETWORK_SIDE
    huge = network_shape(5000, 5000, 100_000)  # an absurd resolution is bounded too
    assert huge.content == (4096, 4096)


def test_preprocessor_on_hostile_arrays(webui_with_model, midas_estimator, caplog: pytest.LogCaptureFixture) -> None:
    webui = webui_with_model("controlnet")
    seen: list[tuple[int, ...]] = []
    hook = midas_estimator.model.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    try:
        with caplog.at_level(logging.WARNING, logger="lib_depth.webui.preprocessors"):
            strip = webui.call("depth_tools_midas", texture(20, 20000), RES, 0.1)
    finally:
        hook.remove()
    assert strip.shape == (4, 4096, 3) and strip.dtype == np.uint8  # the capped network shape, as ControlNet's rule
    assert seen == [(1, 3, 32, 4096)]  # 393 K values, not 64 x 64000
    assert any(CAP in r.getMessage() and r.getMessage().startswith("depth_tools_midas: ") for r in caplog.records)
    assert webui.call("depth_tools_midas", texture(1, 1), RES, 0.1).shape == (RES, RES, 3)
    deep = webui.call("depth_tools_midas", texture(40, 60).astype(np.uint16) * 257, RES, 0.1)
    np.testing.assert_array_equal(deep, webui.call("depth_tools_midas", texture(40, 60), RES, 0.1))
    assert webui.errors == []


def test_preprocessor_refuses_unusable_arrays(webui_with_model) -> None:
    from lib_depth.webui.preprocessors import PreprocessorError

    webui = webui_with_model("forge")
    for bad, expected in [(np.zeros((0, 10, 3), np.uint8), "empty"), (np.zeros((8, 8, 3), np.int64), "uint8"),
                          (np.zeros((8, 8, 7), np.uint8), "shape")]:
        with pytest.raises(PreprocessorError, match=expected) as err:
            webui.call("depth_tools_midas", bad, RES, 0.1)
        assert err.value.status_code == 422 and "\n" not in str(err.value)


def test_tab_says_the_cap_in_its_status(monkeypatch: pytest.MonkeyPatch, midas_checkpoint: Path,
                                         midas_estimator) -> None:
    from lib_depth.ui import midas as ui_midas
    from lib_depth.ui.midas import MidasControls, StandaloneOptions
    from lib_depth.ui.midas_tab import on_run

    monkeypatch.setattr(ui_midas, "standalone", StandaloneOptions(str(midas_checkpoint), None, "cpu", "fp32"))
    def run(image: np.ndarray) -> dict:
        return on_run({"image": image, "model": "midas", "resolution": RES, **vars(MidasControls())})

    out = run(texture(20, 20000))
    estimate, depth, status = out["nearness"], out["depth_image"], out["status"]
    assert estimate.nearness.shape == (20, 20000) and depth.shape == (20, 20000)
    assert "Note:" in status and CAP in status and "Problem" not in status
    dot = run(texture(1, 1))
    assert dot["depth_image"].shape == (1, 1) and "Note:" not in dot["status"]
    buffer = io.BytesIO()
    Image.fromarray(texture(32, 32)).convert("CMYK").save(buffer, "JPEG")
    buffer.seek(0)
    cmyk = np.asarray(Image.open(buffer).convert("RGB"))  # what gradio hands over for a CMYK upload
    assert run(cmyk)["depth_image"].shape == (32, 32)
