"""Placing a plan on a CT: isocentres from the body, and checks that every field meets the patient."""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hbiview.errors import PlanError
from hbiview.plans.model import MIN_SSD_MM, SAD_MM, Plan, _xyz, beam_basis, ct_patient_position

if TYPE_CHECKING:
    from hbiview.volume import CTVolume


def resolve_plan(plan: Plan, ct: CTVolume) -> Plan:
    """Place every beam on ``ct`` and check that the plan fits the patient.

    Beams without ``isocentre_lps_mm`` get one: the body centre (isocentric), or for an SSD set-up the point
    1000 mm from a source put ``ssd_mm`` from the skin on the line through the body centre. Beams with both an
    isocentre and ``ssd_mm`` must agree with the CT within 10 mm.

    Parameters
    ----------
    plan
        The plan (e.g. from :func:`load_plan`).
    ct
        The patient.

    Returns
    -------
    Plan
        The plan with every isocentre set.

    Raises
    ------
    PlanError
        Naming the key (and the plan file) when a field misses the CT or the body entirely, when the source
        would be inside the patient, or when ``ssd_mm`` does not match the patient's surface distance.
    """
    from hbiview.dose.body import axis_crossing, body_box_mm, body_outline_points

    if _placed_on(plan, ct):
        return plan
    where = f"{plan.source}: " if plan.source else f"plan {plan.name!r}: "
    body_pts = body_outline_points(ct)  # the outline is enough for the body's box and the field checks
    box = body_box_mm(ct)
    if box is None:
        raise PlanError(f"{where}the CT shows no body (nothing above -400 HU); check the series")
    centre = (box[0] + box[1]) / 2
    ct_lower, ct_upper = ct.geometry.bounds_mm()
    ct_corners = np.array(np.meshgrid(*zip(ct_lower, ct_upper), indexing="ij")).reshape(3, -1).T
    beams = []
    position = ct_patient_position(ct)
    for number, beam in enumerate(plan.beams, start=1):
        key = f"beams[{number}]"
        if beam.patient_position is None and position != "HFS":
            beam = replace(beam, patient_position=position)  # the angles refer to this CT's set-up
        elif beam.patient_position is not None and beam.patient_position != position:
            raise PlanError(
                f"{where}{key}.patient_position = {beam.patient_position!r} but the CT was taken "
                f"{position}: the plan belongs to another set-up"
            )
        d, u, v = beam_basis(beam.gantry_deg, beam.collimator_deg, beam.patient_position or "HFS")
        iso = np.asarray(beam.isocentre_lps_mm) if beam.isocentre_lps_mm is not None else None
        axis_point = iso if iso is not None else centre
        crossing = axis_crossing(ct, axis_point, d)
        if iso is None:
            if beam.ssd_mm is None:
                iso = centre
            else:
                if crossing is None:
                    raise PlanError(f"{where}{key}: the central axis through the body centre misses the body")
                entry = axis_point + crossing[0] * d
                iso = np.round(entry + (SAD_MM - beam.ssd_mm) * d, 1)
        source = iso - SAD_MM * d
        if crossing is not None:
            entry = axis_point + crossing[0] * d
            ssd_actual = float(np.dot(entry - source, d))
            if ssd_actual <= 0:
                raise PlanError(
                    f"{where}{key}: the source would be inside the patient (surface {-ssd_actual:.0f} mm "
                    "behind it); move isocentre_lps_mm or raise ssd_mm"
                )
            if beam.ssd_mm is not None and abs(ssd_actual - beam.ssd_mm) > 10.0:
                raise PlanError(
                    f"{where}{key}.ssd_mm = {beam.ssd_mm:g} mm but the patient's surface is "
                    f"{ssd_actual:.0f} mm from "
                    "the source placed by isocentre_lps_mm; fix one of them or drop isocentre_lps_mm"
                )
            if beam.ssd_mm is None and ssd_actual < MIN_SSD_MM:
                raise PlanError(
                    f"{where}{key}: the skin is only {ssd_actual:.0f} mm from the source (isocentre "
                    f"{SAD_MM - ssd_actual:.0f} mm deep); a linac needs at least {MIN_SSD_MM:.0f} mm"
                )
        # field entirely outside the CT / the body: project onto the isocentre plane and compare
        (x1, x2), (y1, y2) = beam.jaw_edges_mm()
        for what, pts in (("the CT", ct_corners), ("the body", body_pts)):
            if what == "the body" and _any_in_field(_projected(pts[::64], source, d, u, v), x1, x2, y1, y2):
                continue  # every 64th outline point is enough to see that the field meets the body
            projected = _projected(pts, source, d, u, v)
            if projected is None:
                raise PlanError(
                    f"{where}{key}: {what} lies behind the source; check gantry_deg and isocentre_lps_mm"
                )
            pu, pv = projected
            if what == "the CT":
                miss = pu.max() < x1 or pu.min() > x2 or pv.max() < y1 or pv.min() > y2
            else:
                miss = not _any_in_field(projected, x1, x2, y1, y2)
            if miss:
                raise PlanError(
                    f"{where}{key}.field_mm: the {beam.describe_jaws()} field lies entirely outside {what}; "
                    "check isocentre_lps_mm, gantry_deg, field_mm and field_offset_mm"
                )
        beams.append(replace(beam, isocentre_lps_mm=_xyz(iso)))
    placed = replace(plan, beams=tuple(beams))
    _remember(placed, ct)
    return placed


def _projected(
    points: np.ndarray, source: np.ndarray, d: np.ndarray, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Isocentre-plane field x and y (mm) of the points ahead of the source; ``None`` if none is."""
    rel = points - source
    w = rel @ d
    ahead = w > 1.0
    if not ahead.any():
        return None
    return (rel[ahead] @ u) * SAD_MM / w[ahead], (rel[ahead] @ v) * SAD_MM / w[ahead]


def _any_in_field(
    projected: tuple[np.ndarray, np.ndarray] | None, x1: float, x2: float, y1: float, y2: float
) -> bool:
    """Whether any projected point lies within the jaws' edges (mm at the isocentre plane)."""
    if projected is None:
        return False
    pu, pv = projected
    return bool(np.any((pu >= x1) & (pu <= x2) & (pv >= y1) & (pv <= y2)))


#: Plans :func:`resolve_plan` returned, by identity, with the CT each was placed on (both held weakly):
#: placing such a plan on the same CT again gives the same plan, so it is returned as it is.
_PLACED: dict[int, tuple[weakref.ref[Plan], weakref.ref[CTVolume]]] = {}


def _placed_on(plan: Plan, ct: CTVolume) -> bool:
    """Whether ``plan`` is a plan :func:`resolve_plan` returned for ``ct``."""
    entry = _PLACED.get(id(plan))
    return entry is not None and entry[0]() is plan and entry[1]() is ct


def _remember(plan: Plan, ct: CTVolume) -> None:
    """Note that ``plan`` is placed on ``ct`` (forgotten when the plan is freed)."""
    key = id(plan)
    _PLACED[key] = (weakref.ref(plan, lambda _: _PLACED.pop(key, None)), weakref.ref(ct))
