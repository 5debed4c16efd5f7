"""Orthogonal slice planes in LPS mm, in radiological orientation, and sampling of volumes on them.

Orientation (what a radiologist expects on a light box):

* axial, seen from the feet: patient right on image left, anterior up;
* coronal, seen from the front: patient right on image left, head up;
* sagittal, seen from the patient's left: anterior on image left, head up.

A plane's image is a ``(rows, columns)`` array whose row 0 is the top of the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from hbiview.errors import InputError
from hbiview.geometry import Geometry

__all__ = ["VIEWS", "SlicePlane", "make_plane", "sample_on_plane"]

#: view -> (fixed LPS axis, column axis, row axis, column grows, row grows, edge labels left/right/top/bottom)
_LAYOUT: dict[str, tuple[int, int, int, int, int, tuple[str, str, str, str]]] = {
    # columns run along +x (R -> L), rows along +y (A -> P)
    "axial": (2, 0, 1, +1, +1, ("R", "L", "A", "P")),
    # columns along +x (R -> L), rows along -z (H -> F)
    "coronal": (1, 0, 2, +1, -1, ("R", "L", "H", "F")),
    # columns along +y (A -> P), rows along -z (H -> F)
    "sagittal": (0, 1, 2, +1, -1, ("A", "P", "H", "F")),
}

VIEWS: tuple[str, ...] = tuple(_LAYOUT)
_AXIS_NAMES = ("x", "y", "z")


@dataclass(frozen=True)
class SlicePlane:
    """A rectangular grid of LPS points on one orthogonal plane, laid out as a picture.

    Attributes
    ----------
    view
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.
    position_mm
        LPS coordinate of the plane along its fixed axis (z for axial, y for coronal, x for sagittal).
    columns_mm, rows_mm
        LPS coordinates along the picture's horizontal and vertical axes, left to right and top to bottom.
    points_lps
        ``(rows, columns, 3)`` LPS positions (mm) of the pixel centres.
    labels
        Patient directions at the left, right, top and bottom edges of the picture.
    fixed_axis, column_axis, row_axis
        LPS axis index (0 x, 1 y, 2 z) of the plane normal and of the picture's horizontal and vertical.
    """

    view: str
    position_mm: float
    columns_mm: np.ndarray
    rows_mm: np.ndarray
    points_lps: np.ndarray
    labels: tuple[str, str, str, str]
    fixed_axis: int
    column_axis: int
    row_axis: int

    @property
    def extent_mm(self) -> tuple[float, float, float, float]:
        """Matplotlib ``imshow`` extent (left, right, bottom, top) in plane coordinates (mm)."""
        dc = (self.columns_mm[-1] - self.columns_mm[0]) / max(len(self.columns_mm) - 1, 1) / 2
        dr = (self.rows_mm[-1] - self.rows_mm[0]) / max(len(self.rows_mm) - 1, 1) / 2
        return (
            float(self.columns_mm[0] - dc),
            float(self.columns_mm[-1] + dc),
            float(self.rows_mm[-1] + dr),
            float(self.rows_mm[0] - dr),
        )

    def to_plane(self, points_lps: npt.ArrayLike) -> np.ndarray:
        """Plane coordinates ``(column_mm, row_mm)`` of LPS points, ``(..., 2)``."""
        pts = np.asarray(points_lps, dtype=float)
        return np.stack([pts[..., self.column_axis], pts[..., self.row_axis]], axis=-1)

    @property
    def title(self) -> str:
        """E.g. ``axial z = 120.0 mm``."""
        position = round(self.position_mm, 1) + 0.0  # never "-0.0"
        return f"{self.view} {_AXIS_NAMES[self.fixed_axis]} = {position:.1f} mm"


def make_plane(
    geometry: Geometry,
    view: str,
    position_mm: float | None = None,
    pixel_mm: float | None = None,
) -> SlicePlane:
    """The slice plane of ``view`` through ``position_mm`` covering the LPS bounding box of ``geometry``.

    Parameters
    ----------
    geometry
        The grid whose extent the picture covers (normally the CT's).
    view
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.
    position_mm
        LPS coordinate along the plane normal (z for axial, y for coronal, x for sagittal); default the
        middle of the grid.
    pixel_mm
        Pixel size of the picture (mm); default the finest in-plane spacing of the grid along the picture's
        two axes (one pixel per voxel for axial grids).

    Raises
    ------
    InputError
        If ``view`` is unknown or ``position_mm`` lies outside the grid.
    """
    if view not in _LAYOUT:
        raise InputError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    fixed, col_axis, row_axis, col_sign, row_sign, labels = _LAYOUT[view]
    lower, upper = geometry.bounds_mm()
    if position_mm is None:
        position_mm = float((lower[fixed] + upper[fixed]) / 2)
    half_voxel = float(np.max(geometry.spacing_mm)) / 2
    if not lower[fixed] - half_voxel <= position_mm <= upper[fixed] + half_voxel:
        raise InputError(
            f"{view} position {position_mm:.1f} mm is outside the CT "
            f"({_AXIS_NAMES[fixed]} from {lower[fixed]:.1f} to {upper[fixed]:.1f} mm)"
        )
    # spacing of the grid along each LPS axis (exact for axial grids, a fair pixel size otherwise)
    step_lps = np.abs(geometry.affine[:3, :3]).max(axis=1)

    def axis(index: int, sign: int) -> np.ndarray:
        step = float(pixel_mm or step_lps[index])
        n = round((upper[index] - lower[index]) / step) + 1
        coords = lower[index] + step * np.arange(n)
        return coords if sign > 0 else coords[::-1]

    columns = axis(col_axis, col_sign)
    rows = axis(row_axis, row_sign)
    points = np.empty((len(rows), len(columns), 3))
    points[..., fixed] = position_mm
    points[..., col_axis] = columns[np.newaxis, :]
    points[..., row_axis] = rows[:, np.newaxis]
    return SlicePlane(view, float(position_mm), columns, rows, points, labels, fixed, col_axis, row_axis)


def sample_on_plane(
    array: npt.ArrayLike, geometry: Geometry, plane: SlicePlane, order: int = 1, fill: float = 0.0
) -> np.ndarray:
    """Values of a ``(z, y, x)`` array at the plane's pixel centres, ``(rows, columns)`` float32.

    Parameters
    ----------
    array
        Values on ``geometry`` (CT, dose, a mask as 0/1).
    geometry
        Its grid (may differ from the grid the plane was made for).
    plane
        The slice plane.
    order
        Interpolation order (0 nearest, 1 linear).
    fill
        Value outside ``geometry`` (e.g. -1000 HU for CT, 0 Gy for dose).
    """
    index = geometry.lps_to_index(plane.points_lps.reshape(-1, 3))
    values = ndimage.map_coordinates(
        np.asarray(array, dtype=np.float32), index.T, order=order, mode="constant", cval=fill, prefilter=False
    )
    return values.reshape(plane.points_lps.shape[:2])
