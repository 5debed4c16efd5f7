"""Hemi-body set-ups: SSD, jaws and collimator angle that cover the borders and the body, as a linac would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import PlanError
from hbiview.plans.model import MAX_JAW_MM, MAX_SSD_MM, SAD_MM

if TYPE_CHECKING:
    pass


def _body_section(
    geometry: Any, mask: np.ndarray, z_low: float, z_high: float
) -> tuple[float, float, float, float]:
    """Left-right (x min, x max) and anterior-posterior (y min, y max) extent of the body in a z band."""
    z_axis, y_axis, x_axis = geometry.axis_coordinates_mm()
    band = (z_axis >= min(z_low, z_high)) & (z_axis <= max(z_low, z_high))
    if not band.any():
        band = np.abs(z_axis - (z_low + z_high) / 2) == np.abs(z_axis - (z_low + z_high) / 2).min()
    section = mask[band]
    xs = x_axis[np.any(section, axis=(0, 1))]
    ys = y_axis[np.any(section, axis=(0, 2))]
    if xs.size == 0:
        raise PlanError(f"the CT shows no body between z = {z_low:.0f} and {z_high:.0f} mm")
    half_x, half_y = (
        abs(x_axis[1] - x_axis[0]) / 2,
        abs(y_axis[1] - y_axis[0]) / 2,
    )  # voxel edges, not centres
    return (
        float(xs.min() - half_x),
        float(xs.max() + half_x),
        float(ys.min() - half_y),
        float(ys.max() + half_y),
    )


@dataclass(frozen=True)
class _Setup:
    """A hemi-body set-up chosen by :func:`_choose_setup` (mm; jaws at the isocentre plane)."""

    ssd_mm: float
    jaw_x_mm: float
    jaw_y_mm: float
    collimator_deg: float
    #: Length (mm at midplane) the field covers when even the largest set-up is too short, else ``None``.
    covered_mm: float | None = None
    #: Jaw side (mm at 1000 mm) a 45-degree diamond at SSD 2000 mm would need (best centre), when capped.
    diamond_jaw_mm: float | None = None


def ssd_steps_mm(ssd_mm: float | None = None) -> np.ndarray:
    """SSDs (mm) a hemi-body preset tries, shortest first: 1000-2000 mm in 50 mm steps, or the one given."""
    if ssd_mm is None:
        return np.arange(1000.0, MAX_SSD_MM + 1.0, 50.0)
    return np.array([float(ssd_mm)])


def _choose_setup(
    geometry: Any,
    mask: np.ndarray,
    inferior: float,
    superior: float,
    x_centre: float,
    margin: float,
    midplane_depth_mm: float,
    primary_radius_mm: float = 0.0,
    ssd_mm: float | None = None,
) -> _Setup:
    """SSD, jaws and collimator angle of a hemi-body field, as a linac would set it.

    First choice: collimator 0 at the smallest SSD (50 mm steps, 1000-2000 mm) at which jaws of at most
    400 mm cover the border-to-border length and the body width plus margins at midplane. Second choice
    (long fields): a square field turned to collimator 45 degrees, whose diagonal runs along the patient,
    at the smallest SSD at which the diamond still contains the body outline (plus margin) slice by slice.
    Otherwise collimator 0 at SSD 2000 mm with the jaws capped at 400 mm: one field cannot cover the
    length (the caller warns and says what a clinic does), and the returned set-up says how much it covers
    and what jaws a 45-degree diamond, even placed at its best centre along the patient, would need.
    The diamond's tips reach beyond the round primary collimator (``primary_radius_mm`` at 1000 mm, see
    :func:`_diamond_within_circle`): a diamond is taken at the smallest SSD at which the circle also holds
    the borders and the body, else at the longest SSD (where the circle reaches furthest) when its jaws
    fit; :func:`_primary_collimator_warning` then says what is not reached. A given ``ssd_mm`` is the only
    SSD tried (the same choices, at that distance).
    """
    z_axis, _, x_axis = geometry.axis_coordinates_mm()
    band = (z_axis >= inferior) & (z_axis <= superior)
    rows = mask[band].any(axis=1)  # (z, x)
    edge = abs(x_axis[1] - x_axis[0]) / 2
    half_width = np.array([np.abs(x_axis[r] - x_centre).max() + edge if r.any() else 0.0 for r in rows])
    length = superior - inferior
    width = 2 * (half_width.max() + margin)
    offset = np.abs(z_axis[band] - (superior + inferior) / 2)
    diamond = np.sqrt(2.0) * max(length / 2, float(np.max(offset + half_width + margin)))
    ssds = ssd_steps_mm(ssd_mm)
    for ssd in ssds:
        scale = SAD_MM / (ssd + midplane_depth_mm)
        if max(length, width) * scale <= MAX_JAW_MM + 1e-6:
            return _Setup(float(ssd), width * scale, length * scale, 0.0)
    diamond_setup = _diamond_within_circle(
        ssds, diamond, length, offset, half_width + margin, midplane_depth_mm, primary_radius_mm
    )
    if diamond_setup is not None:
        return diamond_setup
    scale = SAD_MM / (float(ssds[-1]) + midplane_depth_mm)
    # the smallest diamond over every centre along the patient (not only the border midpoint)
    zs = z_axis[band]
    ends = np.array([inferior, superior])
    best = min(
        max(float(np.max(np.abs(zs - zc) + half_width + margin)), float(np.max(np.abs(ends - zc))))
        for zc in zs
    )
    return _Setup(
        float(ssds[-1]),
        min(width * scale, MAX_JAW_MM),
        min(length * scale, MAX_JAW_MM),
        0.0,
        covered_mm=min(length, MAX_JAW_MM / scale),
        diamond_jaw_mm=float(np.sqrt(2.0) * best * scale),
    )


#: Share (%) of the body outline inside the jaws that may lie outside the primary collimator's circle (the
#: field's corners, in its penumbra) before a preset warns: a few voxels of hip or shoulder in a corner are
#: usual for 400 mm fields and not worth a warning; a border not reached always is.
CIRCLE_CUT_WARN_PCT = 1.0


def _primary_radius_mm(energy: str) -> float:
    """Radius (mm at 1000 mm from the source, 50 % edge) of the round primary collimator of ``energy``.

    The primary collimator limits every field to a circle (10 MV: 250 mm, from the measured 400 x 400 mm
    diagonals, ``hbiview/data/beam_quality.csv``); 0 when none is modelled (Co-60).
    """
    from hbiview.dose.beam_quality import beam_quality

    return float(beam_quality(energy).primary_radius_mm)


def _diamond_within_circle(
    ssds: np.ndarray,
    diamond_mm: float,
    length_mm: float,
    offset_mm: np.ndarray,
    half_width_mm: np.ndarray,
    midplane_depth_mm: float,
    primary_radius_mm: float,
) -> _Setup | None:
    """A 45-degree diamond set-up whose tips the primary collimator's circle does not cut, if there is one.

    ``diamond_mm`` is the square's side needed at midplane; the circle (radius ``primary_radius_mm`` at
    1000 mm, ``(ssd + midplane depth) / 1000`` times that at midplane) must also hold both borders on the
    central axis (``length_mm / 2`` from the centre) and the body's outline with its margin (``offset_mm``
    from the centre along the patient, ``half_width_mm`` across). The smallest SSD at which both hold;
    failing that, the longest SSD at which the diamond's jaws fit (the circle then cuts the tips, said by
    :func:`_primary_collimator_warning`); ``None`` when the jaws never fit.
    """
    outline = float(np.max(np.hypot(offset_mm, half_width_mm))) if np.size(offset_mm) else 0.0
    needed = max(length_mm / 2, outline)
    fits = []
    for ssd in ssds:
        scale = SAD_MM / (ssd + midplane_depth_mm)
        if diamond_mm * scale <= MAX_JAW_MM + 1e-6:
            fits.append((float(ssd), diamond_mm * scale))
            if primary_radius_mm <= 0 or needed * scale <= primary_radius_mm + 1e-6:
                return _Setup(float(ssd), diamond_mm * scale, diamond_mm * scale, 45.0)
    if not fits:
        return None
    ssd, jaw = fits[-1]
    return _Setup(ssd, jaw, jaw, 45.0)


def _primary_collimator_warning(
    name: str,
    setup: _Setup,
    primary_radius_mm: float,
    midplane_depth_mm: float,
    geometry: Any,
    mask: np.ndarray,
    centre_xz_mm: tuple[float, float],
    borders_z_mm: tuple[float, float],
) -> str | None:
    """What the round primary collimator leaves out of a hemi-body field, or ``None`` if it cuts nothing.

    The circle's radius at midplane is ``primary_radius_mm (ssd + midplane depth) / 1000``. Along the
    central line of the field (through the centre, along the patient) the field reaches the jaws' edge
    (collimator 0: half the y jaw; collimator 45: the diamond's tip) or the circle, whichever is nearer:
    a border beyond that is not treated. The body's outline (as the AP beam sees it) inside the jaws but
    outside the circle is not treated either.
    """
    if primary_radius_mm <= 0:
        return None
    magnification = (setup.ssd_mm + midplane_depth_mm) / SAD_MM
    circle = primary_radius_mm * magnification
    square = setup.collimator_deg % 90.0 == 0.0
    half_along = (setup.jaw_y_mm / 2 if square else setup.jaw_y_mm / np.sqrt(2.0)) * magnification
    reach = min(half_along, circle)
    xc, zc = centre_xz_mm
    inferior, superior = borders_z_mm
    problems = []
    for label, z in (("superior", superior), ("inferior", inferior)):
        if abs(z - zc) > reach + 1.0:
            problems.append(f"the {label} border (z {z:.0f} mm) lies {abs(z - zc) - reach:.0f} mm beyond it")
    z_axis, _, x_axis = geometry.axis_coordinates_mm()
    band = (z_axis >= inferior) & (z_axis <= superior)
    seen = mask[band].any(axis=1)  # (z, x): the body as the AP beam sees it
    dz = (z_axis[band] - zc)[:, None]
    dx = (x_axis - xc)[None, :]
    if square:
        in_jaws = (np.abs(dx) <= setup.jaw_x_mm / 2 * magnification) & (np.abs(dz) <= half_along)
    else:
        in_jaws = np.abs(dx) + np.abs(dz) <= half_along
    cut = seen & in_jaws & (np.hypot(dx, dz) > circle)
    share = 100.0 * cut.sum() / max(int((seen & in_jaws).sum()), 1)
    if share >= CIRCLE_CUT_WARN_PCT:
        zs = z_axis[band][cut.any(axis=1)]
        problems.append(
            f"{share:.0f} % of the body outline inside the jaws (z {zs.min():.0f} to {zs.max():.0f} mm) lies "
            "outside it"
        )
    if not problems:
        return None
    return (
        f"{name}: the linac's round primary collimator (radius {primary_radius_mm:.0f} mm at 1000 mm, "
        f"{circle:.0f} mm at midplane at SSD {setup.ssd_mm:.0f} mm) limits the field to {2 * reach:.0f} mm "
        f"along the patient through the centre (z {zc - reach:.0f} to {zc + reach:.0f} mm): "
        + "; ".join(problems)
        + ". Those parts get only penumbra and scatter dose"
        + ("; a second abutting field is needed for them" if any("border" in p for p in problems) else "")
    )


def _at_ssd(ssd_mm: float) -> str:
    """'even at the longest SSD, 2000 mm' or, for an SSD the user chose, 'at the SSD given, 1400 mm'."""
    if ssd_mm >= MAX_SSD_MM:
        return f"even at the longest SSD, {MAX_SSD_MM:.0f} mm"
    return f"at the SSD given, {ssd_mm:.0f} mm"


def _coverage_warning(
    name: str, borders: str, width: float, length: float, setup: _Setup, covered: tuple[float, float]
) -> str:
    """What to tell the user when one field cannot cover a hemi-body plan's length (and what clinics do)."""
    text = (
        f"{name}: one field cannot cover {borders} ({length:.0f} mm long, {width:.0f} mm wide at "
        f"midplane) on this patient: jaws capped at 400 mm reach {setup.covered_mm:.0f} mm at midplane "
        f"{_at_ssd(setup.ssd_mm)}, and turned to collimator 45 degrees the diamond "
        f"would need {setup.diamond_jaw_mm:.0f} mm jaws. This plan covers z {covered[0]:.0f} to "
        f"{covered[1]:.0f} mm. "
        "A clinic treats such a patient with two abutting fields (a second AP/PA pair matched at midplane "
        "with a calculated gap or a half-beam block)"
    )
    if name == "lower-hbi":
        text += (
            ', or to the knees only (preset option inferior="knees", --set inferior=knees): adult legs '
            "below the knees carry almost no active marrow"
        )
    return text
