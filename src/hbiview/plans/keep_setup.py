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

from hbiview.errors import PlanError
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
    return replace(plan, description=text)
