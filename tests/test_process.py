"""Unit tests of the depth semantics in docs/architecture.md, one behaviour each."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lib_depth.depth.errors import DepthError
from lib_depth.depth.process import (
    DepthOptions,
    depth_range,
    histogram,
    make_depth_map,
    scan_depth,
    suggest_cuts,
    valid_mask,
)
from lib_depth.depth.sample import SECOND_SUBJECT_DEPTH, SUBJECT_DEPTH, synthetic_scene

# The seed README's two real 'histo' printouts: share % per bucket, first lower edge, bucket width,
# and the cut its author chose by eye. Shares are of all pixels; they sum to less than 100 %
# because the seed dropped every pixel equal to the max (the back wall), which we count.
SEED_SURFER_ONE = (
    [0.88, 1.02, 0.97, 0.78, 2.10, 5.03, 4.53, 0.82, 0.06, 0.05,
     0.04, 0.04, 0.03, 0.04, 0.04, 0.04, 0.05, 0.06, 0.08, 83.13],
    189.8212127685547, 11.358965301513672, 280.69293518066405,
)
SEED_SURFER_TWO = (
    [18.14, 7.13, 0.11, 0.06, 0.04, 0.03, 0.03, 0.03, 0.03, 0.02,
     1.76, 6.39, 1.99, 0.11, 0.09, 0.08, 0.08, 0.10, 0.13, 1.62],
    286.2854309082031, 17.535494995117188, 321.3564178466797,
)


def test_valid_mask_rejects_nan_inf_and_beyond_limit() -> None:
    depth = np.array([1.0, np.nan, np.inf, -np.inf, 1e10, -1e10, 1e9, 0.0], np.float32)
    assert valid_mask(depth, 1e9).tolist() == [True, False, False, False, False, False, True, True]
    assert valid_mask(depth, 0.5).tolist() == [False, False, False, False, False, False, False, True]


def test_all_background_is_a_clear_error() -> None:
    depth = np.full((2, 2), np.inf, np.float32)
    with pytest.raises(DepthError, match="every pixel is background"):
        make_depth_map(depth, path="x.exr")


def test_depth_range_ignores_background() -> None:
    depth = np.array([[5.0, np.nan], [2.0, 1e12]], np.float32)
    assert depth_range(depth, valid_mask(depth)) == (2.0, 5.0)


def test_near_is_white_far_is_black_with_rounding() -> None:
    depth = np.array([[0.0, 1.0, 7.0]], np.float32)
    levels = make_depth_map(depth).levels
    assert levels.dtype == np.uint8
    # (7 - 1) / 7 * 255 = 218.57: rounding gives 219, truncation would give 218
    assert levels.tolist() == [[255, 219, 0]]


def test_background_takes_the_far_level() -> None:
    depth = np.array([[1.0, np.inf, np.nan, 3.0, 1e10]], np.float32)
    result = make_depth_map(depth)
    assert result.levels.tolist() == [[255, 0, 0, 0, 0]]
    assert result.background.tolist() == [[False, True, True, True, True]]


def test_flat_image_does_not_divide_by_zero() -> None:
    depth = np.array([[4.0, 4.0], [np.inf, 4.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = make_depth_map(depth).levels
        compressed = make_depth_map(depth, DepthOptions(compress=True)).levels
    assert plain.tolist() == [[255, 255], [0, 255]]
    np.testing.assert_array_equal(compressed, plain)


def test_sixteen_bits_use_the_whole_range() -> None:
    depth = np.array([[1.0, 2.0, 3.0]], np.float32)
    levels = make_depth_map(depth, DepthOptions(bits=16)).levels
    assert levels.dtype == np.uint16
    assert levels.tolist() == [[65535, 32768, 0]]  # 32767.5 rounds to even


def test_invert_puts_near_at_black() -> None:
    depth = np.array([[1.0, 2.0, np.inf]], np.float32)
    levels = make_depth_map(depth, DepthOptions(invert=True)).levels
    assert levels.tolist() == [[0, 255, 255]]


def test_cutoff_clamps_everything_beyond_to_far() -> None:
    depth = np.array([[100.0, 150.0, 200.0, 600.0]], np.float32)
    result = make_depth_map(depth, DepthOptions(cutoff=200.0))
    assert result.levels.tolist() == [[255, 128, 0, 0]]
    assert result.far == 200.0 and result.near == 100.0


def test_cutoff_beyond_max_changes_nothing() -> None:
    depth = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_array_equal(
        make_depth_map(depth, DepthOptions(cutoff=50.0)).levels, make_depth_map(depth).levels
    )


def test_zero_is_a_valid_cutoff() -> None:
    depth = np.array([[-4.0, -2.0, 0.0, 3.0]], np.float32)
    levels = make_depth_map(depth, DepthOptions(cutoff=0.0)).levels
    assert levels.tolist() == [[255, 128, 0, 0]]


@pytest.mark.parametrize("cutoff", [1.0, 0.5])
def test_cutoff_at_or_below_nearest_is_a_clear_error(cutoff: float) -> None:
    depth = np.array([[1.0, 2.0]], np.float32)
    with pytest.raises(DepthError, match="at or below the nearest depth") as err:
        make_depth_map(depth, DepthOptions(cutoff=cutoff), path="scene.exr")
    assert str(err.value).startswith("scene.exr: ")


def test_compress_spreads_ranks_evenly_instead_of_packing_near_white() -> None:
    # the seed packed 3 distinct depths into 255, 254, 253; the contract spreads them
    depth = np.array([[1.0, 2.0, 1000.0]], np.float32)
    levels = make_depth_map(depth, DepthOptions(compress=True)).levels
    assert levels.tolist() == [[255, 128, 0]]


def test_compress_removes_empty_ranges_keeping_order() -> None:
    near = np.linspace(10, 11, 50, dtype=np.float32)
    far = np.linspace(500, 501, 50, dtype=np.float32)
    depth = np.concatenate([near, far])[None, :]
    plain = make_depth_map(depth).levels.ravel().astype(int)
    compressed = make_depth_map(depth, DepthOptions(compress=True)).levels.ravel().astype(int)
    assert np.all(np.diff(compressed) <= 0)  # farther never brighter
    assert compressed[0] == 255 and compressed[-1] == 0
    # the near cluster gets ~half of the levels instead of ~1 %
    assert np.ptp(compressed[:50]) > 100 and np.ptp(plain[:50]) < 3


def test_compress_with_cutoff_and_background() -> None:
    depth = np.array([[1.0, 2.0, 3.0, 50.0, np.inf]], np.float32)
    levels = make_depth_map(depth, DepthOptions(compress=True, cutoff=3.0)).levels
    assert levels.tolist() == [[255, 128, 0, 0, 0]]


def test_noise_fills_only_the_far_level_and_is_seeded() -> None:
    depth = synthetic_scene(64, 48)
    quiet = make_depth_map(depth)
    noisy = make_depth_map(depth, DepthOptions(noise=True, seed=7))
    again = make_depth_map(depth, DepthOptions(noise=True, seed=7))
    other = make_depth_map(depth, DepthOptions(noise=True, seed=8))
    bg = quiet.background
    np.testing.assert_array_equal(noisy.levels[~bg], quiet.levels[~bg])
    assert noisy.levels.tobytes() == again.levels.tobytes()
    assert noisy.levels.tobytes() != other.levels.tobytes()
    noise = noisy.levels[bg]
    assert noise.min() < 10 and noise.max() > 245 and 100 < noise.mean() < 155


def test_mask_is_white_on_subject_black_at_far_level_before_noise() -> None:
    depth = np.array([[1.0, 2.0, np.inf, 2.0]], np.float32)
    result = make_depth_map(depth, DepthOptions(noise=True))
    assert result.mask_image().tolist() == [[255, 0, 0, 0]]
    assert result.mask_image().dtype == np.uint8


def test_options_reject_bad_bits() -> None:
    with pytest.raises(DepthError, match="bits must be 8 or 16"):
        DepthOptions(bits=12)


def test_histogram_counts_the_max_and_uses_seed_edges() -> None:
    depth = np.array([[0.0, 1.0, 2.0, 10.0, 10.0, np.inf]], np.float32)
    hist = histogram(depth)
    assert len(hist.counts) == 20 and len(hist.edges) == 21
    assert hist.counts.sum() == 5  # both pixels equal to the max are counted (the seed lost them)
    assert hist.counts[-1] == 2 and hist.counts[0] == 1 and hist.counts[2] == 1 and hist.counts[4] == 1
    assert hist.edges[1] == pytest.approx(0.5) and hist.edges[-1] == pytest.approx(10.0)
    assert hist.shares.sum() == pytest.approx(5 / 6)  # shares are of all pixels, background included


def test_histogram_lines_use_the_seed_format() -> None:
    depth = np.array([[0.0, 20.0]], np.float32)
    lines = histogram(depth).lines()
    assert lines[0] == "** - 00 - 50.00% - 0.0"
    assert lines[1] == "** - 01 - 0.00% - 1.0"
    assert lines[19] == "** - 19 - 50.00% - 19.0"


def test_flat_histogram_puts_everything_in_one_bucket() -> None:
    hist = histogram(np.full((3, 3), 2.0, np.float32))
    assert hist.counts.sum() == 9 and hist.suggestions == ()


@pytest.mark.parametrize("table", [SEED_SURFER_ONE, SEED_SURFER_TWO], ids=["surfer-one", "surfer-two"])
def test_suggestions_find_the_seed_authors_cuts_from_the_tables(table: tuple) -> None:
    shares_pct, first_edge, step, chosen = table
    edges = first_edge + step * np.arange(20)
    shares = np.array(shares_pct) / 100
    shares[-1] += 1 - shares.sum()  # the pixels at the max, which the seed's printout lost
    suggestions = suggest_cuts(edges, shares)
    assert any(abs(s - chosen) < 0.01 for s in suggestions), suggestions


@pytest.mark.parametrize("table", [SEED_SURFER_ONE, SEED_SURFER_TWO], ids=["surfer-one", "surfer-two"])
def test_suggestions_find_the_seed_authors_cuts_from_pixels(table: tuple) -> None:
    """Rebuild depth pixels whose histogram matches the seed's printout, then run the real thing."""
    shares_pct, first_edge, step, chosen = table
    rng = np.random.default_rng(0)
    total = 200_000
    far = first_edge + 20 * step
    at_max = round((100 - sum(shares_pct)) / 100 * total)  # what the seed's printout lost
    parts = [np.array([first_edge], np.float32), np.full(at_max + 1, far, np.float32)]
    for i, share in enumerate(shares_pct):
        count = round(share / 100 * total)
        low = first_edge + step * i
        parts.append(rng.uniform(low + 0.01 * step, low + 0.99 * step, size=count).astype(np.float32))
    depth = np.concatenate(parts)[None, :]
    hist = histogram(depth)
    np.testing.assert_allclose(hist.edges[:-1], first_edge + step * np.arange(20), rtol=1e-6)
    np.testing.assert_allclose(hist.shares[:-1] * 100, shares_pct[:-1], atol=0.01)
    assert hist.shares[-1] * 100 == pytest.approx(100 - sum(shares_pct[:-1]), abs=0.01)
    assert any(abs(s - chosen) < 0.01 for s in hist.suggestions), hist.suggestions


def test_suggestions_on_the_sample_scene_separate_the_subjects() -> None:
    hist = histogram(synthetic_scene(192, 128))
    assert hist.suggestions, "the sample has empty ranges between its subjects"
    first = hist.suggestions[0]
    assert SUBJECT_DEPTH[1] <= first + 25 and first < SECOND_SUBJECT_DEPTH[0]
    assert hist.as_dict()["suggestions"] == list(hist.suggestions)


def test_make_depth_map_rejects_non_2d() -> None:
    with pytest.raises(DepthError, match="non-empty 2-D"):
        make_depth_map(np.zeros((0, 3), np.float32))


def test_compress_keeps_the_far_level_for_the_farthest_depth_only() -> None:
    # 1000 distinct depths into 256 levels: the ones next to the farthest must not round to 0,
    # or they would drop out of the mask as background
    depth = np.linspace(1.0, 2.0, 1000, dtype=np.float32)[None, :]
    result = make_depth_map(depth, DepthOptions(compress=True))
    assert np.count_nonzero(result.background) == 1 and result.levels[0, -1] == 0
    assert result.levels[0, -2] == 1 and result.levels[0, 0] == 255


def test_blockwise_passes_match_plain_numpy_on_a_large_image(rng: np.random.Generator) -> None:
    """Several row blocks run in threads (blocks.py): results must equal one-shot numpy."""
    depth = rng.uniform(10, 500, size=(1100, 700)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = np.inf
    depth[rng.random(depth.shape) < 0.05] = np.nan
    depth[5, 5] = -1e12
    scan = scan_depth(depth)
    plain_valid = np.isfinite(depth) & (np.abs(depth) <= 1e9)
    np.testing.assert_array_equal(scan.valid, plain_valid)
    assert (scan.near, scan.far) == (float(depth[plain_valid].min()), float(depth[plain_valid].max()))
    hist = histogram(depth, scan)
    counts, _ = np.histogram(depth[plain_valid], bins=20, range=(scan.near, scan.far))
    assert np.abs(hist.counts - counts).sum() <= 4  # float32 vs float64 edges may move a pixel
    assert hist.counts.sum() == plain_valid.sum()
    levels = make_depth_map(depth, DepthOptions(cutoff=300.0), scan=scan).levels
    expected = np.rint((300.0 - np.minimum(depth, 300.0)) / (300.0 - scan.near) * 255)
    expected[~plain_valid] = 0
    assert np.abs(levels.astype(int) - expected).max() <= 1 and np.mean(levels == expected) > 0.999
