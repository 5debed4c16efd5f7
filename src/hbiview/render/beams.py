"""Beam geometry for display: divergent field edges, the field outline on the skin, field borders on a slice.

A beam is given as its source position ``(3,)`` and the four corners ``(4, 3)`` of its field at the
isocentre plane, LPS mm (``plan.beam_outlines()``). Every field edge is a ray from the source through a
point of that rectangle, so the same rays give the edges in 3D, the outline where they enter the body and
the field border on any slice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from hbiview.errors import PlanError
from hbiview.geometry import Geometry, bounding_box
from hbiview.render.planes import SlicePlane

__all__ = [
    "check_outline",
    "far_factor",
    "field_centre",
    "field_extent",
    "outline_points",
    "plane_field_segments",
    "prescription_point",
    "skin_outline",
]


def check_outline(source: npt.ArrayLike, corners: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(source (3,), corners (4, 3))`` as float arrays.

    Raises
    ------
    PlanError
        If the shapes are wrong or the source lies in the plane of the field.
    """
    src = np.asarray(source, dtype=float).reshape(-1)
    crn = np.asarray(corners, dtype=float)
    if src.shape != (3,) or crn.shape != (4, 3):
        raise PlanError(
            f"a beam outline needs a source (3,) and four corners (4, 3), got {src.shape}, {crn.shape}"
        )
    if np.min(np.linalg.norm(crn - src, axis=1)) < 1.0:
        raise PlanError("a beam's source coincides with a field corner")
    return src, crn


def _box_crossing(
    origin: np.ndarray, direction: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[float, float] | None:
    """Ray parameters ``(t_enter, t_exit)`` of ``origin + t * direction`` inside a box (slab method)."""
    t_low, t_high = -np.inf, np.inf
    for axis in range(3):
        if abs(direction[axis]) < 1e-12:
            if not lower[axis] <= origin[axis] <= upper[axis]:
                return None
            continue
        a = (lower[axis] - origin[axis]) / direction[axis]
        b = (upper[axis] - origin[axis]) / direction[axis]
        t_low, t_high = max(t_low, min(a, b)), min(t_high, max(a, b))
    if t_high < max(t_low, 0.0):
        return None
    return max(t_low, 0.0), t_high


def field_centre(
    outlines: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
) -> np.ndarray | None:
    """Centre of the fields (LPS mm), or ``None`` without beams.

    With a box (``lower``, ``upper``: the body's or the CT's bounds), each beam's central axis is followed
    through the box and the midpoint of its path inside is used (the midplane point of an AP/PA pair, the
    middle of the patient for a single field); the beams' midpoints are averaged. Without a box, or for a
    central axis that misses it, the centre of the field at the isocentre plane is used.
    """
    if not outlines:
        return None
    centres = []
    for source, corners in outlines:
        src = np.asarray(source, dtype=float)
        iso = np.asarray(corners, dtype=float).mean(axis=0)
        crossing = None
        if lower is not None and upper is not None:
            crossing = _box_crossing(src, iso - src, np.asarray(lower, float), np.asarray(upper, float))
        centres.append(iso if crossing is None else src + 0.5 * (crossing[0] + crossing[1]) * (iso - src))
    return np.mean(centres, axis=0)


def field_extent(
    outlines: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], lower: npt.ArrayLike, upper: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray] | None:
    """LPS bounding box ``(low, high)`` of the part of the divergent fields inside a box, or ``None``.

    The four edge rays of every beam are followed from where they enter the box to where they leave it;
    their divergence makes the field larger on the far side of the patient than at the isocentre plane.
    """
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    points: list[np.ndarray] = []
    for source, corners in outlines:
        src = np.asarray(source, dtype=float)
        for corner in np.asarray(corners, dtype=float):
            crossing = _box_crossing(src, corner - src, lo, hi)
            if crossing is not None:
                points.extend(src + t * (corner - src) for t in crossing)
    if not points:
        return None
    stack = np.array(points)
    return stack.min(axis=0), stack.max(axis=0)


def far_factor(source: np.ndarray, corners: np.ndarray, geometry: Geometry, margin: float = 1.05) -> float:
    """How far (in units of source-to-corner distance) the rays must run to leave the grid's bounding box."""
    lower, upper = geometry.bounds_mm()
    box = np.array(np.meshgrid(*zip(lower, upper, strict=True), indexing="ij")).reshape(3, -1).T
    reach = np.max(np.linalg.norm(box - source, axis=1))
    nearest = np.min(np.linalg.norm(corners - source, axis=1))
    return max(1.0, margin * reach / nearest)


def outline_points(corners: np.ndarray, per_side: int = 40) -> np.ndarray:
    """Points along the closed field rectangle at the isocentre plane, ``(4 * per_side + 1, 3)``."""
    t = np.linspace(0.0, 1.0, per_side, endpoint=False)[:, np.newaxis]
    sides = [corners[i] + t * (corners[(i + 1) % 4] - corners[i]) for i in range(4)]
    points = np.concatenate(sides)
    return np.concatenate([points, points[:1]])


def skin_outline(
    source: npt.ArrayLike,
    corners: npt.ArrayLike,
    body_mask: npt.ArrayLike,
    geometry: Geometry,
    *,
    per_side: int = 40,
    step_mm: float = 1.0,
    lift_mm: float = 2.0,
) -> np.ndarray:
    """Where the field edge enters the body: the field outline drawn on the skin.

    Each ray from the source through a point of the field rectangle is followed in steps of ``step_mm``
    until it first meets the body mask.

    Parameters
    ----------
    source, corners
        Beam source ``(3,)`` and field corners at the isocentre plane ``(4, 3)``, LPS mm.
    body_mask
        ``(z, y, x)`` boolean body outline on ``geometry``.
    geometry
        Its grid.
    per_side
        Rays per side of the rectangle.
    step_mm
        Step along each ray (mm); the entry point is within one step of the true surface.
    lift_mm
        Move each entry point this far back towards the source, so that the line sits on the skin surface
        instead of inside it.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` LPS points along the outline; rays that miss the body give NaN rows (the line breaks
        there).
    """
    src, crn = check_outline(source, corners)
    targets = outline_points(crn, per_side)
    directions = targets - src
    lengths = np.linalg.norm(directions, axis=1)
    directions /= lengths[:, np.newaxis]
    reach = far_factor(src, crn, geometry) * lengths.max()
    # only the part of each ray inside the grid's bounding box can meet the body
    lower, upper = geometry.bounds_mm()
    start = max(0.0, float(np.min(np.linalg.norm(np.clip(src, lower, upper) - src))) - step_mm)
    t = np.arange(start, reach, step_mm)
    # the rays in array indices: a straight line stays one (the affine is linear), so each sample is
    # start + t * step there, without a matrix product per sample (BLAS threads, slow on a busy machine)
    index_src = geometry.lps_to_index(src)
    index_dir = geometry.lps_to_index(src + directions) - index_src
    mask = _as_uint8(body_mask)
    box = _mask_box(body_mask)
    first = np.zeros(len(directions), dtype=np.intp)
    has_hit = np.zeros(len(directions), dtype=bool)
    if box is None:  # an empty mask: no ray meets it
        return np.full((len(directions), 3), np.nan)
    # each ray's steps that can read the mask's box (a voxel of margin): elsewhere the mask reads 0
    lower_index = np.array([b.start - 1.0 for b in box])
    upper_index = np.array([b.stop + 0.0 for b in box])  # the last voxel (stop - 1) plus the margin
    enter, leave = _box_span(index_src, index_dir, lower_index, upper_index)
    last = np.searchsorted(t, leave, side="right")
    # marched in chunks of steps, each twice the last: most rays meet the skin within a few centimetres
    # of reaching the mask's box, and only the rays still looking are sampled further, up to where they
    # leave the box (the same samples as one pass over every step)
    looking = np.flatnonzero(last > np.searchsorted(t, enter, side="left"))
    begin = int(np.searchsorted(t, enter[looking].min(), side="left")) if looking.size else len(t)
    chunk = _MARCH_CHUNK
    while looking.size and begin < len(t):
        steps = t[begin : begin + chunk]
        index = index_src[:, None, None] + index_dir[looking].T[:, :, None] * steps[None, None, :]
        inside = ndimage.map_coordinates(
            mask, index.reshape(3, -1), order=0, mode="constant", cval=0, prefilter=False
        ).reshape(len(looking), len(steps))
        hit = inside.astype(bool)
        found = hit.any(axis=1)
        first[looking[found]] = begin + np.argmax(hit[found], axis=1)
        has_hit[looking[found]] = True
        begin, chunk = begin + len(steps), 2 * chunk
        looking = looking[~found & (last[looking] > begin)]
    t_entry = t[first] - lift_mm if len(t) else np.zeros(len(directions))
    points = src + t_entry[:, np.newaxis] * directions
    points[~has_hit] = np.nan
    return points


#: steps first sampled at a time along the rays of :func:`skin_outline`
_MARCH_CHUNK = 32


def _box_span(
    index_src: np.ndarray, index_dir: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(t_enter, t_exit)`` of each ray ``index_src + t * index_dir`` (array indices) in a box.

    ``t_exit`` is ``-inf`` (and ``t_enter`` ``inf``) for a ray that misses the box.
    """
    t_low = np.full(len(index_dir), -np.inf)
    t_high = np.full(len(index_dir), np.inf)
    for axis in range(3):
        step = index_dir[:, axis]
        moving = np.abs(step) > 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (lower[axis] - index_src[axis]) / step
            b = (upper[axis] - index_src[axis]) / step
        t_low = np.where(moving, np.maximum(t_low, np.minimum(a, b)), t_low)
        t_high = np.where(moving, np.minimum(t_high, np.maximum(a, b)), t_high)
        if not lower[axis] <= index_src[axis] <= upper[axis]:
            t_high = np.where(moving, t_high, -np.inf)  # parallel to this slab and outside it
    meets = t_high >= t_low
    return np.where(meets, t_low, np.inf), np.where(meets, t_high, -np.inf)


#: the bounding boxes of the last few read-only masks :func:`skin_outline` was given (a body's mask, for
#: every border change in ``hbiview serve``), each with its mask, so that its ``id`` stays its own
_BOXES: OrderedDict[int, tuple[np.ndarray, tuple[slice, ...] | None]] = OrderedDict()


def _mask_box(mask: npt.ArrayLike) -> tuple[slice, ...] | None:
    """:func:`~hbiview.geometry.bounding_box` of a mask, kept for read-only masks (values never change)."""
    array = np.asarray(mask)
    if array.flags.writeable:
        return bounding_box(array)
    hit = _BOXES.get(id(array))
    if hit is not None and hit[0] is array:
        _BOXES.move_to_end(id(array))
        return hit[1]
    box = bounding_box(array)
    _BOXES[id(array)] = (array, box)
    while len(_BOXES) > 4:
        _BOXES.popitem(last=False)
    return box


def _as_uint8(mask: npt.ArrayLike) -> np.ndarray:
    """A boolean mask as 0/1 bytes for :func:`scipy.ndimage.map_coordinates` (a view, no copy, when bool)."""
    array = np.asarray(mask)
    return array.view(np.uint8) if array.dtype == bool else array.astype(np.uint8)


def plane_field_segments(
    source: npt.ArrayLike, corners: npt.ArrayLike, plane: SlicePlane, geometry: Geometry
) -> list[np.ndarray]:
    """The field border on a slice: where the four side faces of the beam's pyramid cut the plane.

    Parameters
    ----------
    source, corners
        Beam source ``(3,)`` and field corners at the isocentre plane ``(4, 3)``, LPS mm.
    plane
        The slice.
    geometry
        Grid whose bounding box limits how far the rays run beyond the isocentre plane.

    Returns
    -------
    list of numpy.ndarray
        Segments, each ``(2, 2)`` in plane coordinates ``(column_mm, row_mm)``.
    """
    src, crn = check_outline(source, corners)
    far = src + far_factor(src, crn, geometry) * (crn - src)
    axis = plane.fixed_axis
    segments = []
    for i in range(4):
        triangle = np.array([src, far[i], far[(i + 1) % 4]])
        distance = triangle[:, axis] - plane.position_mm
        on_plane = np.abs(distance) < 1e-9
        crossings = [triangle[v] for v in range(3) if on_plane[v]]
        for a, b in ((0, 1), (1, 2), (2, 0)):
            da, db = distance[a], distance[b]
            if not on_plane[a] and not on_plane[b] and da * db < 0:
                t = da / (da - db)
                crossings.append(triangle[a] + t * (triangle[b] - triangle[a]))
        # a face touching the plane only at the source (or lying in it) draws no border
        if len(crossings) == 2 and np.linalg.norm(crossings[0] - crossings[1]) > 1e-6:
            segments.append(plane.to_plane(np.array(crossings)))
    return segments


def _axis_in_body(
    source: np.ndarray, target: np.ndarray, body_mask: npt.ArrayLike, geometry: Geometry, step_mm: float = 2.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the ray from ``source`` through ``target`` first enters and last leaves the body mask."""
    direction = target - source
    length = float(np.linalg.norm(direction))
    if length == 0:
        return None
    direction /= length
    lower, upper = geometry.bounds_mm()
    crossing = _box_crossing(source, direction, np.asarray(lower, float), np.asarray(upper, float))
    if crossing is None:
        return None
    t = np.arange(max(crossing[0], 0.0), crossing[1], step_mm)
    samples = source + t[:, np.newaxis] * direction
    inside = ndimage.map_coordinates(
        _as_uint8(body_mask),
        geometry.lps_to_index(samples).T,
        order=0,
        mode="constant",
        cval=0,
        prefilter=False,
    ).astype(bool)
    if not inside.any():
        return None
    hits = np.flatnonzero(inside)
    return samples[hits[0]], samples[hits[-1]]


def prescription_point(
    plan: object, body_mask: npt.ArrayLike | None = None, geometry: Geometry | None = None
) -> np.ndarray | None:
    """The plan's prescription point (LPS mm), as far as the plan and the body outline tell it.

    An explicit point (``plan.normalization.point == "lps"``) is returned as it is; a depth below the skin
    and the midplane (the default) are found on the first beam's central axis through the body mask. A plan
    without that information (a stand-in with beam outlines only) or without a body gives the centre of
    the fields (:func:`field_centre` in the grid's box), ``None`` without beams.

    Parameters
    ----------
    plan
        A plan: ``beam_outlines()`` and optionally ``normalization`` (:class:`hbiview.plans.Normalization`).
    body_mask
        ``(z, y, x)`` body outline on ``geometry``.
    geometry
        Its grid.
    """
    normalization = getattr(plan, "normalization", None)
    point = getattr(normalization, "point", "midplane")
    if point == "lps" and getattr(normalization, "lps_mm", None) is not None:
        return np.asarray(normalization.lps_mm, dtype=float)  # type: ignore[union-attr]
    outlines = plan.beam_outlines()  # type: ignore[attr-defined]
    if not outlines:
        return None
    if body_mask is not None and geometry is not None:
        src, crn = check_outline(*outlines[0])
        iso = crn.mean(axis=0)
        # asymmetric jaws: the central axis runs through the isocentre, off the field's centre
        first = next(iter(getattr(plan, "beams", ())), None)
        axis_point = getattr(first, "isocentre_lps_mm", None)
        if getattr(first, "asymmetric", False) and axis_point is not None:
            iso = np.asarray(axis_point, dtype=float)
        through = _axis_in_body(src, iso, body_mask, geometry)
        if through is not None:
            entry, exit_ = through
            depth = getattr(normalization, "depth_mm", None)
            if point == "depth" and depth is not None:
                direction = (iso - src) / np.linalg.norm(iso - src)
                return entry + float(depth) * direction
            return 0.5 * (entry + exit_)
    if geometry is not None:
        return field_centre(outlines, *geometry.bounds_mm())
    return field_centre(outlines)
