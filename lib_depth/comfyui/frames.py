"""The DEPTH socket's value: float depths held in memory between nodes, and how an EXR becomes one.

Frames keep what the command line knows of them (the channel, each frame's noise-seed offset, and
whether they are a sequence: one mapping for all frames, as `--sequence`), so the nodes after the
loader give the command line's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..depth.errors import DepthError
from ..depth.exr import DEFAULT_MAX_PIXELS, EXR_SUFFIX
from ..depth.frames import Frame, expand_frames
from ..depth.pipeline import ExrInput
from ..depth.sequence import Expect

#: The socket type name ComfyUI shows and checks links against.
DEPTH = "DEPTH_TOOLS_DEPTH"


@dataclass(frozen=True, kw_only=True)
class DepthFrames:
    """Float32 HxW depths (larger = farther, NaN/inf = background), one per frame, all one size."""

    depths: tuple[np.ndarray, ...]
    labels: tuple[str, ...]  # what errors name (the file of each frame)
    seed_offsets: tuple[int, ...]  # added to the noise seed (frame numbers, as --sequence)
    channel: str | None
    sequence: bool  # one mapping for every frame (a folder or pattern), else a single render

    @property
    def shape(self) -> tuple[int, int]:
        return self.depths[0].shape[0], self.depths[0].shape[1]


def frames_of(spec: str) -> tuple[list[Frame], bool]:
    """A server path, folder, glob or `####` pattern -> its frames, and whether it is a sequence
    (anything but one existing file)."""
    path = Path(spec.strip()).expanduser()
    if path.is_file():
        return [Frame(path, None, 0)], False
    listing = expand_frames([path], (EXR_SUFFIX,))
    return list(listing.frames), True


def load_frames(frames: list[Frame], exr: ExrInput, sequence: bool, progress: object | None = None) -> DepthFrames:
    """Every frame read as the command line reads it; DepthError naming the frame for a bad one
    (damaged, no depth channel, another size or channel than the first)."""
    depths, expect = [], None
    channel = None
    for frame in frames:
        source = exr.load(frame.path, max_pixels=DEFAULT_MAX_PIXELS)
        depth = np.ascontiguousarray(source.depth, dtype=np.float32)
        shape = (int(depth.shape[0]), int(depth.shape[1]))
        if expect is None:
            expect, channel = Expect(source.channel, shape, frame.path.name), source.channel
        expect.check(source.channel, shape, frame.path)
        depths.append(depth)
        if progress is not None:
            progress.step()
    if not depths:
        raise DepthError("no frames to load")
    return DepthFrames(depths=tuple(depths), labels=tuple(str(f.path) for f in frames),
                       seed_offsets=tuple(f.seed_offset for f in frames) if sequence else (0,) * len(frames),
                       channel=channel, sequence=sequence)
