"""Landmark z positions and field borders for the presets: found, given, estimated or beyond the images."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import PlanError, warn
from hbiview.labels import VERTEBRA_HEIGHT_MM, VERTEBRAE, typical_vertebra_centres_mm
from hbiview.plans.model import LANDMARK_KEYS, Beam, ct_patient_position

if TYPE_CHECKING:
    from hbiview.volume import CTVolume


def _heuristic_landmarks(z_low: float, z_high: float) -> dict[str, float]:
    """Landmark z (mm) from the body's z extent by stature fractions (Drillis & Contini 1966)."""
    from hbiview.anatomy.landmarks import stature_fractions

    height = z_high - z_low
    marks = {k: z_low + f * height for k, f in stature_fractions().items()}
    marks.update(_spread_vertebrae(marks["skull_base"], marks["iliac_crest"]))
    return marks


def _spread_vertebrae(skull_base: float, iliac_crest: float) -> dict[str, float]:
    """Vertebral-body centres: C1 10 mm below the skull base, the L4/L5 disc at the iliac crest (Tuffier)."""
    centres = np.array(typical_vertebra_centres_mm())
    l5 = VERTEBRAE.index("L5")
    l4_l5 = centres[l5] - VERTEBRA_HEIGHT_MM["L"] / 2  # the top of L5
    scale = (skull_base - 10.0 - iliac_crest) / (l4_l5 - centres[0])
    return {name: float(skull_base - 10.0 - (c - centres[0]) * scale) for name, c in zip(VERTEBRAE, centres)}


def _to_z(value: Any) -> float | None:
    if value is None:
        return None
    if hasattr(value, "z_mm"):  # hbiview.anatomy.Landmark
        return None if value.z_mm is None else float(value.z_mm)
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 3:
        return float(value[2])
    return float(value)


#: Body length (mm) in the scan from which, when no landmark at all is found, the body is taken to be whole
#: (vertex to soles) and its height as the stature (the shortest adults; partial scans are shorter).
WHOLE_BODY_MM = 1400.0


class _Marks(dict):
    """Landmark name -> z (mm) for the presets, and where the missing ones lie.

    ``position`` holds ``"above_scan"`` / ``"below_scan"`` for landmarks beyond the images (their z is then
    beyond that end of the scan: the estimate, or 1 mm past the end), ``scan_mm`` the scan's lower and
    upper slice edges (mm).
    """

    position: dict[str, str]
    scan_mm: tuple[float, float]


def _landmarks(
    ct: CTVolume, landmarks: Mapping[str, Any] | None, body_z: tuple[float, float]
) -> dict[str, float]:
    """Landmark z values for the presets: found (or given), else placed from those found.

    A landmark beyond one end of the scan (see :func:`hbiview.anatomy.landmarks.locate_missing`) gets its
    estimate, at least 1 mm beyond that end, so that a border on it falls at the scan's end and the preset
    says that the field goes on beyond the images; one not found inside the scan gets its estimate from the
    landmarks found (typical proportions scaled to the patient), with a warning. Only when no landmark at
    all is known (none found, none given) do the body's ends give them, by stature fractions, with a
    warning.
    """
    from hbiview.anatomy.landmarks import locate_missing
    from hbiview.anatomy.types import Landmark

    z_axis = ct.geometry.axis_coordinates_mm()[0]
    half = float(ct.geometry.spacing_mm[0]) / 2
    scan = (float(z_axis.min()) - half, float(z_axis.max()) + half)
    if landmarks is None:
        from hbiview.anatomy import find_landmarks

        landmarks = dict(find_landmarks(ct).items())
    given: dict[str, Any] = {}
    for key, value in landmarks.items():
        z = _to_z(value)
        given[str(key)] = (
            value
            if isinstance(value, Landmark)
            else Landmark(z, 1.0 if z is not None else 0.0, "given" if z is not None else "not given")
        )
    for key in (*LANDMARK_KEYS, *VERTEBRAE):
        given.setdefault(key, Landmark(None, 0.0, "not given"))
    if any(m.z_mm is None and m.position is None and m.estimate_mm is None for m in given.values()):
        # given as numbers (or found without placing the missing ones): say where the missing ones lie
        given = locate_missing(given, scan)
    out = _Marks()
    out.position, out.scan_mm = {}, scan
    estimated = []
    for key, mark in given.items():
        if mark.z_mm is not None:
            out[key] = float(mark.z_mm)
        elif mark.position == "above_scan":
            out[key] = max(-math.inf if mark.estimate_mm is None else mark.estimate_mm, scan[1] + 1.0)
            out.position[key] = mark.position
        elif mark.position == "below_scan":
            out[key] = min(math.inf if mark.estimate_mm is None else mark.estimate_mm, scan[0] - 1.0)
            out.position[key] = mark.position
        elif mark.estimate_mm is not None:
            out[key] = float(mark.estimate_mm)
            if key in LANDMARK_KEYS:
                estimated.append(f"{key} (z {mark.estimate_mm:.0f} mm)")
    if estimated:
        # HbiviewWarning: about the patient's landmarks, so every set-up of borders placed from them
        warn(
            f"landmarks not found in the scan, estimated from those found by typical adult proportions: "
            f"{', '.join(estimated)}; check them on the images"
        )
    if not any(given[k].z_mm is not None for k in LANDMARK_KEYS) and body_z[1] - body_z[0] >= WHOLE_BODY_MM:
        # nothing found to scale from, but the body is whole in the scan: its height is the stature
        # (HbiviewWarning: about the patient's landmarks, so every set-up of borders placed from them)
        warn(
            "no landmark found on this CT: field borders estimated from the body's height "
            f"({body_z[1] - body_z[0]:.0f} mm) by average body proportions; check them on the images"
        )
        guess = _heuristic_landmarks(*body_z)
        out.update({k: v for k, v in guess.items() if k not in out or k in out.position})
        out.position.clear()
    if "skull_base" in out and "iliac_crest" in out:
        spread = _spread_vertebrae(out["skull_base"], out["iliac_crest"])
        out.update({k: v for k, v in spread.items() if k not in out})
    return out


def _beyond_images(
    name: str, borders: list[tuple[str, float, str]], marks: Mapping[str, float]
) -> tuple[dict[str, float], str]:
    """Borders that fall beyond the scan: moved to its end, with a warning and a sentence for the plan.

    Parameters
    ----------
    name
        Preset name (named in the warning).
    borders
        ``(which, z_mm, text)`` per border: ``"superior"`` or ``"inferior"``, its z and how it is named.
    marks
        The preset's landmarks (:func:`_landmarks`), which know the scan's ends.

    Returns
    -------
    moved, sentence
        ``which -> z`` of the borders moved to the scan's end, and what to add to the plan's description
        (empty when every border is on the images).
    """
    scan = getattr(marks, "scan_mm", None)
    if scan is None:
        return {}, ""
    moved: dict[str, float] = {}
    parts = []
    for which, z, text in borders:
        if which == "superior" and z > scan[1]:
            moved[which], side, end = scan[1], "above", "top"
        elif which == "inferior" and z < scan[0]:
            moved[which], side, end = scan[0], "below", "bottom"
        else:
            continue
        parts.append(
            f"the {which} border ({text}) lies {side} the scan (estimated z {z:.0f} mm): it is set at the "
            f"{end} of the images, z {moved[which]:.0f} mm"
        )
    if not parts:
        return moved, ""
    text = "; ".join(parts)
    # HbiviewWarning: the border itself goes to the images' end, so every set-up matching it (moved jaws too)
    warn(
        f"{name}: {text}. The field continues beyond the images: the dose beyond them is not computed; "
        "check the border on the patient or use a longer CT"
    )
    return moved, f" The field continues beyond the images: {text}."


def _borders_on_images(
    name: str, superior: float, top_text: str, inferior: float, bottom_text: str, marks: Mapping[str, float]
) -> tuple[float, float, str]:
    """A preset's borders kept on the images: beyond an end, at that end (with the warning and sentence).

    Raises
    ------
    PlanError
        When the whole field lies beyond one end of the scan.
    """
    scan = getattr(marks, "scan_mm", None)
    if scan is not None and (superior < scan[0] or inferior > scan[1]):
        side = "below" if superior < scan[0] else "above"
        raise PlanError(
            f"preset {name}: the field ({top_text} to {bottom_text}, estimated z {inferior:.0f} to "
            f"{superior:.0f} mm) lies entirely {side} the scan (z {scan[0]:.0f} to {scan[1]:.0f} mm); "
            "this CT does not show that part of the body"
        )
    moved, text = _beyond_images(
        name, [("superior", superior, top_text), ("inferior", inferior, bottom_text)], marks
    )
    return moved.get("superior", superior), moved.get("inferior", inferior), text


def _for_patient(beams: Any, ct: CTVolume) -> tuple[Beam, ...]:
    """Preset beams written for a supine patient (AP at gantry 0), turned to follow the CT's set-up.

    A prone patient's front faces the floor: the AP beam comes from below (gantry 180) and the PA beam
    from above (gantry 0). Feet-first set-ups keep the angles (the beams' directions in the patient follow
    from ``patient_position``, see :func:`beam_basis`).
    """
    position = ct_patient_position(ct)
    if position == "HFS":
        return tuple(beams)
    turn = 180.0 if position.endswith("P") else 0.0
    return tuple(
        replace(b, gantry_deg=(b.gantry_deg + turn) % 360.0, patient_position=position) for b in beams
    )


def _level_on_images(level: str, marks: Mapping[str, float]) -> None:
    """Refuse a spine field on a vertebra that lies beyond the images."""
    side = getattr(marks, "position", {}).get(level)
    if side is not None:
        where = "above" if side == "above_scan" else "below"
        raise PlanError(
            f"preset spine: {level} lies {where} the scan (estimated z {marks[level]:.0f} mm); a spine field "
            "needs its vertebra on the images: use a CT that shows it"
        )


_DISC = re.compile(r"([CTLS]\d{1,2})\s*[-/]\s*([CTLS]\d{1,2})")


def border_z_mm(spec: Any, landmarks: Mapping[str, Any]) -> tuple[float, str]:
    """The z of a field border given as a landmark name, a vertebral level or disc, or a z in mm.

    Parameters
    ----------
    spec
        ``"iliac_crest"`` (any of :data:`LANDMARK_KEYS`, or ``"mid_thigh"``, halfway between the femoral
        heads and the knees), a vertebral-body centre ``"L5"`` (``C1``..``S1``), an intervertebral disc
        ``"L4-L5"`` (halfway between the two vertebral-body centres, which must be adjacent), or a number:
        z in LPS mm (superior positive; a string such as ``"-310"`` is read as a number too).
    landmarks
        Landmark name -> z (LPS mm), or :class:`hbiview.anatomy.Landmark` objects (as given to
        :func:`preset`).

    Returns
    -------
    z_mm, text
        The border's z (mm) and how to name it in a description (``"the L4-L5 disc"``).

    Raises
    ------
    PlanError
        For a name that is none of these, or a landmark the table does not hold.
    """
    if isinstance(spec, bool):
        raise PlanError(f"border {spec!r}: give a landmark name, a vertebral level or disc, or z in mm")
    if isinstance(spec, (int, float, np.integer, np.floating)):
        if not math.isfinite(float(spec)):
            raise PlanError(f"border z = {spec!r} mm is not a finite number")
        return float(spec), f"z = {float(spec):g} mm"
    text = str(spec).strip()
    try:
        z = float(text)
    except ValueError:
        pass
    else:
        return border_z_mm(z, landmarks)
    marks = {str(k): _to_z(v) for k, v in landmarks.items()}

    def lookup(key: str) -> float:
        value = marks.get(key)
        if value is None:
            raise PlanError(
                f"border {spec!r}: landmark {key!r} is not known on this CT (not found, and no other "
                "landmark found to estimate it from); give z in mm instead"
            )
        return value

    key = text.lower().replace(" ", "_").replace("-", "_")
    if key == "mid_thigh":
        return (lookup("femoral_heads") + lookup("knees")) / 2, "mid-thigh"
    if key in LANDMARK_KEYS:
        return lookup(key), key.replace("_", " ")
    level = text.upper()
    if level in VERTEBRAE:
        return lookup(level), f"the {level} vertebral body (centre)"
    disc = _DISC.fullmatch(level)
    if disc and disc.group(1) in VERTEBRAE and disc.group(2) in VERTEBRAE:
        upper, lower = disc.group(1), disc.group(2)
        if VERTEBRAE.index(lower) - VERTEBRAE.index(upper) != 1:
            raise PlanError(
                f"border {spec!r}: a disc lies between adjacent vertebrae, e.g. 'L4-L5' or 'L5-S1'"
            )
        return (lookup(upper) + lookup(lower)) / 2, f"the {upper}-{lower} disc"
    raise PlanError(
        f"border {spec!r}: give a landmark ({', '.join(LANDMARK_KEYS)}, mid_thigh), a vertebra ('L5'), "
        "a disc ('L4-L5') or z in mm ('-310')"
    )
