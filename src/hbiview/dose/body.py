"""The patient's outline and the relative electron density the dose engine walks through.

One body: when the anatomy's ``Body`` is known for a CT (:class:`hbiview.pipeline.Case` hands it down with
:func:`use_body`), plans, the prescription point, the dose engine and the dose grid all use it, so the couch
and immobilisation devices it leaves out are not patient there either.

Only for a CT without it (a bare CT, a test phantom) is the outline found here, by a threshold and hole
filling: voxels above -900 HU (soft tissue, fat, bone and most lung), holes (airways, bowel gas,
emphysema) filled slice by slice, then the largest 3D connected piece (which drops the couch and stray
noise when they are separated from the patient by air, not when the patient lies on it). The low
threshold keeps lung that is not enclosed in a slice, such as a full-width lung slab in a test phantom.
"""

from __future__ import annotations

import weakref

import numpy as np
from scipy import ndimage

from hbiview.density import HuDensityTable, hu_to_density
from hbiview.geometry import Geometry
from hbiview.volume import CTVolume, Structure, resample_array

__all__ = [
    "BODY_THRESHOLD_HU",
    "axis_crossing",
    "body_box_mm",
    "body_extent_mm",
    "body_mask",
    "body_of",
    "body_on",
    "body_outline_points",
    "density_on",
    "ensure_body",
    "resample_hu",
    "use_body",
]

#: Tissue and most lung lie above this, air (-1000 HU plus noise) below.
BODY_THRESHOLD_HU = -900.0


def resample_hu(ct: CTVolume, target: Geometry) -> np.ndarray:
    """The CT's HU on ``target`` (trilinear, -1000 outside), float32.

    Grids whose axes are parallel to the CT's (the usual case) take scipy's separable fast path, several
    times faster than a general affine resampling.
    """
    matrix = target.map_indices_from(ct.geometry)
    linear = matrix[:3, :3]
    if np.allclose(linear, np.diag(np.diag(linear)), atol=1e-9):
        return ndimage.affine_transform(
            np.asarray(ct.array, dtype=np.float32),
            np.diag(linear),
            offset=matrix[:3, 3],
            output_shape=target.shape,
            order=1,
            mode="constant",
            cval=-1000.0,
            prefilter=False,
        )
    return resample_array(ct.array, ct.geometry, target, order=1, fill_value=-1000.0)


def body_mask(hu: np.ndarray) -> np.ndarray:
    """Boolean mask of the patient in a ``(z, y, x)`` HU array.

    Parameters
    ----------
    hu
        Hounsfield units on any grid (axial slices along the first axis).

    Returns
    -------
    numpy.ndarray
        ``True`` inside the patient (holes such as the lungs included), same shape as ``hu``.
    """
    mask = np.asarray(hu) > BODY_THRESHOLD_HU
    for k in range(mask.shape[0]):
        if mask[k].any():
            mask[k] = ndimage.binary_fill_holes(mask[k])
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(np.argmax(sizes))
    return mask


_BODIES: weakref.WeakKeyDictionary[CTVolume, Structure] = weakref.WeakKeyDictionary()


def use_body(ct: CTVolume, body: Structure | None) -> None:
    """Make ``body`` the patient's outline for everything computed on ``ct`` from now on.

    Plans (:func:`hbiview.plans.resolve_plan`, presets), the prescription point, the density the engine
    walks through and the dose grid then take the body from this structure instead of a threshold, so the
    couch it leaves out is not counted as patient. Kept as long as ``ct`` lives; ``None`` forgets it.

    Parameters
    ----------
    ct
        The CT.
    body
        Its ``Body`` structure (any grid covering the CT), e.g. from
        :func:`hbiview.anatomy.pipeline.body_structure`.
    """
    if body is None:
        _BODIES.pop(ct, None)
    else:
        _BODIES[ct] = body
    _EXTENT_CACHE.pop(ct, None)
    _OUTLINE_CACHE.pop(ct, None)
    _DENSITY_CACHE.pop(ct, None)


def ensure_body(ct: CTVolume) -> Structure:
    """The ``Body`` given for ``ct``, else the anatomy's (:func:`~hbiview.anatomy.pipeline.body_structure`).

    For callers that place plans on a bare CT (:func:`hbiview.plans.preset`): the patient's outline is then
    the one a segmentation of that CT makes (arms beside the trunk kept, a couch left out), the same as
    through :class:`hbiview.pipeline.Case`.
    """
    body = _BODIES.get(ct)
    if body is None:
        from hbiview.anatomy.pipeline import body_structure

        body = body_structure(ct)
        use_body(ct, body)
    return body


def body_of(ct: CTVolume) -> Structure | None:
    """The ``Body`` structure given for ``ct`` with :func:`use_body`, or ``None``."""
    return _BODIES.get(ct)


def body_on(ct: CTVolume, target: Geometry, hu: np.ndarray | None = None) -> np.ndarray:
    """The body mask of ``ct`` on the grid ``target``.

    The structure given with :func:`use_body` (trilinear, at least half inside), else :func:`body_mask` of
    the CT's HU on ``target`` (``hu`` when already resampled there).
    """
    body = _BODIES.get(ct)
    if body is None:
        return body_mask(resample_hu(ct, target) if hu is None else hu)
    inside = resample_array(body.mask.view(np.uint8), body.geometry, target, order=1, fill_value=0.0)
    return np.asarray(inside >= 0.5)


#: Densities already computed per CT with the default table: (grid, heterogeneity) -> (density, mask),
#: read-only arrays.
#: A plan computed again on the same patient (another border, a live viewer, with and without
#: compensation) walks through the same density; a few grids per CT are kept, the oldest dropped first.
_DENSITY_CACHE: weakref.WeakKeyDictionary[
    CTVolume, dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]]
] = weakref.WeakKeyDictionary()
_DENSITY_CACHE_SIZE = 4


def density_on(
    ct: CTVolume,
    target: Geometry,
    *,
    heterogeneity: bool = True,
    table: HuDensityTable | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relative electron density and the body mask of ``ct`` on the grid ``target``.

    Computed once per CT, grid and setting (the last few are kept with the CT; :func:`use_body` forgets
    them); the arrays returned are read-only.

    Parameters
    ----------
    ct
        The CT.
    target
        The grid to resample onto (trilinear in HU).
    heterogeneity
        ``False`` gives water (1.0) everywhere inside the body.
    table
        HU-to-density calibration (default :func:`hbiview.density.default_table`).

    Returns
    -------
    density, mask
        float32 relative electron density (0 outside the body) and the boolean body mask, both on ``target``.
    """
    key = (
        target.shape,
        target.affine.tobytes(),
        bool(heterogeneity),
        id(table) if table is not None else None,
    )
    cached = _DENSITY_CACHE.setdefault(ct, {})
    if key in cached and table is None:
        return cached[key]
    hu = resample_hu(ct, target)
    mask = body_on(ct, target, hu)
    density = hu_to_density(hu, table).astype(np.float32)
    density[~mask] = 0.0
    if not heterogeneity:
        # water inside; the outermost voxels keep their partial-volume value so that the skin lies exactly
        # where it lies with heterogeneity on
        interior = ndimage.binary_erosion(mask)
        density = np.where(interior, np.float32(1.0), np.minimum(density, np.float32(1.0)))
    density.setflags(write=False)
    mask.setflags(write=False)
    if table is None:  # a custom table is not kept (it could be changed in place)
        while len(cached) >= _DENSITY_CACHE_SIZE:
            cached.pop(next(iter(cached)))
        cached[key] = (density, mask)
    return density, mask


_EXTENT_CACHE: weakref.WeakKeyDictionary[CTVolume, tuple[Geometry, np.ndarray]] = weakref.WeakKeyDictionary()


def body_extent_mm(ct: CTVolume, spacing_mm: float = 5.0) -> tuple[Geometry, np.ndarray]:
    """The body mask of ``ct`` on a coarse axial grid, for plan geometry (field borders, separations).

    Parameters
    ----------
    ct
        The CT.
    spacing_mm
        Spacing (mm) of the coarse grid.

    Returns
    -------
    geometry, mask
        The coarse grid (covering the CT) and the body mask on it.
    """
    if spacing_mm == 5.0 and ct in _EXTENT_CACHE:
        return _EXTENT_CACHE[ct]
    lower, upper = ct.geometry.bounds_mm()
    geometry = Geometry.box(lower, upper, spacing_mm, ct.geometry.frame_of_reference_uid)
    result = geometry, body_on(ct, geometry)
    result[1].setflags(write=False)
    if spacing_mm == 5.0:
        _EXTENT_CACHE[ct] = result
    return result


_OUTLINE_CACHE: weakref.WeakKeyDictionary[CTVolume, np.ndarray] = weakref.WeakKeyDictionary()


def body_outline_points(ct: CTVolume) -> np.ndarray:
    """LPS positions (mm) of the outermost voxels of the coarse body mask (:func:`body_extent_mm`).

    What plan checks need of the whole body (its bounding box; whether a field, projected from its source,
    meets the patient) holds for its outline: every ray from the source through a point inside the body
    enters it through an outline voxel on the same ray. About a tenth of the body's voxels; computed once
    per CT and read-only.

    Parameters
    ----------
    ct
        The CT.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` float array; empty when the CT shows no body.
    """
    if ct in _OUTLINE_CACHE:
        return _OUTLINE_CACHE[ct]
    geometry, mask = body_extent_mm(ct)
    outline = mask & ~ndimage.binary_erosion(mask)
    points = geometry.index_to_lps(np.argwhere(outline).astype(float))
    points.setflags(write=False)
    _OUTLINE_CACHE[ct] = points
    return points


_BOX_CACHE: weakref.WeakKeyDictionary[CTVolume, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()


def body_box_mm(ct: CTVolume) -> tuple[np.ndarray, np.ndarray] | None:
    """LPS bounding box ``(lower, upper)`` (mm) of the body's outline (:func:`body_outline_points`).

    Computed once per CT; ``None`` when the CT shows no body.
    """
    if ct in _BOX_CACHE:
        return _BOX_CACHE[ct]
    points = body_outline_points(ct)
    if not len(points):
        return None
    box = (points.min(axis=0), points.max(axis=0))
    for corner in box:
        corner.setflags(write=False)
    _BOX_CACHE[ct] = box
    return box


def _line_in_box(
    point: np.ndarray, d: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[float, float] | None:
    """Distances (mm) along ``d`` from ``point`` where the line enters and leaves a box; ``None``: misses."""
    start, stop = -np.inf, np.inf
    for p, direction, low, high in zip(point, d, lower, upper):
        if abs(direction) < 1e-12:
            if not low <= p <= high:
                return None
            continue
        a, b = sorted(((low - p) / direction, (high - p) / direction))
        start, stop = max(start, a), min(stop, b)
    return (float(start), float(stop)) if start <= stop else None


def axis_crossing(ct: CTVolume, point: np.ndarray, d: np.ndarray) -> tuple[float, float] | None:
    """Where a line enters and leaves the patient, to a fraction of a CT voxel.

    The coarse body mask (:func:`body_extent_mm`) finds the patient along the line (ignoring a couch
    separated from the patient by air); each end is then refined to where the CT, interpolated
    trilinearly, crosses -500 HU (halfway between air and water). With a ``Body`` structure given
    (:func:`use_body`) everything outside it counts as air, so a couch the patient lies on is not skin.

    Parameters
    ----------
    ct
        The patient.
    point
        A point on the line (LPS mm).
    d
        Unit direction of the line.

    Returns
    -------
    (entry, exit) or None
        Signed distances (mm) from ``point`` along ``d``; ``None`` if the line misses the body.
    """
    geometry, mask = body_extent_mm(ct)
    body = _BODIES.get(ct)
    point = np.asarray(point, dtype=float)
    d = np.asarray(d, dtype=float)
    box = body_box_mm(ct)
    if box is None:
        return None
    # 1 mm steps where the line crosses the body's box (the points of the 5 m search whose nearest voxel
    # can be in the body: within a voxel of its box)
    span = _line_in_box(point, d, box[0] - geometry.spacing_mm.max(), box[1] + geometry.spacing_mm.max())
    if span is None:
        return None
    t = np.arange(max(np.ceil(span[0]), -2500.0), min(np.floor(span[1]), 2500.0) + 1.0)
    idx = np.rint(geometry.lps_to_index(point[None, :] + t[:, None] * d[None, :])).astype(int)
    ok = np.all((idx >= 0) & (idx < np.asarray(mask.shape)), axis=1)
    inside = np.zeros(len(t), dtype=bool)
    inside[ok] = mask[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
    if not inside.any():
        return None
    hits = np.flatnonzero(inside)
    ends = []
    reach = 2.0 * float(geometry.spacing_mm.max())
    for rough in (t[hits[0]], t[hits[-1]]):
        fine = np.arange(rough - reach, rough + reach, 0.05)
        line = point[None, :] + fine[:, None] * d[None, :]
        cidx = ct.geometry.lps_to_index(line).T
        hu = ndimage.map_coordinates(
            ct.array, cidx, order=1, cval=-1000.0, prefilter=False, output=np.float32
        )
        if body is not None:
            bidx = body.geometry.lps_to_index(line).T
            inside = ndimage.map_coordinates(body.mask.view(np.uint8), bidx, order=0, cval=0) > 0
            hu = np.where(inside, hu, np.float32(-1000.0))
        above = hu > -500.0
        change = np.flatnonzero(above[1:] != above[:-1])
        if change.size == 0:
            ends.append(float(rough))
            continue
        i = change[np.argmin(np.abs(fine[change] - rough))]
        h0, h1 = hu[i], hu[i + 1]
        frac = (-500.0 - h0) / (h1 - h0) if h1 != h0 else 0.5
        ends.append(float(fine[i] + frac * (fine[i + 1] - fine[i])))
    return ends[0], ends[1]
