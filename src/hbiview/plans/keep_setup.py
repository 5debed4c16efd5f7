"""A field border moved with the patient's set-up kept: the jaws move, the source and the beam axes stay.

A hemi-body preset sets the patient up for its borders: symmetric jaws, the field's centre on the central
axis, the shortest SSD that covers the length (:mod:`hbiview.plans.setup`). When a border then moves by a
few centimetres, a department moves a jaw rather than the patient, if the jaw can reach: the same SSD,
couch position and central axis, asymmetric jaws. :func:`move_jaws` does that for a plan, and the viewer
(:mod:`hbiview.serve`) answers its border controls with it, so that the dose engine keeps its work along the
rays and only convolves the new fluence again.

Where the two differ: the field edges are matched at midplane (where the presets place the borders), so
above and below midplane the divergent edges of a moved jaw lie a little differently from those of a field
set up anew (the source is where the first set-up put it: a few millimetres at the skin for a border moved
by 5 cm at SSD 1300 mm), and the prescription point stays the first set-up's (on its central axis).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hbiview.errors import PlanError, SetupWarning, warn
from hbiview.plans.model import SAD_MM, Beam, Plan

if TYPE_CHECKING:  # pragma: no cover
    from hbiview.volume import CTVolume

__all__ = ["move_jaws"]


def _same_setup(a: Beam, b: Beam) -> bool:
    """Whether two beams differ in nothing but their jaws and isocentre (so one set-up can give both)."""
    return (
        a.energy == b.energy
        and a.gantry_deg == b.gantry_deg
        and a.collimator_deg == b.collimator_deg
        and a.patient_position == b.patient_position
        and not a.blocks
        and not b.blocks
        and a.transmission_map is None
        and b.transmission_map is None
    )


def _midplane_distance_mm(ct: CTVolume, beam: Beam) -> float | None:
    """Distance (mm) from ``beam``'s source to the patient's midplane on its central axis."""
    from hbiview.dose.body import axis_crossing

    source, d, _, _ = beam.frame()
    crossing = axis_crossing(ct, source + SAD_MM * d, d)
    if crossing is None:
        return None
    return SAD_MM + (crossing[0] + crossing[1]) / 2.0


def _primary_collimator_warning(plan: Plan, ct: CTVolume) -> str | None:
    """What the round primary collimator leaves out of a plan's moved field, or ``None`` if nothing.

    The counterpart of the presets' check (:func:`hbiview.plans.setup._primary_collimator_warning`) for
    asymmetric jaws, at any collimator angle: on the first beam's midplane (AP/PA beams only), the circle
    (radius :func:`hbiview.plans.setup._primary_radius_mm` at 1000 mm, centred on the central axis) and
    the jaws' rectangle in the field's own axes. A border (the field's edge along the patient, through the
    centre) beyond the circle is named, and so is the body outline (as the beam sees it) inside the jaws
    but outside the circle when it reaches :data:`hbiview.plans.setup.CIRCLE_CUT_WARN_PCT`.
    """
    from hbiview.dose.body import body_extent_mm
    from hbiview.plans.setup import CIRCLE_CUT_WARN_PCT, _primary_radius_mm

    beam = plan.beams[0]
    radius = _primary_radius_mm(beam.energy)
    source, d, u, v = beam.frame()
    midplane_mm = _midplane_distance_mm(ct, beam)
    if radius <= 0 or midplane_mm is None or abs(d[1]) < 1.0 - 1e-9:
        return None
    magnification = midplane_mm / SAD_MM
    centre = source + midplane_mm * d
    (x1, x2), (y1, y2) = beam.jaw_edges_mm()
    problems = []
    # along the patient through the centre (z, at midplane): where the jaws end, against the circle
    along = np.array([0.0, 0.0, 1.0])
    ends = []
    for sign, label in ((1.0, "superior"), (-1.0, "inferior")):
        reach = np.inf
        for axis, (lo, hi) in ((u, (x1, x2)), (v, (y1, y2))):
            k = sign * float(along @ axis)
            if abs(k) > 1e-9:
                reach = min(reach, (hi if k > 0 else lo) / k)
        edge = reach * magnification  # mm from the centre at midplane
        ends.append(min(edge, radius * magnification))
        if edge > radius * magnification + 1.0:
            problems.append(
                f"the {label} border (z {centre[2] + sign * edge:.0f} mm) lies "
                f"{edge - radius * magnification:.0f} mm beyond it"
            )
    geometry, mask = body_extent_mm(ct)
    z_axis, _, x_axis = geometry.axis_coordinates_mm()
    seen = mask.any(axis=1)  # (z, x): the body as the AP or PA beam sees it
    dz = (z_axis - centre[2])[:, None]
    dx = (x_axis - centre[0])[None, :]
    pu = (dx * u[0] + dz * u[2]) / magnification  # at 1000 mm, in the field's axes
    pv = (dx * v[0] + dz * v[2]) / magnification
    in_jaws = seen & (pu >= x1) & (pu <= x2) & (pv >= y1) & (pv <= y2)
    cut = in_jaws & (np.hypot(pu, pv) > radius)
    share = 100.0 * cut.sum() / max(int(in_jaws.sum()), 1)
    if share >= CIRCLE_CUT_WARN_PCT:
        zs = np.broadcast_to(z_axis[:, None], cut.shape)[cut]
        problems.append(
            f"{share:.0f} % of the body outline inside the jaws (z {zs.min():.0f} to {zs.max():.0f} mm) lies "
            "outside it"
        )
    if not problems:
        return None
    return (
        f"{plan.name}: the linac's round primary collimator (radius {radius:.0f} mm at 1000 mm, "
        f"{radius * magnification:.0f} mm at midplane on the kept central axis) limits the moved field to "
        f"z {centre[2] - ends[1]:.0f} to {centre[2] + ends[0]:.0f} mm along the patient through the axis: "
        + "; ".join(problems)
        + ". Those parts get only penumbra and scatter dose"
    )


def move_jaws(setup: Plan, target: Plan, ct: CTVolume) -> Plan | None:
    """``setup``'s patient set-up with each beam's jaws moved to cover, at midplane, what ``target`` covers.

    Parameters
    ----------
    setup
        The plan whose set-up is kept (resolved: isocentres set), e.g. a preset at its default borders.
    target
        The plan whose fields are wanted (resolved), e.g. the same preset with a border moved: the same
        beams (energy, gantry, collimator), without blocks or compensators.
    ct
        The patient (for the midplane along each central axis).

    Returns
    -------
    Plan or None
        ``setup`` with ``target``'s prescription and each beam's jaws set (asymmetric, rounded to 0.1 mm)
        to the projections of ``target``'s field edges at its midplane. ``None`` when the set-up cannot
        give the field: other beams, more than one field or pair (two abutting pairs are set up anew: the
        skin gap of their junction is computed for their own set-up), a jaw beyond its travel
        (:meth:`hbiview.plans.Beam.jaw_edges_mm`), a central axis that misses the body, or a prescription
        point (where the dose engine puts it: :func:`hbiview.dose.prescription.prescription_point`) that
        cannot be placed or lies less than :data:`hbiview.dose.prescription.EDGE_MARGIN_MM` inside the
        moved field (out of its penumbra: :func:`hbiview.dose.prescription.in_field`).

    Warns
    -----
    hbiview.errors.SetupWarning
        When the round primary collimator cuts the moved field (a border beyond its circle on the kept
        central axis, or :data:`hbiview.plans.setup.CIRCLE_CUT_WARN_PCT` of the body outline inside the
        jaws), as a preset says it of its own set-up; the description says it too.
    """
    from hbiview.dose.prescription import in_field, prescription_point

    if (
        len(setup.beams) != len(target.beams)
        or len(setup.beams) > 2  # abutting pairs: their junction gap belongs to their own set-up
        or setup.compensation != "none"
        or target.compensation != "none"
        or not all(_same_setup(a, b) for a, b in zip(setup.beams, target.beams))
    ):
        return None
    moved = []
    for kept, wanted in zip(setup.beams, target.beams):
        midplane_mm = _midplane_distance_mm(ct, wanted)
        if midplane_mm is None:
            return None
        source, d, u, v = wanted.frame()
        kept_source, kept_d, kept_u, kept_v = kept.frame()
        (x1, x2), (y1, y2) = wanted.jaw_edges_mm()
        scale = midplane_mm / SAD_MM
        centre = source + midplane_mm * d
        # the wanted field's edges at its midplane, seen from the kept source
        edges = []
        for along, kept_along, ends in ((u, kept_u, (x1, x2)), (v, kept_v, (y1, y2))):
            seen = []
            for end in ends:
                rel = centre + end * scale * along - kept_source
                seen.append(float(rel @ kept_along) * SAD_MM / float(rel @ kept_d))
            edges.append((min(seen), max(seen)))
        (a1, a2), (b1, b2) = edges
        try:
            moved.append(
                replace(
                    kept,
                    field_mm=(round(a2 - a1, 1), round(b2 - b1, 1)),
                    field_offset_mm=(round((a1 + a2) / 2, 1), round((b1 + b2) / 2, 1)),
                )
            )
        except PlanError:  # a jaw beyond its travel: the patient must be set up again
            return None
    plan = replace(
        setup,
        beams=tuple(moved),
        prescription_gy=target.prescription_gy,
        fractions=target.fractions,
        heterogeneity=target.heterogeneity,
        grid_mm=target.grid_mm,
    )
    point = prescription_point(ct, plan).lps_mm  # the point the dose engine normalises at
    if point is None or not all(in_field(beam, point) for beam in plan.beams):
        return None
    first = plan.beams[0]
    (x1, x2), (y1, y2) = first.jaw_edges_mm()
    ssd = f"SSD {first.ssd_mm:.0f} mm" if first.ssd_mm is not None else "isocentric"
    text = (
        f"{target.description.split('; extended SSD')[0]}; the set-up of the first borders kept ({ssd}, "
        f"the same couch and central axis), the borders moved by asymmetric jaws: {first.label} x {x1:.0f} "
        f"to {x2:.0f} mm, y {y1:.0f} to {y2:.0f} mm at 1000 mm."
    )
    circle = _primary_collimator_warning(plan, ct)
    if circle is not None:  # SetupWarning: about this set-up's jaws (as a preset says it of its own)
        warn(circle, category=SetupWarning)
        text += f" {circle}."
    return replace(plan, description=text)
