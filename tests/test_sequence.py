"""Sequences in the core: one mapping for all frames, exact mergeable summaries, frame lists (in process)."""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib_depth.depth import levels
from lib_depth.depth.errors import DepthError
from lib_depth.depth.frames import expand_frames, natural_key
from lib_depth.depth.levels import Summary
from lib_depth.depth.process import DepthOptions, make_depth_map, scan_depth
from lib_depth.depth.sample import synthetic_scene
from lib_depth.depth.sequence import Mapping, SequenceJob, map_frame

BG = 1e9


def summarise(frames: list[np.ndarray], cutoff: float | None = None, table: bool = True) -> Summary:
    """What scan_frames computes, in memory: stage 1 merged, then stage 2 on the merged range."""
    scans = [scan_depth(f, BG, allow_empty=True) for f in frames]
    whole = levels.empty(None, None, BG)
    for depth, scan in zip(frames, scans, strict=True):
        whole = levels.merge(whole, levels.frame_summary(depth, "Z", scan, BG))
    if not table or not whole.has_depth:
        return whole
    counted = levels.empty(None, None, BG)
    for depth, scan in zip(frames, scans, strict=True):
        one = levels.frame_summary(depth, "Z", scan, BG)
        counted = levels.merge(counted, replace(one, table=levels.frame_table(depth, scan.valid, whole, cutoff)))
    return replace(whole, table=counted.table)


def sequence_levels(frames: list[np.ndarray], options: DepthOptions) -> list[np.ndarray]:
    summary = summarise(frames, options.cutoff)
    mapping = Mapping.of(summary, SequenceJob(options=options))
    return [map_frame(f, scan_depth(f, BG, allow_empty=True).valid, options, mapping).levels for f in frames]


finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, width=32)


@st.composite
def sequences(draw: st.DrawFn) -> tuple[list[np.ndarray], np.ndarray]:
    """2-5 frames of one size, some pixels static (the same depth in every frame), some background."""
    shape = draw(st.tuples(st.integers(1, 10), st.integers(1, 10)))
    count = draw(st.integers(2, 5))
    frames = [draw(arrays(np.float32, shape, elements=finite)) for _ in range(count)]
    for f in frames:
        f[draw(arrays(np.bool_, shape))] = np.inf
    frames[0].flat[0] = 1.0  # at least one valid depth in the sequence
    static = draw(arrays(np.bool_, shape))
    for f in frames[1:]:
        f[static] = frames[0][static]
    return frames, static


options_strategy = st.builds(DepthOptions, compress=st.booleans(), bits=st.sampled_from([8, 16]),
                             invert=st.booleans())


@settings(max_examples=120, deadline=None)
@given(sequences(), options_strategy)
def test_a_depth_that_does_not_move_keeps_its_level(data: tuple[list[np.ndarray], np.ndarray],
                                                    options: DepthOptions) -> None:
    frames, static = data
    maps = sequence_levels(frames, options)
    for levels_of_frame in maps[1:]:
        assert np.array_equal(levels_of_frame[static], maps[0][static])
    # and the same depth anywhere in any frame gets the same level (one mapping for all frames)
    depth = np.concatenate([f.ravel() for f in frames])
    level = np.concatenate([m.ravel() for m in maps])
    valid = np.isfinite(depth)
    order = np.argsort(depth[valid], kind="stable")
    same = np.diff(depth[valid][order]) == 0
    assert np.all(np.diff(level[valid][order].astype(np.int64))[same] == 0)


@settings(max_examples=120, deadline=None)
@given(sequences(), st.randoms(use_true_random=False), st.sampled_from([None, 0.0, 100.0]))
def test_merged_chunk_summaries_equal_the_whole_in_any_order(
    data: tuple[list[np.ndarray], np.ndarray], rnd: random.Random, cutoff: float | None
) -> None:
    frames, _ = data
    whole = summarise(frames, cutoff)
    order = list(range(len(frames)))
    rnd.shuffle(order)
    cut = rnd.randint(1, len(frames) - 1)
    chunks = [[frames[i] for i in order[:cut]], [frames[i] for i in order[cut:]]]
    stage1 = levels.merge_all([summarise(c, table=False) for c in chunks])
    assert stage1.as_dict() == replace(whole, table=None).as_dict()
    if not whole.has_depth:
        return
    counted = []
    for chunk in chunks:  # stage 2 of each chunk on the merged range, as a farm machine does it
        part = levels.empty(None, None, BG)
        for depth in chunk:
            scan = scan_depth(depth, BG, allow_empty=True)
            one = levels.frame_summary(depth, "Z", scan, BG)
            part = levels.merge(part, replace(one, table=levels.frame_table(depth, scan.valid, stage1, cutoff)))
        counted.append(levels.from_dict(part.as_dict()))  # through JSON, as the files go
    merged = levels.merge_all(counted)
    assert merged.as_dict() == whole.as_dict()


def test_one_frame_sequence_gives_the_per_file_bytes() -> None:
    depth = synthetic_scene(160, 100)
    for options in (DepthOptions(), DepthOptions(cutoff=340.0, compress=True), DepthOptions(compress=True, bits=16),
                    DepthOptions(noise=True, seed=5, invert=True)):
        assert np.array_equal(sequence_levels([depth], options)[0], make_depth_map(depth, options).levels)


def background_flicker(maps: list[np.ndarray], static: np.ndarray) -> float:
    """Mean absolute change of the static pixels' levels from one frame to the next."""
    return float(np.mean([np.abs(b[static].astype(np.int64) - a[static]).mean() for a, b in itertools.pairwise(maps)]))


def moving_subject(count: int, width: int = 160, height: int = 100) -> tuple[list[np.ndarray], np.ndarray]:
    """A still scene (wall, subjects) and a box that comes nearer every frame, over the left third."""
    base = synthetic_scene(width, height)
    static = np.ones(base.shape, bool)
    static[:, : width // 3] = False
    frames = []
    for i in range(count):
        f = base.copy()
        f[20:60, 5 : width // 3 - 5] = 180.0 - 10.0 * i
        frames.append(f)
    return frames, static


@pytest.mark.parametrize("options", [DepthOptions(), DepthOptions(compress=True), DepthOptions(bits=16)],
                         ids=["plain", "compress", "16-bit"])
def test_flicker_is_zero_in_sequence_mode_and_not_per_file(options: DepthOptions) -> None:
    frames, static = moving_subject(6)
    per_file = [make_depth_map(f, options).levels for f in frames]
    sequence = sequence_levels(frames, options)
    assert background_flicker(sequence, static) == 0.0
    assert background_flicker(per_file, static) > 0.1


def test_summary_json_is_small_whatever_the_frame_count() -> None:
    frames, _ = moving_subject(3)
    one, many = summarise(frames[:1]), summarise(frames * 20)
    assert len(one.to_json()) < 4096 and len(many.to_json()) < 4096
    assert abs(len(many.to_json()) - len(one.to_json())) < 200
    assert levels.from_dict(many.as_dict()).as_dict() == many.as_dict()


def test_summaries_of_other_sequences_do_not_merge() -> None:
    a = levels.frame_summary(np.ones((4, 4), np.float32), "Y", scan_depth(np.ones((4, 4), np.float32)), BG, "a.json")
    b = replace(a, channel="Z", source="b.json")
    with pytest.raises(DepthError, match=r"depth channel 'Y' of a.json differs from 'Z' of b.json"):
        levels.merge(a, b)
    with pytest.raises(DepthError, match="frame size"):
        levels.merge(a, replace(a, shape=(5, 5), source="c.json"))
    with pytest.raises(DepthError, match="no levels table"):
        a.check(None, need_table=True)


def test_a_damaged_summary_is_one_line_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "levels.json"
    bad.write_text("{not json")
    with pytest.raises(DepthError, match=r"levels\.json: not a valid levels summary"):
        levels.load(bad)
    bad.write_text('{"format": "something else"}')
    with pytest.raises(DepthError, match="not a Depth Tools levels summary"):
        levels.load(bad)


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"")


def test_frames_in_natural_order_from_patterns_folders_and_globs(tmp_path: Path) -> None:
    touch(tmp_path, "shot_9.exr", "shot_10.exr", "shot_11.EXR", "notes.txt")
    names = lambda fl: [f.path.name for f in fl.frames]  # noqa: E731
    assert names(expand_frames([tmp_path])) == ["shot_9.exr", "shot_10.exr", "shot_11.EXR"]
    assert names(expand_frames([tmp_path / "shot_*.exr"])) == ["shot_9.exr", "shot_10.exr"]
    assert [f.number for f in expand_frames([tmp_path]).frames] == [9, 10, 11]
    assert sorted(["b10", "b9", "a100"], key=lambda s: natural_key(Path(s))) == ["a100", "b9", "b10"]
    padded = tmp_path / "padded"
    padded.mkdir()
    touch(padded, "render_0001.exr", "render_0002.exr", "render_0005.exr", "render_01.exr", "render_0003.exr.bak")
    for spec in ("render_####.exr", "render_%04d.exr"):
        found = expand_frames([padded / spec])
        assert names(found) == ["render_0001.exr", "render_0002.exr", "render_0005.exr"], spec
        assert [str(g) for g in found.gaps] == [f"{padded}/render_####.exr: frames 0003-0004 are missing (2 frames)"]
    assert len(expand_frames([padded / "render_%d.exr"]).frames) == 4  # unpadded: any number of digits


def test_gaps_follow_the_step_and_missing_patterns_are_errors(tmp_path: Path) -> None:
    touch(tmp_path, "f_0002.exr", "f_0004.exr", "f_0006.exr", "f_0010.exr")
    [gap] = expand_frames([tmp_path]).gaps
    assert str(gap).endswith("frame 0008 is missing")
    with pytest.raises(DepthError, match="no frame matches this pattern"):
        expand_frames([tmp_path / "other_####.exr"])
    with pytest.raises(DepthError, match=r"no \.exr files in this folder"):
        empty = tmp_path / "empty"
        empty.mkdir()
        expand_frames([empty])
    # an explicit file that does not exist is kept: its frame is reported when read, the others go on
    assert [f.path.name for f in expand_frames([tmp_path / "gone.exr"]).frames] == ["gone.exr"]
    assert os.path.exists(tmp_path / "f_0002.exr")


def frames_on_disk(folder: Path, count: int) -> list:
    """`count` EXR frames (the command-line tests' moving box), listed as a sequence."""
    from tests.test_cli_sequence import write_frames

    write_frames(folder, list(range(1, count + 1)), 48, 32)
    return list(expand_frames([folder]).frames)

def test_counting_keeps_no_frame_table_once_merged(tmp_path: Path) -> None:
    """Stage 2 tables are 64 KiB a frame: they are merged as they come and not kept per frame (a run
    of 400 1080p frames peaked 24 MB higher than one of 50 while they were)."""
    from lib_depth.depth.sequence import scan_frames

    frames = frames_on_disk(tmp_path / "frames", 4)
    job = SequenceJob(options=DepthOptions(compress=True))
    stage1, _ = scan_frames(frames, job)
    counted, results = scan_frames(frames, job, whole=stage1)
    assert counted.table is not None and counted.frames == 4
    assert all(r.ok and r.summary is not None and r.summary.table is None for r in results)
    assert counted.table.counts.sum() == stage1.valid


def test_results_from_worker_processes_are_not_kept_once_consumed(tmp_path: Path) -> None:
    import gc
    import weakref

    from lib_depth.depth.sequence import each_frame, scan_frame

    frames = frames_on_disk(tmp_path / "frames", 5)
    seen: list[weakref.ref] = []
    alive_earlier = []
    for result in each_frame(scan_frame, frames, 2, SequenceJob()):
        assert result.ok
        seen.append(weakref.ref(result))
        del result
        gc.collect()
        alive_earlier.append(sum(ref() is not None for ref in seen[:-1]))
    assert len(seen) == 5
    assert alive_earlier == [0] * 5  # nothing but the caller holds a result it was given
