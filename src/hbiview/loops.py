"""Compiled loops (numba): the per-voxel work of the dose engine and of the DVHs' samples, one pass each.

numpy would do each of these in several passes over arrays of a million voxels, with a temporary array for
every step, holding the interpreter lock between them. Compiled, each is one pass that keeps its data in the
processor's cache, and runs without the interpreter lock, so the beams' threads compute at the same time (and
the live viewer's DVHs while it draws).

Each loop does the same float32 operations (float64 for the DVHs' samples, as scipy) in the same order as the
numpy expression named in its docstring (no fused multiply-adds: numba's default, ``fastmath=False``), so the
results are the same bit for bit; the tests compare them with that expression. The first call compiles them
(a few seconds, once: the machine code is cached beside this file, or in numba's cache directory where that
is not writable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

__all__ = [
    "add_at",
    "add_level",
    "between_layers",
    "dose_bins",
    "linear_taps",
    "ratio_to_dose",
    "sample_planes",
    "separable_samples",
    "subtract_missing",
    "upsample",
    "weighted_sum",
]


F = TypeVar("F", bound=Callable[..., Any])


def _compiled(function: F) -> F:
    """``function`` compiled to run without the interpreter lock, its machine code cached on disk.

    Where nothing can be written, neither beside this file nor in numba's cache directory (a read-only
    install run by a user without a home, as in some containers), it is compiled anew in each process (a
    few seconds at the first dose) instead of failing to import; ``NUMBA_CACHE_DIR`` names a place for the
    cache.
    """
    try:
        return cast(F, njit(nogil=True, cache=True)(function))
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return cast(F, njit(nogil=True)(function))


@_compiled
def linear_taps(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower neighbour and the two float32 weights of fractional indices into ``n`` samples (0 outside).

    Parameters
    ----------
    index
        Fractional indices (float64).
    n
        Number of samples.

    Returns
    -------
    below, w_below, w_above
        The lower neighbour (clipped to ``[0, n - 2]``) and the weights of it and the next sample: ``1 - f``
        and ``f`` (``f`` the fraction beyond ``below``, computed in float64), both 0 outside ``[0, n - 1]``.
    """
    top = max(n - 2, 0)
    below = np.empty(index.shape[0], dtype=np.intp)
    w_below = np.empty(index.shape[0], dtype=np.float32)
    w_above = np.empty(index.shape[0], dtype=np.float32)
    for i in range(index.shape[0]):
        x = index[i]
        valid = x >= 0.0 and x <= n - 1
        b = top
        if valid:
            b = min(int(np.floor(x)), top)
        elif x < 0.0:
            b = 0
        f = min(max(x - b, 0.0), 1.0)
        below[i] = b
        w_below[i] = np.float32(1.0 - f) if valid else np.float32(0.0)
        w_above[i] = np.float32(f) if valid else np.float32(0.0)
    return below, w_below, w_above


@_compiled
def sample_planes(dose: np.ndarray, iw: np.ndarray, iv: np.ndarray, iu: np.ndarray, out: np.ndarray) -> None:
    """Trilinear samples of a BEV dose on planes across the beam, each with its own rows and columns.

    Linear interpolation along the beam, then across rows, then across columns, each step rounded to float32
    (numpy's ``take`` per axis with the :func:`linear_taps` weights; 0 outside the grid).

    Parameters
    ----------
    dose
        ``(nw, nv, nu)`` float32 dose on the BEV grid.
    iw
        ``(k,)`` fractional BEV slice index of each plane.
    iv, iu
        ``(k, r)`` and ``(k, c)`` fractional BEV row and column indices of each plane's rows and columns.
    out
        ``(k, r, c)`` float32 array (any strides) that receives the samples.
    """
    nw, nv, nu = dose.shape
    planes_below, planes_w0, planes_w1 = linear_taps(iw, nw)
    plane = np.empty((nv, nu), dtype=np.float32)
    row = np.empty(nu, dtype=np.float32)
    for k in range(iw.shape[0]):
        b, w0, w1 = planes_below[k], planes_w0[k], planes_w1[k]
        for v in range(nv):
            for u in range(nu):
                x = dose[b, v, u] * w0
                if nw > 1:
                    x += dose[b + 1, v, u] * w1
                plane[v, u] = x
        rows_below, v0, v1 = linear_taps(iv[k], nv)
        cols_below, u0, u1 = linear_taps(iu[k], nu)
        for r in range(iv.shape[1]):
            rb = rows_below[r]
            for u in range(nu):
                y = plane[rb, u] * v0[r]
                if nv > 1:
                    y += plane[rb + 1, u] * v1[r]
                row[u] = y
            for c in range(iu.shape[1]):
                cb = cols_below[c]
                z = row[cb] * u0[c]
                if nu > 1:
                    z += row[cb + 1] * u1[c]
                out[k, r, c] = z


@_compiled
def between_layers(ratio: np.ndarray, lower_index: np.ndarray, frac: np.ndarray, plane: int) -> np.ndarray:
    """Each voxel's value linearly between the depth layers around it.

    ``ratio[lower_index] + frac * (ratio[lower_index + plane] - ratio[lower_index])`` in float32.

    Parameters
    ----------
    ratio
        Flat float32 values of the layers, one plane of ``plane`` values after the other.
    lower_index
        Flat index of each voxel's layer above it.
    frac
        float32 fraction of the way to the next layer, per voxel.
    plane
        Values per layer.

    Returns
    -------
    numpy.ndarray
        float32, one value per voxel.
    """
    out = np.empty(lower_index.shape[0], dtype=np.float32)
    for i in range(lower_index.shape[0]):
        j = lower_index[i]
        low = ratio[j]
        out[i] = low + frac[i] * (ratio[j + plane] - low)
    return out


@_compiled
def add_level(
    value: np.ndarray,
    table: np.ndarray,
    plane: int,
    voxels: np.ndarray,
    weights: np.ndarray,
    below: np.ndarray,
    step: np.ndarray,
) -> None:
    """Add one density level's weighted difference, between the depth layers, at some voxels.

    ``value[voxels] += weights * (low + step * (table[below + plane] - low))`` with ``low = table[below]``,
    in float32 (``voxels`` has no repeats).
    """
    for i in range(voxels.shape[0]):
        j = below[i]
        low = table[j]
        value[voxels[i]] += weights[i] * (low + step[i] * (table[j + plane] - low))


@_compiled
def add_at(target: np.ndarray, where: np.ndarray, value: np.ndarray) -> None:
    """``target[where] += value`` (``where`` has no repeats)."""
    for i in range(where.shape[0]):
        target[where[i]] += value[i]


@_compiled
def subtract_missing(shape_ratio: np.ndarray, fine: np.ndarray, samples: np.ndarray) -> None:
    """Subtract the missing tissue's scatter, interpolated between its sampled slices, and clip at 0.

    Slice ``i`` between samples ``j`` and ``j + 1`` loses ``(1 - f) * fine[j] + f * fine[j + 1]`` with
    ``f = (i - samples[j]) / (samples[j + 1] - samples[j])`` in float32; the slices before the second sample
    go with the first two, those from the last sample on lose ``fine[-1]``.

    Parameters
    ----------
    shape_ratio
        ``(nw, nv, nu)`` float32, changed in place.
    fine
        ``(n, nv, nu)`` float32 values at the sampled slices.
    samples
        The ``n`` sampled slice indices, ascending.
    """
    nw, nv, nu = shape_ratio.shape
    n = samples.shape[0]
    for i in range(nw):
        j = 0
        while j + 1 < n and i >= samples[j + 1]:
            j += 1
        if j + 1 == n:
            for v in range(nv):
                for u in range(nu):
                    shape_ratio[i, v, u] -= fine[j, v, u]
        else:
            f = np.float32((i - samples[j]) / (samples[j + 1] - samples[j]))
            g = np.float32(1.0) - f
            for v in range(nv):
                for u in range(nu):
                    shape_ratio[i, v, u] -= g * fine[j, v, u] + f * fine[j + 1, v, u]
        for v in range(nv):
            for u in range(nu):
                if shape_ratio[i, v, u] < 0.0:
                    shape_ratio[i, v, u] = 0.0


@_compiled
def upsample(
    coarse: np.ndarray, iy: np.ndarray, wy: np.ndarray, ix: np.ndarray, wx: np.ndarray, out: np.ndarray
) -> None:
    """Bilinear interpolation of coarse planes at fine pixels, rows first, in float32.

    Parameters
    ----------
    coarse
        ``(n, ny, nx)`` float32 planes.
    iy, wy, ix, wx
        Lower coarse row and column of each fine row and column, and the float32 weight of the next one.
    out
        ``(n, len(iy), len(ix))`` float32, receives the values.
    """
    row = np.empty(coarse.shape[2], dtype=np.float32)
    for k in range(coarse.shape[0]):
        for r in range(iy.shape[0]):
            a, b = np.float32(1.0) - wy[r], wy[r]
            y = iy[r]
            for x in range(coarse.shape[2]):
                row[x] = coarse[k, y, x] * a + coarse[k, y + 1, x] * b
            for c in range(ix.shape[0]):
                x = ix[c]
                out[k, r, c] = row[x] * (np.float32(1.0) - wx[c]) + row[x + 1] * wx[c]


@_compiled
def ratio_to_dose(
    ratio: np.ndarray,
    broad: np.ndarray,
    calibration: np.float32,
    inverse_square: np.ndarray,
    contamination: np.ndarray | None = None,
    contamination_depth: np.ndarray | None = None,
) -> None:
    """Turn each voxel's ratio to the broad-beam dose into dose, in place.

    ``broad * ratio * calibration``, plus ``contamination[v, u] * contamination_depth`` when given, times
    ``inverse_square[w]``, in float32 and in that order.

    Parameters
    ----------
    ratio
        ``(nw, nv, nu)`` float32, replaced by the dose.
    broad
        ``(nw, nv, nu)`` float32 broad-beam dose at each voxel's radiological depth.
    calibration
        Gy per unit weight.
    inverse_square
        ``(nw,)`` float32.
    contamination, contamination_depth
        ``(nv, nu)`` electron-contamination dose spread across the field and its ``(nw, nv, nu)`` fall-off
        with depth (float32), or ``None``.
    """
    nw, nv, nu = ratio.shape
    for w in range(nw):
        for v in range(nv):
            for u in range(nu):
                dose = broad[w, v, u] * ratio[w, v, u] * calibration
                if contamination is not None and contamination_depth is not None:
                    dose += contamination[v, u] * contamination_depth[w, v, u]
                ratio[w, v, u] = dose * inverse_square[w]


@_compiled
def separable_samples(
    flat: np.ndarray,
    lengths: np.ndarray,
    start: np.ndarray,
    row: np.ndarray,
    lower_x: np.ndarray,
    w0_x: np.ndarray,
    w0_z_run: np.ndarray,
    w0_y_run: np.ndarray,
    two: np.ndarray,
    strides: np.ndarray,
    out: np.ndarray,
) -> None:
    """Trilinear dose at a structure's samples on a grid whose axes run along the dose grid's (the DVHs).

    The samples come in runs along x (:func:`hbiview.dosevolume._plan_samples`). Each is the sum over the
    corners of ``((value * w_z) * w_y) * w_x`` in float64 (``w = w0`` at the lower corner, ``1 - w0`` at the
    upper), corners in ``itertools.product`` order, an axis whose samples sit on dose-grid planes having only
    its lower corner and no factor: :func:`scipy.ndimage.map_coordinates` (order 1) sums the same terms in
    the same order. Stored in ``out``, of the dose's type (float32: rounded as scipy's output is).

    Parameters
    ----------
    flat
        The dose, flattened (its edges repeated where the plan asks).
    lengths, start, row
        Per run: its number of samples, its first sample's number minus its x index, and the flat index of
        its lower (z, y) dose-grid corner.
    lower_x, w0_x
        Per x index of the structure's grid: the lower dose-grid corner along x and its weight.
    w0_z_run, w0_y_run
        Per run: the weight of the lower z and y corner (read only for the axes in ``two``).
    two
        ``(3,)`` bool: the axes (z, y, x) with two corners.
    strides
        ``(3,)`` flat-index steps of the dose grid's axes.
    out
        One value per sample.
    """
    s = 0
    for r in range(lengths.shape[0]):
        for _ in range(lengths[r]):
            ix = s - start[r]
            base = row[r] + lower_x[ix]
            total = 0.0
            first = True
            for cz in range(2 if two[0] else 1):
                for cy in range(2 if two[1] else 1):
                    for cx in range(2 if two[2] else 1):
                        term = np.float64(flat[base + cz * strides[0] + cy * strides[1] + cx * strides[2]])
                        if two[0]:
                            term *= w0_z_run[r] if cz == 0 else 1.0 - w0_z_run[r]
                        if two[1]:
                            term *= w0_y_run[r] if cy == 0 else 1.0 - w0_y_run[r]
                        if two[2]:
                            term *= w0_x[ix] if cx == 0 else 1.0 - w0_x[ix]
                        total = term if first else total + term
                        first = False
            out[s] = total
            s += 1


@_compiled
def dose_bins(
    values: np.ndarray, weights: np.ndarray | None, bin_width_gy: float, guard_bins: float, nbins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Samples (and their weights) per dose bin, for a DVH.

    A value ``d`` goes in bin ``min(int(d / bin_width_gy + guard_bins), nbins - 1)``: what
    ``np.bincount`` of that index gives, with and without ``weights`` (summed in the samples' order).

    Returns
    -------
    counts, weighted
        int64 counts per bin; float64 sums of the weights per bin (empty without weights).
    """
    counts = np.zeros(nbins, dtype=np.int64)
    weighted = np.zeros(nbins if weights is not None else 0, dtype=np.float64)
    for i in range(values.shape[0]):
        k = min(int(values[i] / bin_width_gy + guard_bins), nbins - 1)
        if k < 0:
            raise ValueError("a negative dose cannot go in a DVH bin")
        counts[k] += 1
        if weights is not None:
            weighted[k] += weights[i]
    return counts, weighted


@_compiled
def weighted_sum(
    grids: tuple[np.ndarray, ...],
    weights: np.ndarray,
    inside: np.ndarray | None,
    factor: np.float32,
    out: np.ndarray,
) -> None:
    """The beams' doses weighted and summed, times ``factor``, inside a mask (0 outside), in float32.

    ``(grids[0] * weights[0] + grids[1] * weights[1] + ...) * factor``, the beams added in order.

    Parameters
    ----------
    grids
        Each beam's float32 dose on the grid, flattened.
    weights
        float32 weight of each beam.
    inside
        Boolean mask, flattened, or ``None`` (everywhere).
    factor
        float32 multiplier of the sum.
    out
        float32, flattened: receives the sum.
    """
    first = grids[0]
    for i in range(out.shape[0]):
        out[i] = first[i] * weights[0]
    for b in range(1, len(grids)):
        grid, weight = grids[b], weights[b]
        for i in range(out.shape[0]):
            out[i] += grid[i] * weight
    for i in range(out.shape[0]):
        out[i] = out[i] * factor if inside is None or inside[i] else np.float32(0.0)
