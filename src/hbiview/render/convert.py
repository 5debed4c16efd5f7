"""Conversion at the edge: ``(z, y, x)`` arrays on an LPS grid to PyVista objects, and surfaces from masks.

hbiview indexes arrays ``(z, y, x)`` and maps them to LPS millimetres with one affine; VTK wants x fastest,
``dimensions=(nx, ny, nz)`` and the values raveled in C order. The PyVista world of every scene is LPS mm,
so a point picked in a scene is a patient coordinate.

Surfaces are extracted in index space (where every VTK filter is exact) and their points are mapped to LPS
through the grid's affine afterwards, so oblique and feet-first grids come out right too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from hbiview.errors import InputError
from hbiview.geometry import Geometry, bounding_box
from hbiview.render._pv import pyvista
from hbiview.volume import DoseGrid, Volume

__all__ = [
    "isodose_surface",
    "isodose_surfaces",
    "mask_surface",
    "probe_array",
    "to_image_data",
    "vtk_direction",
]


def vtk_direction(geometry: Geometry) -> np.ndarray:
    """VTK direction matrix (columns: LPS directions of the i, j, k = x, y, z array axes)."""
    return geometry.direction[:, ::-1].copy()


def to_image_data(
    volume: Volume | npt.ArrayLike, geometry: Geometry | None = None, name: str = "values"
) -> Any:
    """A :class:`pyvista.ImageData` in LPS mm holding a ``(z, y, x)`` array as point data.

    Parameters
    ----------
    volume
        A :class:`~hbiview.volume.Volume` (its geometry is used) or a ``(z, y, x)`` array.
    geometry
        The grid of ``volume`` when it is a plain array.
    name
        Name of the point-data array.

    Returns
    -------
    pyvista.ImageData
        ``dimensions == (nx, ny, nz)``; point ``i + nx * (j + ny * k)`` is voxel ``[k, j, i]``, at
        ``geometry.index_to_lps([k, j, i])``.
    """
    pv = pyvista()
    if isinstance(volume, Volume):
        geometry = volume.geometry
        array = np.asarray(volume.array)
    else:
        if geometry is None:
            raise InputError("to_image_data needs the geometry of a plain array")
        array = np.asarray(volume)
    if array.shape != geometry.shape:
        raise InputError(f"array shape {array.shape} does not match grid {geometry.shape}")
    nz, ny, nx = geometry.shape
    image = pv.ImageData(dimensions=(nx, ny, nz))
    image.spacing = tuple(float(s) for s in geometry.spacing_mm[::-1])
    image.origin = tuple(float(o) for o in geometry.origin_mm)
    image.direction_matrix = vtk_direction(geometry)
    image.point_data[name] = array.ravel(order="C")
    return image


def _index_points_to_lps(points_ijk: np.ndarray, geometry: Geometry, offset_kji: np.ndarray) -> np.ndarray:
    """Map VTK index-space points ``(i, j, k)`` of a sub-array starting at ``offset_kji`` to LPS mm."""
    kji = points_ijk[:, ::-1] + offset_kji[np.newaxis, :]
    return geometry.index_to_lps(kji)


def _finish_surface(
    surface: Any, geometry: Geometry, offset_kji: np.ndarray, max_faces: int, target_faces: int | None = None
) -> Any:
    """Decimate above ``max_faces`` (to ``target_faces``, default ``max_faces``), map to LPS, add normals.

    ``surface`` is a flying-edges contour in index space: all triangles, wound consistently and outwards
    (towards the lower values). Unless it is decimated (which may change that), the winding is kept, and
    turned round when the affine flips handedness (feet-first grids), so VTK only averages the triangles'
    normals at the points: the same outward normals as its orientation pass (:func:`_oriented_normals`),
    without that pass's walk over the connectivity (8 ms of 8.5 ms on a 17 000-triangle shell, redone
    for every shell after each border change in ``hbiview serve``).
    """
    if surface.n_cells == 0:
        return surface
    decimate = bool(max_faces) and surface.n_cells > max_faces
    if decimate or not surface.is_all_triangles:
        surface = surface.triangulate()
        if decimate:
            surface = surface.decimate(1.0 - (target_faces or max_faces) / surface.n_cells)
        surface.points = _index_points_to_lps(np.asarray(surface.points), geometry, offset_kji)
        return _oriented_normals(surface)
    surface.points = _index_points_to_lps(np.asarray(surface.points), geometry, offset_kji)
    # index (i, j, k) -> LPS: the affine's columns of k, j and i, reversed
    if np.linalg.det(geometry.affine[:3, :3][:, ::-1]) < 0:
        _reverse_triangles(surface)
    return surface.compute_normals(
        cell_normals=False, split_vertices=False, consistent_normals=False, auto_orient_normals=False
    )


def _without(surface: Any, name: str) -> Any:
    """``surface`` without its point array ``name``, in place.

    A contour's own value at every point says nothing: it would only be copied by every cut and sent to the
    browser with each redraw.
    """
    if name in surface.point_data:
        surface.point_data.remove(name)
    return surface


def _oriented_normals(surface: Any) -> Any:
    """Point normals by VTK, the triangles first made consistent and oriented outwards (any surface)."""
    return surface.compute_normals(
        cell_normals=False, split_vertices=False, consistent_normals=True, auto_orient_normals=True
    )


def _reverse_triangles(surface: Any) -> None:
    """Wind every triangle of an all-triangle ``surface`` the other way round, in place."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    polys = surface.GetPolys()
    triangles = vtk_to_numpy(polys.GetConnectivityArray()).reshape(-1, 3)  # a view on VTK's point ids
    triangles[:, [1, 2]] = triangles[:, [2, 1]]
    polys.Modified()
    surface.Modified()


def mask_surface(
    mask: npt.ArrayLike,
    geometry: Geometry,
    *,
    smoothing_mm: float = 2.0,
    max_faces: int = 30_000,
    max_voxels: int = 3_000_000,
) -> Any:
    """A smooth, light triangle surface around a boolean mask, in LPS mm.

    The mask is cropped to its bounding box, blurred with a Gaussian of ``smoothing_mm`` (which removes the
    voxel staircase while keeping the enclosed volume of smooth shapes), contoured at one half with flying
    edges, then decimated to at most ``max_faces`` triangles.

    Parameters
    ----------
    mask
        ``(z, y, x)`` boolean array on ``geometry``.
    geometry
        Its grid.
    smoothing_mm
        Standard deviation of the Gaussian blur (mm); 0 keeps the staircase.
    max_faces
        Triangle budget: surfaces of more than twice as many triangles are decimated to it (0: never).
    max_voxels
        Larger crops are subsampled (every n-th voxel after the blur) so that whole-body masks stay fast.

    Returns
    -------
    pyvista.PolyData
        The surface with point normals; empty when the mask is empty.
    """
    pv = pyvista()
    mask = np.asarray(mask, dtype=bool)
    box = bounding_box(mask, margin=3)
    if box is None:
        return pv.PolyData()
    values = mask[box].astype(np.float32)
    spacing = geometry.spacing_mm
    if smoothing_mm > 0:
        values = ndimage.gaussian_filter(values, sigma=smoothing_mm / spacing, mode="constant", truncate=2.5)
    offset = np.array([s.start for s in box], dtype=float)
    step = max(1, int(np.ceil((values.size / max_voxels) ** (1.0 / 3.0))))
    if step > 1:
        values = values[::step, ::step, ::step]
    image = pv.ImageData(dimensions=values.shape[::-1], spacing=(step, step, step))
    image.point_data["v"] = values.ravel(order="C")
    surface = _without(image.contour([0.5], scalars="v", method="flying_edges", compute_normals=False), "v")
    # decimation is the slow part: only surfaces of more than twice the budget are brought down to it
    return _finish_surface(surface, geometry, offset, 2 * max_faces, max_faces)


def isodose_surfaces(
    dose: DoseGrid,
    levels_gy: Sequence[float],
    *,
    smoothing_mm: float = 0.0,
    max_faces: int = 40_000,
    max_voxels: int = 400_000,
) -> list[Any]:
    """The surfaces where the total dose equals each of ``levels_gy``, in LPS mm.

    Parameters
    ----------
    dose
        The dose grid (total dose, Gy).
    levels_gy
        Dose levels (Gy).
    smoothing_mm
        Optional Gaussian blur of the dose before contouring (mm).
    max_faces
        Surfaces with more than twice this many triangles are decimated to it (0: never).
    max_voxels
        The region above the lowest level (plus a margin) is subsampled to about this many voxels before
        contouring, so that whole-body grids stay fast; each surface is then within one subsampled voxel
        of the full-resolution one.

    Returns
    -------
    list of pyvista.PolyData
        One surface per level (empty where the dose never reaches the level).
    """
    pv = pyvista()
    values = np.asarray(dose.array, dtype=np.float32)
    levels = [float(v) for v in levels_gy]
    box = bounding_box(values >= min(levels), margin=3) if levels else None
    if box is None:
        return [pv.PolyData() for _ in levels]
    values = values[box]
    step = max(1, int(np.ceil((values.size / max_voxels) ** (1.0 / 3.0))))
    if step > 1:
        values = values[::step, ::step, ::step]
    if smoothing_mm > 0:
        sigma = smoothing_mm / (dose.geometry.spacing_mm * step)
        values = ndimage.gaussian_filter(values, sigma=sigma, truncate=2.5)
    # pad with zeros so that surfaces reaching the grid's edge close there instead of staying open
    values = np.pad(values, 1, mode="constant")
    image = pv.ImageData(dimensions=values.shape[::-1], spacing=(step, step, step), origin=(-step,) * 3)
    image.point_data["dose_gy"] = values.ravel(order="C")
    offset = np.array([s.start for s in box], dtype=float)
    surfaces = []
    for level in levels:
        surface = image.contour([level], scalars="dose_gy", method="flying_edges", compute_normals=False)
        surface = _without(surface, "dose_gy")
        surfaces.append(_finish_surface(surface, dose.geometry, offset, 2 * max_faces, max_faces))
    return surfaces


def isodose_surface(dose: DoseGrid, level_gy: float, **options: Any) -> Any:
    """The surface where the total dose equals ``level_gy`` (see :func:`isodose_surfaces`)."""
    return isodose_surfaces(dose, [level_gy], **options)[0]


def probe_array(
    points_lps: npt.ArrayLike, array: npt.ArrayLike, geometry: Geometry, order: int = 1, fill: float = 0.0
) -> np.ndarray:
    """Values of a ``(z, y, x)`` array at LPS points (mm), trilinear by default.

    Parameters
    ----------
    points_lps
        ``(n, 3)`` positions ``(x, y, z)`` mm.
    array
        Values on ``geometry``.
    geometry
        Its grid.
    order
        Interpolation order (0 nearest, 1 trilinear).
    fill
        Value outside the grid.
    """
    index = geometry.lps_to_index(np.asarray(points_lps, dtype=float).reshape(-1, 3))
    return ndimage.map_coordinates(
        np.asarray(array, dtype=np.float32), index.T, order=order, mode="constant", cval=fill, prefilter=False
    )
