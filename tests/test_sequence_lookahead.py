"""Image sequences on a GPU: frames estimated a group at a time (`images/lookahead.py`) and still
aligned one by one, with the same stored depths as one frame at a time; an unreadable frame in a
group fails alone; a rerun estimates only what is not stored. The estimator is a stand-in with a
device attribute (the grouping is decided by it), deterministic per picture."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from lib_depth.depth.frames import expand_frames
from lib_depth.depth.sequence import SequenceJob
from lib_depth.images import ImageInput, prepare_images, registry
from lib_depth.images.lookahead import GPU_GROUP

FRAMES = 11


class Stand_in:
    """Nearness = a ramp scaled by the picture's mean (so frames differ), per picture."""

    def __init__(self, device: str) -> None:
        self.device = SimpleNamespace(type=device)
        self.groups: list[int] = []

    def _one(self, image: np.ndarray) -> SimpleNamespace:
        ramp = np.linspace(0.2, 1.0, image.shape[1], dtype=np.float32)[None, :].repeat(image.shape[0], 0)
        return SimpleNamespace(nearness=ramp * (0.5 + float(image.mean()) / 255))

    def estimate(self, image: np.ndarray, resolution: int) -> SimpleNamespace:
        self.groups.append(1)
        return self._one(image)

    def estimate_batch(self, images: list[np.ndarray], resolution: int) -> list[SimpleNamespace]:
        self.groups.append(len(images))
        return [self._one(image) for image in images]


def frames(folder: Path, broken: int | None = None) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(FRAMES):
        path = folder / f"f{k:03d}.png"
        if k == broken:
            path.write_bytes(b"not a png")
        else:
            cv2.imwrite(str(path), np.full((24, 32, 3), 40 + 15 * k, np.uint8))
    return list(expand_frames([folder], (".png",)).frames)


def run(monkeypatch: pytest.MonkeyPatch, listing: list, device: str, out: Path) -> tuple:
    stand_in = Stand_in(device)
    monkeypatch.setattr(registry, "get_estimator", lambda model, settings: stand_in)
    prepared = prepare_images(listing, SequenceJob(output_dir=out), ImageInput(resolution=64))
    stored = {f.path.name: np.load(prepared.job.input.stored(f.path)) for f in prepared.frames}
    return prepared, stored, stand_in.groups


def test_a_gpu_estimates_groups_and_stores_what_one_at_a_time_stores(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    listing = frames(tmp_path / "frames", broken=3)
    _, one_by_one, cpu_groups = run(monkeypatch, listing, "cpu", tmp_path / "cpu")
    prepared, grouped, gpu_groups = run(monkeypatch, listing, "cuda", tmp_path / "gpu")
    assert cpu_groups == [1] * (FRAMES - 1)
    # frame 0 with the next readable ones (frame 3 left out of the group), then what is left
    assert gpu_groups == [GPU_GROUP, FRAMES - 1 - GPU_GROUP]
    assert [r.frame.path.name for r in prepared.failed] == ["f003.png"]
    assert prepared.estimated == FRAMES - 1 and grouped.keys() == one_by_one.keys()
    for name, depth in one_by_one.items():
        assert np.array_equal(grouped[name], depth, equal_nan=True), name


def test_a_rerun_estimates_only_the_frames_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = frames(tmp_path / "frames")
    first, stored, _ = run(monkeypatch, listing, "cuda", tmp_path / "out")
    for k in (2, 9):
        first.job.input.stored(listing[k].path).unlink()
    again, restored, groups = run(monkeypatch, listing, "cuda", tmp_path / "out")
    assert groups == [2] and again.estimated == 2  # frame 2 with frame 9, the only other one missing
    for name, depth in stored.items():  # a resumed chain goes on from the stored float32 depth: ~1e-8 apart
        assert np.allclose(restored[name], depth, rtol=0, atol=1e-6, equal_nan=True), name


class Tight(Stand_in):
    """A device whose memory takes one frame at a time: any group of more fails."""

    def estimate_batch(self, images: list[np.ndarray], resolution: int) -> list[SimpleNamespace]:
        if len(images) > 1:
            self.groups.append(-len(images))
            raise RuntimeError("CUDA out of memory")
        return super().estimate_batch(images, resolution)


def test_a_group_that_fails_as_a_whole_goes_on_one_frame_at_a_time(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    listing = frames(tmp_path / "frames")
    _, one_by_one, _ = run(monkeypatch, listing, "cpu", tmp_path / "cpu")
    tight = Tight("cuda")
    monkeypatch.setattr(registry, "get_estimator", lambda model, settings: tight)
    prepared = prepare_images(listing, SequenceJob(output_dir=tmp_path / "gpu"), ImageInput(resolution=64))
    assert not prepared.failed and prepared.estimated == FRAMES
    assert tight.groups == [-GPU_GROUP] + [1] * FRAMES  # one failed group, then every frame alone
    for frame in prepared.frames:
        assert np.array_equal(np.load(prepared.job.input.stored(frame.path)), one_by_one[frame.path.name],
                              equal_nan=True)
