"""Properties of the depth map that must hold for any depth data (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib_depth.depth.process import DepthOptions, make_depth_map

finite_depth = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)
background = st.sampled_from([np.inf, -np.inf, np.nan, 1e10])


@st.composite
def depth_images(draw: st.DrawFn) -> np.ndarray:
    """Small 2-D depth arrays with at least one valid pixel and maybe some background."""
    shape = draw(st.tuples(st.integers(1, 12), st.integers(1, 12)))
    depth = draw(arrays(np.float32, shape, elements=finite_depth))
    holes = draw(arrays(np.bool_, shape))
    holes.flat[0] = False
    depth[holes] = draw(background)
    return depth


options_strategy = st.builds(
    DepthOptions,
    compress=st.booleans(),
    bits=st.sampled_from([8, 16]),
)


def _levels_by_depth(depth: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    valid = np.isfinite(depth) & (np.abs(depth) <= 1e9)
    order = np.argsort(depth[valid], kind="stable")
    return depth[valid][order], levels[valid][order].astype(np.int64)


@settings(max_examples=150, deadline=None)
@given(depth_images(), options_strategy, st.booleans())
def test_nearer_pixel_is_never_darker(depth: np.ndarray, options: DepthOptions, use_cutoff: bool) -> None:
    if use_cutoff:
        valid = depth[np.isfinite(depth) & (np.abs(depth) <= 1e9)]
        if valid.max() > valid.min():
            options = DepthOptions(cutoff=float(np.median(valid)) + 1e-3, compress=options.compress, bits=options.bits)
    if options.cutoff is not None and options.cutoff <= float(np.nanmin(np.where(np.isfinite(depth), depth, np.nan))):
        return
    levels = make_depth_map(depth, options).levels
    ordered_depth, ordered_levels = _levels_by_depth(depth, levels)
    assert np.all(np.diff(ordered_levels) <= 0), "a farther pixel got a brighter level"
    # equal depths get equal levels
    same = np.diff(ordered_depth) == 0
    assert np.all(np.diff(ordered_levels)[same] == 0)


@settings(max_examples=150, deadline=None)
@given(depth_images(), options_strategy)
def test_levels_stay_in_range_and_span_it(depth: np.ndarray, options: DepthOptions) -> None:
    result = make_depth_map(depth, options)
    levels = result.levels
    assert levels.dtype == options.dtype and levels.shape == depth.shape
    ordered_depth, ordered_levels = _levels_by_depth(depth, levels)
    assert ordered_levels[0] == options.top  # the nearest valid pixel is white
    if ordered_depth[-1] > ordered_depth[0]:
        assert ordered_levels[-1] == 0  # the farthest is black
    invalid = ~(np.isfinite(depth) & (np.abs(depth) <= 1e9))
    assert np.all(levels[invalid] == 0)


@settings(max_examples=100, deadline=None)
@given(depth_images(), st.sampled_from([8, 16]))
def test_compress_uses_whole_range_and_keeps_order(depth: np.ndarray, bits: int) -> None:
    compressed = make_depth_map(depth, DepthOptions(compress=True, bits=bits)).levels
    plain = make_depth_map(depth, DepthOptions(bits=bits)).levels
    top = (1 << bits) - 1
    _, c_levels = _levels_by_depth(depth, compressed)
    _, p_levels = _levels_by_depth(depth, plain)
    distinct = np.unique(c_levels)
    if len(distinct) > 1:
        assert distinct[0] == 0 and distinct[-1] == top
    # compression may separate depths plain normalisation merged, never merge what it kept apart
    assert len(distinct) >= len(np.unique(p_levels))
    assert np.all(np.diff(c_levels) <= 0)


@settings(max_examples=60, deadline=None)
@given(depth_images(), st.integers(0, 2**31 - 1), st.sampled_from([8, 16]))
def test_same_seed_same_bytes_and_mask_agrees_with_noise(depth: np.ndarray, seed: int, bits: int) -> None:
    options = DepthOptions(noise=True, seed=seed, bits=bits)
    first = make_depth_map(depth, options)
    second = make_depth_map(depth.copy(), options)
    assert first.levels.tobytes() == second.levels.tobytes()
    quiet = make_depth_map(depth, DepthOptions(bits=bits))
    mask = first.mask_image()
    assert set(np.unique(mask)) <= {0, 255}
    # noise only where the mask is black; the mask is black exactly at the far level
    np.testing.assert_array_equal(first.levels[mask == 255], quiet.levels[mask == 255])
    np.testing.assert_array_equal(mask == 0, quiet.levels == 0)
