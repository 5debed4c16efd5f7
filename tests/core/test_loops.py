"""The compiled loops of the dose engine and the DVHs against the numpy expressions they replace, bit for bit.

Each loop (:mod:`hbiview.loops`) promises the same float32 operations in the same order as a numpy
expression; equality is exact (``assert_array_equal``), not within a tolerance. The trilinear sampler is
also checked against its peer, ``scipy.ndimage.map_coordinates(order=1)``, to float32 rounding; the DVHs'
separable sampler is compared with map_coordinates bit for bit in ``tests/dvh/test_dvh_kept_plans.py``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from hbiview import loops

RNG = np.random.default_rng(20261204)


def _numpy_taps(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The engine's numpy linear taps (before the loops were compiled)."""
    valid = (index >= 0.0) & (index <= n - 1)
    below = np.clip(np.floor(index).astype(np.intp), 0, max(n - 2, 0))
    frac = np.clip(index - below, 0.0, 1.0)
    return (
        below,
        np.where(valid, 1.0 - frac, 0.0).astype(np.float32),
        np.where(valid, frac, 0.0).astype(np.float32),
    )


def test_linear_taps_inside_match_numpy_and_outside_weigh_nothing() -> None:
    n = 7
    index = np.concatenate([RNG.uniform(0.0, n - 1, 200), [0.0, n - 1.0, 3.0, -0.5, n - 0.5, -30.0, 1e4]])
    below, w0, w1 = loops.linear_taps(index, n)
    ref_below, ref_w0, ref_w1 = _numpy_taps(index, n)
    inside = (index >= 0) & (index <= n - 1)
    np.testing.assert_array_equal(below[inside], ref_below[inside])
    np.testing.assert_array_equal(w0, ref_w0)
    np.testing.assert_array_equal(w1, ref_w1)
    assert np.all((below >= 0) & (below <= n - 2))  # safe to read below + 1 even where the weights are 0
    # the last sample is reached from the pair below it: weight 1 on the upper neighbour
    assert below[-6] == n - 2 and w1[-6] == 1.0


def test_sample_planes_is_trilinear_interpolation() -> None:
    dose = RNG.random((9, 11, 13), dtype=np.float32)
    k, r, c = 5, 17, 19
    iw = np.sort(RNG.uniform(-1.0, 9.0, k))  # some planes outside the grid
    iv = RNG.uniform(-1.0, 11.0, (k, r))
    iu = RNG.uniform(-1.0, 13.0, (k, c))
    out = np.zeros((k, r, c), dtype=np.float32)
    loops.sample_planes(dose, iw, iv, iu, out)

    # numpy, one axis at a time (the engine's former way): the same float32 values
    taps_w = _numpy_taps(iw, 9)
    across = dose[taps_w[0]] * taps_w[1][:, None, None] + dose[taps_w[0] + 1] * taps_w[2][:, None, None]
    expected = np.empty_like(out)
    for p in range(k):
        b, w0, w1 = _numpy_taps(iv[p], 11)
        rows = across[p][b] * w0[:, None]
        rows += across[p][b + 1] * w1[:, None]
        b, w0, w1 = _numpy_taps(iu[p], 13)
        expected[p] = rows[:, b] * w0[None, :]
        expected[p] += rows[:, b + 1] * w1[None, :]
    np.testing.assert_array_equal(out, expected)

    # the peer: map_coordinates, order 1, 0 outside; float32 rounding of three steps apart
    points = np.stack(np.broadcast_arrays(iw[:, None, None], iv[:, :, None], iu[:, None, :]))
    peer = ndimage.map_coordinates(dose, points, order=1, mode="constant", cval=0.0, prefilter=False)
    np.testing.assert_allclose(out, peer, rtol=0, atol=2e-6)


def test_sample_planes_writes_into_a_transposed_view() -> None:
    dose = RNG.random((4, 5, 6), dtype=np.float32)
    iw, iv, iu = np.array([0.5, 2.25]), RNG.uniform(0, 4, (2, 3)), RNG.uniform(0, 5, (2, 4))
    compact = np.zeros((2, 3, 4), dtype=np.float32)
    loops.sample_planes(dose, iw, iv, iu, compact)
    grid = np.zeros((3, 2, 4), dtype=np.float32)  # (rows, planes, columns), as the dose grid is laid out
    loops.sample_planes(dose, iw, iv, iu, grid.transpose(1, 0, 2))
    np.testing.assert_array_equal(grid.transpose(1, 0, 2), compact)


def test_between_layers_and_the_density_corrections_match_numpy() -> None:
    layers, plane, voxels = 6, 40, 500
    ratio = RNG.random(layers * plane, dtype=np.float32)
    lower_index = RNG.integers(0, (layers - 1) * plane, voxels)
    frac = RNG.random(voxels, dtype=np.float32)
    got = loops.between_layers(ratio, lower_index, frac, plane)
    expected = ratio[lower_index]
    expected += frac * (ratio[plane:][lower_index] - expected)
    np.testing.assert_array_equal(got, expected)

    where = np.sort(RNG.choice(voxels, 120, replace=False))
    at = np.sort(RNG.choice(len(where), 80, replace=False))  # no repeats, as the engine's voxel sets
    weight, step = RNG.random(80, dtype=np.float32), RNG.random(80, dtype=np.float32)
    below = RNG.integers(0, (layers - 1) * plane, 80)
    value = np.zeros(len(where), dtype=np.float32)
    loops.add_level(value, ratio, plane, at, weight, below, step)
    loops.add_at(got, where, value)
    ref_value = np.zeros(len(where), dtype=np.float32)
    low = ratio[below]
    ref_value[at] += weight * (low + step * (ratio[plane:][below] - low))
    expected[where] += ref_value
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("samples", [np.array([0]), np.array([2, 5, 9]), np.array([0, 3, 4, 11])])
def test_subtract_missing_interpolates_between_the_sampled_slices(samples: np.ndarray) -> None:
    nw = 12
    shape_ratio = RNG.random((nw, 3, 4), dtype=np.float32)
    fine = RNG.random((len(samples), 3, 4), dtype=np.float32) * np.float32(0.8)
    got = shape_ratio.copy()
    loops.subtract_missing(got, fine, samples)
    expected = shape_ratio.copy()
    bounds = np.r_[0, samples[1:], nw]
    for j in range(len(samples)):
        i0, i1 = int(bounds[j]), int(bounds[j + 1])
        if j + 1 == len(samples):
            expected[i0:i1] -= fine[j]
        elif i1 > i0:
            f = ((np.arange(i0, i1) - samples[j]) / (samples[j + 1] - samples[j])).astype(np.float32)
            f = f[:, None, None]
            expected[i0:i1] -= (1 - f) * fine[j] + f * fine[j + 1]
    np.maximum(expected, 0.0, out=expected)
    np.testing.assert_array_equal(got, expected)
    assert got.min() >= 0.0


def test_upsample_matches_numpy_bilinear() -> None:
    coarse = RNG.random((3, 8, 10), dtype=np.float32)
    iy, ix = RNG.integers(0, 7, 15), RNG.integers(0, 9, 19)
    wy, wx = RNG.random(15, dtype=np.float32), RNG.random(19, dtype=np.float32)
    got = np.empty((3, 15, 19), dtype=np.float32)
    loops.upsample(coarse, iy, wy, ix, wx, got)
    rows = coarse[..., iy, :] * (1.0 - wy)[:, None] + coarse[..., iy + 1, :] * wy[:, None]
    expected = rows[..., ix] * (1.0 - wx)[None, :] + rows[..., ix + 1] * wx[None, :]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("contaminated", [False, True])
def test_ratio_to_dose_matches_numpy(contaminated: bool) -> None:
    shape = (5, 6, 7)
    ratio = RNG.random(shape, dtype=np.float32)
    broad = RNG.random(shape, dtype=np.float32)
    inverse_square = RNG.random(shape[0], dtype=np.float32)
    calibration = np.float32(0.0123)
    spread = RNG.random(shape[1:], dtype=np.float32) if contaminated else None
    depth = RNG.random(shape, dtype=np.float32) if contaminated else None
    expected = broad * ratio * calibration
    if spread is not None:
        expected += np.float32(0.02) * spread[None, :, :] * depth
    expected *= inverse_square[:, None, None]
    got = ratio.copy()
    loops.ratio_to_dose(
        got, broad, calibration, inverse_square, None if spread is None else np.float32(0.02) * spread, depth
    )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("weighted", [False, True])
def test_dose_bins_match_bincount(weighted: bool) -> None:
    # doses on bin edges too (0.29 / 0.01 is 28.999999999999996: the guard puts it on the edge)
    values = np.concatenate([RNG.uniform(0.0, 8.0, 5000), [0.0, 0.29, 0.3, 8.0]])
    weights = RNG.random(values.size) if weighted else None
    width, guard = 0.01, 1e-6
    nbins = int(np.floor(values.max() / width + guard)) + 1
    counts, summed = loops.dose_bins(values, weights, width, guard, nbins)
    index = np.minimum((values / width + guard).astype(np.int64), nbins - 1)
    np.testing.assert_array_equal(counts, np.bincount(index, minlength=nbins))
    assert counts[29] >= 1 and counts.sum() == values.size
    if weights is not None:
        np.testing.assert_array_equal(summed, np.bincount(index, weights=weights, minlength=nbins))
    with pytest.raises(ValueError, match="negative dose"):
        loops.dose_bins(np.array([-1.0]), None, width, guard, 1)


@pytest.mark.parametrize("masked", [False, True])
def test_weighted_sum_matches_numpy(masked: bool) -> None:
    grids = tuple(RNG.random(600, dtype=np.float32) for _ in range(3))
    weights = np.array([0.7, 1.3, 0.25], dtype=np.float32)
    inside = RNG.random(600) < 0.6 if masked else None
    factor = np.float32(2.0)
    got = np.empty(600, dtype=np.float32)
    loops.weighted_sum(grids, weights, inside, factor, got)
    # the engine's numpy before: each beam weighted in place, added in order, zero outside, then the fractions
    expected = grids[0] * weights[0]
    for grid, weight in zip(grids[1:], weights[1:]):
        expected += grid * weight
    if inside is not None:
        np.copyto(expected, np.float32(0.0), where=~inside)
    expected *= factor
    np.testing.assert_array_equal(got, expected)


def test_the_loops_import_and_run_where_nothing_can_be_cached() -> None:
    # a read-only install run by a user without a home: numba finds no place for its cache (simulated by
    # giving it no cache locators, in a process of its own); the loops are then compiled without caching
    code = (
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []\n"
        "import numpy as np\n"
        "from hbiview import loops\n"
        "got = loops.between_layers(np.arange(6, dtype=np.float32), np.array([0, 1]), "
        "np.full(2, 0.5, dtype=np.float32), 3)\n"
        "print(got.tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.5, 2.5]"  # halfway between 0 and 3, and between 1 and 4
