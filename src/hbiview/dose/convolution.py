"""The convolution engine: divergent fluence, radiological depth and a density-scaled Nyholm pencil kernel.

For each beam, density is resampled onto a divergent beam's-eye-view (BEV) grid ``(w, v, u)``: ``w`` is the
distance from the source along the central axis (mm) and ``(u, v)`` are coordinates in the isocentre plane
(mm at 1000 mm), so every ray from the source is a straight index line. Then:

1. **Radiological depth** is the cumulative sum of density times step length along each ray.
2. **Fluence** in the isocentre plane (:mod:`hbiview.dose.fluence`): jaws (averaged over each pixel) and
   blocks blurred by the projected focal spot (geometric penumbra), the round primary collimator, and a
   gentle off-axis rise (horns of a flattened beam) up to 100 mm from the axis.
3. **Lateral spread**: at a set of water-equivalent depths the fluence is convolved (scipy FFT) with the
   Nyholm pencil kernel of the beam's TPR20,10, whose physical size at that depth follows the divergence
   (pixel size ``du * w / 1000``). In the build-up region the kernel's narrow (primary-electron) component
   is made narrower (:data:`hbiview.dose.kernel.BUILDUP_NARROWING`): electrons reaching a shallow depth
   have had less path to spread sideways, which the measured shallow profiles show. Each convolution is
   stored as a ratio to the broad-beam dose at that depth, which varies slowly with depth.
4. **Density scaling** (lung): the same is done with the kernel's lateral spread scaled by ``1 / density``
   for a few densities below water (0.5 and 0.25), separately for the narrow (primary-electron) part and the
   broad (photon-scatter) part (on a 2x coarser grid); each BEV voxel interpolates between them at the density
   each part sees (means over about 1 and 3 cm across the ray): for the electrons the density of their path,
   a length-weighted mean upstream over the build-up's e-folding length (so the dose behind lung builds up
   again over millimetres, not at once), and for the photon scatter the lower of two mass-weighted means
   upstream along the ray (over the kernel's build-up length and over its scatter range 1/b; see
   :func:`_upstream_mean`). Narrow fields lose dose inside and just behind lung, as EGSnrc Monte Carlo shows
   (``tests/dose/test_lung_montecarlo.py``).
5. **Missing tissue**: every 30 mm along the beam, the photon-scatter part that pencils passing beside the
   body at that level would give is subtracted (narrow body parts, finite phantoms).
6. **Dose** at a BEV voxel = broad-beam depth dose at its radiological depth x the interpolated ratio x the
   inverse square ``(1000 / w)^2`` x the calibration (1 unit = 1 Gy at dmax, 10 x 10 cm, SSD 1000 mm,
   electron contamination included) x the head-scatter factor Sc of the jaw opening.
7. **Out of the field**: the fluence carries head scatter, jaw transmission and leakage behind the jaws
   (:mod:`hbiview.dose.out_of_field`); beyond ``margin_mm`` from the jaws the whole computation is repeated on
   a 4x coarser grid over the rest of the body (:class:`NearFarDose`).

Beam qualities come from ``data/beam_quality.csv`` (TPR20,10 with sources; 10 MV fitted to measured depth
doses). Co-60 (TPR20,10 0.572) lies below the Nyholm polynomials' range (0.62-0.80): it gets the kernel shape
of TPR20,10 0.62 (lateral spread and build-up of a roughly 4 MV beam) with an extra exponential attenuation
fitted so that its TPR20,10 is 0.572, a 6 mm source blur and no horns; its depth doses beyond dmax follow
the Co-60 quality, its build-up and penumbra are only indicative.

Assumptions: kernels are invariant along a layer (no off-axis softening), the density scaling is a mean
density per kernel part rather than a path integral along each scatter direction, and electron contamination
is a simple exponential in depth spread by a wide Gaussian (it places dmax; no surface dose claims).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage

from hbiview.dose.beam_quality import (
    BeamQuality,
    beam_quality,
    calibration_gy_per_unit,
    head_scatter_factor,
    kernel_for_energy,
)
from hbiview.dose.engine import DoseEngine, register_engine
from hbiview.dose.fluence import fluence_map, horn_shape, primary_collimator_transmission
from hbiview.dose.kernel import PencilKernel
from hbiview.dose.out_of_field import out_of_field_fluence
from hbiview.geometry import Geometry
from hbiview.loops import (
    add_at,
    add_level,
    between_layers,
    linear_taps,
    ratio_to_dose,
    sample_planes,
    subtract_missing,
    upsample,
)
from hbiview.plans import MAX_JAW_MM, SAD_MM, Beam

__all__ = ["BevDose", "ConvolutionEngine", "NearFarDose"]

#: Water-equivalent depths (mm) at which the kernel convolution is evaluated (dense in the build-up).
LAYER_DEPTHS_MM = np.array(
    [0, 3, 6, 10, 15, 20, 25, 30, 40, 50, 65, 80, 100, 125, 150, 200, 250, 300, 400, 500, 700], dtype=float
)
#: Along an axis where the jaws open at least this far (mm at the isocentre plane; hemi-body, pelvis), or
#: sit asymmetrically (a border moved with the set-up kept), the fine grid spans the jaws' whole travel
#: (+-MAX_JAW_MM / 2, plus the margin) rather than the opening: for the large fields at most 37 % more
#: along that axis, and a jaw moved there keeps the grid (and its prepared work).
WHOLE_TRAVEL_FIELD_MM = 250.0
#: Densities at which the kernel's lateral spread is evaluated; voxels interpolate between them.
DENSITY_LEVELS = (1.0, 0.5, 0.25)
#: Spacing (mm along the beam) of the levels where the scatter missing beside narrow body parts is computed.
MISSING_TISSUE_STEP_MM = 30.0
#: Lateral size (mm) of the mean density seen by the narrow (primary-electron) component: about the lateral
#: range of the electrons in water.
ELECTRON_LATERAL_MM = 10.0
#: Lateral size (mm) of the mean density seen by the broad (photon-scatter) component.
SCATTER_LATERAL_MM = 30.0


@dataclass(frozen=True)
class BevDose:
    """Dose of one beam on its divergent beam's-eye-view grid.

    Parameters
    ----------
    dose
        ``(nw, nv, nu)`` float32 dose (Gy per unit weight).
    source, d, u_hat, v_hat
        Source position (LPS mm) and the beam's unit vectors.
    w0_mm, dw_mm
        Distance from the source of the first BEV slice and the step along the axis (mm).
    u0_mm, v0_mm, du_mm
        Isocentre-plane coordinates of the first column and row, and the lateral step (mm at 1000 mm).
    """

    dose: np.ndarray
    source: np.ndarray
    d: np.ndarray
    u_hat: np.ndarray
    v_hat: np.ndarray
    w0_mm: float
    dw_mm: float
    u0_mm: float
    v0_mm: float
    du_mm: float

    def bev_index(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Fractional BEV indices ``(3, n)`` (w, v, u) of LPS points."""
        rel = np.asarray(points_lps_mm, dtype=np.float64) - self.source
        return self._from_wab(rel @ self.d, rel @ self.u_hat, rel @ self.v_hat)

    def _from_wab(self, w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """BEV indices from distances along the axis (``w``) and the field's x and y (``a``, ``b``)."""
        safe = np.where(w > 1.0, w, 1.0)
        iw = np.where(w > 1.0, (w - self.w0_mm) / self.dw_mm, -10.0)
        iv = (b * (SAD_MM / safe) - self.v0_mm) / self.du_mm
        iu = (a * (SAD_MM / safe) - self.u0_mm) / self.du_mm
        return np.stack([iw, iv, iu])

    def wab_at_indices(self, geometry: Geometry, index: np.ndarray) -> np.ndarray:
        """Distance along the axis, field x and y (``(3, n)``, mm) of voxel indices ``(n, 3)`` of a grid.

        Three multiply-adds per row and column (numpy's matmul of an ``(n, 3)`` by a ``3 x 3`` matrix does not
        reach BLAS and is several times slower).
        """
        basis = np.stack([self.d, self.u_hat, self.v_hat])  # rows: w, a, b
        matrix = basis @ geometry.affine[:3, :3]
        offset = basis @ (geometry.affine[:3, 3] - self.source)
        columns = [np.ascontiguousarray(index[:, a], dtype=np.float64) for a in range(3)]
        out = np.empty((3, len(index)), dtype=np.float64)
        for row in range(3):
            np.multiply(columns[0], matrix[row, 0], out=out[row])
            out[row] += offset[row]
            for a in (1, 2):
                if matrix[row, a] != 0.0:
                    out[row] += matrix[row, a] * columns[a]
        return out

    def coords_at_indices(self, geometry: Geometry, index: np.ndarray) -> np.ndarray:
        """Fractional BEV indices ``(3, n)`` of voxel indices ``(n, 3)`` of ``geometry``."""
        w, a, b = self.wab_at_indices(geometry, index)
        return self._from_wab(w, a, b)

    def at_indices(self, geometry: Geometry, index: np.ndarray) -> np.ndarray:
        """Dose (Gy per unit weight) at voxel indices ``(n, 3)`` of ``geometry`` (faster than :meth:`at`)."""
        coords = self.coords_at_indices(geometry, index)
        return ndimage.map_coordinates(self.dose, coords, order=1, mode="constant", cval=0.0, prefilter=False)

    def grid_axes(self, geometry: Geometry) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray] | None:
        """How the beam's axes lie on ``geometry``: ``None`` unless each runs along one of its array axes.

        Returns
        -------
        axes, scale, offset
            The array axis of the distance along the beam, of the field's x and of its y; the distance and
            field x and y (mm) of index ``n`` along ``axes[r]`` are ``offset[r] + scale[r] * n``.
        """
        basis = np.stack([self.d, self.u_hat, self.v_hat])  # rows: w, a, b
        matrix = basis @ geometry.affine[:3, :3]
        offset = basis @ (geometry.affine[:3, 3] - self.source)
        found = [np.flatnonzero(np.abs(row) > 1e-9 * np.abs(row).max()) for row in matrix]
        if any(len(f) != 1 for f in found) or len({int(f[0]) for f in found}) != 3:
            return None
        axes = (int(found[0][0]), int(found[1][0]), int(found[2][0]))
        return axes, np.array([matrix[r, axes[r]] for r in range(3)]), offset

    def block(
        self, w_mm: np.ndarray, a_mm: np.ndarray, b_mm: np.ndarray, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dose on the planes across the beam ``w_mm`` from the source, at field x ``a_mm`` and y ``b_mm``.

        Trilinear interpolation one axis at a time (the values :meth:`at` gives, to float32 rounding), all
        planes at once (:func:`hbiview.loops.sample_planes`).

        Parameters
        ----------
        w_mm, a_mm, b_mm
            Distances from the source along the axis, field x and field y (mm) of the planes, columns and
            rows.
        out
            A zero-filled float32 array (any strides) to write the dose into; default a new one.

        Returns
        -------
        dose, in_rows, in_columns
            ``(len(w_mm), len(b_mm), len(a_mm))`` dose (Gy per unit weight; 0 outside the BEV grid), and
            which rows ``(len(w_mm), len(b_mm))`` and columns ``(len(w_mm), len(a_mm))`` of each plane lie
            inside the grid (a point is inside when both its row and its column are).
        """
        nw, nv, nu = self.dose.shape
        values = np.zeros((len(w_mm), len(b_mm), len(a_mm)), dtype=np.float32) if out is None else out
        iw = (w_mm - self.w0_mm) / self.dw_mm
        in_w = (w_mm > 1.0) & (iw >= 0.0) & (iw <= nw - 1)
        scale = SAD_MM / np.where(in_w, w_mm, 1.0)
        iv = (b_mm[None, :] * scale[:, None] - self.v0_mm) / self.du_mm
        iu = (a_mm[None, :] * scale[:, None] - self.u0_mm) / self.du_mm
        in_rows = in_w[:, None] & (iv >= 0.0) & (iv <= nv - 1)
        in_cols = in_w[:, None] & (iu >= 0.0) & (iu <= nu - 1)
        planes, found_r, found_c = (np.flatnonzero(m) for m in (in_w, in_rows.any(0), in_cols.any(0)))
        if found_r.size and found_c.size:  # the box of planes, rows and columns with points inside
            k = slice(planes[0], planes[-1] + 1)
            r, c = slice(found_r[0], found_r[-1] + 1), slice(found_c[0], found_c[-1] + 1)
            rows, columns = np.ascontiguousarray(iv[k, r]), np.ascontiguousarray(iu[k, c])
            sample_planes(self.dose, iw[k], rows, columns, values[k, r, c])
        return values, in_rows, in_cols

    def on_grid(self, geometry: Geometry) -> np.ndarray | None:
        """Dose (Gy per unit weight) at every voxel of ``geometry``, or ``None`` if the beam is oblique to it.

        For beams along the grid's axes (AP, PA and lateral beams at collimator 0 or 90 on an axial grid) a
        plane of the grid across the beam is a plane of the BEV grid, zoomed: sampled one axis at a time,
        several times faster than :meth:`at_indices` on every voxel.
        """
        return _on_grid(self, geometry, lambda w, a, b, out: self.block(w, a, b, out)[0])

    def bounds_lps_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS bounding box ``(lower, upper)`` of the BEV grid (the region this beam gives dose to)."""
        nw, nv, nu = self.dose.shape
        w = np.array([self.w0_mm, self.w0_mm + (nw - 1) * self.dw_mm])
        u = np.array([self.u0_mm, self.u0_mm + (nu - 1) * self.du_mm])
        v = np.array([self.v0_mm, self.v0_mm + (nv - 1) * self.du_mm])
        ww, uu, vv = (a.ravel() for a in np.meshgrid(w, u, v, indexing="ij"))
        corners = (
            self.source
            + ww[:, None] * self.d
            + (ww * uu / SAD_MM)[:, None] * self.u_hat
            + (ww * vv / SAD_MM)[:, None] * self.v_hat
        )
        return corners.min(axis=0), corners.max(axis=0)

    def at(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Dose (Gy per unit weight) at ``(n, 3)`` LPS points; 0 outside the BEV grid."""
        pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
        if pts.size == 0:
            return np.zeros(0, dtype=np.float32)
        out = np.empty(len(pts), dtype=np.float32)
        for start in range(0, len(pts), 2_000_000):
            chunk = pts[start : start + 2_000_000]
            out[start : start + len(chunk)] = ndimage.map_coordinates(
                self.dose, self.bev_index(chunk), order=1, mode="constant", cval=0.0, prefilter=False
            )
        return out


@dataclass(frozen=True)
class NearFarDose:
    """A beam's dose on a fine grid near the field and a coarse one over the rest of the body.

    Points inside the near grid read it; all others read the far grid (the out-of-field dose: phantom scatter
    tail, head scatter, jaw transmission, leakage).
    """

    near: BevDose
    far: BevDose

    def _from_wab(self, w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dose at points given by distance along the axis and the field's x and y (mm)."""
        near = self.near._from_wab(w, a, b)
        top = np.asarray(self.near.dose.shape, dtype=np.float64)[:, None] - 1.0
        inside = np.all((near >= 0.0) & (near <= top), axis=0)
        out = np.empty(len(w), dtype=np.float32)
        out[inside] = ndimage.map_coordinates(
            self.near.dose, near[:, inside], order=1, mode="constant", cval=0.0, prefilter=False
        )
        rest = ~inside
        if np.any(rest):
            far = self.far._from_wab(w[rest], a[rest], b[rest])
            out[rest] = ndimage.map_coordinates(
                self.far.dose, far, order=1, mode="constant", cval=0.0, prefilter=False
            )
        return out

    def at(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Dose (Gy per unit weight) at ``(n, 3)`` LPS points."""
        pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
        out = np.empty(len(pts), dtype=np.float32)
        basis = np.stack([self.near.d, self.near.u_hat, self.near.v_hat])
        for start in range(0, len(pts), 2_000_000):
            wab = (pts[start : start + 2_000_000] - self.near.source) @ basis.T
            out[start : start + len(wab)] = self._from_wab(wab[:, 0], wab[:, 1], wab[:, 2])
        return out

    def at_indices(self, geometry: Geometry, index: np.ndarray) -> np.ndarray:
        """Dose (Gy per unit weight) at voxel indices ``(n, 3)`` of ``geometry``."""
        w, a, b = self.near.wab_at_indices(geometry, index)  # both grids share the beam's frame
        return self._from_wab(w, a, b)

    def on_grid(self, geometry: Geometry) -> np.ndarray | None:
        """Dose (Gy per unit weight) at every voxel of ``geometry``; ``None``: see :meth:`BevDose.on_grid`."""

        def block(w: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
            near, in_rows, in_cols = self.near.block(w, a, b, out)
            # rows the far grid gives some of (not inside the near grid on every plane and column), taken
            # in runs of consecutive rows: views of the near block, no copies
            every_column = np.all(in_cols, axis=1)
            for run in _runs_of(~np.all(in_rows & every_column[:, None], axis=0)):
                outside = ~(in_rows[:, run, None] & in_cols[:, None, :])
                np.copyto(near[:, run], self.far.block(w, a, b[run])[0], where=outside)
            return near

        return _on_grid(self.near, geometry, block)

    def bounds_lps_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS bounding box of both grids."""
        (a, b), (c, d) = self.near.bounds_lps_mm(), self.far.bounds_lps_mm()
        return np.minimum(a, c), np.maximum(b, d)


def _runs_of(flags: np.ndarray) -> list[slice]:
    """Slices of the runs of consecutive ``True`` in a 1D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return [slice(int(start), int(stop)) for start, stop in zip(edges[0::2], edges[1::2])]


def _on_grid(
    frame: BevDose,
    geometry: Geometry,
    block: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray | None:
    """A beam's dose on every voxel of ``geometry``: its planes across the beam (``None``: oblique).

    ``block(w_mm, a_mm, b_mm, out)`` fills ``out``, a ``(w, b, a)`` view of the grid's array.
    """
    found = frame.grid_axes(geometry)
    if found is None:
        return None
    axes, scale, offset = found
    n_w, n_a, n_b = (geometry.shape[a] for a in axes)
    w_mm, a_mm, b_mm = (offset[r] + scale[r] * np.arange(n) for r, n in enumerate((n_w, n_a, n_b)))
    out = np.zeros(geometry.shape, dtype=np.float32)
    block(w_mm, a_mm, b_mm, out.transpose(axes[0], axes[2], axes[1]))
    return out


def _body_box(density: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """First and last index along each axis of the voxels with density (``None``: none)."""
    inside = density > 0
    across = np.flatnonzero(np.any(inside, axis=(1, 2)))
    if across.size == 0:
        return None
    plane = np.any(inside, axis=0)
    rows, cols = np.flatnonzero(np.any(plane, axis=1)), np.flatnonzero(np.any(plane, axis=0))
    return np.array([across[0], rows[0], cols[0]]), np.array([across[-1], rows[-1], cols[-1]])


def _lattice(low_mm: float, high_mm: float, step_mm: float, on_axis: bool) -> np.ndarray:
    """Pixel centres (mm, isocentre plane) covering ``[low_mm, high_mm]`` with a pixel and a half to spare.

    Centred on the window; or, for a window spanning the jaws' whole travel (``on_axis``), at half-integer
    steps from the central axis, so that the lattice does not depend on where the body cuts the window and
    fields that share an axis (moved jaws) or abut (two pairs) sample their edges alike.
    """
    if on_axis:
        return (
            np.arange(np.floor(low_mm / step_mm - 0.5) - 1, np.ceil(high_mm / step_mm - 0.5) + 2) + 0.5
        ) * step_mm
    n = int(np.ceil((high_mm - low_mm) / step_mm)) + 3
    return (low_mm + high_mm) / 2 + (np.arange(n) - (n - 1) / 2) * step_mm


def _linear_weights(start: int, stop: int, n_coarse: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower coarse index and weight of fine pixels ``start..stop-1`` (coarse = 2 x 2 bins of fine)."""
    c = np.clip((np.arange(start, stop) - 0.5) / 2.0, 0.0, n_coarse - 1.0)
    lower = np.minimum(np.floor(c).astype(np.intp), n_coarse - 2)
    return lower, (c - lower).astype(np.float32)


def _bin2(values: np.ndarray) -> np.ndarray:
    """Mean of each 2 x 2 block of a 2D array with even sides (half the resolution)."""
    rows = values[0::2] + values[1::2]
    return 0.25 * (rows[:, 0::2] + rows[:, 1::2])


def _lateral_mean(rho: np.ndarray, inside: np.ndarray, lateral_mm: float, pixel_mm: float) -> np.ndarray:
    """Mean density over interior body voxels in a ``lateral_mm`` square across the ray (1 with none)."""
    size = max(round(lateral_mm / pixel_mm), 1)
    num = ndimage.uniform_filter(rho * inside, size=(1, size, size), mode="nearest")
    den = ndimage.uniform_filter(inside, size=(1, size, size), mode="nearest")
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 1.0).astype(np.float32)


def _upstream_mean(
    lateral: np.ndarray, mass_step: np.ndarray, reach_mm: float, step_mm: np.ndarray | None = None
) -> np.ndarray:
    """Mean of ``lateral`` upstream along each ray, weighted ``exp(-m / reach_mm)``.

    ``m`` is the water-equivalent distance back along the ray (``mass_step`` holds density x step length per
    BEV voxel), so in lung the reach covers ``1 / density`` times more tissue, as the scaling theorem says.
    Each voxel counts with its mass (``step_mm=None``) or with its path length ``step_mm`` (per ray, ``(nv,
    nu)``; tissue only: density above 0.05), for the density of a path: a path of mass M and length L spreads
    sideways like a uniform medium of density M / L.

    The photon-scatter kernel (mass-weighted) is stretched by ``1 / density`` where its energy travels
    through low density: scatter reaching a point crossed the tissue within about the build-up length above
    it (the lateral spread in lung, where the mean over that length is the local density), and was set in
    motion within the scatter range above it (beyond lung, where that mean is still below water for several
    centimetres); the engine takes the lower of the two means. The primary-electron kernel sees the density
    of the electrons' path (length-weighted) over the build-up's e-folding length
    (:meth:`~hbiview.dose.kernel.PencilKernel.electron_reach_mm`): entering lung it falls within millimetres
    (the electrons' sideways path there is 4 times longer per unit mass), and behind lung it returns to
    water over the build-up length, as the electrons set in motion in the lung above still arrive. Where a
    ray has met no tissue yet the mean is 1.
    """
    out = np.ones_like(lateral)
    keep = np.exp(-mass_step / np.float32(2.0 * reach_mm))  # half a step's decay, applied twice
    weighted = np.zeros(lateral.shape[1:], dtype=np.float32)
    total = np.zeros_like(weighted)
    if step_mm is not None:
        step_mm = step_mm.astype(np.float32)
        tissue, zero = np.float32(0.05) * step_mm, np.float32(0.0)
    for i in range(len(lateral)):
        weighted *= keep[i]
        total *= keep[i]
        step = mass_step[i] if step_mm is None else np.where(mass_step[i] > tissue, step_mm, zero)
        weighted += lateral[i] * step
        total += step
        out[i] = np.where(total > 1e-6, weighted / np.maximum(total, 1e-6), 1.0)
        weighted *= keep[i]
        total *= keep[i]
    return out


def _taps_along(values: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` along one axis at fractional indices; 0 outside ``[0, n - 1]``.

    The values of ``scipy.ndimage.map_coordinates(order=1, mode="constant", cval=0)`` along that axis.
    """
    n = values.shape[axis]
    below, w_below, w_above = linear_taps(np.asarray(index, dtype=np.float64), n)
    shape = [1] * values.ndim
    shape[axis] = len(index)
    w_below, w_above = w_below.reshape(shape), w_above.reshape(shape)
    low = np.take(values, below, axis=axis)
    low *= w_below
    if n > 1:
        low += np.take(values, below + 1, axis=axis) * w_above
    return low


def _broad_beam_at(kernel: PencilKernel, depth: np.ndarray, max_depth_mm: float) -> np.ndarray:
    """The kernel's broad-beam depth dose at each radiological depth (mm), float32.

    Linear interpolation in a 0.5 mm table, done by index arithmetic on the uniform steps (what
    ``np.interp`` gives, without its float64 copies of the whole BEV grid).
    """
    step = 0.5
    table = kernel.broad_beam(np.arange(0.0, max_depth_mm + 2.0, step)).astype(np.float32)
    position = np.clip(depth, 0.0, None) * np.float32(1.0 / step)
    below = np.minimum(position.astype(np.int32), len(table) - 2)
    position -= below
    out = table[below]
    out += position * (table[below + 1] - out)
    return out


def _empty(beam: Beam) -> BevDose:
    source, d, u, v = beam.frame()
    return BevDose(np.zeros((1, 1, 1), np.float32), source, d, u, v, 0.0, 1.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class _LayerKernels:
    """Kernel transforms at one depth layer: the whole kernel, and the lower density levels' differences."""

    horn: float
    both: np.ndarray
    narrow: tuple[np.ndarray, ...]
    broad: tuple[np.ndarray, ...]


@dataclass(frozen=True, eq=False)
class _DensityCorrection:
    """One kernel component's weights of the lower density levels at the voxels below water density.

    ``weights[m][i]`` is the weight of level ``lower[m]`` at voxel ``voxels[m][i]`` (an index into the
    correction voxels): linear in density between the two levels around the voxel's (water's difference is
    zero). ``below[m][i]`` and ``step[m][i]`` are that voxel's place between the depth layers (the flat
    index of the layer above it and the fraction of the way to the next). ``layers[m]`` are the depth layers
    those voxels lie between: only there is the level convolved.
    """

    narrow: bool
    voxels: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    below: tuple[np.ndarray, ...]
    step: tuple[np.ndarray, ...]
    layers: tuple[frozenset[int], ...]


@dataclass(frozen=True, eq=False)
class _MissingTissue:
    """The BEV slices of the missing-tissue correction.

    Per slice with tissue: its index, the padded plane's air mask, horn, broad kernel transform and
    broad-beam dose.
    """

    samples: np.ndarray
    levels: tuple[tuple[int, np.ndarray, float, np.ndarray, float], ...]


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What one beam's dose on one BEV grid needs and its jaws, blocks and compensator do not change.

    The density along the rays, the radiological depths, the densities each kernel component sees, the
    kernels' transforms at every depth layer, each voxel's place between the layers and density levels, the
    body's outline for the missing tissue, the broad-beam depth dose and the inverse square; the padded
    fluence plane's pixel centres (mm, isocentre plane: ``u``, ``v``), the primary collimator's transmission
    and the horns' shape on it.
    """

    quality: BeamQuality
    kernel: PencilKernel
    grid: tuple[np.ndarray, np.ndarray, np.ndarray]
    shape: tuple[int, int]
    crop: tuple[slice, slice]
    layers: np.ndarray
    layer_kernels: tuple[_LayerKernels, ...]
    lower: tuple[float, ...]
    electrons: bool
    lower_index: np.ndarray
    frac_z: np.ndarray
    corrections: tuple[_DensityCorrection, ...]
    correction_voxels: np.ndarray | None
    missing: _MissingTissue | None
    broad: np.ndarray
    inverse_square: np.ndarray
    contamination_filter: np.ndarray | None
    contamination_depth: np.ndarray | None
    plane_mm: tuple[np.ndarray, np.ndarray]
    collimator: np.ndarray | None
    horn: np.ndarray

    def nbytes(self) -> int:
        """Memory held (bytes)."""
        arrays = [self.lower_index, self.frac_z, self.broad, self.inverse_square, *self.plane_mm, self.horn]
        arrays += [self.collimator] if self.collimator is not None else []
        arrays += [a for a in (self.contamination_filter, self.contamination_depth) if a is not None]
        for k in self.layer_kernels:
            arrays += [k.both, *k.narrow, *k.broad]
        if self.correction_voxels is not None:
            arrays.append(self.correction_voxels)
        for c in self.corrections:
            arrays += [*c.voxels, *c.weights, *c.below, *c.step]
        if self.missing is not None:
            arrays += [a for level in self.missing.levels for a in (level[1], level[3])]
        return sum(a.nbytes for a in arrays)


class _PreparedCache:
    """Prepared beam grids per density volume (held weakly), the most recent first, within a memory budget.

    The viewer moves a jaw and asks again: the same density (kept per CT and grid by
    :func:`hbiview.dose.body.density_on`), the same set-up and grid, so only the fluence is new.
    """

    def __init__(self, budget_mb: float) -> None:
        self.budget_bytes = int(budget_mb * 1e6)
        # (id of the density, key) -> (weak reference to the density, prepared grid, its size in bytes)
        self._entries: OrderedDict[
            tuple[int, tuple[object, ...]], tuple[weakref.ref[np.ndarray], _Prepared, int]
        ] = OrderedDict()
        self._lock = threading.RLock()  # a density freed during put() calls _forget in the same thread

    def _forget(self, ref: weakref.ref[np.ndarray]) -> None:
        """Drop what was kept for a density that no longer exists."""
        with self._lock:
            for key in [k for k, (r, _, _) in self._entries.items() if r is ref]:
                del self._entries[key]

    def get(self, density: np.ndarray, key: tuple[object, ...]) -> _Prepared | None:
        """The prepared grid for ``key`` on this very ``density`` array, if kept."""
        with self._lock:
            entry = self._entries.get((id(density), key))
            if entry is None or entry[0]() is not density:
                return None
            self._entries.move_to_end((id(density), key))
            return entry[1]

    def put(self, density: np.ndarray, key: tuple[object, ...], prepared: _Prepared) -> None:
        """Keep ``prepared``; drop the oldest entries (and those of freed densities) beyond the budget."""
        size = prepared.nbytes()
        if size > self.budget_bytes:
            return
        with self._lock:
            same = [r for r, _, _ in self._entries.values() if r() is density]
            ref = same[0] if same else weakref.ref(density, self._forget)
            self._entries[(id(density), key)] = (ref, prepared, size)
            while sum(entry[2] for entry in self._entries.values()) > self.budget_bytes:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything kept."""
        with self._lock:
            self._entries.clear()


#: Memory (MB) the prepared beam grids may hold: the four grids of an AP/PA hemi-body plan at 5 mm and
#: those of a second plan beside it in the viewer.
PREPARED_BUDGET_MB = 400.0
_PREPARED = _PreparedCache(PREPARED_BUDGET_MB)


@register_engine
class ConvolutionEngine(DoseEngine):
    """Divergent FFT convolution with a density-scaled, depth-dependent Nyholm pencil kernel.

    Parameters
    ----------
    margin_mm
        How far beyond the jaws (mm at the isocentre plane) dose is computed at full resolution. Beyond it,
        over the rest of the body, the dose (phantom scatter tail, head scatter, jaw transmission, leakage) is
        computed on a coarser grid, ``far_factor`` times the resolution across the beam.
    reach_mm
        Zero padding around the BEV plane for the FFT (physical mm), so that kernel tails do not wrap.
    workers
        Threads for each of scipy.fft's transforms. One: the beams of a plan already run in parallel
        (:data:`hbiview.dose.compute.BEAM_THREADS`), and the transforms of a BEV plane (a few hundred pixels a
        side, single precision) are faster in one thread than split.
    far_factor
        Coarsening of the out-of-field grid across the beam (and half of it along the beam).
    """

    name = "convolution"

    def __init__(
        self, margin_mm: float = 80.0, reach_mm: float = 250.0, workers: int = 1, far_factor: int = 4
    ) -> None:
        self.margin_mm = margin_mm
        self.reach_mm = reach_mm
        self.workers = workers
        self.far_factor = far_factor

    # ------------------------------------------------------------------ geometry of the BEV grid
    def _bev_grid(
        self,
        beam: Beam,
        geometry: Geometry,
        box: tuple[np.ndarray, np.ndarray] | None,
        resolution_mm: float,
        margin_mm: float,
        depth_step_mm: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The BEV grid ``(w_mm, v_mm, u_mm)`` over the body's index ``box`` (``None``: no grid)."""
        source, d, u_hat, v_hat = beam.frame()
        if box is None:
            return None
        lo, hi = box[0] - 1.0, box[1] + 1.0
        corners = np.array(np.meshgrid(*zip(lo, hi), indexing="ij")).reshape(3, -1).T
        pts = geometry.index_to_lps(corners)
        rel = pts - source
        w = rel @ d
        if np.any(w <= 1.0):
            w = np.maximum(w, 1.0)
        pu = (rel @ u_hat) * SAD_MM / w
        pv = (rel @ v_hat) * SAD_MM / w
        (x1, x2), (y1, y2) = beam.jaw_edges_mm()
        # a large field's fine grid spans its jaws' whole travel: moved jaws keep the grid (and its work)
        reach = MAX_JAW_MM / 2
        whole = tuple(
            beam.field_mm[a] >= WHOLE_TRAVEL_FIELD_MM or beam.field_offset_mm[a] != 0.0 for a in (0, 1)
        )
        if whole[0]:
            x1, x2 = -reach, reach
        if whole[1]:
            y1, y2 = -reach, reach
        u_lo, u_hi = max(x1 - margin_mm, pu.min()), min(x2 + margin_mm, pu.max())
        v_lo, v_hi = max(y1 - margin_mm, pv.min()), min(y2 + margin_mm, pv.max())
        if u_lo >= u_hi or v_lo >= v_hi:
            return None
        w_lo, w_hi = float(w.min()), float(w.max())
        w_mid = (w_lo + w_hi) / 2
        du = resolution_mm * SAD_MM / w_mid
        u_mm = _lattice(u_lo, u_hi, du, whole[0])
        v_mm = _lattice(v_lo, v_hi, du, whole[1])
        dw = resolution_mm if depth_step_mm is None else depth_step_mm
        nw = int(np.ceil((w_hi - w_lo) / dw)) + 3
        w_mm = w_lo - dw + np.arange(nw) * dw
        return w_mm, v_mm, u_mm

    def _bev_density(
        self,
        beam: Beam,
        density: np.ndarray,
        geometry: Geometry,
        w_mm: np.ndarray,
        v_mm: np.ndarray,
        u_mm: np.ndarray,
    ) -> np.ndarray:
        source, d, u_hat, v_hat = beam.frame()
        inv = np.linalg.inv(geometry.affine)
        # index = inv @ (source + w d + (w/1000)(u u_hat + v v_hat)): affine in (w, w*u, w*v)
        base = inv[:3, :3] @ source + inv[:3, 3]
        col_d = inv[:3, :3] @ d
        col_u = inv[:3, :3] @ u_hat / SAD_MM
        col_v = inv[:3, :3] @ v_hat / SAD_MM
        out = np.empty((len(w_mm), len(v_mm), len(u_mm)), dtype=np.float32)
        uu = u_mm[None, :]
        vv = v_mm[:, None]
        values = np.ascontiguousarray(density, dtype=np.float32)
        axes = [np.flatnonzero(np.abs(c) > 1e-9 * np.abs(c).max()) for c in (col_d, col_u, col_v)]
        if all(len(a) == 1 for a in axes) and len({int(a[0]) for a in axes}) == 3:
            # the beam's axes run along the grid's (AP, PA, lateral beams at collimator 0 or 90): each BEV
            # slice is a plane of the grid, zoomed; the trilinear interpolation is done per axis
            a_d, a_u, a_v = (int(a[0]) for a in axes)
            for i, w in enumerate(w_mm):
                plane = _taps_along(values, a_d, np.array([base[a_d] + w * col_d[a_d]]))
                plane = _taps_along(plane, a_v, base[a_v] + w * col_v[a_v] * v_mm)
                plane = _taps_along(plane, a_u, base[a_u] + w * col_u[a_u] * u_mm)
                plane = np.squeeze(plane, axis=a_d)
                out[i] = plane if a_v < a_u else plane.T
            return out
        for i, w in enumerate(w_mm):
            coords = [base[a] + w * (col_d[a] + col_u[a] * uu + col_v[a] * vv) for a in range(3)]
            out[i] = ndimage.map_coordinates(
                values,
                [np.broadcast_to(c, (len(v_mm), len(u_mm))) for c in coords],
                order=1,
                cval=0.0,
                prefilter=False,
            )
        return out

    # ------------------------------------------------------------------ the computation
    def beam_dose(
        self,
        beam: Beam,
        density: np.ndarray,
        geometry: Geometry,
        *,
        resolution_mm: float,
        heterogeneity: bool,
    ) -> BevDose | NearFarDose:
        """Dose of ``beam``: its BEV grid near the field, plus a coarser one over the rest of the body."""
        box = _body_box(density)
        near_grid = self._bev_grid(beam, geometry, box, resolution_mm, self.margin_mm)
        near = self._grid_dose(beam, density, geometry, heterogeneity, near_grid)
        far_grid = self._bev_grid(
            beam,
            geometry,
            box,
            resolution_mm * self.far_factor,
            np.inf,
            resolution_mm * self.far_factor / 2,
        )
        if far_grid is None or near.dose.size <= 1:
            return near
        # the far grid is needed only when the body reaches beyond the near grid across the beam
        u_far, v_far = far_grid[2], far_grid[1]
        u_near = (near.u0_mm, near.u0_mm + (near.dose.shape[2] - 1) * near.du_mm)
        v_near = (near.v0_mm, near.v0_mm + (near.dose.shape[1] - 1) * near.du_mm)
        if (
            u_far[0] >= u_near[0]
            and u_far[-1] <= u_near[1]
            and v_far[0] >= v_near[0]
            and v_far[-1] <= v_near[1]
        ):
            return near
        # out of the field the electrons' lateral spread does not matter: only the photon scatter is scaled
        far = self._grid_dose(beam, density, geometry, heterogeneity, far_grid, electrons=False)
        return NearFarDose(near, far)

    def _grid_dose(
        self,
        beam: Beam,
        density: np.ndarray,
        geometry: Geometry,
        heterogeneity: bool,
        grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        electrons: bool = True,
    ) -> BevDose:
        """Dose of ``beam`` on one BEV grid (see the module docstring for the model).

        ``electrons=False`` leaves the narrow (electron) part of the kernel unscaled in lung (out of field).
        What the jaws do not change (:class:`_Prepared`) is kept per density, beam set-up and grid, so a beam
        whose jaws moved within the same grid only has its fluence convolved again.
        """
        if grid is None:
            return _empty(beam)
        source, d, u_hat, v_hat = beam.frame()
        key = (
            np.concatenate([source, d, u_hat, v_hat]).tobytes(),
            beam.energy,
            bool(heterogeneity),
            bool(electrons),
            float(self.reach_mm),
            *(a.tobytes() for a in grid),
        )
        prepared = _PREPARED.get(density, key)
        if prepared is None:
            prepared = self._prepare(beam, density, geometry, heterogeneity, grid, electrons)
            _PREPARED.put(density, key, prepared)
        return self._finish(beam, prepared)

    def _prepare(
        self,
        beam: Beam,
        density: np.ndarray,
        geometry: Geometry,
        heterogeneity: bool,
        grid: tuple[np.ndarray, np.ndarray, np.ndarray],
        electrons: bool,
    ) -> _Prepared:
        """Everything of one beam's BEV grid that its fluence does not change: steps 1, 2 and the kernels."""
        quality = beam_quality(beam.energy)
        kernel = kernel_for_energy(beam.energy)
        w_mm, v_mm, u_mm = grid
        du = float(u_mm[1] - u_mm[0])
        dw = float(w_mm[1] - w_mm[0])
        rho = self._bev_density(beam, density, geometry, w_mm, v_mm, u_mm)

        # 1. radiological depth along each divergent ray (midpoint rule)
        path = np.sqrt(1.0 + (u_mm[None, :] ** 2 + v_mm[:, None] ** 2) / SAD_MM**2).astype(np.float32)
        step = rho * (dw * path)[None, :, :]
        depth = np.cumsum(step, axis=0, dtype=np.float32)
        depth -= 0.5 * step
        del step

        # 2. the density each kernel component sees (lung; see _upstream_mean): the narrow (electron) part the
        #    density of the electrons' path upstream, the broad (photon-scatter) part the lower of two means
        #    over the mass upstream
        rho_n = rho_b = None
        levels = [1.0]
        if heterogeneity:
            body = rho > 0.05
            # interior voxels only: partial-volume voxels on the skin must not look like lung
            interior = ndimage.binary_erosion(body)
            if np.any(interior & (rho < 0.95)):
                mass_step = rho * (dw * path)[None, :, :]
                inside = interior.astype(np.float32)
                pixel_mm = du * float(w_mm.mean()) / SAD_MM
                # the electrons: the density of their path, a mean over the length (not the mass) upstream
                rho_n = (
                    _upstream_mean(
                        _lateral_mean(rho, inside, ELECTRON_LATERAL_MM, pixel_mm),
                        mass_step,
                        kernel.electron_reach_mm(),
                        step_mm=dw * path,
                    )
                    if electrons
                    else np.ones_like(rho)
                )
                lateral = _lateral_mean(rho, inside, SCATTER_LATERAL_MM, pixel_mm)
                rho_b = np.minimum(
                    _upstream_mean(lateral, mass_step, kernel.buildup_length_mm()),
                    _upstream_mean(lateral, mass_step, kernel.scatter_range_mm()),
                )
                del mass_step, inside, lateral
                low = float(min(rho_n[body].min(), rho_b[body].min()))
                levels = [lv for lv in DENSITY_LEVELS if lv >= low - 1e-6]
                if low < levels[-1] - 1e-6 and len(levels) < len(DENSITY_LEVELS):
                    levels.append(DENSITY_LEVELS[len(levels)])
                if len(levels) == 1:
                    rho_n = rho_b = None
            del body, interior

        # the padded plane of the fluence and the kernels' transforms at each depth layer
        max_depth = float(depth.max())
        layers = LAYER_DEPTHS_MM[LAYER_DEPTHS_MM <= max_depth]
        layers = np.append(
            layers, LAYER_DEPTHS_MM[len(layers)] if len(layers) < len(LAYER_DEPTHS_MM) else max_depth
        )
        w_surface = self._axis_surface(w_mm, v_mm, u_mm, rho)
        pad = int(np.ceil(self.reach_mm * SAD_MM / (w_surface * du)))
        # even sizes whose halves are fast too: the broad (photon-scatter) corrections use a 2x coarser grid
        shape = (
            2 * scipy.fft.next_fast_len((len(v_mm) + 2 * pad + 1) // 2, real=True),
            2 * scipy.fft.next_fast_len((len(u_mm) + 2 * pad + 1) // 2, real=True),
        )
        half = (shape[0] // 2, shape[1] // 2)
        crop = (slice(pad, pad + len(v_mm)), slice(pad, pad + len(u_mm)))
        lower = tuple(levels[1:])
        layer_kernels = []
        for z in layers:
            pixel = du * (w_surface + z) / SAD_MM
            horn = float(max(quality.horn_per_100mm2 + quality.horn_change_per_100mm * z / 100.0, 0.0))
            water_narrow = kernel.transfer(float(z), pixel, shape, part="narrow")
            both = water_narrow + kernel.transfer(float(z), pixel, shape, part="broad")
            narrow, broad = [], []
            if lower:
                water_broad = kernel.transfer(float(z), 2 * pixel, half, part="broad")
                for level in lower:
                    if electrons:
                        narrow.append(
                            kernel.transfer(float(z), pixel, shape, density=level, part="narrow")
                            - water_narrow
                        )
                    t_b = kernel.transfer(float(z), 2 * pixel, half, broad_density=level, part="broad")
                    t_b -= water_broad
                    broad.append(t_b)
            layer_kernels.append(_LayerKernels(horn, both, tuple(narrow), tuple(broad)))

        # 4. (fixed part) each BEV voxel's place between depth layers (and density levels)
        plane = len(v_mm) * len(u_mm)
        layer = np.clip(np.searchsorted(layers, depth, side="right") - 1, 0, len(layers) - 2)
        z0 = layers[layer].astype(np.float32)
        frac_z = np.clip((depth - z0) / (layers[layer + 1] - z0).astype(np.float32), 0.0, 1.0)
        del z0
        lower_index = (layer * plane + np.arange(plane).reshape(len(v_mm), len(u_mm))).ravel()
        del layer
        corrections: tuple[_DensityCorrection, ...] = ()
        if lower and rho_n is not None and rho_b is not None:
            # only the voxels whose components see less than water density get the corrections
            where = np.flatnonzero(
                ((rho_n < 0.995) | (rho_b < 0.995) if electrons else rho_b < 0.995).ravel()
            )
            correction_voxels = where
            at_layer, at_step = lower_index[where], frac_z.ravel()[where]
            layer_of = at_layer // plane
            ascending = np.asarray([*lower[::-1], 1.0], dtype=np.float32)
            parts = ((True, rho_n), (False, rho_b)) if electrons else ((False, rho_b),)
            found = []
            for narrow_part, rho_c in parts:
                r = np.clip(rho_c.ravel()[where], ascending[0], ascending[-1])
                j = np.clip(np.searchsorted(ascending, r, side="right") - 1, 0, len(ascending) - 2)
                t = (r - ascending[j]) / (ascending[j + 1] - ascending[j])
                voxel_sets, weight_sets, below_sets, step_sets, layer_sets = [], [], [], [], []
                for m in range(len(lower)):
                    i = len(lower) - 1 - m  # lower[m] is ascending[i]
                    at = np.flatnonzero((j == i) | (j + 1 == i))
                    voxel_sets.append(at)
                    weight_sets.append(np.where(j[at] == i, 1 - t[at], t[at]).astype(np.float32))
                    below_sets.append(at_layer[at])
                    step_sets.append(at_step[at])
                    below = np.unique(layer_of[at])
                    layer_sets.append(frozenset(int(k) for k in np.union1d(below, below + 1)))
                found.append(
                    _DensityCorrection(
                        narrow_part,
                        tuple(voxel_sets),
                        tuple(weight_sets),
                        tuple(below_sets),
                        tuple(step_sets),
                        tuple(layer_sets),
                    )
                )
            corrections = tuple(found)
        else:
            correction_voxels = None
        del rho_n, rho_b

        missing = self._missing_tissue_levels(kernel, quality, rho, depth, crop, shape, du, w_surface, dw)
        if quality.contamination_gy > 0:
            sigma_px = quality.contamination_sigma_mm / du
            fy = scipy.fft.fftfreq(shape[0])[:, None]
            fx = scipy.fft.rfftfreq(shape[1])[None, :]
            contamination_filter = np.exp(-2 * np.pi**2 * sigma_px**2 * (fx**2 + fy**2))
            contamination_depth = np.exp(-depth / np.float32(quality.contamination_depth_mm))
        else:
            contamination_filter = contamination_depth = None
        inverse_square = ((SAD_MM / w_mm) ** 2).astype(np.float32)[:, None, None]
        pu = u_mm[0] - pad * du + np.arange(shape[1]) * du
        pv = v_mm[0] - pad * du + np.arange(shape[0]) * du
        radius, sigma = quality.primary_radius_mm, quality.primary_sigma_mm
        return _Prepared(
            quality=quality,
            kernel=kernel,
            grid=grid,
            shape=shape,
            crop=crop,
            layers=layers,
            layer_kernels=tuple(layer_kernels),
            lower=lower,
            electrons=electrons,
            lower_index=lower_index,
            frac_z=frac_z,
            corrections=corrections,
            correction_voxels=correction_voxels,
            missing=missing,
            broad=_broad_beam_at(kernel, depth, max_depth),
            inverse_square=inverse_square,
            contamination_filter=contamination_filter,
            contamination_depth=contamination_depth,
            plane_mm=(pu, pv),
            collimator=primary_collimator_transmission(pu, pv, radius, sigma) if radius > 0 else None,
            horn=horn_shape(pu, pv, quality.horn_radius_mm),
        )

    def _finish(self, beam: Beam, prepared: _Prepared) -> BevDose:
        """Steps 3 to 6 for this beam's jaws and blocks on a prepared grid."""
        p = prepared
        quality, kernel = p.quality, p.kernel
        w_mm, v_mm, u_mm = p.grid
        du = float(u_mm[1] - u_mm[0])
        dw = float(w_mm[1] - w_mm[0])
        shape, crop = p.shape, p.crop
        half = (shape[0] // 2, shape[1] // 2)
        # photons per unit weight: calibration (10 x 10 cm, SSD 1000 mm) x the jaws' head scatter
        calibration = calibration_gy_per_unit(beam.energy) * head_scatter_factor(beam.energy, beam.field_mm)

        # 3. fluence on a padded plane and its transform, in single precision like the dose: the transforms
        #    of a plane this size are several times faster than in double (it stays in the processor's cache)
        #    and differ by under 1e-6 of the maximum
        pu, pv = p.plane_mm
        primary = fluence_map(
            beam,
            pu,
            pv,
            source_sigma_mm=quality.source_sigma_mm,
            primary_radius_mm=quality.primary_radius_mm,
            primary_sigma_mm=quality.primary_sigma_mm,
            collimator=p.collimator,
        )
        # plus head scatter, jaw transmission and leakage behind the jaws (hbiview.dose.out_of_field)
        fluence = (primary + out_of_field_fluence(beam, pu, pv, primary)).astype(np.float32)
        spectrum = scipy.fft.rfft2(fluence, workers=self.workers)
        # off-axis horns, smaller with depth (off-axis softening): fluence x (1 + h(z) q(r))
        horned = (primary * p.horn).astype(np.float32)
        del primary
        horn_spectrum = scipy.fft.rfft2(horned, workers=self.workers)
        broad_layers = kernel.broad_beam(p.layers).astype(np.float32)
        ratio = np.empty((len(p.layers), len(v_mm), len(u_mm)), dtype=np.float32)
        # differences from water of the narrow and broad components at each lower density level
        lower = p.lower
        # (only the layers its corrected voxels lie between are computed, and only those are read)
        d_narrow = np.empty((len(lower), len(p.layers), len(v_mm), len(u_mm)), dtype=np.float32)
        d_broad = np.empty_like(d_narrow)
        spectrum_c = scipy.fft.rfft2(_bin2(fluence), workers=self.workers) if lower else spectrum
        horn_c = scipy.fft.rfft2(_bin2(horned), workers=self.workers) if lower else horn_spectrum
        (iy, wy), (ix, wx) = (_linear_weights(crop[a].start, crop[a].stop, half[a]) for a in (0, 1))
        missing = self._missing_tissue(kernel, p.missing, fluence, horned, crop, half)
        del horned
        # each lower density level only at the layers its voxels lie between
        no_layers = tuple(frozenset[int]() for _ in lower)
        at_layers = {c.narrow: c.layers for c in p.corrections}
        narrow_at, broad_at = at_layers.get(True, no_layers), at_layers.get(False, no_layers)
        for k, kernels in enumerate(p.layer_kernels):
            incident = spectrum + kernels.horn * horn_spectrum
            conv = scipy.fft.irfft2(incident * kernels.both, s=shape, workers=self.workers)
            ratio[k] = conv[crop] / broad_layers[k]
            source_c = spectrum_c + kernels.horn * horn_c if any(k in b for b in broad_at) else None
            for m in range(len(lower)):
                if k in narrow_at[m]:
                    conv = scipy.fft.irfft2(incident * kernels.narrow[m], s=shape, workers=self.workers)
                    d_narrow[m, k] = conv[crop] / broad_layers[k]
                if source_c is not None and k in broad_at[m]:
                    conv_c = scipy.fft.irfft2(source_c * kernels.broad[m], s=half, workers=self.workers)
                    upsample(conv_c[None], iy, wy, ix, wx, d_broad[m, k : k + 1])
                    d_broad[m, k] /= broad_layers[k]

        # 4. each BEV voxel: interpolate between depth layers (and density levels)
        plane = len(v_mm) * len(u_mm)
        flat_ratio = ratio.reshape(-1)
        shape_ratio = between_layers(flat_ratio, p.lower_index, p.frac_z.reshape(-1), plane)
        if p.correction_voxels is not None:
            where = p.correction_voxels
            for c in p.corrections:
                table = d_narrow if c.narrow else d_broad
                value = np.zeros(len(where), dtype=np.float32)
                places = zip(c.voxels, c.weights, c.below, c.step, strict=True)
                for m, (voxels, weight, below, step) in enumerate(places):
                    add_level(value, table[m].reshape(-1), plane, voxels, weight, below, step)
                add_at(shape_ratio, where, value)
        del d_narrow, d_broad
        shape_ratio = shape_ratio.reshape(len(w_mm), len(v_mm), len(u_mm))
        if missing is not None:
            # 5. no photon scatter from pencils that cross no tissue at this level (narrow body parts)
            samples, values = missing
            fine = np.empty((len(samples), len(v_mm), len(u_mm)), dtype=np.float32)
            upsample(values, iy, wy, ix, wx, fine)
            # each slice between the two sampled levels around it (the first two before, the last after)
            subtract_missing(shape_ratio, fine, samples)
            del values
        contamination = None
        if p.contamination_filter is not None and p.contamination_depth is not None:
            spread = scipy.fft.irfft2(spectrum * p.contamination_filter, s=shape, workers=self.workers)[crop]
            contamination = np.float32(quality.contamination_gy) * spread.astype(np.float32)
        # 6. the dose, in place of the ratios
        ratio_to_dose(
            shape_ratio,
            p.broad,
            np.float32(calibration),
            p.inverse_square.reshape(-1),
            contamination,
            p.contamination_depth,
        )
        source, d, u_hat, v_hat = beam.frame()
        return BevDose(
            shape_ratio,
            source,
            d,
            u_hat,
            v_hat,
            float(w_mm[0]),
            dw,
            float(u_mm[0]),
            float(v_mm[0]),
            du,
        )

    def _missing_tissue_levels(
        self,
        kernel: PencilKernel,
        quality: BeamQuality,
        rho: np.ndarray,
        depth: np.ndarray,
        crop: tuple[slice, slice],
        shape: tuple[int, int],
        du: float,
        w_surface: float,
        dw: float,
    ) -> _MissingTissue | None:
        """Where the body is at every :data:`MISSING_TISSUE_STEP_MM` along the beam, and the kernel there.

        See :meth:`_missing_tissue`; ``None`` when no level has tissue.
        """
        body = rho > 0.05
        has_body = np.flatnonzero(body.any(axis=(1, 2)))
        if has_body.size == 0:
            return None
        step = max(round(MISSING_TISSUE_STEP_MM / dw), 1)
        samples = np.unique(np.r_[has_body[0] : has_body[-1] + 1 : step, has_body[-1]])
        half = (shape[0] // 2, shape[1] // 2)
        levels = []
        for n, i in enumerate(samples):
            inside = body[i]
            if not inside.any():
                continue
            z = float(np.median(depth[i][inside]))
            horn = float(max(quality.horn_per_100mm2 + quality.horn_change_per_100mm * z / 100.0, 0.0))
            air = np.ones(shape, dtype=np.float32)
            air[crop] = ~inside
            pixel = du * (w_surface + z) / SAD_MM
            transfer = kernel.transfer(z, 2 * pixel, half, part="broad")
            levels.append((n, air, horn, transfer, float(kernel.broad_beam(z))))
        return _MissingTissue(samples, tuple(levels))

    def _missing_tissue(
        self,
        kernel: PencilKernel,
        levels: _MissingTissue | None,
        fluence: np.ndarray,
        horned: np.ndarray,
        crop: tuple[slice, slice],
        half: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The photon-scatter part of the kernel that pencils through air beside the body would give.

        The Nyholm kernel is for a semi-infinite phantom: every pencil of the field scatters into every other.
        Where the body is narrower than the field (neck, arms, legs, the flanks of the trunk) the pencils
        beside it cross no tissue at that level and scatter nothing. At every :data:`MISSING_TISSUE_STEP_MM`
        along the beam, this convolves the fluence of the pencils outside the body at that level with the
        kernel's broad component at the level's radiological depth (2x coarser grid) and returns it as a ratio
        to the broad-beam dose, to be subtracted (the narrow, electron, part reaches only millimetres).

        Returns
        -------
        tuple or None
            BEV slice indices sampled and the ``(n, ny // 2, nx // 2)`` coarse ratios there; ``None`` if every
            level with tissue is covered by tissue wherever the field has fluence.
        """
        if levels is None:
            return None
        values = np.zeros((len(levels.samples), *half), dtype=np.float32)
        any_missing = False
        for n, air, horn, transfer, broad in levels.levels:
            outside = (fluence + horn * horned) * air
            if float(outside[crop].max(initial=0.0)) < 1e-3 and float(outside.max()) < 1e-3:
                continue
            any_missing = True
            spectrum = scipy.fft.rfft2(_bin2(outside), workers=self.workers)
            conv = scipy.fft.irfft2(spectrum * transfer, s=half, workers=self.workers)
            values[n] = conv / broad
        return (levels.samples, values) if any_missing else None

    @staticmethod
    def _axis_surface(w_mm: np.ndarray, v_mm: np.ndarray, u_mm: np.ndarray, rho: np.ndarray) -> float:
        """Distance from the source (mm) where the body starts on the central ray (or the first slice).

        The ray of the grid nearest the central axis (the grid's need not be centred on it: asymmetric jaws,
        a fine grid spanning the jaws' travel); if the body is not on it, the first slice with body.
        """
        jv = int(np.clip(np.rint(-v_mm[0] / (v_mm[1] - v_mm[0])), 0, len(v_mm) - 1))
        ju = int(np.clip(np.rint(-u_mm[0] / (u_mm[1] - u_mm[0])), 0, len(u_mm) - 1))
        column = rho[:, jv, ju]
        hits = np.nonzero(column > 0.05)[0]
        if hits.size == 0:
            hits = np.nonzero(rho.max(axis=(1, 2)) > 0.05)[0]
        return float(w_mm[hits[0]]) if hits.size else float(w_mm[0])
