"""Which files make a sequence, in which order, and which frames are missing.

Renderers name frames `render_0001.exr`; users name them on the command line as files, a folder,
a glob (`renders/*.exr`), or a frame pattern as Blender (`render_####.exr`) or ffmpeg
(`render_%04d.exr`) write it. Whatever the spelling, frames come out in natural numeric order
(`frame_9` before `frame_10`, which a plain sort gets wrong), each with its frame number: the number
keeps the output names (`render_0001.depth.png`) and seeds the noise, so the bytes of a frame do not
depend on which chunk of the sequence a farm machine was given. Gaps (frames missing from a
numbered run) are reported, never guessed at.
"""

from __future__ import annotations

import glob
import itertools
import math
import re
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

from .errors import DepthError

_DIGITS = re.compile(r"(\d+)")
#: `####` (Blender: one # per digit) or `%04d` / `%d` (ffmpeg, printf)
_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%(0?)(\d*)d")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Frame:
    """One file of a sequence. `number` is the frame number in its name (the last run of digits),
    None when the name has none; `index` is its place in the sequence."""

    path: Path
    number: int | None
    index: int

    @property
    def seed_offset(self) -> int:
        """Added to the noise seed: the frame number where the name has one (the same on every
        machine, whatever the chunk), else the place in the sequence."""
        return self.number if self.number is not None else self.index


@dataclass(frozen=True)
class Gap:
    first: int
    last: int
    width: int  # zero padding of the names, for the message
    step: int = 1
    name: str = ""  # the frames' name before the number (`renders/shot_`)

    @property
    def count(self) -> int:
        return (self.last - self.first) // self.step + 1

    def __str__(self) -> str:
        count = self.count
        if count == 1:
            return f"{self.name}: frame {self.first:0{self.width}d} is missing"
        first, last = f"{self.first:0{self.width}d}", f"{self.last:0{self.width}d}"
        return f"{self.name}: frames {first}-{last} are missing ({count} frames)"


@dataclass(frozen=True)
class FrameList:
    frames: tuple[Frame, ...]
    gaps: tuple[Gap, ...] = field(default=())


def natural_key(path: Path) -> tuple:
    """`frame_9.exr` < `frame_10.exr`: digit runs compare as numbers (ties: the plain text)."""
    parts = _DIGITS.split(str(path))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts), str(path)


def frame_number(path: Path) -> tuple[int, int] | None:
    """(number, digits) of the last run of digits in the name without its suffix, or None."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    runs = _DIGITS.findall(stem)
    return (int(runs[-1]), len(runs[-1])) if runs else None


def _pattern_regex(name: str) -> tuple[str, re.Pattern[str]] | None:
    """A frame pattern's glob and regex (one group: the digits), or None when `name` is none."""
    for finder, width_of in ((_HASHES, lambda m: len(m.group(0))), (_PRINTF, lambda m: int(m.group(2) or 0))):
        matches = list(finder.finditer(name))
        if not matches:
            continue
        if len(matches) > 1:
            raise DepthError("a frame pattern takes one run of # (or one %d), not several", name)
        m = matches[0]
        width = width_of(m)
        padded = finder is _HASHES or bool(m.group(1))
        digits = rf"(\d{{{width}}})" if padded and width > 1 else r"(\d+)"
        regex = re.compile(re.escape(name[: m.start()]) + digits + re.escape(name[m.end() :]) + r"\Z",
                           re.IGNORECASE)
        return glob.escape(name[: m.start()]) + "*" + glob.escape(name[m.end() :]), regex
    return None


def _expand_one(spec: Path, suffixes: tuple[str, ...]) -> list[Path]:
    text = str(spec)
    if spec.is_dir():
        found = [p for p in spec.iterdir() if p.is_file() and p.suffix.lower() in suffixes]
        if not found:
            raise DepthError(f"no {' or '.join(suffixes)} files in this folder", spec)
        return found
    pattern = _pattern_regex(spec.name)
    if pattern is not None and not spec.exists():
        wildcard, regex = pattern
        folder = spec.parent
        found = [p for p in folder.glob(wildcard) if regex.match(p.name)] if folder.is_dir() else []
        if not found:
            raise DepthError("no frame matches this pattern", spec)
        return found
    if _GLOB_CHARS & set(text) and not spec.exists():
        found = [Path(p) for p in glob.glob(text) if Path(p).is_file()]
        if not found:
            raise DepthError("no file matches this pattern", spec)
        return found
    return [spec]  # a file (a missing one is reported when its frame is read, with the others going on)


def expand_frames(specs: list[Path], suffixes: tuple[str, ...] = (".exr",)) -> FrameList:
    """Files, folders, globs and frame patterns -> the frames, de-duplicated, in natural order.

    Folders take the files with `suffixes`. Raises DepthError (naming the spec) for a folder or
    pattern that matches nothing.
    """
    paths: dict[str, Path] = {}
    for spec in specs:
        for path in _expand_one(spec, suffixes):
            paths.setdefault(str(path.resolve()) if path.exists() else str(path), path)
    ordered = sorted(paths.values(), key=natural_key)
    frames = []
    for index, path in enumerate(ordered):
        number = frame_number(path)
        frames.append(Frame(path, None if number is None else number[0], index))
    return FrameList(tuple(frames), find_gaps(ordered))


def find_gaps(paths: list[Path]) -> tuple[Gap, ...]:
    """Numbers missing between frames of the same name (`shot_0001` .. `shot_0010`), stepping by the
    run's common step: a sequence rendered on every second frame has no gaps."""
    runs: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for path in paths:
        found = frame_number(path)
        if found is None:
            continue
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        digits = _DIGITS.findall(stem)[-1]
        prefix = stem[: stem.rfind(digits)]
        runs.setdefault((str(path.parent / prefix), path.suffix), []).append(found)
    gaps: list[Gap] = []
    for (prefix, suffix), numbered in runs.items():
        numbers = sorted({n for n, _ in numbered})
        width = min(w for _, w in numbered)
        name = prefix + "#" * width + suffix
        steps = [b - a for a, b in itertools.pairwise(numbers)]
        if not steps:
            continue
        step = reduce(math.gcd, steps)
        for a, b in itertools.pairwise(numbers):
            if b - a > step:
                gaps.append(Gap(a + step, b - step, width, step, name))
    return tuple(gaps)
