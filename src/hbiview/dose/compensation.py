"""Missing-tissue compensation: a transmission map per beam that makes the midplane dose uniform.

A hemi-body field covers parts of very different thickness: the trunk, and the neck, arms, head or legs.
Prescribed at the midplane of the trunk, the thin parts receive more (up to 20-50 % in the neck and arms
of upper HBI). A clinic evens this out with compensators (missing-tissue filters) or partial-transmission
blocks. :func:`compensate` designs one per beam, as a transmission map on the beam's isocentre plane:

1. Along every ray from the source (a pixel of the map) the patient's physical thickness ``t`` is measured
   on the body mask, and the distance ``w`` from the source to the ray's midplane (the middle of its
   tissue).
2. The beam's dose at that midplane, relative, is ``B(max(t / 2, z_max)) (1000 / w)^2``: ``B`` is the
   depth dose of a broad beam of the beam's quality (the convolution engine's own kernel,
   :meth:`hbiview.dose.kernel.PencilKernel.broad_beam`), i.e. the effective attenuation of that quality,
   and the inverse square law. Tissue thinner than twice the depth of maximum dose ``z_max`` counts as
   ``2 z_max`` (the build-up is not compensated).
3. The transmission is the ratio of that dose at the prescription point's ray to the dose at each ray,
   scaled so that its largest value within the field is 1 (a compensator only attenuates; the thickest
   tissue gets the open field) and bounded below by :data:`MIN_TRANSMISSION`, then smoothed over one
   pixel. The dose engine multiplies the open fluence by it (:func:`hbiview.dose.fluence.fluence_map`) and
   the plan is normalised to the prescription as usual (the monitor units rise accordingly).

What it does not do: it compensates physical thickness, not density (the lungs are left to
partial-transmission blocks, as in clinics); lateral scatter missing from narrow parts and the off-axis
horns of the field are not compensated; beam hardening and scatter from the compensator itself are not
modelled (a filter of 0.5 transmission changes the depth dose by about 1 %).

:func:`hot_spots` gives the figures to compare plans with and without compensation: the body's near-maximum
(D2 %), maximum and where it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import ndimage

from hbiview.geometry import Geometry
from hbiview.plans import SAD_MM, Beam, Plan, TransmissionMap
from hbiview.volume import DoseGrid

__all__ = [
    "MIN_TRANSMISSION",
    "compensate",
    "hot_spots",
    "hot_spots_text",
    "midplane_transmission",
    "ray_thickness",
]

#: Lowest transmission a compensator is given (thicker filters harden the beam and are heavy to mount).
MIN_TRANSMISSION = 0.5
#: Rays with less tissue than this (mm) do not set the map's maximum (skin grazing, gaps between legs).
MIN_THICKNESS_MM = 20.0


def ray_thickness(
    beam: Beam,
    body: np.ndarray,
    geometry: Geometry,
    u_mm: np.ndarray,
    v_mm: np.ndarray,
    step_mm: float = 2.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Physical thickness of the body along each ray, and the distance of its middle from the source.

    Parameters
    ----------
    beam
        A resolved beam (isocentre set).
    body
        Body mask on ``geometry`` (bool or 0-1).
    geometry
        The mask's grid.
    u_mm, v_mm
        Isocentre-plane coordinates (mm at 1000 mm) of the rays' columns and rows.
    step_mm
        Sampling step along the central axis (mm).

    Returns
    -------
    thickness_mm, middle_w_mm
        ``(len(v_mm), len(u_mm))``: tissue length along each ray (mm) and the axis distance (mm) of the
        tissue's middle (the centroid of the tissue along the ray; ``nan`` where the ray misses the body).
    """
    source, d, u_hat, v_hat = beam.frame()
    values = np.ascontiguousarray(body, dtype=np.float32)
    k, j, i = np.nonzero(values > 0)
    if k.size == 0:
        shape = (len(v_mm), len(u_mm))
        return np.zeros(shape), np.full(shape, np.nan)
    corners = (
        np.array(np.meshgrid(*zip([k.min(), j.min(), i.min()], [k.max(), j.max(), i.max()]), indexing="ij"))
        .reshape(3, -1)
        .T
    )
    w_corners = (geometry.index_to_lps(corners.astype(float)) - source) @ d
    spacing = float(np.max(geometry.spacing_mm))
    w_lo = max(float(w_corners.min()) - spacing, 1.0)
    w_hi = float(w_corners.max()) + spacing
    inv = np.linalg.inv(geometry.affine)
    base = inv[:3, :3] @ source + inv[:3, 3]
    col_d = inv[:3, :3] @ d
    col_u = inv[:3, :3] @ u_hat / SAD_MM
    col_v = inv[:3, :3] @ v_hat / SAD_MM
    uu = np.asarray(u_mm, dtype=float)[None, :]
    vv = np.asarray(v_mm, dtype=float)[:, None]
    # path length per unit of axis distance along a divergent ray
    stretch = np.sqrt(1.0 + (uu**2 + vv**2) / SAD_MM**2)
    tissue = np.zeros((len(v_mm), len(u_mm)))
    moment = np.zeros_like(tissue)
    for w in np.arange(w_lo, w_hi + step_mm, step_mm):
        coords = [
            np.broadcast_to(base[a] + w * (col_d[a] + col_u[a] * uu + col_v[a] * vv), tissue.shape)
            for a in range(3)
        ]
        inside = ndimage.map_coordinates(values, coords, order=1, cval=0.0, prefilter=False)
        tissue += inside
        moment += inside * w
    with np.errstate(invalid="ignore", divide="ignore"):
        middle = np.where(tissue > 0, moment / np.where(tissue > 0, tissue, 1.0), np.nan)
    return tissue * step_mm * stretch, middle


def midplane_transmission(
    beam: Beam,
    body: np.ndarray,
    geometry: Geometry,
    point_lps_mm: np.ndarray,
    *,
    step_mm: float = 5.0,
) -> TransmissionMap:
    """The compensating transmission map of one beam (see the module docstring).

    Parameters
    ----------
    beam
        A resolved beam.
    body
        Body mask on ``geometry``.
    geometry
        The mask's grid.
    point_lps_mm
        The prescription point (LPS mm): its ray is the reference thickness.
    step_mm
        Map pixel at the midplane (mm); converted to the isocentre plane by the divergence.

    Returns
    -------
    TransmissionMap
        Covering the jaws plus one pixel, bounded to [:data:`MIN_TRANSMISSION`, 1].
    """
    from hbiview.dose.beam_quality import kernel_for_energy

    source, d, u_hat, v_hat = beam.frame()
    rel = np.asarray(point_lps_mm, dtype=float) - source
    w_point = float(rel @ d)
    u_point = float(rel @ u_hat) * SAD_MM / w_point
    v_point = float(rel @ v_hat) * SAD_MM / w_point
    pixel = step_mm * SAD_MM / w_point
    (x1, x2), (y1, y2) = beam.jaw_edges_mm()
    u_lo, u_hi, v_lo, v_hi = x1 - pixel, x2 + pixel, y1 - pixel, y2 + pixel
    nu, nv = int(np.ceil((u_hi - u_lo) / pixel)) + 1, int(np.ceil((v_hi - v_lo) / pixel)) + 1
    u_mm = u_lo + np.arange(nu) * pixel
    v_mm = v_lo + np.arange(nv) * pixel
    sample = min(2.5, float(np.min(geometry.spacing_mm)))
    thickness, middle = ray_thickness(beam, body, geometry, u_mm, v_mm, sample)
    ref_t, ref_w = ray_thickness(beam, body, geometry, np.array([u_point]), np.array([v_point]), sample)
    kernel = kernel_for_energy(beam.energy)
    table_z = np.arange(0.0, 400.0, 0.5)
    broad = kernel.broad_beam(table_z)
    z_max = float(table_z[int(np.argmax(broad))])

    def relative_dose(t: np.ndarray, w: np.ndarray) -> np.ndarray:
        depth = np.maximum(np.asarray(t, dtype=float) / 2, z_max)
        return np.interp(depth, table_z, broad) * (SAD_MM / w) ** 2

    w_fill = np.where(np.isfinite(middle), middle, w_point)
    dose = relative_dose(thickness, w_fill)
    reference = float(relative_dose(ref_t, np.where(np.isfinite(ref_w), ref_w, w_point))[0, 0])
    ratio = reference / dose
    in_field = (
        ((u_mm >= x1) & (u_mm <= x2))[None, :]
        & ((v_mm >= y1) & (v_mm <= y2))[:, None]
        & (thickness >= MIN_THICKNESS_MM)
    )
    top = float(ratio[in_field].max()) if in_field.any() else float(ratio.max())
    values = np.clip(ratio / top, MIN_TRANSMISSION, 1.0)
    values = np.clip(ndimage.gaussian_filter(values, 1.0, mode="nearest"), MIN_TRANSMISSION, 1.0)
    at_point = float(np.clip(1.0 / top, MIN_TRANSMISSION, 1.0))
    low = float(values[in_field].min()) if in_field.any() else float(values.min())
    note = (
        f"midplane compensation: reference thickness {float(ref_t[0, 0]):.0f} mm at the prescription point "
        f"(transmission {at_point:.2f} there), transmission {low:.2f}-1.00 in the field (bounded at "
        f"{MIN_TRANSMISSION:g})"
    )
    return TransmissionMap(float(u_mm[0]), float(v_mm[0]), pixel, values, note)


def compensate(
    plan: Plan, geometry: Geometry, body: np.ndarray, point_lps_mm: np.ndarray, grid_mm: float = 5.0
) -> Plan:
    """The plan with a midplane-compensating transmission map on every beam (:func:`midplane_transmission`).

    Parameters
    ----------
    plan
        A resolved plan (``compensation`` other than ``"none"``; otherwise returned unchanged).
    geometry, body
        The body mask the dose engine uses and its grid.
    point_lps_mm
        The prescription point (LPS mm).
    grid_mm
        Dose grid spacing (mm): the map's pixel at the midplane.
    """
    if plan.compensation == "none":
        return plan
    beams = tuple(
        replace(
            beam, transmission_map=midplane_transmission(beam, body, geometry, point_lps_mm, step_mm=grid_mm)
        )
        for beam in plan.beams
    )
    return replace(plan, beams=beams)


def hot_spots(dose: DoseGrid, landmarks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The body's near-maximum and maximum dose and where the maximum is.

    The dose grid of :func:`hbiview.dose.compute_dose` is zero outside the body, so its nonzero voxels are
    the body.

    Parameters
    ----------
    dose
        Total dose (Gy).
    landmarks
        Landmark name -> z (or :class:`hbiview.anatomy.Landmark`), to name the level of the maximum.

    Returns
    -------
    dict
        ``d2_pct_gy`` (dose that 2 % of the body's voxels reach or exceed), ``max_gy``, ``max_lps_mm`` and
        ``near`` (the closest landmark level, or ``""``).
    """
    values = dose.array
    body = values > 0
    if not body.any():
        return {"d2_pct_gy": 0.0, "max_gy": 0.0, "max_lps_mm": None, "near": ""}
    d2 = float(np.percentile(values[body], 98.0))
    index = np.unravel_index(int(np.argmax(values)), values.shape)
    lps = dose.geometry.index_to_lps(np.array(index, dtype=float))
    near = ""
    if landmarks:
        from hbiview.labels import LANDMARK_NAMES
        from hbiview.plans.borders import _to_z

        found = {k: _to_z(landmarks[k]) for k in LANDMARK_NAMES if k in landmarks}
        marks = {k: v for k, v in found.items() if v is not None}
        if marks:
            name, z = min(marks.items(), key=lambda kv: abs(kv[1] - float(lps[2])))
            side = "above" if lps[2] >= z else "below"
            near = f"{abs(float(lps[2]) - z):.0f} mm {side} the {name.replace('_', ' ')}"
    return {
        "d2_pct_gy": round(d2, 3),
        "max_gy": round(float(values[index]), 3),
        "max_lps_mm": [round(float(c), 1) for c in lps],
        "near": near,
    }


def hot_spots_text(spots: Mapping[str, Any], without: Mapping[str, Any] | None = None) -> str:
    """One line: body D2 %, maximum and where, and the same without compensation when given."""

    def one(h: Mapping[str, Any]) -> str:
        if h.get("max_lps_mm") is None:
            return "no dose in the body"
        x, y, z = h["max_lps_mm"]
        near = f", {h['near']}" if h.get("near") else ""
        return (
            f"body D2% {h['d2_pct_gy']:.2f} Gy, maximum {h['max_gy']:.2f} Gy "
            f"at LPS ({x:.0f}, {y:.0f}, {z:.0f}) mm{near}"
        )

    if without is None:
        return f"hot spots: {one(spots)}"
    return f"hot spots with compensation: {one(spots)}; without: {one(without)}"
