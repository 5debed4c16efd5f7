"""Where a plan's prescription point lies, and where a midplane one goes when the central axis misses.

:func:`prescription_point` places the point of a plan's normalization (an LPS point, a depth on the first
beam's central axis, or its midplane) from the plan's geometry and the body alone; the dose engine
(:func:`hbiview.dose.compute_dose_result`) raises its errors around it, and a border moved by the jaws
(:func:`hbiview.plans.keep_setup.move_jaws`) checks that the same point stays in the field.

The hemi-body convention (RTOG 78-10) prescribes at the patient's midplane on the central axis. A lower
hemi-body field from the iliac crest to the ankles is centred between the legs, so its central axis runs
through air and that point does not exist. :func:`midplane_point` then chooses, in this order:

1. a given level (the presets pass the femoral heads, i.e. the midline of the pelvis): the midplane on the
   line parallel to the central axis at that level, when it is in tissue and inside the field;
2. otherwise the nearest level along the patient's long axis (the field's long axis for hemi-body fields),
   inside the field, where the line parallel to the central axis crosses the patient over at least
   :data:`MIN_THICKNESS_FRACTION` of the largest thickness found in the field, with tissue on such lines for
   :data:`INSET_MM` on both sides along the axis. These rules keep the point out of thin or edge tissue
   such as the perineum where the legs meet, so it lands in the trunk.

Both are points in full-scatter tissue that a physicist would accept for an opposed-pair hand calculation;
the note returned says where the point is and why, for the plan summary and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hbiview.dose.body import axis_crossing
from hbiview.plans.model import SAD_MM, Beam, Plan

__all__ = [
    "EDGE_MARGIN_MM",
    "INSET_MM",
    "MIN_THICKNESS_FRACTION",
    "PrescriptionPoint",
    "in_field",
    "long_axis",
    "midplane_point",
    "prescription_point",
]

#: The prescription point stays this far (mm, at its depth) inside the field edges, out of the penumbra.
EDGE_MARGIN_MM = 30.0
#: Fraction of the largest patient thickness in the field that the search requires on the chosen line.
MIN_THICKNESS_FRACTION = 0.75
#: The searched point lies in tissue at least this far (mm) along the long axis on both sides.
INSET_MM = 20.0
_STEP_MM = 5.0


def long_axis(beam: Beam) -> np.ndarray:
    """The patient's superior-inferior axis seen in the beam's eye view (unit vector, LPS).

    It is the patient's z axis with its component along the beam removed; for the AP/PA and lateral beams of
    hemi-body plans it is z itself, the field's long axis. A beam pointing along z falls back to the field's
    ``y`` direction.
    """
    _, d, _, v = beam.frame()
    z = np.array([0.0, 0.0, 1.0])
    e = z - np.dot(z, d) * d
    norm = float(np.linalg.norm(e))
    return v if norm < 1e-6 else e / norm


def in_field(beam: Beam, point: np.ndarray) -> bool:
    """Whether ``point`` (LPS mm) projects inside ``beam``'s jaws, out of their penumbra.

    At least :data:`EDGE_MARGIN_MM` (at the point's depth) from every edge.
    """
    source, d, u, v = beam.frame()
    rel = point - source
    w = float(rel @ d)
    if w <= 0:
        return False
    scale = SAD_MM / w  # point's plane -> isocentre plane
    margin = EDGE_MARGIN_MM * scale
    (x1, x2), (y1, y2) = beam.jaw_edges_mm()
    pu, pv = float(rel @ u) * scale, float(rel @ v) * scale
    return x1 + margin <= pu <= x2 - margin and y1 + margin <= pv <= y2 - margin


def midplane_point(
    ct: object,
    beam: Beam,
    *,
    level_z_mm: float | None = None,
    level_name: str = "",
) -> tuple[np.ndarray, str] | None:
    """A midplane prescription point in tissue for a (resolved) beam.

    Parameters
    ----------
    ct
        The patient (:class:`~hbiview.volume.CTVolume`).
    beam
        The plan's first beam, its isocentre set.
    level_z_mm
        Preferred level (patient z, LPS mm) when the central axis misses the body, e.g. the femoral heads.
    level_name
        What that level is, for the note (e.g. ``"the femoral heads (midline of the pelvis)"``).

    Returns
    -------
    (point, note) or None
        The point (LPS mm) and an empty note when the central axis crosses the patient (midplane on the
        central axis); otherwise the chosen point and a phrase saying where it is (the caller adds why).
        ``None`` if no line parallel to the central axis inside the field crosses the patient.
    """
    source, d, _, _ = beam.frame()
    iso = source + SAD_MM * d
    crossing = axis_crossing(ct, iso, d)  # type: ignore[arg-type]
    if crossing is not None:
        return iso + 0.5 * (crossing[0] + crossing[1]) * d, ""
    e = long_axis(beam)
    if level_z_mm is not None and abs(e[2]) > 1e-6:
        shift = (float(level_z_mm) - iso[2]) / e[2]
        start = iso + shift * e
        cross = axis_crossing(ct, start, d)  # type: ignore[arg-type]
        if cross is not None:
            point = start + 0.5 * (cross[0] + cross[1]) * d
            if in_field(beam, point):
                note = (
                    f"midplane at {level_name or f'z {level_z_mm:.0f} mm'} ({cross[1] - cross[0]:.0f} mm "
                    f"thick), {abs(shift):.0f} mm {'superior' if shift * e[2] > 0 else 'inferior'} to the "
                    "central axis"
                )
                return point, note
    # generic search along the long axis, inside the field
    # far enough to reach the field edges at SSD 2000 mm; in_field does the exact test
    # (twice the farthest jaw: the field side when the jaws are symmetric, further when they are not)
    farthest = 2 * max(abs(edge) for pair in beam.jaw_edges_mm() for edge in pair)
    steps = int(np.ceil(1.25 * farthest / _STEP_MM))
    shifts = np.arange(-steps, steps + 1) * _STEP_MM
    thickness = np.zeros(len(shifts))
    points = np.zeros((len(shifts), 3))
    for i, s in enumerate(shifts):
        start = iso + s * e
        cross = axis_crossing(ct, start, d)  # type: ignore[arg-type]
        if cross is None:
            continue
        point = start + 0.5 * (cross[0] + cross[1]) * d
        if in_field(beam, point):
            thickness[i], points[i] = cross[1] - cross[0], point
    if not thickness.any():
        return None
    # in tissue for INSET_MM on both sides along the long axis (not on the edge of the crotch) ...
    reach = round(INSET_MM / _STEP_MM)
    inset = (
        np.array([thickness[max(i - reach, 0) : i + reach + 1].min() > 0 for i in range(len(shifts))])
        & (np.arange(len(shifts)) >= reach)
        & (np.arange(len(shifts)) < len(shifts) - reach)
    )
    # ... and thick: at least MIN_THICKNESS_FRACTION of the largest thickness in the field
    thickest = float(thickness.max())
    good = inset & (thickness >= MIN_THICKNESS_FRACTION * thickest)
    if not good.any():
        good = thickness > 0
    i = int(np.flatnonzero(good)[np.argmin(np.abs(shifts[good]))])
    s = float(shifts[i])
    direction = "superior" if s * e[2] > 0 else "inferior"
    note = (
        f"midplane {abs(s):.0f} mm {direction} to the central axis ({thickness[i]:.0f} mm thick), the "
        f"nearest level along the field's long axis at least {INSET_MM:.0f} mm inside the patient and at "
        f"least {MIN_THICKNESS_FRACTION:.0%} of the largest thickness in the field ({thickest:.0f} mm)"
    )
    return points[i], note


@dataclass(frozen=True, eq=False)
class PrescriptionPoint:
    """Where a plan's prescription point lies (:func:`prescription_point`).

    Attributes
    ----------
    lps_mm
        The point (LPS mm), or ``None`` when it cannot be placed: a depth on a central axis that misses the
        body, or a midplane when no line parallel to the central axis inside the field crosses it.
    moved
        For a midplane whose central axis misses the body: where the point went instead (the note of
        :func:`midplane_point`; the point then rounded to 0.1 mm, as the plan carries it from there on, an
        LPS point); ``""`` otherwise.
    thickness_mm
        For a depth: the patient's thickness along the first beam's central axis (mm), which the depth
        should not exceed; ``None`` otherwise.
    """

    lps_mm: np.ndarray | None
    moved: str = ""
    thickness_mm: float | None = None


def prescription_point(ct: object, plan: Plan) -> PrescriptionPoint:
    """Where ``plan``'s normalization puts its prescription point on the patient in ``ct``.

    Parameters
    ----------
    ct
        The patient (:class:`~hbiview.volume.CTVolume`; its body as :mod:`hbiview.dose.body` holds it).
    plan
        A resolved plan (isocentres set).

    Returns
    -------
    PrescriptionPoint
        An ``"lps"`` normalization: its point. ``"depth"``: ``depth_mm`` below the skin on the first beam's
        central axis, with the patient's thickness there. ``"midplane"``: :func:`midplane_point` of the
        first beam (on the central axis, or moved into tissue with a note). Nothing is checked against the
        body beyond that: callers say what is wrong (:func:`hbiview.dose.compute_dose_result` raises).
    """
    norm = plan.normalization
    if norm.point == "lps":
        return PrescriptionPoint(np.asarray(norm.lps_mm, dtype=float))
    if norm.point == "midplane":
        found = midplane_point(ct, plan.beams[0])
        if found is None:
            return PrescriptionPoint(None)
        point, moved = found
        if moved:  # off the central axis: as the plan then carries it, an LPS point to 0.1 mm
            point = np.array([round(float(c), 1) for c in point])
        return PrescriptionPoint(point, moved=moved)
    assert norm.depth_mm is not None  # a "depth" normalization carries depth_mm (checked on reading)
    source, d, _, _ = plan.beams[0].frame()
    iso = source + SAD_MM * d
    crossing = axis_crossing(ct, iso, d)  # type: ignore[arg-type]
    if crossing is None:
        return PrescriptionPoint(None)
    return PrescriptionPoint(
        iso + (crossing[0] + float(norm.depth_mm)) * d, thickness_mm=float(crossing[1] - crossing[0])
    )
