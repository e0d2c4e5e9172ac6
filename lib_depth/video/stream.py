"""The official `infer_video_depth` over a stream: frames go in one at a time, maps come out one at a
time, and only about two windows are ever held (the window being estimated, its ten key frames for
the next one, and eight maps waiting for their cross-fade), so a 10,000-frame video needs the memory
of a 32-frame one. The maps are those of the official code for the whole list (`video_depth.py`):

- windows of 32 frames every 22 (`INFER_LEN`, `OVERLAP`); window k reads frames 22k .. 22k+31, the
  list padded with copies of the last frame, for as long as 22k is below the frame count;
- the first 10 slots of a window after the first are replaced by the previous window's inputs at
  `KEYFRAMES` (0, 12, 24-31): video frame 0, the previous window's frame 12, and frames 22k+2..9,
  which are the same frames: the official code re-transforms nothing, nor do we;
- each window's maps are resized to the frame (bilinear, align_corners) and joined (`align.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..depth.errors import DepthError
from .align import cross_fade, rescaled, scale_and_shift
from .frames import check_frame, network_size, prepare_frame

INFER_LEN = 32
OVERLAP = 10
KEYFRAMES = (0, 12, 24, 25, 26, 27, 28, 29, 30, 31)
INTERP_LEN = 8
STEP = INFER_LEN - OVERLAP
ALIGN_LEN = OVERLAP - INTERP_LEN  # key frames the scale and shift are fitted on (0 and 12)

#: a window's network input (32 x 3 x h x w float32) -> its 32 maps at the frame's size (float32 H x W)
Estimate = Callable[[Any, tuple[int, int]], list[np.ndarray]]
#: (H x W x 3 uint8 frame, (h, w)) -> 3 x h x w float32 input: numpy (`prepare_frame`) or a device tensor
Prepare = Callable[[np.ndarray, tuple[int, int]], Any]


class FrameSource:
    """The caller's frames, checked one by one and counted: `count` is final once `done`."""

    def __init__(self, frames: Iterable[np.ndarray]) -> None:
        self._frames = iter(frames)
        self.count = 0
        self.done = False
        self.size: tuple[int, int] | None = None

    def next(self) -> np.ndarray | None:
        if self.done:
            return None
        frame = next(self._frames, None)
        if frame is None:
            self.done = True
            return None
        check_frame(frame, self.count, self.size)
        self.size = self.size or frame.shape[:2]
        self.count += 1
        return frame


def _take(source: FrameSource, wanted: int, shape: tuple[int, int], last: Any, prepare: Prepare) -> list[Any]:
    """`wanted` prepared frames, copies of `last` (the last one prepared) once the frames run out."""
    taken: list[Any] = []
    while len(taken) < wanted:
        frame = source.next()
        last = last if frame is None else prepare(frame, shape)
        taken.append(last)
    return taken


def _stacking(first: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(stack, concatenate) for the prepared frames' kind: numpy arrays, or torch tensors on a device."""
    if isinstance(first, np.ndarray):
        return np.stack, np.concatenate
    import torch

    return torch.stack, torch.cat


def windows(source: FrameSource, input_size: int, prepare: Prepare = prepare_frame) -> Iterator[Any]:
    """The official network inputs, one 32-frame window at a time (numpy, or tensors where `prepare`
    makes them on a device)."""
    first = source.next()
    if first is None:
        raise DepthError("the video has no frames")
    shape = network_size(*first.shape[:2], input_size)
    start = prepare(first, shape)
    stack, concatenate = _stacking(start)
    window = stack([start, *_take(source, INFER_LEN - 1, shape, start, prepare)])
    k = 0
    while True:
        yield window
        k += 1
        if source.done and source.count <= k * STEP:
            return
        kept = window[list(KEYFRAMES)]
        window = concatenate([kept, stack(_take(source, STEP, shape, window[-1], prepare))])


class WindowJoiner:
    """The official alignment loop, a window at a time: `add` returns the maps that are final."""

    def __init__(self, *, metric: bool) -> None:
        self.metric = metric
        self.reference: list[np.ndarray] = []
        self.held: list[np.ndarray] = []  # the last INTERP_LEN joined maps, waiting for the next window

    def add(self, depths: list[np.ndarray]) -> list[np.ndarray]:
        if not self.reference:
            self.reference = [depths[k] for k in KEYFRAMES[:ALIGN_LEN]]
            self.held = depths[INFER_LEN - INTERP_LEN:]
            return depths[:INFER_LEN - INTERP_LEN]
        scale, shift = (1.0, 0.0) if self.metric else scale_and_shift(
            np.concatenate(depths[:ALIGN_LEN]), np.concatenate(self.reference))
        faded = cross_fade(self.held, [rescaled(d, scale, shift) for d in depths[ALIGN_LEN:OVERLAP]])
        new = [rescaled(d, scale, shift) for d in depths[OVERLAP:]]
        self.reference = self.reference[:1] + [rescaled(depths[k], scale, shift) for k in KEYFRAMES[1:ALIGN_LEN]]
        self.held = new[-INTERP_LEN:]
        return faded + new[:-INTERP_LEN]

    def finish(self) -> list[np.ndarray]:
        held, self.held = self.held, []
        return held


def stream_depths(estimate: Estimate, frames: Iterable[np.ndarray], *, input_size: int = 518,
                  metric: bool = False, prepare: Prepare = prepare_frame) -> Iterator[np.ndarray]:
    """float32 H x W relative disparity (metric depth for a metric model) per frame, in order."""
    source, joiner, index = FrameSource(frames), WindowJoiner(metric=metric), 0
    for window in windows(source, input_size, prepare):
        assert source.size is not None
        for depth in joiner.add(estimate(window, source.size)):
            if index < source.count:  # before the end every joined map is of a frame already read
                yield depth
                index += 1
    for depth in joiner.finish():
        if index < source.count:
            yield depth
            index += 1
