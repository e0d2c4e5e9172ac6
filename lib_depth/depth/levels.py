"""The levels summary of a sequence: what one mapping for every frame is made from.

Why two stages. A sequence's mapping needs its nearest and farthest depth (stage 1: exact
min/max, merged by min and max) and, for the histogram and compress, counts on a grid laid
between exactly those two depths (stage 2: 20 bucket counts, merged by sum, and the occupied
compress steps, 65536 bits merged by OR). No grid fixed in advance can be exact for a range not
yet known (a step of the final grid can straddle any cell of a finer one), and keeping every
distinct depth grows with the frames, so stage 2 is counted once the whole range is known.

Every operation here is exact and order-free (min, max, integer sums, OR), and one pass over all
frames is defined as the merge of the frames' own summaries, so the summaries of any split of the
frames merge into the same summary as one pass: the maps made from it are the same bytes.

As JSON (`to_json`/`load`): a few hundred bytes for stage 1, a few KiB with stage 2 (the bitmap
is zlib'd and base64'd), whatever the number of frames.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import DepthError, OptionsError
from .process import (
    COMPRESS_STEPS,
    HISTOGRAM_BUCKETS,
    Histogram,
    Scan,
    check_cutoff,
    compress_steps,
    histogram,
    histogram_from_counts,
    occupied_steps,
)

FORMAT = "depth-tools-levels"
VERSION = 1


@dataclass(frozen=True)
class Table:
    """Stage 2: counted on the grid of the range [near, far] of the whole sequence."""

    near: float
    far: float
    cutoff: float | None  # the compress steps lie between near and min(far, cutoff)
    counts: np.ndarray  # int64[HISTOGRAM_BUCKETS], valid pixels per bucket of [near, far]
    occupied: np.ndarray  # bool[COMPRESS_STEPS]

    def key(self) -> tuple:
        return (self.near, self.far, self.cutoff)


@dataclass(frozen=True)
class Summary:
    """Stage 1 (+ stage 2 when `table` is set) of some frames. Empty: near = inf, far = -inf."""

    channel: str | None
    shape: tuple[int, int] | None  # (height, width) every frame must have
    background_above: float
    frames: int = 0
    pixels: int = 0
    valid: int = 0
    near: float = math.inf
    far: float = -math.inf
    table: Table | None = None
    source: str = ""  # a label for messages (the file it came from); not part of the summary

    @property
    def has_depth(self) -> bool:
        return self.valid > 0

    def far_level(self, cutoff: float | None) -> float:
        """The depth that gets level 0: the farthest, or the cutoff when nearer."""
        return self.far if cutoff is None else min(self.far, float(cutoff))

    def check(self, cutoff: float | None, need_table: bool) -> None:
        """Raise unless this summary can map frames (with this cutoff, and a table if needed)."""
        if not self.has_depth:
            raise DepthError("no depth in any frame: every pixel is background (NaN, inf or too far)",
                             self.source or None)
        check_cutoff(cutoff, self.near, self.source or None)
        if not need_table:
            return
        if self.table is None:
            raise OptionsError("this summary has no levels table (stage 2): scan the frames again with "
                               "--levels of the merged range (README, 'Many machines')", self.source or None)
        if (self.table.near, self.table.far) != (self.near, self.far):
            raise OptionsError(
                f"the levels table was counted for the range {self.table.near!r}..{self.table.far!r} but the "
                f"frames span {self.near!r}..{self.far!r}: scan every chunk with the merged range", self.source or None)
        if self.table.cutoff != (None if cutoff is None else float(cutoff)):
            raise OptionsError(f"the levels table was counted for cutoff {self.table.cutoff}, not {cutoff}: "
                               "scan again with this cutoff", self.source or None)

    def histogram(self) -> Histogram:
        if self.table is None:
            raise DepthError("no histogram without stage 2", self.source or None)
        return histogram_from_counts(self.near, self.far, self.table.counts, self.pixels)

    def as_dict(self) -> dict:
        data: dict = {
            "format": FORMAT, "version": VERSION, "frames": self.frames, "pixels": self.pixels,
            "valid": self.valid, "near": self.near if self.has_depth else None,
            "far": self.far if self.has_depth else None, "channel": self.channel,
            "height": None if self.shape is None else self.shape[0],
            "width": None if self.shape is None else self.shape[1],
            "background_above": self.background_above,
        }
        if self.table is not None:
            t = self.table
            packed = zlib.compress(np.packbits(t.occupied).tobytes(), 9)
            data["table"] = {"near": t.near, "far": t.far, "cutoff": t.cutoff,
                             "histogram": [int(c) for c in t.counts],
                             "occupied": base64.b64encode(packed).decode("ascii")}
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1) + "\n"


def empty(channel: str | None, shape: tuple[int, int] | None, background_above: float) -> Summary:
    return Summary(channel, shape, float(background_above))


def from_dict(data: dict, source: str = "") -> Summary:
    """A Summary from its JSON form; DepthError (naming `source`) for anything else."""
    try:
        if data.get("format") != FORMAT:
            raise ValueError("not a Depth Tools levels summary")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')} (this Depth Tools reads {VERSION})")
        valid = int(data["valid"])
        shape = None if data["height"] is None else (int(data["height"]), int(data["width"]))
        table = None
        if "table" in data:
            t = data["table"]
            bits = np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode(t["occupied"])), np.uint8))
            counts = np.asarray(t["histogram"], np.int64)
            if bits.size != COMPRESS_STEPS or counts.size != HISTOGRAM_BUCKETS:
                raise ValueError("levels table of the wrong size")
            table = Table(float(t["near"]), float(t["far"]), None if t["cutoff"] is None else float(t["cutoff"]),
                          counts, bits.astype(bool))
        return Summary(
            data["channel"], shape, float(data["background_above"]), int(data["frames"]), int(data["pixels"]),
            valid, float(data["near"]) if valid else math.inf, float(data["far"]) if valid else -math.inf,
            table, source)
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        detail = exc.args[0] if isinstance(exc, ValueError) and exc.args else f"missing or wrong field {exc}"
        raise DepthError(f"not a valid levels summary ({detail})", source or None) from None


def load(path: str | Path) -> Summary:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf8"))
    except FileNotFoundError:
        raise DepthError("file not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DepthError(f"not a valid levels summary ({exc})", path) from None
    if not isinstance(data, dict):
        raise DepthError("not a valid levels summary (not a JSON object)", path)
    return from_dict(data, str(path))


def _same(a: Summary, b: Summary, what: str, x: object, y: object) -> None:
    if x != y:
        raise DepthError(f"{what} {x!r} of {a.source or 'these frames'} differs from {y!r} of "
                         f"{b.source or 'those frames'}: they are not one sequence")


def merge(a: Summary, b: Summary) -> Summary:
    """The summary of the frames of both (exact, and the same in any order or grouping)."""
    if not b.frames:
        return a
    if not a.frames:
        return b
    _same(a, b, "depth channel", a.channel, b.channel)
    _same(a, b, "frame size", a.shape, b.shape)
    _same(a, b, "background limit", a.background_above, b.background_above)
    if (a.table is None) != (b.table is None):
        raise DepthError(f"{a.source or 'one summary'} and {b.source or 'another'} mix stage 1 and stage 2 "
                         "summaries: give the stage 2 ones only")
    table = None
    if a.table is not None and b.table is not None:
        if a.table.key() != b.table.key():
            raise DepthError(f"the levels tables of {a.source or 'one summary'} and {b.source or 'another'} were "
                             "counted for different ranges or cutoffs: scan every chunk with the same --levels")
        table = Table(*a.table.key(), a.table.counts + b.table.counts, a.table.occupied | b.table.occupied)
    return Summary(a.channel, a.shape, a.background_above, a.frames + b.frames, a.pixels + b.pixels,
                   a.valid + b.valid, min(a.near, b.near), max(a.far, b.far), table, a.source)


def merge_all(summaries: list[Summary]) -> Summary:
    if not summaries:
        raise DepthError("no levels summaries to merge")
    total = summaries[0]
    for s in summaries[1:]:
        total = merge(total, s)
    label = summaries[0].source if len(summaries) == 1 else f"{len(summaries)} merged summaries"
    return replace(total, source=label)


def frame_summary(depth: np.ndarray, channel: str | None, scan: Scan, background_above: float,
                  source: str = "") -> Summary:
    """Stage 1 of one frame (`scan` from scan_depth(..., allow_empty=True))."""
    count = int(np.count_nonzero(scan.valid))
    return Summary(channel, (int(depth.shape[0]), int(depth.shape[1])), float(background_above), 1,
                   int(depth.size), count, scan.near, scan.far, source=source)


def frame_table(depth: np.ndarray, valid: np.ndarray, whole: Summary, cutoff: float | None) -> Table:
    """Stage 2 of one frame, on the grid of `whole`'s range: histogram counts and occupied steps."""
    counts = histogram(depth, Scan(valid, whole.near, whole.far)).counts if valid.any() else \
        np.zeros(HISTOGRAM_BUCKETS, np.int64)
    occupied = occupied_steps(compress_steps(depth, valid, whole.near, whole.far_level(cutoff)))
    return Table(whole.near, whole.far, None if cutoff is None else float(cutoff), counts, occupied)
