"""Abutting fields of one plan: where their diverging edges meet, and the dose across the junction.

A lower hemi-body field too long for one field is treated as two abutting AP/PA pairs
(:func:`hbiview.plans.preset` ``lower-hbi``): parallel fields moved along the patient whose geometric edges
meet at a chosen depth (the midplane), leaving a gap on the skin. :func:`field_junctions` finds such pairs in
any plan from its beams alone; :func:`junction_dose` samples the plan's dose across each junction on the
plane of the match (a profile along the patient and the coldest and hottest points of the junction region),
which the plan summaries show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hbiview.plans import SAD_MM, Plan, junction_gap_mm

__all__ = ["Junction", "field_junctions", "junction_dose", "junction_text"]

#: Half-length (mm) along the patient of the junction region whose coldest and hottest points are reported.
JUNCTION_HALF_MM = 20.0


@dataclass(frozen=True)
class Junction:
    """Two parallel fields of a plan whose edges meet.

    Attributes
    ----------
    beams
        Indices of the two beams (the first is the one on the ``+v`` side, superior at collimator 0).
    point_lps_mm
        Where the edges meet on the plane between the central axes (LPS mm).
    depth_mm
        Distance of that point below the skin plane the gap is measured on (mm).
    gap_mm
        Gap between the two fields' edges on the skin (mm; negative: they overlap there).
    along
        Unit vector along which the fields follow each other (the field's ``v``).
    """

    beams: tuple[int, int]
    point_lps_mm: tuple[float, float, float]
    depth_mm: float
    gap_mm: float
    along: tuple[float, float, float]


def field_junctions(plan: Plan) -> list[Junction]:
    """Pairs of parallel beams of ``plan`` (same gantry, collimator 0 or 180) whose field edges meet.

    The sources must lie at the same distance along the beam direction and apart along the field's ``v``
    (a couch move along the patient). Their facing edges meet at the distance ``SAD x dv / (hy1 + hy2)``
    from the sources, ``dv`` the sources' separation and ``hy`` the jaw half-lengths at the isocentre plane.
    The skin is taken where the beam with a set SSD puts it (``ssd_mm`` on its axis); the gap there follows
    :func:`hbiview.plans.junction_gap_mm`. One junction per pair of positions (an opposed pair's PA fields
    meet where its AP fields do and are not listed twice).
    """
    out: list[Junction] = []
    beams = plan.beams
    for i in range(len(beams)):
        for j in range(i + 1, len(beams)):
            a, b = beams[i], beams[j]
            if a.isocentre_lps_mm is None or b.isocentre_lps_mm is None:
                continue
            if (
                abs((a.gantry_deg - b.gantry_deg) % 360) > 1e-6
                or a.collimator_deg % 180
                or b.collimator_deg % 180
            ):
                continue
            sa, d, _, v = a.frame()
            sb = b.frame()[0]
            delta = sa - sb
            if abs(float(delta @ d)) > 1.0 or abs(float(delta @ v)) < 1.0:
                continue
            if float(delta @ v) < 0:
                i_hi, i_lo, s_hi, s_lo, hi, lo = j, i, sb, sa, b, a
            else:
                i_hi, i_lo, s_hi, s_lo, hi, lo = i, j, sa, sb, a, b
            dv = abs(float(delta @ v))
            hy_hi, hy_lo = hi.field_mm[1] / 2, lo.field_mm[1] / 2
            t = SAD_MM * dv / (hy_hi + hy_lo)  # distance from the source plane where the edges meet
            point = (s_hi + s_lo) / 2 + t * d + ((t * hy_lo / SAD_MM) - dv / 2) * v
            ssd = hi.ssd_mm if hi.ssd_mm is not None else lo.ssd_mm
            if ssd is None or t <= ssd:
                depth, gap = t - (ssd or t), 0.0
            else:
                depth = t - ssd
                gap = junction_gap_mm(2 * hy_hi * ssd / SAD_MM, ssd, 2 * hy_lo * ssd / SAD_MM, ssd, depth)
            if any(np.linalg.norm(np.asarray(k.point_lps_mm) - point) < 5.0 for k in out):
                continue
            out.append(
                Junction(
                    (i_hi, i_lo),
                    tuple(round(float(c), 1) for c in point),  # type: ignore[arg-type]
                    round(float(depth), 1),
                    round(float(gap), 1),
                    tuple(float(c) for c in v),  # type: ignore[arg-type]
                )
            )
    return out


def junction_dose(
    model: Any, junction: Junction, *, step_mm: float = 2.5, reach_mm: float = 60.0
) -> dict[str, Any]:
    """The plan's dose across a junction, on the plane of the match (the midplane for opposed pairs).

    Parameters
    ----------
    model
        The plan's :class:`hbiview.dose.compute.PlanDoseModel` (dose at any point, body mask).
    junction
        From :func:`field_junctions` on the same plan.
    step_mm
        Sampling step (mm).
    reach_mm
        How far along the patient on each side of the junction the profile runs (mm).

    Returns
    -------
    dict
        ``profile_mm`` (positions along the patient from the junction, mm), ``profile_gy`` (total dose
        there, Gy, through the tissue at the match plane: the middle of the body's widest run across the
        junction), ``min_pct`` / ``max_pct`` (coldest and hottest dose within :data:`JUNCTION_HALF_MM` of the
        junction across the tissue on the match plane, 20 mm or more inside the body's edge, % of the
        prescription) with their LPS
        positions ``min_lps_mm`` / ``max_lps_mm``, and ``prescription_gy`` (total).
    """
    plan = model.plan
    _, _, u, _ = plan.beams[junction.beams[0]].frame()
    along = np.asarray(junction.along)
    centre = np.asarray(junction.point_lps_mm)
    across = np.arange(-400.0, 400.0 + step_mm, step_mm)
    steps = np.arange(-reach_mm, reach_mm + step_mm / 2, step_mm)
    grid = centre + steps[:, None, None] * along + across[None, :, None] * u
    points = grid.reshape(-1, 3)
    index = np.rint(model.density_geometry.lps_to_index(points)).astype(int)
    ok = np.all((index >= 0) & (index < np.asarray(model.body.shape)), axis=1)
    inside: np.ndarray = np.zeros(len(points), dtype=bool)
    inside[ok] = model.body[index[ok, 0], index[ok, 1], index[ok, 2]]
    inside = inside.reshape(len(steps), len(across))
    total_rx = plan.prescription_gy * plan.fractions
    dose = np.full(inside.shape, np.nan)
    dose[inside] = model.per_fraction_at(grid[inside]) * plan.fractions
    # the profile through the middle of the widest run of tissue across the junction itself
    row = inside[len(steps) // 2]
    runs, start = [], None
    for k, flag in enumerate(np.append(row, False)):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            runs.append((k - start, start, k - 1))
            start = None
    out: dict[str, Any] = {"prescription_gy": total_rx, "profile_mm": [], "profile_gy": []}
    if runs:
        _, first, last = max(runs)
        column = (first + last) // 2
        profile = dose[:, column]
        keep = np.isfinite(profile)
        out["profile_mm"] = [round(float(s), 1) for s in steps[keep]]
        out["profile_gy"] = [round(float(g), 4) for g in profile[keep]]
        out["profile_lps_mm"] = [round(float(c), 1) for c in grid[len(steps) // 2, column]]
    # tissue at least 20 mm from the body's edge across the field (no build-up at grazing skin)
    from scipy import ndimage

    core = ndimage.binary_erosion(inside, np.ones((1, 2 * round(20.0 / step_mm) + 1), bool))
    region = (np.abs(steps) <= JUNCTION_HALF_MM)[:, None] & core
    if region.any():
        values = np.where(region, dose, np.nan)
        lo = np.unravel_index(int(np.nanargmin(values)), values.shape)
        hi = np.unravel_index(int(np.nanargmax(values)), values.shape)
        out["min_pct"] = round(100.0 * float(values[lo]) / total_rx, 1)
        out["max_pct"] = round(100.0 * float(values[hi]) / total_rx, 1)
        out["min_lps_mm"] = [round(float(c), 1) for c in grid[lo]]
        out["max_lps_mm"] = [round(float(c), 1) for c in grid[hi]]
    return out


def junction_text(plan: Plan, junction: Junction, dose: dict[str, Any]) -> str:
    """One line: which fields meet where, the skin gap, and the junction region's coldest and hottest dose."""
    a, b = (plan.beams[k].label for k in junction.beams)
    x, y, z = junction.point_lps_mm
    text = (
        f"junction of {a} and {b} at LPS ({x:.0f}, {y:.0f}, {z:.0f}) mm, {junction.depth_mm:.0f} mm deep "
        f"(skin gap {junction.gap_mm:.1f} mm)"
    )
    if "min_pct" in dose:
        text += (
            f": on that plane within {JUNCTION_HALF_MM:.0f} mm of it {dose['min_pct']:.1f} to "
            f"{dose['max_pct']:.1f} % of the prescription"
        )
    return text
