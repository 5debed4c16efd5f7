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


# ---------------------------------------------------------------------------------------------- thresholds
# The numbers the landmark finders use, each with where it comes from. "Ours" marks a rounded estimate of
# ours, checked on the sample patient, the real CT and the ICRP 110 phantom (tests/anatomy), not a published
# figure.

#: Half-width (mm) of the band around the midline in which the body counts as head and trunk (vertex,
#: soles, body extent): an adult head is 140-160 mm wide, so 80 mm either side holds it and leaves out arms
#: lying beside the trunk (ours).
MIDLINE_BAND_MM = 80.0
#: Body area (mm2) within :data:`MIDLINE_BAND_MM` from which a slice holds the body (noise floor, ours).
BODY_SLICE_MIN_AREA_MM2 = 200.0
#: Body area (mm2) near the midline in the top slice above which the scan cuts the body: the crown of the
#: head tapers to a few cm2 within a slice or two of the vertex (ours).
TOP_CUT_AREA_MM2 = 2000.0

#: Smallest area (mm2) the skull must enclose in a slice of the head: a skull encloses 100-200 cm2 of brain
#: at its widest (adult anatomy); 30 cm2 keeps the higher, narrower slices.
HEAD_MIN_ENCLOSED_MM2 = 3000.0
#: Largest share of air inside the enclosed area: the brain is soft tissue; ribs around the lungs enclose air.
HEAD_MAX_AIR_SHARE = 0.05
#: Shortest run (mm) of such slices that makes a head (a skull is 120-150 mm high; ours, a quarter of it).
HEAD_MIN_LENGTH_MM = 30.0
#: Smallest enclosed area (mm2) of the cerebellum's narrowing lower part, followed down to the foramen
#: magnum below the head's large slices (a few cm2).
FORAMEN_MIN_ENCLOSED_MM2 = 300.0
#: Furthest (mm) that narrowing part is followed down from the head's large slices (ours).
FORAMEN_MAX_DESCENT_MM = 40.0
#: Distance (mm) from the lowest slice with the skull closed around the brain to the centre of the atlas
#: (C1), which lies just below the foramen magnum (ours, about half a vertebra plus the gap).
C1_BELOW_FORAMEN_MM = 12.0
#: Shortest plausible vertex-to-skull-base distance (mm): an adult's atlas lies 130-160 mm below the vertex;
#: a skull closed only nearer its top (a broken shell on coarse pixels) cannot give the skull base.
MIN_VERTEX_TO_SKULL_BASE_MM = 105.0

#: Share of a lung's largest cross-section that marks its base (the top of the diaphragm dome): the lowest
#: slice still holding 60 %; the heart narrows the left lung to about 60 % higher up (ours).
LUNG_BASE_AREA_SHARE = 0.6

#: Nearest distance (mm) of pelvic bone from the midline: the iliac wings reach 130-165 mm from it; the
#: spine and sacrum lie within 50 mm (ours).
PELVIS_MIN_OFFSET_MM = 50.0
#: Depth (mm) inside the body outline pelvic bone must lie at: bone at the skin is an arm (ours).
PELVIS_MIN_DEPTH_MM = 10.0
#: Lateral bone area (mm2) from which a slice belongs to a run of pelvic bone (ours).
PELVIS_MIN_AREA_MM2 = 50.0
#: Shortest run (mm) of lateral bone that is the pelvis, and where the scan cuts it (ours).
PELVIS_MIN_RUN_MM, PELVIS_MIN_CUT_RUN_MM = 60.0, 30.0
#: The crests lie 150-250 mm below the diaphragm domes: lateral bone starting within 80 mm of them is the
#: lowest ribs, and a scan ending within 120 mm of them cannot show the crests.
CREST_MIN_BELOW_LUNG_BASE_MM, CREST_SCAN_END_BELOW_LUNG_BASE_MM = 80.0, 120.0

#: How far below the top of the pelvis (mm) the femoral heads are looked for: adult femoral heads lie
#: 90-170 mm below the crests.
HIP_SEARCH_MM = 250.0
#: Crest to femoral-head distances (mm) accepted (the 90-170 mm of adults, widened for coarse slices).
CREST_TO_FEMORAL_HEADS_MM = (40.0, 220.0)
#: Smallest inscribed radius (mm) of a femoral head: adult femoral heads have a radius of 20-27 mm.
FEMORAL_HEAD_MIN_RADIUS_MM = 12.0
#: Largest radius (mm) given to a femoral head found (the adult maximum, about 25 mm).
FEMORAL_HEAD_MAX_RADIUS_MM = 25.0
#: The greater trochanter's tip lies level with the femoral head centres: the highest slice within 5 mm of
#: the widest hip bone is taken, when within 40 mm of the thickest bone (ours).
TROCHANTER_WIDTH_TOLERANCE_MM, TROCHANTER_MAX_SHIFT_MM = 5.0, 40.0
#: When a scan ends in the trochanters: a drop of the hips' width of at least this (mm) from one slice to the
#: next going up marks the trochanters' tips (the real abdomen CT: 130 to 106 mm at the tips; ours).
TROCHANTER_TOP_STEP_MM = 15.0
#: Scan length (mm) needed below the femoral heads (the upper femoral necks) to accept them (ours; the real
#: abdomen CT ends 32 mm below its head centres).
FEMORAL_NECK_MM = 30.0

#: The legs (apart below the pelvis) begin this far (mm) below the femoral heads: no knee is looked for in a
#: scan that ends above (ours).
LEGS_BELOW_FEMORAL_HEADS_MM = 100.0
#: The knees are looked for 250-700 mm below the femoral heads (adult femur length 400-500 mm).
KNEE_BELOW_FEMORAL_HEADS_MM = (250.0, 700.0)
#: The widest bone of the legs (condyles, tibial plateau) is at least 1.4 times the median bone area of the
#: searched length (ours).
KNEE_BONE_PEAK_RATIO = 1.4
#: The joint line: within 30 mm of the widest bone, the slice whose bone is narrowest against the largest
#: bone within 60 mm above and below, by at least a factor 1.5 (medullary cavities further off leave dips
#: of their own: ICRP 110 on 8 mm slices; ours).
KNEE_JOINT_REACH_MM, KNEE_JOINT_WINDOW_MM, KNEE_JOINT_MIN_RATIO = 30.0, 60.0, 1.5

#: The ankles are looked for up to 250 mm above the soles, above the soles' curve (the lowest 40 mm), where
#: the body's section grows by half into the feet (ours).
ANKLE_SEARCH_MM, SOLE_CURVE_MM, FOOT_WIDENING = 250.0, 40.0, 1.5

#: Body volume (mm3) beside the head, apart from the trunk, above which the arms are raised (200 cm3; ours).
ARMS_UP_MIN_MM3 = 200_000.0


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


def _lung_base(lung: np.ndarray, z_mm: np.ndarray) -> float | None:
    """The lowest slice's z (mm) where ``lung`` keeps :data:`LUNG_BASE_AREA_SHARE` of its largest section."""
    area = lung.sum(axis=(1, 2)).astype(float)
    if area.max() == 0:
        return None
    if int(area.argmax()) >= len(area) - 2:
        # still widening at the top of the scan: its largest section, and so its 60 % level, lie above
        return None
    # the lowest slice where the lung still has 60 % of its largest cross-section: the first one going
    # down from the largest would stop early where the heart narrows the left lung to about 60 %
    return float(z_mm[int(np.flatnonzero(area >= LUNG_BASE_AREA_SHARE * area.max())[0])])


@dataclass
class _Scan:
    """The canonical masks and what the finders share: what is found so far, and the context."""

    hu: np.ndarray
    body: np.ndarray
    lung_l: np.ndarray
    lung_r: np.ndarray
    skeleton: np.ndarray
    z_mm: np.ndarray
    spacing_mm: tuple[float, float, float]
    trunk: np.ndarray
    ctx: Context
    found: dict[str, Landmark] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _sz, sy, sx = self.spacing_mm
        self.nz = self.body.shape[0]
        self.cols = np.arange(self.body.shape[2])
        self.mid = self.ctx.mid_x
        near_mid = np.abs(self.cols[None, None, :] - self.mid[:, None, None]) * sx <= MIDLINE_BAND_MM
        self.central_area = (self.body & near_mid).sum(axis=(1, 2)) * sy * sx
        self.body_slices = np.flatnonzero(self.central_area > BODY_SLICE_MIN_AREA_MM2)
        self.top_cut = bool(self.nz > 0 and self.central_area[-1] > TOP_CUT_AREA_MM2)
        self.bottom_cut = bool(self.nz > 0 and self.central_area[0] > BODY_SLICE_MIN_AREA_MM2)
        # pixels of 4.5 mm or more: cortical shells, discs and thin bones are at most a voxel thick
        self.coarse = max(sy, sx) >= COARSE_PIXEL_MM
        self.coarse_factor = 0.75 if self.coarse else 1.0
        self.coarse_note = f" (coarse {max(sy, sx):.1f} mm pixels: less certain)" if self.coarse else ""
        self.lungs = self.lung_l | self.lung_r
        self.lung_slices = np.flatnonzero(self.lungs.any(axis=(1, 2)))
        self.dx_mm = (self.cols[None, None, :] - self.mid[:, None, None]) * sx  # from the midline

    def put(self, name: str, z: float | None, confidence: float, note: str) -> None:
        """Record a landmark (``z`` None: not found, confidence 0)."""
        self.found[name] = Landmark(
            None if z is None else float(z), confidence if z is not None else 0.0, note
        )

    def doubt(self, name: str, why: str) -> None:
        """Drop a landmark the image does not support rather than give a wrong one."""
        sz, sy, sx = self.spacing_mm
        where = f" at {sz:g} x {sy:g} x {sx:g} mm voxels" if self.coarse else ""
        self.put(name, None, 0.0, f"not found reliably{where}: {why}")
        self.ctx.doubts.append(f"{name}: {why}")

    def z_of(self, name: str) -> float | None:
        """The z (mm) found for ``name``, ``None`` when not (yet) found."""
        mark = self.found.get(name)
        return None if mark is None else mark.z_mm


def landmarks_from_masks(
    hu: np.ndarray,
    body: np.ndarray,
    lung_l: np.ndarray,
    lung_r: np.ndarray,
    skeleton: np.ndarray,
    z_mm: np.ndarray,
    spacing_mm: tuple[float, float, float],
) -> tuple[Landmarks, Context]:
    """Find the landmarks from canonical masks on the working grid, one finder per landmark.

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
    trunk, mid = _trunk_and_midline(body, spacing_mm)
    spine_x, spine_y = _spine(skeleton, trunk, mid, spacing_mm)
    mid = np.where(np.isfinite(spine_x), spine_x, mid)
    ctx = Context(z_mm, spacing_mm, mid, spine_y, trunk)
    scan = _Scan(hu, body, lung_l, lung_r, skeleton, z_mm, spacing_mm, trunk, ctx)
    if scan.body_slices.size == 0:
        for name in (*LANDMARK_NAMES, *VERTEBRAE):
            scan.put(name, None, 0.0, "no body in the scan")
        return Landmarks(scan.found), ctx
    # in this order: each finder may use what the ones before it found
    _find_vertex_and_soles(scan)
    _find_skull_base(scan)
    _find_lungs(scan)
    _find_pelvis(scan)
    _find_knees(scan)
    _find_ankles(scan)
    _find_arms_up(scan)
    found, sz = scan.found, spacing_mm[0]
    _vertebral_levels(found, ctx, hu, skeleton)
    ctx.estimates.update({k: v.z_mm for k, v in found.items() if v.z_mm is not None})
    located = locate_missing(found, (float(z_mm[0]) - sz / 2, float(z_mm[-1]) + sz / 2))
    ordered = {name: located[name] for name in (*LANDMARK_NAMES, *VERTEBRAE)}
    return Landmarks(ordered), ctx


def _find_vertex_and_soles(s: _Scan) -> None:
    """Vertex and soles: the highest and lowest slice of the body near the midline, unless cut by the scan."""
    sz = s.spacing_mm[0]
    if s.top_cut:
        s.put("vertex", None, 0.0, "not in scan: the body reaches the top slice")
    else:
        s.put("vertex", s.z_mm[s.body_slices[-1]] + sz / 2, 0.9, "highest slice of the body near the midline")
    if s.bottom_cut:
        s.put("soles", None, 0.0, "not in scan: the body reaches the bottom slice")
    else:
        s.put("soles", s.z_mm[s.body_slices[0]] - sz / 2, 0.9, "lowest slice of the body")


def _find_skull_base(s: _Scan) -> None:
    """Skull base: the lowest slice of the top run where the skeleton encloses the brain, then C1 below it.

    Also moves the vertex to the top of the head when raised arms reach above it.
    """
    sz, sy, sx = s.spacing_mm
    z_mm, nz, trunk = s.z_mm, s.nz, s.trunk
    skull = s.skeleton & trunk
    if s.coarse:
        # a cortical shell about as thick as a pixel is broken on the grid here and there: bridge
        # one-pixel gaps so that the skull still closes around the brain
        skull = ndimage.binary_closing(skull, structure=disk(max(sy, sx), (sy, sx))) & trunk
    inside = fill_holes_2d(skull) & ~skull & trunk
    enclosed = inside.sum(axis=(1, 2)) * sy * sx
    air_inside = (inside & (s.hu < -400.0)).sum(axis=(1, 2)) * sy * sx
    head = (enclosed >= HEAD_MIN_ENCLOSED_MM2) & (air_inside <= HEAD_MAX_AIR_SHARE * enclosed)
    if s.lung_slices.size:
        head[: int(s.lung_slices[-1]) + 1] = False  # the head lies above the lungs
    runs = [r for r in _runs(head) if r[1] - r[0] >= max(2, int(HEAD_MIN_LENGTH_MM / sz))]
    if runs:
        start, stop = runs[-1]
        # with the body reaching the top slice, the head is whole when the body there is already small
        # (the crown of the head; whole-body CTs often end at the vertex): the top slice holds less than
        # half of the head's largest cross-section
        head_whole = stop < nz and s.central_area[-1] < 0.5 * s.central_area[start:stop].max()
        if not s.top_cut or stop == nz or head_whole:
            # below the large section of the brain, the skull still encloses the cerebellum's narrowing
            # lower part down to the foramen magnum (a few cm2, thick slices show it in one or two slices)
            k = start
            while (
                k - 1 >= 0
                and enclosed[k - 1] >= FORAMEN_MIN_ENCLOSED_MM2
                and air_inside[k - 1] <= HEAD_MAX_AIR_SHARE * enclosed[k - 1]
                and (inside[k - 1] & inside[k]).sum() * sy * sx >= 0.5 * enclosed[k - 1]
                and z_mm[start] - z_mm[k - 1] <= FORAMEN_MAX_DESCENT_MM
            ):
                k -= 1
            note = "12 mm below the lowest slice with the skull closed around the brain (C1)"
            conf = 0.7 if not (s.top_cut and start == 0) else 0.3
            s.put(
                "skull_base",
                float(z_mm[k]) - C1_BELOW_FORAMEN_MM,
                conf * s.coarse_factor,
                note + s.coarse_note,
            )
        if not s.top_cut:
            # the vertex is the top of the body above the brain's centre: raised hands above the head
            # would otherwise count as the top of the body near the midline
            j, i = (round(c) for c in ndimage.center_of_mass(inside[stop - 1]))
            k = stop - 1
            while k + 1 < nz and s.body[k + 1, j, i]:
                k += 1
            if z_mm[k] < z_mm[s.body_slices[-1]] - 1.5 * sz:
                s.put(
                    "vertex",
                    z_mm[k] + sz / 2,
                    0.8,
                    "top of the head (the body above it is apart: raised arms)",
                )
        sb_z, vx_z = s.z_of("skull_base"), s.z_of("vertex")
        if sb_z is not None and vx_z is not None and vx_z - sb_z < MIN_VERTEX_TO_SKULL_BASE_MM:
            s.doubt("skull_base", "the skull closes around the brain only near the vertex")
    if "skull_base" not in s.found:
        s.put("skull_base", None, 0.0, "not in scan: no skull enclosing the brain found")


def _find_lungs(s: _Scan) -> None:
    """Lung apex (the highest slice with lung) and base (the top of the higher diaphragm dome)."""
    z_mm, slices = s.z_mm, s.lung_slices
    if slices.size == 0:
        s.put("lung_apex", None, 0.0, "not in scan: no lungs found")
        s.put("lung_base", None, 0.0, "not in scan: no lungs found")
        return
    if slices[-1] == s.nz - 1:
        s.put("lung_apex", None, 0.0, "not in scan: the lungs reach the top slice")
    else:
        s.put("lung_apex", z_mm[slices[-1]], 0.9, "highest slice with lung")
    if slices[0] == 0:
        s.put("lung_base", None, 0.0, "not in scan: the lungs reach the bottom slice")
        return
    bases = [b for b in (_lung_base(s.lung_l, z_mm), _lung_base(s.lung_r, z_mm)) if b is not None]
    if bases:
        note = "top of the higher diaphragm dome (lung cross-section below 60 % of its largest)"
        s.put("lung_base", max(bases), 0.8, note)
    else:  # only the lungs' lower tips are in the scan, still widening at its top slice
        s.put("lung_base", None, 0.0, "not in scan: the lungs reach the top slice still widening")


def _find_pelvis(s: _Scan) -> None:
    """Iliac crest (the top of the largest run of lateral bone below the lungs) and femoral heads."""
    _sz, sy, sx = s.spacing_mm
    # the iliac wings reach 130-165 mm from the midline; humeri and forearms lie further out (arms resting
    # against an obese trunk join it in the body outline and would fill the gap between ribs and pelvis)
    lateral = (
        s.skeleton
        & s.trunk
        & (np.abs(s.dx_mm) >= PELVIS_MIN_OFFSET_MM)
        & (np.abs(s.dx_mm) <= MAX_PELVIS_HALF_WIDTH_MM)
    )
    lateral &= ndimage.binary_erosion(s.trunk, structure=disk(PELVIS_MIN_DEPTH_MM, (sy, sx)))
    if s.lung_slices.size:
        lateral[s.lung_slices[0] :] = False  # below the lungs only
    profile = lateral.sum(axis=(1, 2)) * sy * sx
    run = _pelvis_run(s, profile)
    crest = None
    if run is not None and run[1] < s.nz:
        crest = float(s.z_mm[run[1] - 1] + s.spacing_mm[0] / 2)
        s.put(
            "iliac_crest",
            crest,
            0.8 * s.coarse_factor,
            "top of the lateral pelvic bone (iliac crests)" + s.coarse_note,
        )
    s.ctx.femoral_heads = _find_femoral_heads(s, run, lateral, crest) if run is not None else []
    if "iliac_crest" not in s.found:
        s.put("iliac_crest", None, 0.0, "not in scan: no iliac crests found")
    if "femoral_heads" not in s.found:
        s.put("femoral_heads", None, 0.0, "not in scan: no femoral heads found")


def _pelvis_run(s: _Scan, profile: np.ndarray) -> tuple[int, int] | None:
    """The slices (start, stop) of the pelvis: the largest run of lateral bone well below the lungs."""
    sz, nz, z_mm = s.spacing_mm[0], s.nz, s.z_mm
    runs = [
        r
        for r in _runs(profile >= PELVIS_MIN_AREA_MM2)
        if (r[1] - r[0]) * sz >= (PELVIS_MIN_CUT_RUN_MM if r[0] == 0 or r[1] == nz else PELVIS_MIN_RUN_MM)
    ]
    base = s.z_of("lung_base")
    if base is not None and runs:
        # lateral bone starting just under the lungs is the lowest ribs (or ribs and pelvis merged on
        # coarse slices), and hips found in it are wrong
        below = [r for r in runs if z_mm[r[1] - 1] <= base - CREST_MIN_BELOW_LUNG_BASE_MM]
        if not below and z_mm[0] > base - CREST_SCAN_END_BELOW_LUNG_BASE_MM:
            why = f"not in scan: the scan ends {base - z_mm[0]:.0f} mm below the lung bases"
            s.put("iliac_crest", None, 0.0, why)
            s.put("femoral_heads", None, 0.0, why)
        elif not below:
            s.doubt("iliac_crest", "the lateral bone below the lungs starts just under them (lowest ribs)")
            s.doubt("femoral_heads", "the pelvis could not be told from the lowest ribs")
        runs = below
    if not runs:
        return None
    # the pelvis is the largest lateral bone below the lungs: the lowest ribs can leave a shorter run of
    # their own under the lung bases (more so on coarse pixels, where a thin rib fills whole voxels)
    start, stop = max(runs, key=lambda r: float(profile[r[0] : r[1]].sum()))
    return int(start), int(stop)


def _find_femoral_heads(
    s: _Scan, run: tuple[int, int], lateral: np.ndarray, crest: float | None
) -> list[tuple[float, float, float, float]]:
    """Femoral heads: the thickest bone each side of the midline, placed level with the trochanters' tips."""
    z_mm, dx_mm = s.z_mm, s.dx_mm
    start, stop = run
    start = max(start, int(np.searchsorted(z_mm, z_mm[stop - 1] - HIP_SEARCH_MM)))
    sub = slice(start, stop)
    filled = np.zeros_like(s.skeleton)
    filled[sub] = fill_holes_2d(s.skeleton[sub]) & s.trunk[sub]
    edt = ndimage.distance_transform_edt(filled[sub], sampling=s.spacing_mm)
    heads: list[tuple[float, float, float, float]] = []
    for side in (-1, 1):
        region = (np.sign(dx_mm[sub]) == side) & (np.abs(dx_mm[sub]) >= PELVIS_MIN_OFFSET_MM)
        scored = np.where(region, edt, 0.0)
        if scored.max() >= FEMORAL_HEAD_MIN_RADIUS_MM:
            k, j, i = (int(n) for n in np.unravel_index(int(scored.argmax()), scored.shape))
            heads.append((float(k + start), float(j), float(i), float(scored.max())))
    if not heads:
        return []
    # the tip of the greater trochanter, the most lateral bone of the hips, lies level with the centres of
    # the femoral heads: take the highest slice near the widest bone (no further out than the pelvis: arms
    # resting against the hips are wider still)
    hip_band = (np.abs(dx_mm[sub]) >= PELVIS_MIN_OFFSET_MM) & (np.abs(dx_mm[sub]) <= MAX_PELVIS_HALF_WIDTH_MM)
    width = np.where(lateral[sub] | (filled[sub] & hip_band), np.abs(dx_mm[sub]), 0.0)
    widest = width.max(axis=(1, 2))
    near_widest = widest >= widest.max() - TROCHANTER_WIDTH_TOLERANCE_MM
    k_tip = int(np.flatnonzero(near_widest)[-1])
    if near_widest[0] and start == 0:
        # the hips are (about) widest at the scan's lowest slice: the trochanters' widest part may lie below
        # the images, so the top of the widest slices is not their tip; the tips are where, going up, the
        # width drops by a step (the trochanter ends, the narrower acetabular rim is next). Judged on the
        # tolerance band, not on the one widest slice, so that the grid's pixel size does not decide it
        drops = np.flatnonzero(widest[:-1] - widest[1:] >= TROCHANTER_TOP_STEP_MM)
        if drops.size:
            k_tip = int(drops[0])
    k_tip += start
    z_edt = float(np.mean([_slice_z(z_mm, h[0]) for h in heads]))
    z_fh = float(z_mm[k_tip]) if abs(z_mm[k_tip] - z_edt) <= TROCHANTER_MAX_SHIFT_MM else z_edt
    k_fh = float(np.interp(z_fh, z_mm, np.arange(s.nz)))
    heads = [(k_fh, j, i, min(r, FEMORAL_HEAD_MAX_RADIUS_MM)) for _, j, i, r in heads]
    low, high = CREST_TO_FEMORAL_HEADS_MM
    if crest is not None and not low <= crest - z_fh <= high:
        s.doubt("femoral_heads", f"the thickest hip bone lies {crest - z_fh:.0f} mm below the crests")
        return []
    if z_fh - z_mm[0] < FEMORAL_NECK_MM:  # the femoral necks must be in the scan below the heads
        return []
    note = "level of the greater trochanters' tips (femoral head centres)" + s.coarse_note
    s.put("femoral_heads", z_fh, 0.7 * s.coarse_factor, note)
    return heads


def _bone_area(s: _Scan) -> np.ndarray:
    """Bone area of the body per slice (mm2)."""
    _sz, sy, sx = s.spacing_mm
    return (s.skeleton & s.body).sum(axis=(1, 2)) * sy * sx


def _find_knees(s: _Scan) -> None:
    """Knees: the joint line, the narrowest bone between the condyles and the tibial plateau."""
    sz, z_mm, nz = s.spacing_mm[0], s.z_mm, s.nz
    fh = s.z_of("femoral_heads")
    bone_area = _bone_area(s)
    if fh is not None and int(np.searchsorted(z_mm, fh - LEGS_BELOW_FEMORAL_HEADS_MM)) > 0:
        near, far = KNEE_BELOW_FEMORAL_HEADS_MM
        lo = int(np.searchsorted(z_mm, fh - far))
        hi = int(np.searchsorted(z_mm, fh - near))
        if hi - lo >= 3 and lo > 0:
            seg = bone_area[lo:hi]
            k = lo + int(seg.argmax())
            if seg.max() > KNEE_BONE_PEAK_RATIO * np.median(seg):
                n = max(round(KNEE_JOINT_WINDOW_MM / sz), 2)
                reach = max(round(KNEE_JOINT_REACH_MM / sz), 1)
                best, best_score = k, KNEE_JOINT_MIN_RATIO
                for kk in range(max(k - reach, 1), min(k + reach + 1, nz - 1)):
                    below = bone_area[max(kk - n, 0) : kk].max()
                    above = bone_area[kk + 1 : kk + 1 + n].max()
                    score = min(below, above) / max(bone_area[kk], 1.0)
                    if score > best_score:
                        best, best_score = kk, score
                note = (
                    "narrowest bone between femoral condyles and tibial plateau (joint line)" + s.coarse_note
                )
                s.put("knees", float(z_mm[best]), 0.6 * s.coarse_factor, note)
    if "knees" not in s.found and fh is not None and s.z_of("soles") is not None:
        s.doubt("knees", "no knee joint seen between the femoral heads and the feet")
    if "knees" not in s.found:
        s.put("knees", None, 0.0, "not in scan: no knee found")


def _find_ankles(s: _Scan) -> None:
    """Ankles: where the legs start to widen into the feet, then the tibiotalar joint space if seen."""
    sz, sy, sx = s.spacing_mm
    z_mm = s.z_mm
    soles = s.z_of("soles")
    if soles is None and s.bottom_cut and s.z_of("femoral_heads") is not None:
        # the scan ends at the soles (whole-body CTs often do): look for the feet widening all the same;
        # a scan cut higher up the legs shows no widening and finds no ankles
        soles = float(z_mm[0] - sz / 2)
    if soles is not None:
        body_area = s.body.sum(axis=(1, 2)) * sy * sx
        k0 = s.body_slices[0]
        k1 = int(np.searchsorted(z_mm, soles + ANKLE_SEARCH_MM))
        # the narrowest leg slice above the foot: the slices of the soles' curve are smaller still, and on
        # coarse slices the lowest one can be the smallest of all
        k_foot = max(int(np.searchsorted(z_mm, soles + SOLE_CURVE_MM)), k0)
        if k1 - k_foot >= 3:
            seg = body_area[k_foot:k1]
            leg = float(np.min(seg))
            kmin = k_foot + int(np.argmin(seg))
            # walk down from the narrowest leg slice until the foot widens it
            for k in range(kmin, k0 - 1, -1):
                if body_area[k] > FOOT_WIDENING * leg:
                    s.put("ankles", z_mm[k + 1], 0.6, "where the legs start to widen into the feet")
                    _ankle_joint(s.found, _bone_area(s), z_mm, sz)
                    break
    if "ankles" not in s.found and s.z_of("soles") is not None and z_mm[-1] - soles >= ANKLE_SEARCH_MM:
        s.doubt("ankles", "the legs do not widen into the feet above the soles")
    if "ankles" not in s.found:
        s.put("ankles", None, 0.0, "not in scan: no ankles found")


def _find_arms_up(s: _Scan) -> None:
    """Raised arms: body beside the head, apart from it (:attr:`Context.arms_up`)."""
    sz, sy, sx = s.spacing_mm
    sb = s.z_of("skull_base")
    if sb is not None:
        k_sb = int(np.searchsorted(s.z_mm, sb))
        s.ctx.arms_up = bool((s.body[k_sb:] & ~s.trunk[k_sb:]).sum() * sy * sx * sz > ARMS_UP_MIN_MM3)


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
