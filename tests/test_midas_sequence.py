"""MiDaS image sequences: the robust scale+shift fit, the aligned chain, and flicker against the
per-frame normalisation (docs/architecture.md "Sequences": relative depth is aligned before the shared mapping).

The flicker figures are measured on a synthetic sequence: a textured still background with a
bright disc moving across it; the background is what lies more than one network patch (`MARGIN`)
from the disc in both frames of a pair (`background_flicker` says why).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lib_depth import cli
from lib_depth.depth.frames import expand_frames
from lib_depth.depth.pipeline import Job, render
from lib_depth.depth.sequence import SequenceJob, run_sequence
from lib_depth.images import ImageInput, prepare_images
from lib_depth.images.align import Aligner, fit_scale_shift
from tests.fixtures_midas import midas_cache, midas_checkpoint, midas_estimator, midas_settings  # noqa: F401

#: the flicker scene is estimated at its own size (RESOLUTION = H): one network pixel per image pixel
H, W, FRAMES, RADIUS, STEP, RESOLUTION = 192, 288, 6, 12, 20, 192
#: DPT-hybrid's ViT sees the image in 16 x 16 patches (of the network's input)
MARGIN = 16


def scene() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """FRAMES RGB images H x W: a seeded texture, a bright disc moving left to right; and its masks."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:H, 0:W]
    texture = 128 + 60 * np.sin(xx / (5.0 * W / 96)) * np.cos(yy / (7.0 * W / 96)) + rng.normal(0, 10, (H, W))
    background = np.stack([texture, texture * 0.8, texture * 0.6], axis=2).clip(0, 255)
    images, discs = [], []
    for k in range(FRAMES):
        disc = (xx - (W * 15 // 100 + STEP * k)) ** 2 + (yy - H // 2) ** 2 <= RADIUS**2
        image = background.copy()
        image[disc] = 255
        images.append(image.astype(np.uint8))
        discs.append(disc)
    return images, discs


def background_flicker(maps: list[np.ndarray], discs: list[np.ndarray], margin: int = MARGIN) -> float:
    """Mean |level_t - level_{t-1}| over the pixels more than `margin` px from the disc in both frames.

    Why a margin of one network patch. The network sees the disc in every patch the disc touches and,
    through its convolutions, a little around it: there the estimate itself changes when the disc
    moves (measured with the random network: 30-100 levels within 16 px of the disc, 0.1-0.2 beyond
    32 px), so those pixels are the object's surroundings, not a still background. Scale and shift
    alignment is about everything else; the figures for 2 px are printed beside it."""
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    changes = []
    for t in range(1, len(maps)):
        covered = cv2.dilate((discs[t] | discs[t - 1]).astype(np.uint8), kernel) > 0
        a, b = maps[t].astype(np.int64), maps[t - 1].astype(np.int64)
        changes.append(np.abs(a - b)[~covered])
    return float(np.concatenate(changes).mean())


def write_frames(folder: Path, images: list[np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate(images):
        path = folder / f"shot_{k + 1:04d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def read_maps(folder: Path, count: int) -> list[np.ndarray]:
    return [cv2.imread(str(folder / f"shot_{k + 1:04d}.depth.png"), cv2.IMREAD_UNCHANGED) for k in range(count)]


# --- the fit -------------------------------------------------------------------------------------


def test_fit_recovers_scale_and_shift_despite_a_moved_object() -> None:
    rng = np.random.default_rng(1)
    source = rng.uniform(0.1, 1.0, (64, 96))
    target = 0.37 * source + 0.21
    target[10:40, 20:50] = rng.uniform(0, 3, (30, 30))  # 15% of the pixels: the object that moved
    fit = fit_scale_shift(source, target, np.ones(source.shape, bool))
    assert fit is not None
    assert fit.scale == pytest.approx(0.37, rel=1e-9) and fit.shift == pytest.approx(0.21, abs=1e-9)
    assert fit.pixels <= source.size - 800  # the object is not among the inliers
    plain = np.polyfit(source.ravel(), target.ravel(), 1)  # what least squares alone would give
    assert abs(plain[0] - 0.37) > 0.05


def test_fit_uses_only_the_jointly_valid_pixels_and_refuses_what_cannot_decide() -> None:
    source = np.linspace(0, 1, 64 * 96).reshape(64, 96)
    target = 2 * source + 1
    target[:, :48] = 99.0
    mask = np.zeros(source.shape, bool)
    mask[:, 48:] = True
    fit = fit_scale_shift(source, target, mask)
    assert fit is not None and fit.scale == pytest.approx(2) and fit.shift == pytest.approx(1)
    assert fit_scale_shift(source, target, np.zeros(source.shape, bool)) is None  # no pixels
    assert fit_scale_shift(np.full(source.shape, 0.5), target, mask) is None  # flat: any scale fits
    assert fit_scale_shift(source, -target, mask) is None  # nearness turned over: no alignment


def test_aligner_keeps_still_pixels_at_frame_zero_units_whatever_each_frame_scale() -> None:
    """Frames that are one nearness field under per-frame scale and shift (MiDaS's ambiguity), with a
    near object moving: after alignment every still pixel has frame 0's normalised value."""
    rng = np.random.default_rng(3)
    field = rng.uniform(0.2, 0.6, (64, 96))
    aligner = Aligner(bg_threshold=0.1)
    first = None
    for k, (scale, shift) in enumerate([(1.0, 0.0), (3.0, 0.5), (0.2, -0.1), (7.0, 2.0)]):
        truth = field.copy()
        truth[20:40, 10 + 15 * k : 30 + 15 * k] = 1.0
        aligned, fit = aligner.add((scale * truth + shift).astype(np.float32))
        still = np.ones(truth.shape, bool)
        still[20:40, :] = False
        if first is None:
            first = aligned.copy()
            assert fit is None
        else:
            assert fit is not None
            np.testing.assert_allclose(aligned[still], first[still], atol=1e-5)
    assert aligner.resets == 0


# --- the random network: flicker per frame vs aligned ---------------------------------------------


@pytest.fixture(scope="module")
def flicker(midas_settings, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    """Both figures for the synthetic scene, through the real one-image path and the real sequence."""
    from lib_depth.images import estimate_depth
    from lib_depth.midas import get_estimator

    estimator = get_estimator(midas_settings)

    images, discs = scene()
    settings = ImageInput(resolution=RESOLUTION, weights=midas_settings.weights, device="cpu", precision="fp32")
    per_frame = [render(Job(source=Path(f"f{k}.png")), estimate_depth(image, estimator, settings))
                 for k, image in enumerate(images)]
    per_frame_maps = [cv2.imdecode(np.frombuffer(r.images["depth"], np.uint8), cv2.IMREAD_UNCHANGED)
                      for r in per_frame]
    folder = tmp_path_factory.mktemp("midas_sequence")
    write_frames(folder, images)
    listing = expand_frames([folder], (".png",))
    prepared = prepare_images(list(listing.frames), SequenceJob(), settings)
    assert not prepared.failed and prepared.estimated == FRAMES
    run = run_sequence(prepared.frames, prepared.job)
    assert all(r.ok for r in run.converted)
    aligned_maps = read_maps(folder, FRAMES)
    figures = {"per_frame": background_flicker(per_frame_maps, discs),
               "aligned": background_flicker(aligned_maps, discs), "resets": prepared.resets}
    figures["ratio"] = figures["per_frame"] / max(figures["aligned"], 1e-9)
    near = [background_flicker(m, discs, 2) for m in (per_frame_maps, aligned_maps)]
    print(f"\nbackground flicker (mean |level change| per frame, 8 bit) beyond {MARGIN} px of the disc: per-frame "
          f"normalisation {figures['per_frame']:.3f}, aligned sequence {figures['aligned']:.3f}, ratio "
          f"{figures['ratio']:.2f}; beyond 2 px: {near[0]:.3f} -> {near[1]:.3f} ({near[0] / max(near[1], 1e-9):.2f}x)")
    return figures


def test_random_network_flicker_figures_are_recorded(flicker: dict) -> None:
    assert flicker["per_frame"] > 1.0  # per-frame normalisation does flicker on this scene
    assert flicker["aligned"] < flicker["per_frame"]
    assert flicker["resets"] == 0


def test_random_network_flicker_drops_5x(flicker: dict) -> None:
    """The brief's target, with the real network (random weights): measured 9.6x (timm 0.9.5's draw)
    and 10.6x (timm 1.0's draw); within 2 px of the disc it is 2.5x, the network's own change there."""
    assert flicker["ratio"] >= 5


def test_aligned_sequence_flicker_drops_5x(tmp_path: Path) -> None:
    """The brief's target through the real sequence path, with an estimator that has exactly MiDaS's
    ambiguity: one scene's nearness (texture, the disc nearer) under a different scale and shift per
    frame. Per-frame normalisation flickers (the disc moves the frame's extremes); alignment must not."""
    images, discs = scene()
    texture = images[0][:, :, 0].astype(np.float64) / 255  # the disc's own pixels are overwritten below
    rng = np.random.default_rng(5)
    estimates = []
    for k, disc in enumerate(discs):
        nearness = 0.3 + 0.4 * texture
        nearness[disc] = 1.0 + 0.5 * k / FRAMES  # nearer and nearer: the frame's maximum moves
        scale, shift = rng.uniform(0.5, 3.0), rng.uniform(-0.5, 0.5)
        estimates.append((scale * nearness + shift).astype(np.float32))
    paths = write_frames(tmp_path, images)
    listing = expand_frames(paths, (".png",))
    by_path = {p: e for p, e in zip(paths, estimates, strict=True)}
    prepared = prepare_images(list(listing.frames), SequenceJob(), ImageInput(), lambda f: by_path[f.path])
    run_sequence(prepared.frames, prepared.job)
    from lib_depth.depth.pipeline import SourceDepth
    from lib_depth.midas.maps import nearness_to_depth

    per_frame = [render(Job(source=p), SourceDepth(depth=nearness_to_depth(e, 0.1))).images["depth"]
                 for p, e in zip(paths, estimates, strict=True)]
    per_frame_maps = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED) for b in per_frame]
    before, after = background_flicker(per_frame_maps, discs), background_flicker(read_maps(tmp_path, FRAMES), discs)
    print(f"\naffine-ambiguous estimator: per-frame {before:.3f}, aligned {after:.3f} levels")
    assert before > 2.0
    assert after * 5 <= before


# --- the command line ----------------------------------------------------------------------------


def test_cli_image_sequence_converts_resumes_and_refuses_chunks(
    tmp_path: Path, midas_checkpoint: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    images, _ = scene()
    write_frames(tmp_path / "in", images[:3])
    (tmp_path / "in" / "shot_0004.png").write_bytes(b"not a png")
    common = ["--weights", str(midas_checkpoint), "--device", "cpu", "--precision", "fp32", "--resolution", "64",
              "-o", str(tmp_path / "out"), "--mask"]
    assert cli.main(["--sequence", str(tmp_path / "in" / "shot_####.png"), *common]) == 1
    captured = capsys.readouterr()
    assert "shot_0004.png" in captured.err and "cannot decode" in captured.err
    assert "3 converted" in captured.out
    maps = read_maps(tmp_path / "out", 3)
    assert all(m is not None and m.shape == (H, W) for m in maps)
    (tmp_path / "in" / "shot_0004.png").unlink()
    assert cli.main(["--sequence", str(tmp_path / "in"), *common]) == 0
    assert "3 converted" in capsys.readouterr().out  # another set of frames: another chain, another mapping
    assert cli.main(["--sequence", str(tmp_path / "in"), *common]) == 0
    assert "0 converted, 3 already up to date" in capsys.readouterr().out  # a rerun: the same chain
    assert cli.main(["--sequence", "--scan", str(tmp_path / "s.json"), str(tmp_path / "in"), *common]) == 1
    assert "cannot be split into chunks" in capsys.readouterr().err
