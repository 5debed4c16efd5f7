"""Plan presets built from a CT's landmarks (upper/mid/lower hemi-body, spine, pelvis).

Prescriptions come from ``hbiview/data/hbi_prescriptions.csv`` (Salazar et al. 1986, RTOG 78-10).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import PlanError, PrescriptionPointWarning, SetupWarning, warn
from hbiview.labels import VERTEBRAE
from hbiview.plans.borders import _borders_on_images, _for_patient, _landmarks, _level_on_images, border_z_mm
from hbiview.plans.files import _number
from hbiview.plans.model import (
    COMPENSATIONS,
    ENERGIES,
    MAX_DOSE_PER_FRACTION_GY,
    MAX_FRACTIONS,
    MAX_JAW_MM,
    MAX_SSD_MM,
    MAX_TOTAL_DOSE_GY,
    SAD_MM,
    Beam,
    Normalization,
    Plan,
    _xyz,
    beam_basis,
)
from hbiview.plans.resolve import resolve_plan
from hbiview.plans.setup import (
    _body_section,
    _choose_setup,
    _coverage_warning,
    _primary_collimator_warning,
    _primary_radius_mm,
    _Setup,
    ssd_steps_mm,
)

if TYPE_CHECKING:
    from hbiview.volume import CTVolume


# ---------------------------------------------------------------------------------------------- presets
_PRESET_TEXT = {
    "upper-hbi": "upper hemi-body, AP/PA, skull base to iliac crest, 6 Gy x 1 at midplane (RTOG 78-10)",
    "mid-hbi": "mid hemi-body, AP/PA, lung base (diaphragm) to mid-thigh, 8 Gy x 1 at midplane (RTOG 78-10)",
    "lower-hbi": "lower hemi-body, AP/PA, iliac crest to ankles, 8 Gy x 1 at midplane (RTOG 78-10); two "
    "abutting AP/PA pairs when one field cannot cover (pairs=1|2)",
    "lower-hbi-2pairs": "lower hemi-body in two abutting AP/PA pairs, gap matched at midplane, 8 Gy x 1",
    "spine": "spine field on one vertebra (level=T10), PA or AP/PA, schedule 8x1 / 20x5 / 30x10",
    "pelvis": "pelvis and hips, AP/PA, iliac crest to below the lesser trochanters, 8x1 / 20x5 / 30x10",
}


@lru_cache(maxsize=1)
def _prescriptions() -> dict[str, tuple[float, int]]:
    ref = resources.files("hbiview") / "data" / "hbi_prescriptions.csv"
    lines = [ln for ln in ref.read_text().splitlines() if ln and not ln.startswith("#")]
    return {
        r["preset"]: (float(r["dose_per_fraction_gy"]), int(r["fractions"])) for r in csv.DictReader(lines)
    }


def list_presets() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the plan presets."""
    return list(_PRESET_TEXT.items())


def _prescription_options(
    name: str, options: Mapping[str, Any], default: tuple[float, int]
) -> tuple[float, int]:
    """Dose per fraction and fractions of a preset: the default, or as given in ``options``."""
    where = f"preset {name}: "
    dose, fractions = default
    if "prescription_gy" in options:
        value = options["prescription_gy"]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise PlanError(f"{where}prescription_gy = {value!r}: the dose per fraction must be positive")
        dose = float(_number(where, "prescription_gy", value, 1e-3, MAX_DOSE_PER_FRACTION_GY))
    if "fractions" in options:
        value = options["fractions"]
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # --set fractions=5 arrives as 5.0
        fractions = int(_number(where, "fractions", value, 1, MAX_FRACTIONS, integer=True))
    if dose * fractions > MAX_TOTAL_DOSE_GY:
        raise PlanError(
            f"{where}prescription_gy x fractions = {dose * fractions:g} Gy is beyond "
            f"{MAX_TOTAL_DOSE_GY:g} Gy; "
            "prescription_gy is the dose per fraction"
        )
    return dose, fractions


def _schedule(text: str) -> tuple[float, int]:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[xX/]\s*(\d+)\s*", str(text))
    if not match:
        raise PlanError(f"schedule {text!r}: write total dose x fractions, e.g. '8x1', '20x5' or '30x10'")
    total, fractions = float(match.group(1)), int(match.group(2))
    if (
        fractions < 1
        or total <= 0
        or total / fractions > MAX_DOSE_PER_FRACTION_GY
        or total > MAX_TOTAL_DOSE_GY
    ):
        raise PlanError(f"schedule {text!r} is outside the sensible range")
    return total / fractions, fractions


def _midplane_in_tissue(plan: Plan, ct: CTVolume, marks: Mapping[str, float]) -> Plan:
    """A hemi-body plan whose central axis misses the body, prescribed at the midline of the pelvis.

    The RTOG 78-10 point is the midplane on the central axis. When that axis runs through air (a lower
    hemi-body field centred between the legs), the plan is prescribed instead at the midplane of the pelvis
    on the field's central sagittal plane at the level of the femoral heads: thick, full-scatter tissue that
    holds most of the lower body's active marrow (the thinner legs then receive somewhat more). Failing
    that, :func:`hbiview.dose.prescription.midplane_point` searches along the field's long axis. The
    prescription becomes that LPS point, its ``note`` (shown in summaries and reports) says where and why,
    and a warning says the same.
    """
    from hbiview.dose.prescription import midplane_point

    if plan.normalization.point != "midplane" or not plan.beams:
        return plan
    found = midplane_point(
        ct,
        plan.beams[0],
        level_z_mm=marks.get("femoral_heads"),
        level_name="the femoral heads, on the midline of the pelvis",
    )
    if found is None or not found[1]:
        return plan  # on the central axis as usual (or nowhere: the dose engine says so)
    point, where = found
    lps = _xyz(point, 1)
    why = "passes between the legs, through air" if plan.name == "lower-hbi" else "passes through air"
    at = f"LPS ({lps[0]:.1f}, {lps[1]:.1f}, {lps[2]:.1f}) mm"
    note = f"{where}, because the central axis {why}"
    # the point is this set-up's (its central axis): a plan that keeps the set-up keeps it, others do not
    warn(
        f"{plan.name}: the central axis {why}; prescribed instead at the {where}, {at}",
        category=PrescriptionPointWarning,
    )
    description = f"{plan.description} Prescription point: {where}, {at}, because the central axis {why}."
    return replace(plan, normalization=Normalization("lps", lps_mm=lps, note=note), description=description)


#: The preset that always builds lower hemi-body as two abutting AP/PA pairs (``lower-hbi`` with pairs=2).
LOWER_HBI_TWO_PAIRS = "lower-hbi-2pairs"


def junction_gap_mm(
    length1_mm: float, ssd1_mm: float, length2_mm: float, ssd2_mm: float, depth_mm: float
) -> float:
    """Skin gap (mm) between two abutting fields whose diverging edges meet at ``depth_mm``.

    The standard gap formula ``L1/2 x d/SSD1 + L2/2 x d/SSD2``: ``L1`` and ``L2`` are the fields' lengths on
    the skin (mm), ``SSD1`` and ``SSD2`` their source-skin distances (mm) and ``d`` the depth of the match
    (mm; the midplane for opposed pairs, so that the PA fields meet there too).
    """
    return length1_mm / 2 * depth_mm / ssd1_mm + length2_mm / 2 * depth_mm / ssd2_mm


def _two_pairs_wanted(options: Mapping[str, Any], setup: _Setup) -> bool:
    """Whether lower-hbi is built as two pairs: ``pairs`` = 2, or "auto" (default) when one cannot cover."""
    pairs = options.get("pairs", "auto")
    if isinstance(pairs, float) and pairs.is_integer():
        pairs = int(pairs)  # --set pairs=2 arrives as 2.0
    if pairs not in ("auto", 1, 2):
        raise PlanError(f"preset lower-hbi: pairs = {pairs!r}; use 1, 2 or auto (two when one cannot cover)")
    return pairs == 2 or (pairs == "auto" and setup.covered_mm is not None)


def _ssd_option(name: str, options: Mapping[str, Any]) -> float | None:
    """The hemi-body option ``ssd_mm`` (mm, source to skin on each beam's axis), checked; ``None``: choose."""
    if options.get("ssd_mm") is None:
        return None
    # 1000 to 2000 mm: an extended SSD (the longer, the larger the field on the patient)
    return float(_number(f"preset {name}: ", "ssd_mm", options["ssd_mm"], 1000.0, MAX_SSD_MM))


def _two_pairs(
    ct: CTVolume,
    geometry: Any,
    mask: np.ndarray,
    borders_z: tuple[float, float],
    margin: float,
    energy: str,
    head: str,
    one: _Setup,
    ssd_mm: float | None = None,
) -> Plan:
    """Lower hemi-body as two abutting AP/PA pairs matched at midplane (not yet resolved or normalised).

    The border-to-border length is split in two at midplane. Both AP sources lie at the same height, ``SSD``
    above the anterior skin at the junction, both PA sources ``SSD`` below the posterior skin there, so the
    fields' diverging edges meet on the midplane at the junction (the match depth ``d``, half the body's
    thickness there) and leave the skin gap of :func:`junction_gap_mm` on the skin. The SSD is the smallest
    in 50 mm steps at which 400 mm jaws cover each half and its width (or ``ssd_mm`` when given). The first
    beam is the superior AP.
    """
    from hbiview.dose.body import axis_crossing

    inferior, superior = borders_z
    z_j = round((superior + inferior) / 2, 1)
    _, _, ya, yb = _body_section(geometry, mask, z_j - 10.0, z_j + 10.0)
    depth = (yb - ya) / 2
    halves = []
    for low, high in ((z_j, superior), (inferior, z_j)):
        x0, x1, _, _ = _body_section(geometry, mask, low, high)
        halves.append(((x0 + x1) / 2, (x1 - x0) + 2 * margin, high - low, (low + high) / 2))
    radius = _primary_radius_mm(energy)  # the round primary collimator must hold the jaws' corners too

    def fits(s: float, circle: bool) -> bool:
        scale = SAD_MM / (s + depth)
        return all(
            max(w, ln) * scale <= MAX_JAW_MM + 1e-6
            and (not circle or radius <= 0 or np.hypot(w, ln) * scale / 2 <= radius + 1e-6)
            for _, w, ln, _ in halves
        )

    steps = ssd_steps_mm(ssd_mm)
    ssd = next((float(s) for s in steps if fits(s, circle=True)), None)
    if ssd is None:
        ssd = next((float(s) for s in steps if fits(s, circle=False)), None)
        if ssd is not None:
            warn(  # SetupWarning: the corners of this set-up's jaws at its SSD
                f"preset lower-hbi: at SSD {ssd:.0f} mm the corners of the two fields lie outside the "
                f"primary collimator's circle ({radius:.0f} mm at 1000 mm): they are not treated",
                category=SetupWarning,
            )
    if ssd is None:
        raise PlanError(
            f"preset lower-hbi: even two fields of 400 mm jaws at SSD {steps[-1]:.0f} mm cannot cover "
            f"z {inferior:.0f} to {superior:.0f} mm; choose a closer inferior border (e.g. inferior=knees)"
            + (" or a longer SSD (ssd_mm)" if ssd_mm is not None and ssd_mm < MAX_SSD_MM else "")
        )
    scale = SAD_MM / (ssd + depth)
    beams = []
    jaws = []
    for (x_c, w, ln, z_c), where in zip(halves, ("sup", "inf")):
        jaw = (round(w * scale, 1), round(ln * scale, 1))
        jaws.append(jaw)
        for gantry, label, skin in ((0.0, "AP", ya), (180.0, "PA", yb)):
            d, _, _ = beam_basis(gantry)
            source = np.array([x_c, skin, z_c]) - ssd * d
            iso = _xyz(source + SAD_MM * d, 1)
            crossing = axis_crossing(ct, np.asarray(iso), d)  # the SSD on the beam's own axis, if it hits
            axis_ssd = SAD_MM + crossing[0] if crossing else ssd
            beams.append(
                Beam(
                    energy,
                    gantry,
                    0.0,
                    jaw,
                    ssd_mm=round(float(axis_ssd), 1),
                    weight=1.0,
                    isocentre_lps_mm=iso,
                    name=f"{label} {where}",
                )
            )
    on_skin = [jaw[1] * ssd / SAD_MM for jaw in jaws]
    gap = junction_gap_mm(on_skin[0], ssd, on_skin[1], ssd, depth)
    reason = (
        f" One pair cannot cover this length ({one.covered_mm:.0f} mm at most at SSD {one.ssd_mm:.0f} mm)."
        if one.covered_mm is not None
        else ""
    )
    description = (
        f"{head}z {inferior:.0f} to {superior:.0f} mm ({superior - inferior:.0f} mm) in two abutting AP/PA "
        f"pairs, extended SSD {ssd:.0f} mm (to the skin at the junction), collimator 0.{reason} "
        f"Superior pair z {z_j:.0f} to {superior:.0f} mm, jaws {jaws[0][0]:.0f} x {jaws[0][1]:.0f} mm; "
        f"inferior pair z {inferior:.0f} to {z_j:.0f} mm, jaws {jaws[1][0]:.0f} x {jaws[1][1]:.0f} mm "
        f"(at 1000 mm). Junction at z {z_j:.0f} mm, matched at midplane ({depth:.0f} mm deep): skin gap "
        f"{gap:.1f} mm on the anterior and on the posterior skin (L1/2 d/SSD1 + L2/2 d/SSD2, fields "
        f"{on_skin[0]:.0f} and {on_skin[1]:.0f} mm long on the skin)."
    )
    return Plan("lower-hbi", tuple(beams), 1.0, 1, Normalization("midplane"), True, None, description)


#: Default (superior, inferior) borders of the hemi-body presets (see :func:`border_z_mm`).
_HBI_BORDERS = {
    "upper-hbi": ("skull_base", "iliac_crest"),
    "mid-hbi": ("lung_base", "mid_thigh"),
    "lower-hbi": ("iliac_crest", "ankles"),
}


def _hbi_text(name: str, dose: float, fractions: int, default: tuple[float, int]) -> str:
    """First sentence of a hemi-body preset's description, with the prescription actually used."""
    half = {"upper-hbi": "upper", "mid-hbi": "mid", "lower-hbi": "lower"}[name]
    text = f"{half} hemi-body, AP/PA, {dose:g} Gy x {fractions} at midplane"
    if (dose, fractions) == default:
        return text + " (RTOG 78-10)"
    return text + f" (the RTOG 78-10 prescription is {default[0]:g} Gy x {default[1]})"


def preset(
    name: str,
    ct: CTVolume,
    *,
    landmarks: Mapping[str, Any] | None = None,
    **options: Any,
) -> Plan:
    """Build a preset plan for the patient in ``ct``.

    Parameters
    ----------
    name
        One of :func:`list_presets`: ``upper-hbi``, ``mid-hbi``, ``lower-hbi``, ``spine``, ``pelvis``.
    ct
        The patient.
    landmarks
        z (LPS mm) of ``vertex``, ``skull_base``, ``lung_apex``, ``lung_base``, ``iliac_crest``,
        ``femoral_heads``, ``knees``, ``ankles``, ``soles`` and vertebral-body centres ``C1``..``S1``.
        ``None``: from :func:`hbiview.anatomy.find_landmarks` when available, else estimated from the body's
        height by average proportions (with a warning).
    **options
        ``energy`` (all presets; default 10MV for HBI and pelvis, 6MV for spine), ``margin_mm`` (lateral
        margin beyond the body, default 20), ``heterogeneity`` (default True), ``grid_mm``,
        ``prescription_gy`` (dose per fraction, Gy) and ``fractions`` (all presets; default the preset's
        RTOG 78-10 prescription or schedule), ``compensation`` (all presets: ``"none"``, default, or
        ``"midplane"``, missing-tissue compensation to the midplane dose along each ray);
        hemi-body presets: ``superior`` and ``inferior`` borders, each a landmark name (``"iliac_crest"``,
        ``"knees"``, ``"mid_thigh"``...), a vertebral-body centre (``"L5"``), a disc (``"L4-L5"``) or z in
        LPS mm (see :func:`border_z_mm`); defaults: upper-hbi skull_base to iliac_crest, mid-hbi lung_base
        to mid_thigh, lower-hbi iliac_crest to ankles; ``ssd_mm`` (source-skin distance of every beam,
        1000-2000 mm; default the shortest in 50 mm steps at which the field covers the borders);
        ``spine``: ``level`` (default "T10"),
        ``schedule`` ("8x1", "20x5", "30x10"; or ``prescription_gy`` and ``fractions``), ``technique``
        ("PA" or "AP/PA"), ``width_mm`` (default 80), ``depth_mm`` (PA prescription depth, default 50);
        ``pelvis``: ``schedule``.
        From the command line: ``--set inferior=L4-L5 --set prescription_gy=7``.

    Returns
    -------
    Plan
        A resolved plan (isocentres set) whose ``description`` states borders, SSD, field and collimator.

    Raises
    ------
    PlanError
        For an unknown preset, option, border or vertebral level, or a prescription out of range.
    """
    from hbiview.dose.body import axis_crossing, body_extent_mm, ensure_body

    if name == LOWER_HBI_TWO_PAIRS:  # lower-hbi always in two abutting AP/PA pairs
        if "pairs" in options:
            raise PlanError(f"preset {name}: unknown option 'pairs' (it is lower-hbi with pairs=2)")
        plan = preset("lower-hbi", ct, landmarks=landmarks, pairs=2, **options)
        return replace(plan, name=name)
    if "compensation" in options:  # every preset: the same plan with missing-tissue compensation
        kind = options["compensation"]
        if kind not in COMPENSATIONS:
            raise PlanError(
                f"preset {name}: compensation {kind!r} is unknown; use {' or '.join(COMPENSATIONS)}"
            )
        rest = {k: v for k, v in options.items() if k != "compensation"}
        built = preset(name, ct, landmarks=landmarks, **rest)
        text = " Missing-tissue compensation to the midplane dose along each ray." if kind != "none" else ""
        return replace(built, compensation=kind, description=built.description + text)
    if name not in _PRESET_TEXT:
        raise PlanError(
            f"unknown preset {name!r}; choose one of {', '.join(_PRESET_TEXT)} (see 'hbiview plans')"
        )
    common = {"energy", "margin_mm", "heterogeneity", "grid_mm", "prescription_gy", "fractions"}
    allowed = common | {
        "upper-hbi": {"superior", "inferior", "ssd_mm"},
        "mid-hbi": {"superior", "inferior", "ssd_mm"},
        "lower-hbi": {"superior", "inferior", "pairs", "ssd_mm"},
        "spine": {"level", "schedule", "technique", "width_mm", "depth_mm"},
        "pelvis": {"schedule"},
    }.get(name, set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PlanError(
            f"preset {name}: unknown option {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    default_energy = "6MV" if name == "spine" else "10MV"
    energy = options.get("energy", default_energy)
    if energy not in ENERGIES:
        raise PlanError(f"preset {name}: energy {energy!r} is unknown; use one of {', '.join(ENERGIES)}")
    margin = float(options.get("margin_mm", 20.0))
    ssd_given = _ssd_option(name, options)
    ensure_body(ct)  # one body: the anatomy's outline (no couch), kept for the dose on this CT too
    geometry, mask = body_extent_mm(ct)
    if not mask.any():
        raise PlanError("the CT shows no body (nothing above -400 HU); check the series")
    z_axis = geometry.axis_coordinates_mm()[0]
    body_slices = z_axis[np.any(mask, axis=(1, 2))]
    marks = _landmarks(ct, landmarks, (float(body_slices.min()), float(body_slices.max())))
    heterogeneity = bool(options.get("heterogeneity", True))
    grid_mm = options.get("grid_mm")

    if name.endswith("-hbi"):
        default = _prescriptions()[name]
        dose, fractions = _prescription_options(name, options, default)
        top, bottom = _HBI_BORDERS[name]
        try:
            superior, top_text = border_z_mm(options.get("superior", top), marks)
            inferior, bottom_text = border_z_mm(options.get("inferior", bottom), marks)
        except PlanError as exc:
            raise PlanError(f"preset {name}: {exc}") from None
        if superior - inferior < 50.0:
            raise PlanError(
                f"preset {name}: the superior border ({top_text}, z {superior:.0f} mm) must lie at least "
                f"50 mm above the inferior one ({bottom_text}, z {inferior:.0f} mm)"
            )
        if name == "mid-hbi" and "superior" not in options:
            top_text = "lung base (diaphragm)"
        superior, inferior, beyond_text = _borders_on_images(
            name, superior, top_text, inferior, bottom_text, marks
        )
        borders = f"{top_text} to {bottom_text}"
        superior = min(superior, float(body_slices.max()))
        inferior = max(inferior, float(body_slices.min()))
        x0, x1, y0, y1 = _body_section(geometry, mask, inferior, superior)
        length = superior - inferior
        width = (x1 - x0) + 2 * margin
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, (superior + inferior) / 2])
        crossing = axis_crossing(ct, centre, np.array([0.0, 1.0, 0.0]))
        separation = (crossing[1] - crossing[0]) if crossing else (y1 - y0)
        primary_radius = _primary_radius_mm(energy)
        x_centre, half_separation = (x0 + x1) / 2, separation / 2
        setup = _choose_setup(
            geometry, mask, inferior, superior, x_centre, margin, half_separation, primary_radius, ssd_given
        )
        if name == "lower-hbi" and _two_pairs_wanted(options, setup):  # two abutting AP/PA pairs
            head = f"{_hbi_text(name, dose, fractions, default)}. Borders {borders}: "
            plan = _two_pairs(
                ct, geometry, mask, (inferior, superior), margin, energy, head, setup, ssd_given
            )
            if setup.covered_mm is not None:
                junction = plan.description.split("Junction at ")[1]
                # SetupWarning: says how this set-up is built (two pairs), which another set-up is not
                warn(
                    f"{name}: one field cannot cover {borders} ({length:.0f} mm): jaws capped at 400 mm "
                    f"reach {setup.covered_mm:.0f} mm at midplane at SSD {setup.ssd_mm:.0f} mm. Built "
                    "as a clinic treats it: two abutting fields (AP/PA pairs matched at midplane with a "
                    f"calculated skin gap; junction at {junction}) Give pairs=1 for one field, or treat to "
                    'the knees only (preset option inferior="knees", --set inferior=knees): adult legs '
                    "below the knees carry almost no active marrow",
                    category=SetupWarning,
                )
            plan = replace(plan, prescription_gy=dose, fractions=fractions, heterogeneity=heterogeneity)
            plan = replace(plan, grid_mm=grid_mm)
            return _midplane_in_tissue(resolve_plan(plan, ct), ct, marks)
        ssd, jaw_x, jaw_y, collimator = setup.ssd_mm, setup.jaw_x_mm, setup.jaw_y_mm, setup.collimator_deg
        coverage = ""
        if setup.covered_mm is not None:
            # too long for one field: keep the border that meets the other hemi-body field (the iliac crest
            # of upper and lower HBI; the centre for mid-HBI) and give up the far end
            keep = {"upper-hbi": "inferior", "lower-hbi": "superior"}.get(name, "centre")
            if keep == "superior":
                centre[2] = superior - setup.covered_mm / 2
            elif keep == "inferior":
                centre[2] = inferior + setup.covered_mm / 2
            covered = (centre[2] - setup.covered_mm / 2, centre[2] + setup.covered_mm / 2)
            # HbiviewWarning: no set-up covers these borders with one field, and jaws moved to this
            # field's edges cover what it covers (the z range named)
            warn(_coverage_warning(name, borders, width, length, setup, covered))
            coverage = (
                f" One field cannot cover this length: it covers z {covered[0]:.0f} to {covered[1]:.0f} mm "
                f"({'the ' + keep + ' border kept' if keep != 'centre' else 'centred'}); a second abutting "
                "field is needed for the rest."
            )
            crossing = axis_crossing(ct, centre, np.array([0.0, 1.0, 0.0]))
            if crossing:
                separation = crossing[1] - crossing[0]
        circle = _primary_collimator_warning(
            name,
            setup,
            primary_radius,
            separation / 2,
            geometry,
            mask,
            (float(centre[0]), float(centre[2])),
            covered if setup.covered_mm is not None else (inferior, superior),
        )
        if circle is not None:
            # SetupWarning: the circle's reach is this set-up's (its SSD, jaws and central axis)
            warn(circle, category=SetupWarning)
            coverage += f" {circle}."
        beams = []
        for gantry, label in ((0.0, "AP"), (180.0, "PA")):
            beams.append(
                Beam(
                    energy,
                    gantry,
                    collimator,
                    (round(jaw_x, 1), round(jaw_y, 1)),
                    ssd_mm=ssd,
                    weight=1.0,
                    name=label,
                )
            )
        description = (
            f"{_hbi_text(name, dose, fractions, default)}. Borders {borders}: "
            f"z {inferior:.0f} to {superior:.0f} mm "
            f"({length:.0f} mm), width {width:.0f} mm (body + {margin:g} mm each side) at midplane; "
            f"separation {separation:.0f} mm; extended SSD {ssd:.0f} mm, "
            f"jaws {jaw_x:.0f} x {jaw_y:.0f} mm at 1000 mm, collimator {collimator:g}.{coverage}{beyond_text}"
        )
        beams = list(_for_patient(beams, ct))
        plan = Plan(
            name,
            tuple(beams),
            dose,
            fractions,
            Normalization("midplane"),
            heterogeneity,
            grid_mm,
            description,
        )
        placed = []
        for beam in plan.beams:
            d, _, _ = beam_basis(beam.gantry_deg, 0.0, beam.patient_position or "HFS")
            cross = axis_crossing(ct, centre, d)
            entry = centre + (cross[0] if cross else -separation / 2) * d
            placed.append(replace(beam, isocentre_lps_mm=_xyz(entry + (SAD_MM - ssd) * d, 1)))
        resolved = resolve_plan(replace(plan, beams=tuple(placed)), ct)
        return _midplane_in_tissue(resolved, ct, marks)

    if "schedule" in options and ("prescription_gy" in options or "fractions" in options):
        raise PlanError(
            f"preset {name}: give either schedule (e.g. '20x5') or prescription_gy and fractions, not both"
        )
    dose, fractions = _prescription_options(name, options, _schedule(options.get("schedule", "8x1")))
    schedule = f"{dose * fractions:g}x{fractions}" if "schedule" not in options else options["schedule"]
    if name == "spine":
        level = str(options.get("level", "T10")).upper()
        if level not in VERTEBRAE:
            raise PlanError(f"preset spine: level {level!r} is not a vertebra (C1..C7, T1..T12, L1..L5, S1)")
        i = VERTEBRAE.index(level)
        _level_on_images(level, marks)
        for key in VERTEBRAE[max(i - 1, 0) : i + 2]:
            if key not in marks:
                raise PlanError(
                    f"preset spine: the vertebral level {key} was not found on this CT (no skull base, lungs "
                    "or iliac crest to count from); check the series ('hbiview info CT --landmarks')"
                )
        z_c = marks[level]
        above = marks[VERTEBRAE[max(i - 1, 0)]]
        below = marks[VERTEBRAE[min(i + 1, len(VERTEBRAE) - 1)]]
        spacing = max(abs(above - below) / 2, 15.0)
        length = abs(above - below) + spacing  # one vertebra above and below, whole bodies
        width = float(options.get("width_mm", 80.0))
        x0, x1, y0, y1 = _body_section(geometry, mask, z_c - 5, z_c + 5)
        technique = str(options.get("technique", "PA")).upper()
        if technique not in ("PA", "AP/PA"):
            raise PlanError(f"preset spine: technique must be 'PA' or 'AP/PA', got {technique!r}")
        centre = np.round(np.array([(x0 + x1) / 2, (y0 + y1) / 2, z_c]), 1)
        if technique == "PA":
            cross = axis_crossing(ct, centre, np.array([0.0, -1.0, 0.0]))
            depth = float(options.get("depth_mm", 50.0))
            entry = centre + (cross[0] if cross else -(y1 - y0) / 2) * np.array([0.0, -1.0, 0.0])
            iso = np.round(entry, 1)
            preset_beams: tuple[Beam, ...] = (
                Beam(
                    energy,
                    180.0,
                    0.0,
                    (width, round(length, 1)),
                    ssd_mm=1000.0,
                    isocentre_lps_mm=tuple(iso),
                    name="PA",
                ),
            )
            norm = Normalization("depth", depth_mm=depth)
            setup_text = f"single PA field at SSD 1000 mm, prescribed at {depth:g} mm depth"
        else:
            preset_beams = tuple(
                Beam(energy, g, 0.0, (width, round(length, 1)), isocentre_lps_mm=tuple(centre), name=lab)
                for g, lab in ((0.0, "AP"), (180.0, "PA"))
            )
            norm = Normalization("midplane")
            setup_text = "AP/PA isocentric (SAD 1000 mm) at the body's midplane, prescribed at midplane"
        preset_beams = _for_patient(preset_beams, ct)
        description = (
            f"Spine {level} (z {z_c:.0f} mm), {schedule}: field {width:g} x {length:.0f} mm at 1000 mm "
            f"covering {VERTEBRAE[max(i - 1, 0)]}-{VERTEBRAE[min(i + 1, len(VERTEBRAE) - 1)]}; "
            f"{setup_text}; collimator 0."
        )
        plan = Plan(
            f"spine-{level}", preset_beams, dose, fractions, norm, heterogeneity, grid_mm, description
        )
        return resolve_plan(plan, ct)

    # pelvis: iliac crest (+20 mm) to 80 mm below the femoral heads (below the lesser trochanters)
    for key in ("iliac_crest", "femoral_heads"):
        if key not in marks:
            raise PlanError(
                f"preset pelvis: the {key.replace('_', ' ')} was not found on this CT and cannot be "
                "estimated (no other landmark found); check the series ('hbiview info CT --landmarks')"
            )
    superior = marks["iliac_crest"] + 20.0
    inferior = marks["femoral_heads"] - 80.0
    superior, inferior, beyond_text = _borders_on_images(
        name, superior, "iliac crest + 20 mm", inferior, "femoral heads - 80 mm", marks
    )
    x0, x1, y0, y1 = _body_section(geometry, mask, inferior, superior)
    width = min((x1 - x0) + 2 * margin, MAX_JAW_MM)
    length = superior - inferior
    centre = np.round(np.array([(x0 + x1) / 2, (y0 + y1) / 2, (superior + inferior) / 2]), 1)
    if length > MAX_JAW_MM:
        raise PlanError(f"preset pelvis: the {length:.0f} mm border-to-border length exceeds 400 mm jaws")
    preset_beams = tuple(
        Beam(energy, g, 0.0, (round(width, 1), round(length, 1)), isocentre_lps_mm=tuple(centre), name=lab)
        for g, lab in ((0.0, "AP"), (180.0, "PA"))
    )
    preset_beams = _for_patient(preset_beams, ct)
    description = (
        f"Pelvis and hips, {schedule}: iliac crest + 20 mm to femoral heads - 80 mm (z {inferior:.0f} to "
        f"{superior:.0f} mm), width {width:.0f} mm (body + {margin:g} mm); AP/PA isocentric (SAD 1000 mm) "
        f"at the body centre, collimator 0, prescribed at midplane.{beyond_text}"
    )
    plan = Plan(
        "pelvis",
        preset_beams,
        dose,
        fractions,
        Normalization("midplane"),
        heterogeneity,
        grid_mm,
        description,
    )
    return resolve_plan(plan, ct)
