"""Axial landmarks (vertex, skull base, lungs, iliac crest, femoral heads, knees, ankles, soles, C1..S1).

All work happens on masks in a canonical orientation: slice index growing towards the head, row index
towards the patient's back, column index towards the patient's left (see :func:`canonical_view`). Every
landmark is found from anatomy in the image:

* vertex and soles: the highest and lowest slice of the body near the midline (not in the scan when the
  body reaches the first or last slice); with raised arms, the top of the body above the brain;
* skull base: the lowest slice of the head in which the skeleton still encloses the brain (the
  foramen magnum, where C1 sits);
* lung apex: the highest slice with lung; lung base: the top of the higher diaphragm dome, the lowest
  slice where a lung still has 60 % of its largest cross-section;
* iliac crest: the top of the largest run of lateral bone below the lungs (the pelvis, down to the hips);
* femoral heads: the thickest bone lateral to the midline below the crest (the largest inscribed sphere,
  from a distance transform); knees: the widest bone of the legs (condyles and tibial plateau);
  ankles: the tibiotalar joint space, else where the legs' cross-section starts to widen into the feet;
* vertebral levels: typical adult vertebral heights placed between the anchors found (C1 at the skull
  base, T1 at the lung apex, the L4/L5 disc at the iliac crest, Tuffier's line), then snapped to the
  vertebral bodies seen between the discs in the spine's bone profile.

Coarse CTs (pixels of 4.5 mm or more, slices thicker than the discs): cortical shells, ribs and discs are
at most a voxel thick. Sizes are in millimetres (structuring elements at least a pixel), the skull is
closed across one-pixel gaps, counting vertebral bodies stops at an implausible step, and landmarks
that rest on thin bone get a lower confidence. A landmark that fails an anatomical plausibility check
(skull base too close to the vertex, crest just under the lungs, hips too far from the crest) is given
as ``None`` with a note rather than wrong, and :func:`hbiview.anatomy.find_landmarks` warns naming the voxel
size.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy import ndimage

from hbiview.anatomy.morph import PLANE4, disk, fill_holes_2d
from hbiview.anatomy.types import LANDMARK_NAMES, VERTEBRAE, Landmark, Landmarks
from hbiview.errors import GeometryError
from hbiview.geometry import Geometry
from hbiview.labels import VERTEBRA_HEIGHT_MM, typical_vertebra_centres_mm

__all__ = [
    "Context",
    "canonical_view",
    "coarse_warning",
    "estimate_from_found",
    "landmarks_from_masks",
    "locate_missing",
    "stature_fractions",
]


#: In-plane pixel size (mm) from which thin structures (cortical shells, ribs, discs) are at most one pixel
#: thick: landmarks that rest on them are flagged as less certain.
COARSE_PIXEL_MM = 4.5

#: Largest distance (mm) of pelvic bone from the midline: adult iliac crests and greater trochanters reach
#: 130-170 mm (our rounded estimate); bone further out belongs to the arms.
MAX_PELVIS_HALF_WIDTH_MM = 190.0

#: In-plane pixel size (mm) :func:`find_landmarks` works at, when the CT is finer.
LANDMARK_SPACING_MM = 4.0

#: Stature (mm) assumed when a single landmark is found to scale the typical proportions from: about the
#: mean of ICRP Publication 89's reference adults (male 1760 mm, female 1630 mm).
TYPICAL_STATURE_MM = 1700.0

#: Statures (mm) an estimate fitted to two or more landmarks is held to (adults, rounded).
STATURE_RANGE_MM = (1400.0, 2000.0)

#: A landmark that the image places beyond one end but whose estimate lies further than this inside the
#: scan (mm) is called not found rather than beyond the images (twice the estimates' typical error).
INSIDE_MARGIN_MM = 60.0


def canonical_view(geometry: Geometry) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """Slices that reorder an axial ``(z, y, x)`` array to head-up, back-down-the-rows, left-along-columns.

    Returns
    -------
    flips, z_axis_mm
        A tuple of slices (``slice(None, None, -1)`` where an axis is reversed) and the patient z (mm)
        of the canonical slices, increasing.

    Raises
    ------
    GeometryError
        If the grid is not axial (oblique or sagittal/coronal acquisitions).
    """
    if not geometry.is_axial:
        raise GeometryError(
            "anatomy needs an axial CT (slices perpendicular to the patient's long axis); "
            "resample the oblique series first"
        )
    a = geometry.affine
    # LPS component carried by each array axis: z by axis 0, y by axis 1, x by axis 2
    flips = tuple(
        slice(None, None, -1) if a[row, axis] < 0 else slice(None) for axis, row in ((0, 2), (1, 1), (2, 0))
    )
    z, _, _ = geometry.axis_coordinates_mm()
    return flips, np.sort(z)  # type: ignore[return-value]


@dataclass
class Context:
    """What the landmark finder learnt about the body, reused by the marrow-site assignment.

    Canonical orientation (see module docstring); indices on the working grid.
    """

    z_mm: np.ndarray
    spacing_mm: tuple[float, float, float]
    mid_x: np.ndarray  # per slice: column of the body's midline (the spine where found)
    spine_y: np.ndarray  # per slice: row of the spine's bone centre (nan where no spine)
    trunk: np.ndarray  # bool volume: the body's main part in each slice (no separate arms or legs)
    estimates: dict[str, float] = field(default_factory=dict)  # every landmark, extrapolated if needed
    femoral_heads: list[tuple[float, float, float, float]] = field(default_factory=list)  # (k, j, i, r_mm)
    arms_up: bool = False
    doubts: list[str] = field(default_factory=list)  # landmarks dropped as unreliable, and why


@lru_cache(maxsize=1)
def stature_fractions() -> dict[str, float]:
    """Height of each landmark above the soles as a fraction of stature (``data/body_proportions.csv``)."""
    ref = resources.files("hbiview") / "data" / "body_proportions.csv"
    lines = [ln for ln in ref.read_text().splitlines() if ln and not ln.startswith("#")]
    return {r["landmark"]: float(r["fraction_of_stature"]) for r in csv.DictReader(lines)}


def estimate_from_found(known: Mapping[str, float | None]) -> tuple[dict[str, float], str]:
    """Every landmark's z (mm) estimated from those found, by typical proportions scaled to the patient.

    The heights of :func:`stature_fractions` are fitted to the landmarks found (least squares, both the
    soles' z and the stature free, the stature held to :data:`STATURE_RANGE_MM`); with a single landmark
    (or found ones too close together to give a scale) the stature is :data:`TYPICAL_STATURE_MM`. The
    scan's length never enters.

    Parameters
    ----------
    known
        Landmark name -> z (LPS mm), ``None`` for missing ones; names without a typical height are ignored.

    Returns
    -------
    estimates, basis
        Name -> z (mm) for every landmark of the table (empty when nothing was found), and the landmarks
        the estimate rests on, in words ("the lung apex and iliac crest").
    """
    fractions = stature_fractions()
    pairs = [(fractions[n], float(z)) for n, z in known.items() if n in fractions and z is not None]
    if not pairs:
        return {}, ""
    a = np.array(pairs)
    stature = TYPICAL_STATURE_MM
    if len(a) >= 2 and np.ptp(a[:, 0]) >= 0.1:
        stature = float(np.clip(np.polyfit(a[:, 0], a[:, 1], 1)[0], *STATURE_RANGE_MM))
    soles = float(np.mean(a[:, 1] - stature * a[:, 0]))
    names = [n.replace("_", " ") for n in fractions if n in known and known[n] is not None]
    basis = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return {n: soles + stature * f for n, f in fractions.items()}, "the " + basis


def locate_missing(marks: Mapping[str, Landmark], scan_mm: tuple[float, float]) -> dict[str, Landmark]:
    """Say for each landmark not in the scan on which side of it it lies, and estimate where.

    A landmark lies beyond the top of the scan when the finder says the structure reaches the top slice
    (vertex, lung apex), or when landmarks below it were found but none above it (anatomical order head to
    feet); likewise beyond the bottom. Its estimate (:func:`estimate_from_found`) is then never inside the
    scan: an estimate falling inside is moved to the scan's end, unless it falls more than
    :data:`INSIDE_MARGIN_MM` inside, when the landmark is called not found (``position`` ``None``) instead.
    Landmarks the finder could not find reliably, or with found landmarks on both sides, have ``position``
    ``None`` and the estimate as it comes. Vertebral levels beyond the scan take the side of their own
    extrapolated centre.

    Parameters
    ----------
    marks
        Name -> :class:`Landmark` (``z_mm`` ``None`` for what is not in the scan).
    scan_mm
        z (LPS mm) of the scan's lower and upper ends (slice edges).

    Returns
    -------
    dict
        The same landmarks, the missing ones with ``position`` and ``estimate_mm`` set and a note that says
        so.
    """
    low, high = float(min(scan_mm)), float(max(scan_mm))
    order = list(LANDMARK_NAMES)
    known = {n: m.z_mm for n, m in marks.items() if n in order and m.z_mm is not None}
    estimates, basis = estimate_from_found(known)
    out = dict(marks)
    for name, mark in marks.items():
        if mark.z_mm is not None:
            continue
        if name in VERTEBRAE:
            z = mark.estimate_mm
            if z is None and "~" in mark.note:
                try:
                    z = float(mark.note.split("~")[1].split(" ")[0])
                except ValueError:
                    z = None
            if z is None:
                continue
            beyond = "above_scan" if z > (low + high) / 2 else "below_scan"
            z = max(z, high) if beyond == "above_scan" else min(z, low)
            out[name] = replace(mark, position=beyond, estimate_mm=float(z))
            continue
        if name not in order:
            continue
        i = order.index(name)
        above = [k for k in order[:i] if k in known]
        below = [k for k in order[i + 1 :] if k in known]
        estimate = estimates.get(name)
        side: str | None = None
        if "reaches the top slice" in mark.note:
            side = "above_scan"
        elif "reaches the bottom slice" in mark.note:
            side = "below_scan"
        elif "not found reliably" not in mark.note:
            if below and not above:
                side = "above_scan"
            elif above and not below:
                side = "below_scan"
            inside = (
                estimate is not None
                and side is not None
                and min(estimate - low, high - estimate) > INSIDE_MARGIN_MM
            )
            if inside:
                side = None
        if side is None and estimate is not None and not (low <= estimate <= high):
            # not found, and expected beyond the images by the landmarks that were found
            side = "above_scan" if estimate > high else "below_scan"
        if side == "above_scan":
            estimate = None if estimate is None else max(estimate, high)
        elif side == "below_scan":
            estimate = None if estimate is None else min(estimate, low)
        note = mark.note
        if side is not None:
            note += f"; it lies {'above' if side == 'above_scan' else 'below'} the scan"
        elif "not in scan" in note:
            note = note.replace("not in scan", "not found in the scan", 1)
        if estimate is not None:
            note += f" (estimated z {estimate:.0f} mm from {basis} by typical proportions)"
        out[name] = replace(
            mark, note=note, position=side, estimate_mm=None if estimate is None else float(estimate)
        )
    return out


def _slice_z(z_mm: np.ndarray, k: float) -> float:
    return float(np.interp(k, np.arange(len(z_mm)), z_mm))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Start and stop (exclusive) of the True runs of a 1-D array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _trunk_and_midline(
    body: np.ndarray, spacing: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per slice: the main body component (trunk, head or both legs together) and its midline column."""
    nz, _ny, nx = body.shape
    labels, _ = ndimage.label(body, structure=PLANE4)
    trunk = np.zeros_like(body)
    mid = np.full(nz, np.nan)
    # midline of the whole patient: area-weighted centre of the big slices
    area = body.sum(axis=(1, 2))
    cols = np.arange(nx)
    centre = (body.sum(axis=1) * cols).sum(axis=1) / np.maximum(area, 1)
    big = area >= 0.3 * area.max() if area.max() > 0 else area > 0
    global_mid = float(np.median(centre[big])) if big.any() else nx / 2
    for k in np.flatnonzero(area):
        lab = labels[k]
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        ids = np.flatnonzero(sizes)
        cms = ndimage.center_of_mass(body[k], lab, ids)
        # the main part covers the midline; without one (the legs), take every part within 150 mm of it
        dist = np.array([abs(c[1] - global_mid) * spacing[2] for c in cms])
        covering = [i for i in ids if lab[:, round(global_mid)].__eq__(i).any()]
        if covering:
            main = [max(covering, key=lambda i: sizes[i])]
        else:
            main = [i for i, d in zip(ids, dist) if d < 150.0 and sizes[i] >= 0.2 * sizes[ids].max()]
        trunk[k] = np.isin(lab, main)
    area_t = trunk.sum(axis=(1, 2))
    mid = np.where(area_t > 0, (trunk.sum(axis=1) * cols).sum(axis=1) / np.maximum(area_t, 1), global_mid)
    return trunk, mid


def _spine(
    skeleton: np.ndarray, trunk: np.ndarray, mid: np.ndarray, spacing: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per slice: the bone nearest the midline in the back half of the trunk (the vertebra), smoothed."""
    nz, ny, nx = skeleton.shape
    sy, sx = spacing[1], spacing[2]
    rows = np.arange(ny)[:, None]
    cols = np.arange(nx)[None, :]
    spine_x = np.full(nz, np.nan)
    spine_y = np.full(nz, np.nan)
    for k in np.flatnonzero(trunk.any(axis=(1, 2))):
        t_rows = np.flatnonzero(trunk[k].any(axis=1))
        y_front, y_back = t_rows[0], t_rows[-1]
        y_centre = (y_front + y_back) / 2
        band = skeleton[k] & (np.abs(cols - mid[k]) * sx <= 20.0) & (rows >= y_centre - 15.0 / sy)
        if band.sum() < 2:
            continue
        yy, xx = np.nonzero(band)
        spine_y[k] = yy.mean()
        spine_x[k] = xx.mean()
    ok = np.isfinite(spine_y)
    if ok.sum() >= 3:
        idx = np.arange(nz)
        for arr in (spine_x, spine_y):
            filled = np.interp(idx, idx[ok], arr[ok])
            smooth = ndimage.median_filter(filled, size=5, mode="nearest")
            arr[ok] = smooth[ok]
    return spine_x, spine_y


def _lung_base(lung: np.ndarray, z_mm: np.ndarray, sz: float) -> float | None:
    area = lung.sum(axis=(1, 2)).astype(float)
    if area.max() == 0:
        return None
    if int(area.argmax()) >= len(area) - 2:
        # still widening at the top of the scan: its largest section, and so its 60 % level, lie above
        return None
    # the lowest slice where the lung still has 60 % of its largest cross-section: the first one going
    # down from the largest would stop early where the heart narrows the left lung to about 60 %
    return float(z_mm[int(np.flatnonzero(area >= 0.6 * area.max())[0])])


def landmarks_from_masks(
    hu: np.ndarray,
    body: np.ndarray,
    lung_l: np.ndarray,
    lung_r: np.ndarray,
    skeleton: np.ndarray,
    z_mm: np.ndarray,
    spacing_mm: tuple[float, float, float],
) -> tuple[Landmarks, Context]:
    """Find the landmarks from canonical masks on the working grid.

    Parameters
    ----------
    hu, body, lung_l, lung_r, skeleton
        CT (HU) and masks in canonical orientation.
    z_mm
        Patient z (mm) of each canonical slice (increasing).
    spacing_mm
        Voxel size ``(z, y, x)`` in mm.

    Returns
    -------
    landmarks, context
        The landmarks (``None`` outside the scan) and what was learnt on the way.
    """
    sz, sy, sx = spacing_mm
    nz = body.shape[0]
    found: dict[str, Landmark] = {}
    trunk, mid = _trunk_and_midline(body, spacing_mm)
    spine_x, spine_y = _spine(skeleton, trunk, mid, spacing_mm)
    mid = np.where(np.isfinite(spine_x), spine_x, mid)
    ctx = Context(z_mm, spacing_mm, mid, spine_y, trunk)
    cols = np.arange(body.shape[2])
    near_mid = np.abs(cols[None, None, :] - mid[:, None, None]) * sx <= 80.0
    central = body & near_mid
    central_area = central.sum(axis=(1, 2)) * sy * sx
    body_slices = np.flatnonzero(central_area > 200.0)
    top_cut = nz > 0 and central_area[-1] > 2000.0
    bottom_cut = nz > 0 and central_area[0] > 200.0

    # pixels of 4.5 mm or more: cortical shells, discs and thin bones are at most a voxel thick
    coarse = max(sy, sx) >= COARSE_PIXEL_MM
    coarse_factor = 0.75 if coarse else 1.0
    coarse_note = f" (coarse {max(sy, sx):.1f} mm pixels: less certain)" if coarse else ""

    def put(name: str, z: float | None, confidence: float, note: str) -> None:
        found[name] = Landmark(None if z is None else float(z), confidence if z is not None else 0.0, note)

    def doubt(name: str, why: str) -> None:
        """Drop a landmark the image does not support rather than give a wrong one."""
        where = f" at {sz:g} x {sy:g} x {sx:g} mm voxels" if coarse else ""
        put(name, None, 0.0, f"not found reliably{where}: {why}")
        ctx.doubts.append(f"{name}: {why}")

    if body_slices.size == 0:
        for name in (*LANDMARK_NAMES, *VERTEBRAE):
            put(name, None, 0.0, "no body in the scan")
        return Landmarks(found), ctx

    # ---- vertex and soles
    if top_cut:
        put("vertex", None, 0.0, "not in scan: the body reaches the top slice")
    else:
        put("vertex", z_mm[body_slices[-1]] + sz / 2, 0.9, "highest slice of the body near the midline")
    if bottom_cut:
        put("soles", None, 0.0, "not in scan: the body reaches the bottom slice")
    else:
        put("soles", z_mm[body_slices[0]] - sz / 2, 0.9, "lowest slice of the body")

    # ---- skull base: lowest slice of the top run where the skeleton encloses a large area (the brain)
    lung_any = (lung_l | lung_r).any(axis=(1, 2))
    skull = skeleton & trunk
    if coarse:
        # a cortical shell about as thick as a pixel is broken on the grid here and there: bridge
        # one-pixel gaps so that the skull still closes around the brain
        skull = ndimage.binary_closing(skull, structure=disk(max(sy, sx), (sy, sx))) & trunk
    inside = fill_holes_2d(skull) & ~skull & trunk
    enclosed = inside.sum(axis=(1, 2)) * sy * sx
    air_inside = (inside & (hu < -400.0)).sum(axis=(1, 2)) * sy * sx
    head = (enclosed >= 3000.0) & (air_inside <= 0.05 * enclosed)  # a skull encloses 100-200 cm2 of brain
    if lung_any.any():
        head[: int(np.flatnonzero(lung_any)[-1]) + 1] = False  # the head lies above the lungs
    runs = [r for r in _runs(head) if r[1] - r[0] >= max(2, int(30.0 / sz))]
    if runs:
        start, stop = runs[-1]
        # with the body reaching the top slice, the head is whole when the body there is already small
        # (the crown of the head; whole-body CTs often end at the vertex): the top slice holds less than
        # half of the head's largest cross-section
        head_whole = stop < nz and central_area[-1] < 0.5 * central_area[start:stop].max()
        if not top_cut or stop == nz or head_whole:
            # below the large section of the brain, the skull still encloses the cerebellum's narrowing
            # lower part down to the foramen magnum (a few cm2, thick slices show it in one or two slices)
            k = start
            while (
                k - 1 >= 0
                and enclosed[k - 1] >= 300.0
                and air_inside[k - 1] <= 0.05 * enclosed[k - 1]
                and (inside[k - 1] & inside[k]).sum() * sy * sx >= 0.5 * enclosed[k - 1]
                and z_mm[start] - z_mm[k - 1] <= 40.0
            ):
                k -= 1
            # the atlas (C1) lies just below the foramen magnum: its centre about 12 mm below the lowest
            # slice in which the skull still closes around the brain
            start_sb = k
            note = "12 mm below the lowest slice with the skull closed around the brain (C1)"
            conf = 0.7 if not (top_cut and start == 0) else 0.3
            put("skull_base", float(z_mm[start_sb]) - 12.0, conf * coarse_factor, note + coarse_note)
        if not top_cut:
            # the vertex is the top of the body above the brain's centre: raised hands above the head
            # would otherwise count as the top of the body near the midline
            j, i = (round(c) for c in ndimage.center_of_mass(inside[stop - 1]))
            k = stop - 1
            while k + 1 < nz and body[k + 1, j, i]:
                k += 1
            if z_mm[k] < z_mm[body_slices[-1]] - 1.5 * sz:
                put(
                    "vertex",
                    z_mm[k] + sz / 2,
                    0.8,
                    "top of the head (the body above it is apart: raised arms)",
                )
        sb_z, vx_z = found.get("skull_base", Landmark(None, 0.0)).z_mm, found["vertex"].z_mm
        if sb_z is not None and vx_z is not None and vx_z - sb_z < 105.0:
            # an adult's atlas lies 130-160 mm below the vertex: a skull closed only near its top (a
            # broken shell on coarse pixels) cannot give the skull base
            doubt("skull_base", "the skull closes around the brain only near the vertex")
    if "skull_base" not in found:
        put("skull_base", None, 0.0, "not in scan: no skull enclosing the brain found")

    # ---- lungs
    lungs = lung_l | lung_r
    lung_slices = np.flatnonzero(lungs.any(axis=(1, 2)))
    if lung_slices.size == 0:
        put("lung_apex", None, 0.0, "not in scan: no lungs found")
        put("lung_base", None, 0.0, "not in scan: no lungs found")
    else:
        if lung_slices[-1] == nz - 1:
            put("lung_apex", None, 0.0, "not in scan: the lungs reach the top slice")
        else:
            put("lung_apex", z_mm[lung_slices[-1]], 0.9, "highest slice with lung")
        if lung_slices[0] == 0:
            put("lung_base", None, 0.0, "not in scan: the lungs reach the bottom slice")
        else:
            bases = [b for b in (_lung_base(lung_l, z_mm, sz), _lung_base(lung_r, z_mm, sz)) if b is not None]
            if bases:
                put(
                    "lung_base",
                    max(bases),
                    0.8,
                    "top of the higher diaphragm dome (lung cross-section below 60 % of its largest)",
                )
            else:  # only the lungs' lower tips are in the scan, still widening at its top slice
                put("lung_base", None, 0.0, "not in scan: the lungs reach the top slice still widening")

    # ---- iliac crest: lateral bone of the trunk, the run that reaches down to the hips
    dx_mm = (cols[None, None, :] - mid[:, None, None]) * sx
    # the iliac wings reach 130-165 mm from the midline; humeri and forearms lie further out (arms resting
    # against an obese trunk join it in the body outline and would fill the gap between ribs and pelvis)
    lateral = skeleton & trunk & (np.abs(dx_mm) >= 50.0) & (np.abs(dx_mm) <= MAX_PELVIS_HALF_WIDTH_MM)
    lateral &= ndimage.binary_erosion(trunk, structure=disk(10.0, (sy, sx)))  # 10 mm or more inside
    if lung_slices.size:
        lateral[lung_slices[0] :] = False  # below the lungs only
    profile = lateral.sum(axis=(1, 2)) * sy * sx
    crest = None
    femoral_heads: list[tuple[float, float, float, float]] = []
    # runs of lateral bone at least 60 mm long (30 mm where the scan cuts them); the pelvis is the highest
    pelvis_runs = [
        r for r in _runs(profile >= 50.0) if (r[1] - r[0]) * sz >= (30.0 if r[0] == 0 or r[1] == nz else 60.0)
    ]
    base = found["lung_base"].z_mm
    if base is not None and pelvis_runs:
        # the crests lie 150-250 mm below the diaphragm domes: lateral bone starting just under the lungs
        # is the lowest ribs (or ribs and pelvis merged on coarse slices), and hips found in it are wrong
        below = [r for r in pelvis_runs if z_mm[r[1] - 1] <= base - 80.0]
        if not below and z_mm[0] > base - 120.0:
            # the scan ends within 120 mm of the domes: the lateral bone there is the lowest ribs, and the
            # crests (150-250 mm below the domes) lie below the scan
            why = f"not in scan: the scan ends {base - z_mm[0]:.0f} mm below the lung bases"
            put("iliac_crest", None, 0.0, why)
            put("femoral_heads", None, 0.0, why)
        elif not below:
            doubt("iliac_crest", "the lateral bone below the lungs starts just under them (lowest ribs)")
            doubt("femoral_heads", "the pelvis could not be told from the lowest ribs")
        pelvis_runs = below
    if pelvis_runs:
        # the pelvis is the largest lateral bone below the lungs: the lowest ribs can leave a shorter run
        # of their own under the lung bases (more so on coarse pixels, where a thin rib fills whole voxels)
        start, stop = max(pelvis_runs, key=lambda r: float(profile[r[0] : r[1]].sum()))
        if stop < nz:
            crest = float(z_mm[stop - 1] + sz / 2)
            note = "top of the lateral pelvic bone (iliac crests)" + coarse_note
            put("iliac_crest", crest, 0.8 * coarse_factor, note)
    if pelvis_runs:
        # femoral heads: the thickest bone lateral to the midline, within 250 mm below the top of the run
        start = max(start, int(np.searchsorted(z_mm, z_mm[stop - 1] - 250.0)))
        sub = slice(start, stop)
        filled = np.zeros_like(skeleton)
        filled[sub] = fill_holes_2d(skeleton[sub]) & trunk[sub]
        edt = ndimage.distance_transform_edt(filled[sub], sampling=spacing_mm)
        for side in (-1, 1):
            region = (np.sign(dx_mm[sub]) == side) & (np.abs(dx_mm[sub]) >= 50.0)
            scored = np.where(region, edt, 0.0)
            if scored.max() >= 12.0:  # mm: a femoral head has a radius of 20-27 mm
                k, j, i = (int(n) for n in np.unravel_index(int(scored.argmax()), scored.shape))
                femoral_heads.append((float(k + start), float(j), float(i), float(scored.max())))
        if femoral_heads:
            # the tip of the greater trochanter, the most lateral bone of the hips, lies level with the
            # centres of the femoral heads: take the highest slice within 5 mm of the widest bone
            # (no further out than the pelvis: arms resting against the hips are wider still)
            hip_band = (np.abs(dx_mm[sub]) >= 50.0) & (np.abs(dx_mm[sub]) <= MAX_PELVIS_HALF_WIDTH_MM)
            width = np.where(lateral[sub] | (filled[sub] & hip_band), np.abs(dx_mm[sub]), 0.0)
            widest = width.max(axis=(1, 2))
            k_tip = int(np.flatnonzero(widest >= widest.max() - 5.0)[-1]) + start
            z_edt = float(np.mean([_slice_z(z_mm, h[0]) for h in femoral_heads]))
            z_fh = float(z_mm[k_tip]) if abs(z_mm[k_tip] - z_edt) <= 40.0 else z_edt
            k_fh = float(np.interp(z_fh, z_mm, np.arange(nz)))
            femoral_heads = [(k_fh, j, i, min(r, 25.0)) for _, j, i, r in femoral_heads]
            if crest is not None and not 40.0 <= crest - z_fh <= 220.0:
                # adult femoral heads lie 90-170 mm below the crests
                doubt("femoral_heads", f"the thickest hip bone lies {crest - z_fh:.0f} mm below the crests")
                femoral_heads = []
            elif z_fh - z_mm[0] >= 40.0:  # the femoral necks must be in the scan below the heads
                put(
                    "femoral_heads",
                    z_fh,
                    0.7 * coarse_factor,
                    "level of the greater trochanters' tips (femoral head centres)" + coarse_note,
                )
            else:
                femoral_heads = []
    ctx.femoral_heads = femoral_heads
    if "iliac_crest" not in found:
        put("iliac_crest", None, 0.0, "not in scan: no iliac crests found")
    if "femoral_heads" not in found:
        put("femoral_heads", None, 0.0, "not in scan: no femoral heads found")

    # ---- knees and ankles, on the legs below the femoral heads
    fh = found["femoral_heads"].z_mm
    leg_top = int(np.searchsorted(z_mm, fh - 100.0)) if fh is not None else nz
    bone_area = (skeleton & body).sum(axis=(1, 2)) * sy * sx
    body_area = body.sum(axis=(1, 2)) * sy * sx
    knees = None
    soles = found["soles"].z_mm
    if fh is not None and leg_top > 0:
        lo = int(np.searchsorted(z_mm, fh - 700.0))
        hi = int(np.searchsorted(z_mm, fh - 250.0))
        if hi - lo >= 3 and lo > 0:
            seg = bone_area[lo:hi]
            k = lo + int(seg.argmax())
            if seg.max() > 1.4 * np.median(seg):
                # the joint line: the narrowest bone between the condyles above and the tibial plateau below
                n = max(round(60.0 / sz), 2)
                # within 30 mm of the widest bone: condyles and tibial plateau are the widest bone of the leg,
                # and the medullary cavities further off leave dips of their own (ICRP 110 on 8 mm slices)
                reach = max(round(30.0 / sz), 1)
                best, best_score = k, 1.5
                for kk in range(max(k - reach, 1), min(k + reach + 1, nz - 1)):
                    below = bone_area[max(kk - n, 0) : kk].max()
                    above = bone_area[kk + 1 : kk + 1 + n].max()
                    score = min(below, above) / max(bone_area[kk], 1.0)
                    if score > best_score:
                        best, best_score = kk, score
                knees = float(z_mm[best])
                put(
                    "knees",
                    knees,
                    0.6 * coarse_factor,
                    "narrowest bone between femoral condyles and tibial plateau (joint line)" + coarse_note,
                )
    if "knees" not in found and fh is not None and soles is not None:
        doubt("knees", "no knee joint seen between the femoral heads and the feet")
    if "knees" not in found:
        put("knees", None, 0.0, "not in scan: no knee found")
    if soles is None and bottom_cut and fh is not None:
        # the scan ends at the soles (whole-body CTs often do): look for the feet widening all the same;
        # a scan cut higher up the legs shows no widening and finds no ankles
        soles = float(z_mm[0] - sz / 2)
    if soles is not None:
        k0 = body_slices[0]
        k1 = int(np.searchsorted(z_mm, soles + 250.0))
        # the narrowest leg slice above the foot: the slices of the soles' curve (the lowest 40 mm) are
        # smaller still, and on coarse slices the lowest one can be the smallest of all
        k_foot = max(int(np.searchsorted(z_mm, soles + 40.0)), k0)
        if k1 - k_foot >= 3:
            seg = body_area[k_foot:k1]
            leg = float(np.min(seg))
            kmin = k_foot + int(np.argmin(seg))
            # walk down from the narrowest leg slice until the foot widens it by half
            for k in range(kmin, k0 - 1, -1):
                if body_area[k] > 1.5 * leg:
                    put("ankles", z_mm[k + 1], 0.6, "where the legs start to widen into the feet")
                    _ankle_joint(found, bone_area, z_mm, sz)
                    break
    if "ankles" not in found and found["soles"].z_mm is not None and z_mm[-1] - soles >= 250.0:
        doubt("ankles", "the legs do not widen into the feet above the soles")
    if "ankles" not in found:
        put("ankles", None, 0.0, "not in scan: no ankles found")

    # ---- arms raised? body beside the head, apart from it
    sb = found["skull_base"].z_mm
    if sb is not None:
        k_sb = int(np.searchsorted(z_mm, sb))
        ctx.arms_up = bool(
            (body[k_sb:] & ~trunk[k_sb:]).sum() * sy * sx * sz > 200_000.0
        )  # > 200 cm3 beside the head

    _vertebral_levels(found, ctx, hu, skeleton)
    ctx.estimates.update({k: v.z_mm for k, v in found.items() if v.z_mm is not None})
    located = locate_missing(found, (float(z_mm[0]) - sz / 2, float(z_mm[-1]) + sz / 2))
    ordered = {name: located[name] for name in (*LANDMARK_NAMES, *VERTEBRAE)}
    return Landmarks(ordered), ctx


def _ankle_joint(found: dict[str, Landmark], bone_area: np.ndarray, z_mm: np.ndarray, sz: float) -> None:
    """Refine the ankles to the talocrural joint space where thin slices show it.

    Within 5 mm below to 30 mm above the outline's ankle, the slice whose bone area is less than half of
    the largest within 20 mm on both sides (tibia and fibula above, talus below) is the joint space; on
    slices too thick to show a 3-4 mm joint space there is none, and the outline's ankle stays.
    """
    z_a = found["ankles"].z_mm
    if z_a is None:
        return
    n = max(round(20.0 / sz), 1)
    best, best_score = None, 2.0
    for kk in np.flatnonzero((z_mm >= z_a - 5.0) & (z_mm <= z_a + 30.0)):
        if kk - n < 0 or kk + n >= len(z_mm):
            continue
        score = min(bone_area[kk - n : kk].max(), bone_area[kk + 1 : kk + 1 + n].max()) / max(
            bone_area[kk], 1.0
        )
        if score > best_score:
            best, best_score = kk, score
    if best is not None:
        found["ankles"] = Landmark(float(z_mm[best]), 0.7, "joint space between tibia and talus")


def _typical_centres() -> np.ndarray:
    return -np.array(typical_vertebra_centres_mm())  # downwards from the top of C1, mm (negative)


def _vertebral_levels(found: dict[str, Landmark], ctx: Context, hu: np.ndarray, skeleton: np.ndarray) -> None:
    """Vertebral centres: the vertebral bodies seen between discs, counted from an anchor.

    The anchor is the iliac crest (its top lies at L4, Tuffier's line: L4 is the body centred nearest
    10 mm above it), else the lung apex (T1), else the skull base (the first body below it is C2), else
    the diaphragm domes (T10, the least certain).
    Bodies are counted up and down from the anchor while each step is a plausible vertebral height (0.6 to
    1.45 times the typical one, scaled to the anchors): where a disc is thinner than the slices it is
    missed, two bodies merge into one run, and counting on would shift every level above it. Levels
    without a body counted (sacrum, beyond the scan, after such a step) follow from typical adult heights
    scaled to the counted ones. Should the result not be in anatomical order (C1 highest, each level below
    the one above by at least half a typical height), the bodies are not used at all and the levels are
    placed between the anchors alone, with a lower confidence.
    """
    t = _typical_centres()
    level = {n: i for i, n in enumerate(VERTEBRAE)}
    bodies = _vertebral_bodies(ctx, hu, skeleton)  # increasing z
    crest, apex, sb = (found[n].z_mm for n in ("iliac_crest", "lung_apex", "skull_base"))
    # anchors: (level index, z mm) known from other landmarks
    anchors: list[tuple[int, float]] = []
    if sb is not None:
        anchors.append((level["C1"], sb))
    if apex is not None and (sb is None or crest is None):
        anchors.append((level["T1"], apex))
    if crest is not None:
        anchors.append((level["L4"], crest + 10.0))
    # scale of the typical heights: from the two anchors furthest apart, else 1
    scale = 1.0
    if len(anchors) >= 2:
        (n_a, z_a), (n_b, z_b) = anchors[0], anchors[-1]
        scale = float(np.clip((z_a - z_b) / (t[n_a] - t[n_b]), 0.6, 1.5))

    def step_ok(n_from: int, n_to: int, dz: float) -> bool:
        expected = scale * abs(t[n_from] - t[n_to])
        return 0.6 * expected <= abs(dz) <= 1.45 * expected

    assigned: dict[int, float] = {}
    anchor: tuple[int, float] | None = None
    if crest is not None:
        anchor = (level["L4"], crest + 10.0)
    elif apex is not None:
        anchor = (level["T1"], apex)
    elif sb is not None:
        below = bodies[bodies < sb]
        if below.size:
            anchor = (level["C2"], float(below[-1]))
    elif found["lung_base"].z_mm is not None:
        anchor = (level["T10"], found["lung_base"].z_mm)  # the domes lie at about T10 (varies with breath)
    if anchor is not None and bodies.size:
        j = int(np.argmin(np.abs(bodies - anchor[1])))
        if abs(bodies[j] - anchor[1]) <= 0.5 * scale * VERTEBRA_HEIGHT_MM["L"]:
            assigned[anchor[0]] = float(bodies[j])
            n = anchor[0]
            for jj in range(j + 1, bodies.size):  # upwards: towards C1
                if n - 1 < 1 or not step_ok(n, n - 1, bodies[jj] - bodies[jj - 1]):
                    break
                n -= 1
                assigned[n] = float(bodies[jj])
            n = anchor[0]
            for jj in range(j - 1, -1, -1):  # downwards: towards S1
                if n + 1 >= level["S1"] or not step_ok(n, n + 1, bodies[jj + 1] - bodies[jj]):
                    break
                n += 1
                assigned[n] = float(bodies[jj])
    if not anchors and not assigned:
        for name in VERTEBRAE:
            found[name] = Landmark(None, 0.0, "no anchor (skull base, lungs, iliac crest) in the scan")
        return
    levels = _place_levels(t, assigned, anchors, sb, found["skull_base"].confidence)
    if not _in_order(levels, t, scale):
        levels = _place_levels(t, {}, anchors, sb, found["skull_base"].confidence)
        levels = {
            i: (z, min(conf, 0.3), "typical heights between the anchors (vertebral bodies not resolved)")
            for i, (z, conf, _) in levels.items()
        }
        ctx.doubts.append("vertebral levels: discs not resolved, typical heights between the anchors used")
    z_mm = ctx.z_mm
    half_slice = ctx.spacing_mm[0] / 2
    for i, name in enumerate(VERTEBRAE):
        z, conf, note = levels[i]
        ctx.estimates[name] = float(z)
        inside = z_mm[0] - half_slice <= z <= z_mm[-1] + half_slice
        found[name] = (
            Landmark(float(z), conf, note)
            if inside
            else Landmark(None, 0.0, f"not in scan (~{z:.0f} mm)", estimate_mm=float(z))
        )


def _place_levels(
    t: np.ndarray,
    assigned: dict[int, float],
    anchors: list[tuple[int, float]],
    sb: float | None,
    sb_confidence: float,
) -> dict[int, tuple[float, float, str]]:
    """Level index -> (z mm, confidence, note): counted bodies, the others on a line through the known."""
    pairs = [(t[n], z) for n, z in assigned.items()]
    if sb is not None:
        pairs.append((t[0], sb))
    known = {round(p[0], 6) for p in pairs}
    for n, z in anchors:
        if len(pairs) >= 2:
            break
        if round(t[n], 6) not in known:
            pairs.append((t[n], z))
    a = np.array(pairs)
    if len(a) >= 2:
        slope, offset = np.polyfit(a[:, 0], a[:, 1], 1)
        slope = float(np.clip(slope, 0.6, 1.5))
        offset = float(np.mean(a[:, 1] - slope * a[:, 0]))
    else:
        slope, offset = 1.0, float(a[0, 1] - a[0, 0])
    out: dict[int, tuple[float, float, str]] = {}
    for i in range(len(t)):
        if i == 0 and sb is not None:
            out[i] = (sb, sb_confidence, "at the skull base")
        elif i in assigned:
            out[i] = (assigned[i], 0.8, "vertebral body counted from the anchor")
        else:
            out[i] = (offset + slope * float(t[i]), 0.4, "typical heights scaled to the bodies counted")
    return out


def _in_order(levels: dict[int, tuple[float, float, str]], t: np.ndarray, scale: float) -> bool:
    """Whether every level lies below the one above it by at least half its typical height."""
    z = np.array([levels[i][0] for i in range(len(t))])
    return bool(np.all(-np.diff(z) >= 0.5 * scale * -np.diff(t)))


def _vertebral_bodies(ctx: Context, hu: np.ndarray, skeleton: np.ndarray) -> np.ndarray:
    """Centre z (mm) of the vertebral bodies seen as bone runs separated by discs in front of the canal."""
    sz, sy, sx = ctx.spacing_mm
    nz = hu.shape[0]
    frac = np.zeros(nz)
    for k in range(nz):
        if not np.isfinite(ctx.spine_y[k]):
            continue
        # the vertebral body lies in front of the bone centre of the spine (which includes the arch)
        j0 = round(ctx.spine_y[k] - 12.0 / sy)
        i0 = round(ctx.mid_x[k])
        rj, ri = max(int(6.0 / sy), 1), max(int(6.0 / sx), 1)
        patch = skeleton[k, max(j0 - 2 * rj, 0) : j0 + rj + 1, max(i0 - ri, 0) : i0 + ri + 1]
        frac[k] = patch.mean() if patch.size else 0.0
    bodies = []
    for start, stop in _runs(frac >= 0.5):
        length = (stop - start) * sz
        if 8.0 <= length <= 60.0:
            bodies.append(float(np.mean(ctx.z_mm[start:stop])))
    return np.asarray(bodies)


def coarse_warning(ct_spacing_mm: tuple[float, float, float], ctx: Context) -> str | None:
    """The warning to give about landmarks found on coarse voxels, or ``None`` when there is nothing to say.

    Parameters
    ----------
    ct_spacing_mm
        The CT's own voxel size ``(z, y, x)`` in mm (named in the message).
    ctx
        What the landmark finder learnt (working-grid spacing, landmarks it could not find reliably).
    """
    sz, sy, sx = (float(v) for v in ct_spacing_mm)
    work = max(ctx.spacing_mm[1], ctx.spacing_mm[2])
    if not ctx.doubts and work < COARSE_PIXEL_MM:
        return None
    message = f"landmarks on CT voxels of {sz:g} x {sy:g} x {sx:g} mm (z, y, x)"
    if work >= COARSE_PIXEL_MM:
        message += (
            f": pixels of {COARSE_PIXEL_MM:g} mm or more lose thin bone, so the skull base, iliac crests, "
            "femoral heads, knees and vertebral levels found are less certain"
        )
    if ctx.doubts:
        message += "; not found reliably: " + "; ".join(ctx.doubts)
    return message + "; check them ('hbiview info CT --landmarks') or give the field borders yourself"
