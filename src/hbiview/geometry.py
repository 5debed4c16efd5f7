"""Voxel grids in DICOM patient coordinates.

A :class:`Geometry` is the shape of a ``(z, y, x)`` array (slice, row, column) plus one 4x4 affine that maps
those indices to LPS patient coordinates in millimetres (x towards the patient's left, y towards posterior,
z towards the head). Everything else (spacing, origin, direction, the patient coordinate of a voxel, a
resampling target) is derived from those two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hbiview.errors import GeometryError

__all__ = ["Geometry", "bounding_box"]


def _readonly(array: npt.ArrayLike, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Geometry:
    """A regular voxel grid: array shape and the affine from array index to LPS millimetres.

    Parameters
    ----------
    shape
        Number of voxels along ``(z, y, x)`` = (slices, rows, columns).
    affine
        4x4 matrix; ``affine @ [k, j, i, 1]`` is the LPS position (mm) of the centre of voxel
        ``array[k, j, i]``. Its first three columns are the steps (mm) along the slice, row and column
        axes.
    frame_of_reference_uid
        DICOM FrameOfReferenceUID shared by all objects in the same patient space, if known.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    frame_of_reference_uid: str | None = field(default=None)

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"a grid needs three positive dimensions (z, y, x), got {self.shape}")
        affine = _readonly(self.affine)
        if affine.shape != (4, 4) or not np.allclose(affine[3], [0, 0, 0, 1]):
            raise GeometryError("the affine must be a 4x4 matrix with last row [0, 0, 0, 1]")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
            raise GeometryError("the affine is singular: two grid axes are parallel or a spacing is zero")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "affine", affine)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spacing(
        cls,
        shape: Sequence[int],
        spacing_mm: npt.ArrayLike,
        origin_mm: npt.ArrayLike = (0.0, 0.0, 0.0),
        direction: npt.ArrayLike | None = None,
        frame_of_reference_uid: str | None = None,
    ) -> Geometry:
        """Build a grid from spacing, origin and direction.

        Parameters
        ----------
        shape
            ``(nz, ny, nx)`` voxels.
        spacing_mm
            Voxel size (mm) along ``(z, y, x)``.
        origin_mm
            LPS position (mm) of the centre of voxel ``[0, 0, 0]``, given as ``(x, y, z)``.
        direction
            3x3 matrix whose columns are the unit LPS directions of the z, y and x array axes. Default:
            the axial, head-first-supine layout (z -> +S, y -> +P, x -> +L).
        frame_of_reference_uid
            DICOM frame of reference.
        """
        if direction is None:
            direction = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        direction = np.asarray(direction, dtype=float)
        spacing = np.asarray(spacing_mm, dtype=float)
        if spacing.shape != (3,) or np.any(spacing <= 0):
            raise GeometryError(f"spacing must be three positive numbers (mm), got {spacing_mm!s}")
        affine = np.eye(4)
        affine[:3, :3] = direction * spacing[np.newaxis, :]
        affine[:3, 3] = np.asarray(origin_mm, dtype=float)
        return cls(tuple(shape), affine, frame_of_reference_uid)  # type: ignore[arg-type]

    @classmethod
    def box(
        cls,
        lower_mm: npt.ArrayLike,
        upper_mm: npt.ArrayLike,
        spacing_mm: float | Sequence[float],
        frame_of_reference_uid: str | None = None,
    ) -> Geometry:
        """Axial grid whose voxel centres cover the LPS box ``[lower_mm, upper_mm]``.

        Parameters
        ----------
        lower_mm, upper_mm
            Opposite corners ``(x, y, z)`` of the box in LPS mm.
        spacing_mm
            Voxel size (mm), one number or ``(z, y, x)``.
        frame_of_reference_uid
            DICOM frame of reference.
        """
        spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
        lower = np.asarray(lower_mm, dtype=float)
        upper = np.asarray(upper_mm, dtype=float)
        size_zyx = (upper - lower)[::-1]
        shape = np.maximum(np.ceil(size_zyx / spacing - 1e-6).astype(int) + 1, 1)
        centre = (lower + upper) / 2
        origin = centre - ((shape - 1) * spacing)[::-1] / 2
        return cls.from_spacing(tuple(shape), spacing, origin, None, frame_of_reference_uid)

    # ------------------------------------------------------------------ derived properties
    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel size (mm) along ``(z, y, x)``."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def origin_mm(self) -> np.ndarray:
        """LPS position ``(x, y, z)`` (mm) of the centre of voxel ``[0, 0, 0]``."""
        return self.affine[:3, 3].copy()

    @property
    def direction(self) -> np.ndarray:
        """3x3 matrix whose columns are the unit LPS directions of the z, y and x array axes."""
        return self.affine[:3, :3] / self.spacing_mm[np.newaxis, :]

    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    @property
    def voxel_volume_cc(self) -> float:
        """Volume of one voxel in cm3."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    @property
    def extent_mm(self) -> np.ndarray:
        """Size of the grid (mm) along ``(z, y, x)``, from the first to the last voxel edge."""
        return np.asarray(self.shape) * self.spacing_mm

    @property
    def is_axial(self) -> bool:
        """True when the array axes run along the patient axes (z along S/I, y along A/P, x along L/R)."""
        d = np.abs(self.direction)
        return bool(np.allclose(d, [[0, 0, 1], [0, 1, 0], [1, 0, 0]], atol=1e-4))

    def bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS bounding box ``(lower, upper)`` of the voxel centres, each ``(x, y, z)`` mm."""
        corners = np.array(np.meshgrid(*[[0, n - 1] for n in self.shape], indexing="ij")).reshape(3, -1).T
        lps = self.index_to_lps(corners)
        return lps.min(axis=0), lps.max(axis=0)

    def axis_coordinates_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LPS coordinates of the voxel centres along each axis of an axial grid.

        Returns
        -------
        z_mm, y_mm, x_mm
            Patient z (superior), y (posterior) and x (left) of slices, rows and columns (mm).

        Raises
        ------
        GeometryError
            If the grid is not axial.
        """
        if not self.is_axial:
            raise GeometryError("axis coordinates exist only for axial grids")
        o = self.origin_mm
        # signed steps: patient z per slice, patient y per row, patient x per column
        step_z, step_y, step_x = np.diag(self.affine[:3, :3][::-1])
        z = o[2] + step_z * np.arange(self.shape[0])
        y = o[1] + step_y * np.arange(self.shape[1])
        x = o[0] + step_x * np.arange(self.shape[2])
        return z, y, x

    # ------------------------------------------------------------------ transforms
    def index_to_lps(self, index: npt.ArrayLike) -> np.ndarray:
        """LPS positions (mm) of fractional array indices.

        Parameters
        ----------
        index
            ``(..., 3)`` indices ``(k, j, i)`` in array order.

        Returns
        -------
        numpy.ndarray
            ``(..., 3)`` positions ``(x, y, z)`` in mm.
        """
        idx = np.asarray(index, dtype=float)
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def lps_to_index(self, lps_mm: npt.ArrayLike) -> np.ndarray:
        """Fractional array indices ``(k, j, i)`` of LPS positions.

        Parameters
        ----------
        lps_mm
            ``(..., 3)`` positions ``(x, y, z)`` in mm.

        Returns
        -------
        numpy.ndarray
            ``(..., 3)`` fractional indices in array order.
        """
        pos = np.asarray(lps_mm, dtype=float) - self.affine[:3, 3]
        return pos @ np.linalg.inv(self.affine[:3, :3]).T

    def contains_lps(self, lps_mm: npt.ArrayLike, margin_voxels: float = 0.5) -> np.ndarray:
        """Whether LPS positions lie inside the grid (voxel edges, plus ``margin_voxels``)."""
        idx = self.lps_to_index(lps_mm)
        upper = np.asarray(self.shape) - 1 + margin_voxels
        return np.all((idx >= -margin_voxels) & (idx <= upper), axis=-1)

    # ------------------------------------------------------------------ comparison and resampling
    def isclose(self, other: Geometry, atol_mm: float = 1e-3) -> bool:
        """Same shape and affine within ``atol_mm`` (frame of reference is not compared)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol_mm))

    def with_spacing(self, spacing_mm: float | Sequence[float]) -> Geometry:
        """A grid with new spacing that covers the same extent (voxel edges) in the same directions.

        Parameters
        ----------
        spacing_mm
            New voxel size (mm), one number or ``(z, y, x)``.

        Returns
        -------
        Geometry
            The new grid; its centre coincides with this grid's centre.
        """
        new = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,)).copy()
        if np.any(new <= 0):
            raise GeometryError(f"spacing must be positive (mm), got {spacing_mm}")
        extent = self.extent_mm
        shape = np.maximum(np.round(extent / new - 1e-6).astype(int), 1)
        centre_index = (np.asarray(self.shape) - 1) / 2
        centre = self.index_to_lps(centre_index)
        direction = self.direction
        affine = np.eye(4)
        affine[:3, :3] = direction * new[np.newaxis, :]
        affine[:3, 3] = centre - affine[:3, :3] @ ((shape - 1) / 2)
        return Geometry(tuple(shape), affine, self.frame_of_reference_uid)

    def cropped(self, start: npt.ArrayLike, stop: npt.ArrayLike) -> Geometry:
        """The sub-grid ``array[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]``."""
        start_arr = np.asarray(start, dtype=int)
        shape = np.asarray(stop, dtype=int) - start_arr
        affine = self.affine.copy()
        affine[:3, 3] = self.index_to_lps(start_arr)
        return Geometry(tuple(shape), affine, self.frame_of_reference_uid)

    def subdivided(self, factor: int) -> Geometry:
        """Every voxel split into ``factor**3`` sub-voxels: same extent, same directions.

        Parameters
        ----------
        factor
            Sub-voxels per voxel edge (1 returns this grid).
        """
        if factor <= 1:
            return self
        steps = self.affine[:3, :3]
        affine = self.affine.copy()
        affine[:3, :3] = steps / factor
        affine[:3, 3] = self.affine[:3, 3] + steps @ np.full(3, 0.5 / factor - 0.5)
        shape = tuple(int(n) * factor for n in self.shape)
        return Geometry(shape, affine, self.frame_of_reference_uid)  # type: ignore[arg-type]

    def map_indices_from(self, other: Geometry) -> np.ndarray:
        """4x4 matrix taking indices of this grid to fractional indices of ``other``."""
        return np.linalg.inv(other.affine) @ self.affine

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.3g}" for s in self.spacing_mm)
        org = ", ".join(f"{o:.1f}" for o in self.origin_mm)
        return f"Geometry(shape={self.shape}, spacing_mm=({sp}), origin_mm=({org}))"


def bounding_box(mask: npt.ArrayLike, margin: int = 0) -> tuple[slice, ...] | None:
    """Index slices of the smallest box holding every true voxel of ``mask``, ``margin`` voxels wider.

    The one bounding-box helper of hbiview (masks of any dimension). Two passes over the array: which
    first-axis planes hold anything, then the other axes on the union of those planes only.

    Parameters
    ----------
    mask
        Boolean array (any non-zero counts as true), e.g. ``(z, y, x)``.
    margin
        Voxels added on every side, clipped to the array.

    Returns
    -------
    tuple of slice or None
        One slice per axis (``mask[box]`` is the crop), ``None`` when nothing is true.

    Examples
    --------
    >>> m = np.zeros((4, 5, 6), bool)
    >>> m[1, 2:4, 3] = True
    >>> bounding_box(m)
    (slice(1, 2, None), slice(2, 4, None), slice(3, 4, None))
    >>> bounding_box(m, margin=1)
    (slice(0, 3, None), slice(1, 5, None), slice(2, 5, None))
    """
    array = np.asarray(mask).astype(bool, copy=False)
    if array.ndim == 0 or array.size == 0:
        return None
    planes = np.flatnonzero(array.reshape(array.shape[0], -1).any(axis=1))
    if planes.size == 0:
        return None
    ranges = [(int(planes[0]), int(planes[-1]) + 1)]
    if array.ndim > 1:
        union = np.asarray(array[ranges[0][0] : ranges[0][1]].any(axis=0))
        for axis in range(union.ndim):
            other = tuple(a for a in range(union.ndim) if a != axis)
            hits = np.flatnonzero(union.any(axis=other)) if other else np.flatnonzero(union)
            ranges.append((int(hits[0]), int(hits[-1]) + 1))
    return tuple(
        slice(max(lo - margin, 0), min(hi + margin, n))
        for (lo, hi), n in zip(ranges, array.shape, strict=True)
    )
