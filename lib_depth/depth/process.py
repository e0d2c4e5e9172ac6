"""Depth array -> depth map: pure, vectorised numpy. The contract is docs/architecture.md's "The depth semantics".

Input depth is float32 HxW, larger = farther. Output levels put near at the top (white).
Nothing here reads files, imports torch or knows about a UI.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from .blocks import for_each_block
from .errors import DepthError, OptionsError

#: Renderers write inf, NaN or ~1e10 where no surface was hit; anything beyond this is background.
DEFAULT_BACKGROUND_ABOVE = 1e9
HISTOGRAM_BUCKETS = 20
#: A bucket holding less than this share of the valid pixels counts as empty when suggesting cuts
#: (1/20 of an evenly filled bucket).
EMPTY_BUCKET_SHARE = 0.0025
#: Compress ranks depths quantised to this many steps: as many as 16-bit output has levels, and the
#: uint16 steps let cv2.calcHist find the occupied ones ~7x faster than np.bincount (bench/).
COMPRESS_STEPS = 1 << 16


@dataclass(frozen=True)
class DepthOptions:
    """How the levels of the output are spent. Defaults reproduce a plain min-max normalisation."""

    cutoff: float | None = None
    compress: bool = False
    noise: bool = False
    invert: bool = False
    bits: int = 8
    seed: int = 0
    background_above: float = DEFAULT_BACKGROUND_ABOVE

    def __post_init__(self) -> None:
        if self.bits not in (8, 16):
            raise OptionsError(f"bits must be 8 or 16, not {self.bits}")
        if not self.background_above > 0:
            raise OptionsError(f"background limit must be positive, not {self.background_above}")

    @property
    def top(self) -> int:
        return (1 << self.bits) - 1

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.bits == 8 else np.uint16


@dataclass(frozen=True)
class Histogram:
    """The seed's 20-bucket 'histo' printout, with every valid pixel counted (its max included)."""

    edges: np.ndarray  # HISTOGRAM_BUCKETS + 1 edges, edges[i] is bucket i's lower edge
    counts: np.ndarray  # valid pixels per bucket
    total: int  # all pixels, background included: shares are of the whole image
    suggestions: tuple[float, ...] = field(default=())

    @property
    def shares(self) -> np.ndarray:
        return self.counts / max(self.total, 1)

    def as_dict(self) -> dict:
        return {
            "buckets": [
                {"index": i, "lower_edge": float(self.edges[i]), "count": int(c), "share": float(s)}
                for i, (c, s) in enumerate(zip(self.counts, self.shares, strict=True))
            ],
            "min": float(self.edges[0]),
            "max": float(self.edges[-1]),
            "suggestions": list(self.suggestions),
        }

    def lines(self) -> list[str]:
        """The seed's printout format, so its users' habits (and scripts) still work."""
        return [
            f"** - {i:02d} - {share * 100:.2f}% - {self.edges[i]}" for i, share in enumerate(self.shares)
        ]


@dataclass(frozen=True)
class DepthMap:
    """The output levels, plus what the mask and callers need to know about them."""

    levels: np.ndarray  # uint8/uint16 HxW, near = top (or 0 when inverted)
    background: np.ndarray  # bool HxW, True at the far level (before noise)
    near: float
    far: float

    def mask_image(self) -> np.ndarray:
        """Two-tone uint8 mask: white where nearer than the far level, black at the far level."""
        return np.logical_not(self.background).view(np.uint8) * np.uint8(255)


@dataclass(frozen=True)
class Scan:
    """Where the depth is: the valid pixels and their range, found once and shared by the
    histogram and the map (each pass over a 4096x4096 float image costs ~5-15 ms)."""

    valid: np.ndarray  # bool HxW
    near: float
    far: float


def scan_depth(
    depth: np.ndarray,
    background_above: float = DEFAULT_BACKGROUND_ABOVE,
    path: str | None = None,
    *,
    allow_empty: bool = False,
) -> Scan:
    """Valid mask (finite, |depth| <= the limit; NaN/inf fail both tests) and the valid range, in
    one pass over row blocks while each block is in cache.

    A frame of a sequence may be all background (a fade to black): `allow_empty` gives it the
    empty range (near = inf, far = -inf) instead of an error."""
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    valid = np.empty(depth.shape, dtype=bool)
    ranges: list[tuple[float, float]] = []
    lock = threading.Lock()

    def block(rows: slice) -> None:
        part, values = valid[rows], depth[rows]
        with np.errstate(invalid="ignore"):
            np.less_equal(values, background_above, out=part)
            part &= values >= -background_above
        if part.any():
            low, high, _, _ = cv2.minMaxLoc(values.reshape(values.shape[0], -1), part.view(np.uint8))
            with lock:
                ranges.append((low, high))

    for_each_block(block, depth.shape)
    if not ranges:
        if allow_empty:
            return Scan(valid, math.inf, -math.inf)
        raise DepthError("no depth in the image: every pixel is background (NaN, inf or too far)", path)
    return Scan(valid, float(min(r[0] for r in ranges)), float(max(r[1] for r in ranges)))


def valid_mask(depth: np.ndarray, background_above: float = DEFAULT_BACKGROUND_ABOVE) -> np.ndarray:
    """True where a surface was hit: finite and |depth| <= the background limit."""
    with np.errstate(invalid="ignore"):
        return (depth <= background_above) & (depth >= -background_above)


def depth_range(depth: np.ndarray, valid: np.ndarray, path: str | None = None) -> tuple[float, float]:
    """(nearest, farthest) valid depth, without copying the valid pixels out."""
    if not valid.any():
        raise DepthError("no depth in the image: every pixel is background (NaN, inf or too far)", path)
    return float(np.min(depth, where=valid, initial=np.inf)), float(np.max(depth, where=valid, initial=-np.inf))


def histogram(
    depth: np.ndarray,
    scan: Scan | None = None,
    background_above: float = DEFAULT_BACKGROUND_ABOVE,
    buckets: int = HISTOGRAM_BUCKETS,
    path: str | None = None,
) -> Histogram:
    """20 equal buckets between the nearest and farthest valid depth, with cut suggestions.

    cv2.calcHist (twice as fast as np.histogram) excludes its upper bound, so the pixels equal
    to the max are added to the last bucket: the seed lost them.
    """
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    if scan is None:
        scan = scan_depth(depth, background_above, path)
    valid, near, far = scan.valid, scan.near, scan.far
    counts = np.zeros(buckets, np.int64)
    at_max = np.float32(far)
    mask = valid.view(np.uint8)
    lock = threading.Lock()

    def block(rows: slice) -> None:
        part = np.zeros(buckets, np.int64)
        if far > near:
            hist = cv2.calcHist([depth[rows]], [0], mask[rows], [buckets], [near, far])
            part += hist.ravel().astype(np.int64)
        part[-1] += np.count_nonzero(depth[rows] == at_max)
        with lock:
            counts.__iadd__(part)

    for_each_block(block, depth.shape)
    return histogram_from_counts(near, far, counts, depth.size)


def histogram_from_counts(near: float, far: float, counts: np.ndarray, total: int) -> Histogram:
    """The Histogram (edges, shares, suggestions) of bucket counts between `near` and `far`: one
    image's, or the sum over the frames of a sequence (`levels`)."""
    buckets = len(counts)
    edges = near + (far - near) * np.arange(buckets + 1, dtype=np.float64) / buckets
    shares = counts / max(int(counts.sum()), 1)
    return Histogram(edges, np.asarray(counts, np.int64), total, suggest_cuts(edges[:-1], shares))


def suggest_cuts(lower_edges: np.ndarray, shares: np.ndarray, empty: float = EMPTY_BUCKET_SHARE) -> tuple[float, ...]:
    """Lower edges where a run of near-empty buckets begins right after an occupied cluster.

    `shares` are fractions of the valid pixels. Cutting there drops the empty span (and all
    beyond it) from the map, which is what the seed's author did by eye.
    """
    occupied = np.asarray(shares) >= empty
    starts = np.flatnonzero(occupied[:-1] & ~occupied[1:]) + 1
    return tuple(float(lower_edges[i]) for i in starts)


def _levels_from_depth(
    depth: np.ndarray, valid: np.ndarray, near: float, far: float, top: int, out_dtype: type
) -> np.ndarray:
    """Levels 0..top as `out_dtype`, rounded: near -> top, far (and beyond, and background) -> 0.

    Computed block by block (see blocks.py) so no full-size float copy is made. float32 keeps it
    fast; a depth range so narrow that top/range overflows float32 is computed in float64.
    """
    scale = top / (far - near) if far > near else 0.0
    ftype = np.float32 if scale < 1e30 else np.float64
    out = np.empty(depth.shape, dtype=out_dtype)

    def block(rows: slice) -> None:
        levels = np.minimum(depth[rows], ftype(far), dtype=ftype)
        np.copyto(levels, ftype(far), where=~valid[rows])
        np.subtract(ftype(far), levels, out=levels)
        if far > near:
            levels *= ftype(scale)
            np.minimum(levels, ftype(top), out=levels)  # guards float rounding at the near end
        else:  # one depth only: everything valid is as near as it gets
            levels[valid[rows]] = top
        np.rint(levels, out=levels)
        out[rows] = levels

    for_each_block(block, depth.shape)
    return out


def compress_steps(depth: np.ndarray, valid: np.ndarray, near: float, far: float) -> np.ndarray:
    """Depths quantised to the COMPRESS_STEPS steps between near and far (uint16, far and
    background -> 0): what compress ranks."""
    return _levels_from_depth(depth, valid, near, far, COMPRESS_STEPS - 1, np.uint16)


def occupied_steps(steps: np.ndarray) -> np.ndarray:
    """bool[COMPRESS_STEPS]: which steps hold a pixel (a sequence ORs these over its frames)."""
    return cv2.calcHist([steps], [0], None, [COMPRESS_STEPS], [0, COMPRESS_STEPS]).ravel() > 0


def _compress(steps: np.ndarray, top: int, dtype: type, occupied: np.ndarray | None = None) -> np.ndarray:
    """Remove empty depth ranges: rank the occupied quantised depths and spread the ranks evenly
    over 0..top (farthest occupied -> 0, nearest -> top).

    `steps` are uint16 in 0..COMPRESS_STEPS-1 with background already at 0; step 0 always holds
    the farthest valid pixel, so background shares its level without being counted apart.
    `occupied` (a sequence's, over all its frames) replaces this image's own occupied steps.
    """
    if occupied is None:
        occupied = occupied_steps(steps)
    rank = np.cumsum(occupied, dtype=np.int64) - 1
    count = int(rank[-1]) + 1
    if count > 1:
        lut = np.rint(rank * (top / (count - 1)))
        # only the farthest occupied depth keeps the far level: with more occupied depths than
        # levels, its next neighbours would round to 0 too and vanish into the mask's background
        np.maximum(lut, np.minimum(rank, 1), out=lut)
    else:
        lut = np.full(rank.shape, top)
    lut = lut.astype(dtype)
    out = np.empty(steps.shape, dtype=dtype)

    def block(rows: slice) -> None:
        np.take(lut, steps[rows], out=out[rows])

    for_each_block(block, steps.shape)
    return out


def check_cutoff(cutoff: float | None, near: float, path: str | None = None) -> None:
    if cutoff is not None and not cutoff > near:
        raise OptionsError(
            f"cutoff {cutoff:g} is at or below the nearest depth ({near:g}): nothing would be left; "
            "use a larger cutoff",
            path,
        )


def make_depth_map(
    depth: np.ndarray,
    options: DepthOptions = DepthOptions(),
    path: str | None = None,
    scan: Scan | None = None,
    occupied: np.ndarray | None = None,
) -> DepthMap:
    """Apply cutoff, normalise (or compress), noise and invert; `path` only labels errors.
    `scan` is `scan_depth(depth, options.background_above)` when the caller already has it.

    A sequence passes a Scan with this frame's valid mask but the whole sequence's near and far,
    and (compress) the steps occupied in any of its frames: one mapping for every frame."""
    if depth.ndim != 2 or depth.size == 0:
        raise DepthError(f"depth must be a non-empty 2-D array, got shape {depth.shape}", path)
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    if scan is None:
        scan = scan_depth(depth, options.background_above, path)
    valid, near, max_depth = scan.valid, scan.near, scan.far
    check_cutoff(options.cutoff, near, path)
    far = max_depth if options.cutoff is None else min(max_depth, float(options.cutoff))
    top = options.top
    if options.compress:
        steps = compress_steps(depth, valid, near, far)
        levels = _compress(steps, top, options.dtype, occupied)
        del steps
    else:
        levels = _levels_from_depth(depth, valid, near, far, top, options.dtype)
    background = np.empty(levels.shape, dtype=bool)
    for_each_block(lambda rows: np.equal(levels[rows], 0, out=background[rows]), levels.shape)
    if options.noise:
        add_noise(levels, background, options.seed, top)
    if options.invert:
        np.subtract(options.dtype(top), levels, out=levels)
    return DepthMap(levels, background, near, far)


def add_noise(levels: np.ndarray, background: np.ndarray, seed: int, top: int) -> None:
    """Replace far-level pixels by uniform noise over the whole range; same seed, same bytes."""
    rng = np.random.default_rng(seed)
    count = int(np.count_nonzero(background))
    levels[background] = rng.integers(0, top, size=count, dtype=levels.dtype, endpoint=True)
