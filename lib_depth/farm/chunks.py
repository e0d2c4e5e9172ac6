"""A farm's chunk of frame numbers -> the sequence's files of those numbers.

Farms hand a task its frames as numbers (OpenJD's CHUNK[INT] `1-16`, OpenCue's `#FRAME_START#`..), the
sequence is a folder or a `####` pattern: the task expands the whole sequence as the command line does
(`depth.frames.expand_frames`) and keeps the frames whose number is in its chunk.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..depth.errors import DepthError
from ..depth.frames import expand_frames, frame_number

__all__ = ["frames_in_chunk", "parse_range"]

EXR = (".exr",)
_PART = re.compile(r"(-?\d+)(?:-(-?\d+))?(?::(\d+))?")


def parse_range(text: str) -> set[int]:
    """`1-16`, `17`, `1-9,12,20-24`, `1-10:2` (OpenJD's range expressions) -> the frame numbers."""
    numbers: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _PART.fullmatch(part)
        if match is None:
            raise DepthError(f"a frame range is numbers like 1-16 or 1-9,12; got {text!r}")
        start, end, step = int(match[1]), int(match[2] or match[1]), int(match[3] or 1)
        if step < 1 or end < start:
            raise DepthError(f"a frame range runs upwards in steps of at least 1; got {text!r}")
        numbers.update(range(start, end + 1, step))
    if not numbers:
        raise DepthError(f"the frame range {text!r} names no frame")
    return numbers


def frames_in_chunk(frames: str | Path, chunk: str) -> list[Path]:
    """The EXR files of `frames` (folder or pattern) whose frame number is in `chunk`, in order.

    Every number of the chunk must have its file: a frame the renderer has not written yet fails the
    task (with its number) instead of leaving a gap in the maps."""
    wanted = parse_range(chunk)
    found = {number[0]: f.path for f in expand_frames([Path(frames)], EXR).frames
             if (number := frame_number(f.path)) is not None and number[0] in wanted}
    missing = sorted(wanted - found.keys())
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise DepthError(f"no file for frame {shown} of chunk {chunk}", Path(frames))
    return [found[n] for n in sorted(found)]
