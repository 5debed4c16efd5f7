"""Treatment plans: beams, prescriptions, presets built from a CT, and TOML plan files.

A :class:`Plan` is a set of photon :class:`Beam` s with a prescription (dose per fraction at a prescription
point) and a number of fractions. Geometry follows IEC 61217; for a head-first supine patient gantry 0 is an
anterior (AP) beam, 90 enters from the patient's left, 180 is posterior (PA), 270 enters from the right. Other
set-ups (the CT's PatientPosition: FFS, HFP, FFP) turn these directions with the patient (see
:func:`beam_basis`); the presets' AP beam always enters the patient's front.
Field sizes ``(x, y)`` are jaw openings at the isocentre plane 1000 mm from the source; at collimator 0,
``x`` runs along the patient's left-right axis and ``y`` along the superior-inferior axis.

Presets (:func:`list_presets`, :func:`preset`) take their borders from anatomical landmarks and their
prescriptions from ``hbiview/data/hbi_prescriptions.csv`` (Salazar et al. 1986, RTOG 78-10).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import MissingInputError, PlanError, warn
from hbiview.labels import LANDMARK_NAMES, VERTEBRAE

if TYPE_CHECKING:
    from hbiview.volume import CTVolume

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "COMPENSATIONS",
    "ENERGIES",
    "LANDMARK_KEYS",
    "PATIENT_POSITIONS",
    "SAD_MM",
    "Beam",
    "Block",
    "Normalization",
    "Plan",
    "TransmissionMap",
    "beam_basis",
    "border_z_mm",
    "ct_patient_position",
    "junction_gap_mm",
    "list_presets",
    "load_plan",
    "preset",
    "resolve_plan",
]

#: Beam energies (qualities) the dose engine knows.
ENERGIES = ("Co60", "6MV", "10MV", "15MV", "18MV")
#: Source-axis distance (mm): field sizes are defined at this distance from the source.
SAD_MM = 1000.0
#: Landmark names the presets read (z in LPS mm, superior positive): :data:`hbiview.labels.LANDMARK_NAMES`.
LANDMARK_KEYS = LANDMARK_NAMES
#: Largest jaw opening (mm at the isocentre plane) of a conventional linac.
MAX_JAW_MM = 400.0
MIN_SSD_MM, MAX_SSD_MM = 500.0, 2000.0
#: Doses beyond these are refused as typing errors (Gy per fraction, Gy in total).
MAX_DOSE_PER_FRACTION_GY, MAX_TOTAL_DOSE_GY = 25.0, 100.0
MAX_FRACTIONS = 50
#: Plan compensation options: none, or missing-tissue compensation to the midplane dose along each ray
#: (see :mod:`hbiview.dose.compensation`).
COMPENSATIONS = ("none", "midplane")


# ---------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Block:
    """A shielding block in the isocentre plane (beam's-eye-view field coordinates, mm at 1000 mm).

    Parameters
    ----------
    vertices_mm
        Polygon corners ``((x, y), ...)`` in the collimator frame at the isocentre plane.
    transmission
        Fraction of the fluence that passes (0 = full block, 0.5 = a half-value partial-transmission block
        such as partial lung shielding).
    """

    vertices_mm: tuple[tuple[float, float], ...]
    transmission: float = 0.0

    def __post_init__(self) -> None:
        verts = tuple((float(x), float(y)) for x, y in self.vertices_mm)
        object.__setattr__(self, "vertices_mm", verts)
        object.__setattr__(self, "transmission", float(self.transmission))

    @classmethod
    def rectangle(cls, x1: float, y1: float, x2: float, y2: float, transmission: float = 0.0) -> Block:
        """A rectangular block with opposite corners ``(x1, y1)`` and ``(x2, y2)`` (mm, isocentre plane)."""
        return cls(((x1, y1), (x2, y1), (x2, y2), (x1, y2)), transmission)


@dataclass(frozen=True, eq=False)
class TransmissionMap:
    """A beam's fluence transmission on a regular grid of the isocentre plane (a compensator).

    Parameters
    ----------
    u0_mm, v0_mm
        Isocentre-plane coordinates (mm at 1000 mm, collimator frame) of the first column and row.
    step_mm
        Pixel spacing (mm at 1000 mm), the same along both axes.
    values
        ``(nv, nu)`` transmission (0-1); outside the grid the nearest edge value applies.
    note
        How the map was made (shown in summaries).
    """

    u0_mm: float
    v0_mm: float
    step_mm: float
    values: np.ndarray
    note: str = ""

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    def at(self, u_mm: np.ndarray, v_mm: np.ndarray) -> np.ndarray:
        """Transmission on the grid ``u_mm`` x ``v_mm`` (pixel centres): ``(len(v_mm), len(u_mm))``."""
        from scipy import ndimage

        iu = (np.asarray(u_mm, dtype=float) - self.u0_mm) / self.step_mm
        iv = (np.asarray(v_mm, dtype=float) - self.v0_mm) / self.step_mm
        vv, uu = np.meshgrid(iv, iu, indexing="ij")
        return ndimage.map_coordinates(self.values, [vv, uu], order=1, mode="nearest")


@dataclass(frozen=True)
class Beam:
    """One photon field.

    Parameters
    ----------
    energy
        Beam quality, one of :data:`ENERGIES`.
    gantry_deg, collimator_deg
        IEC 61217 angles (degrees).
    field_mm
        Jaw opening ``(x, y)`` at the isocentre plane, 1000 mm from the source (mm).
    ssd_mm
        Source-skin distance on the central axis for an SSD set-up (mm); ``None`` for an isocentric set-up
        (source 1000 mm from ``isocentre_lps_mm``).
    weight
        Relative monitor units of this beam.
    blocks
        Shielding blocks in the isocentre plane.
    isocentre_lps_mm
        The point 1000 mm from the source on the central axis (LPS mm). ``None``: placed by
        :func:`resolve_plan` (at the body centre, or for an SSD set-up on the line through the body centre
        with the source ``ssd_mm`` from the skin).
    name
        Display name, e.g. ``"AP"``.
    patient_position
        DICOM PatientPosition of the set-up the angles refer to (``"HFS"``, ``"FFS"``, ``"HFP"``,
        ``"FFP"``); ``None``: the CT's, set by :func:`resolve_plan` (head-first supine when the CT gives
        none).
    transmission_map
        A compensator: fluence transmission over the field, multiplying the open fluence; set by the dose
        calculation of a plan with ``compensation = "midplane"`` (not compared, not written to TOML).
    """

    energy: str
    gantry_deg: float = 0.0
    collimator_deg: float = 0.0
    field_mm: tuple[float, float] = (100.0, 100.0)
    ssd_mm: float | None = None
    weight: float = 1.0
    blocks: tuple[Block, ...] = ()
    isocentre_lps_mm: tuple[float, float, float] | None = None
    name: str = ""
    patient_position: str | None = None
    transmission_map: TransmissionMap | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.patient_position is not None:
            code = str(self.patient_position).strip().upper()
            if code not in PATIENT_POSITIONS:
                raise PlanError(
                    f"beam {self.name or self.gantry_deg}: patient_position {self.patient_position!r} is not "
                    f"supported; use one of {', '.join(PATIENT_POSITIONS)}"
                )
            object.__setattr__(self, "patient_position", code)
        object.__setattr__(self, "gantry_deg", float(self.gantry_deg))
        object.__setattr__(self, "collimator_deg", float(self.collimator_deg))
        object.__setattr__(self, "field_mm", tuple(float(f) for f in self.field_mm))
        object.__setattr__(self, "weight", float(self.weight))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.ssd_mm is not None:
            object.__setattr__(self, "ssd_mm", float(self.ssd_mm))
        if self.isocentre_lps_mm is not None:
            object.__setattr__(self, "isocentre_lps_mm", tuple(float(c) for c in self.isocentre_lps_mm))

    @property
    def label(self) -> str:
        """``name`` or a description from the gantry angle."""
        if self.name:
            return self.name
        return {0.0: "AP", 90.0: "LT", 180.0: "PA", 270.0: "RT"}.get(
            self.gantry_deg % 360, f"G{self.gantry_deg:g}"
        )

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Source position and unit vectors of this (resolved) beam.

        Returns
        -------
        source, d, u, v
            Source (LPS mm), beam direction (source to isocentre) and the field's x and y directions.

        Raises
        ------
        PlanError
            If the isocentre is not set (see :func:`resolve_plan`).
        """
        if self.isocentre_lps_mm is None:
            raise PlanError(f"beam {self.label}: isocentre_lps_mm is not set; resolve the plan on a CT first")
        d, u, v = beam_basis(self.gantry_deg, self.collimator_deg, self.patient_position or "HFS")
        source = np.asarray(self.isocentre_lps_mm) - SAD_MM * d
        return source, d, u, v


@dataclass(frozen=True)
class Normalization:
    """Where the prescription applies.

    Parameters
    ----------
    point
        ``"midplane"`` (halfway through the body on the first beam's central axis, the HBI convention),
        ``"depth"`` (``depth_mm`` below the skin on the first beam's central axis) or ``"lps"``.
    depth_mm
        Depth for ``"depth"`` (mm).
    lps_mm
        Point for ``"lps"`` (LPS mm).
    note
        Where the point is and why, in words (e.g. a lower hemi-body plan whose central axis passes between
        the legs prescribes at the midline of the pelvis); shown by :meth:`describe`.
    """

    point: str = "midplane"
    depth_mm: float | None = None
    lps_mm: tuple[float, float, float] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.depth_mm is not None:
            object.__setattr__(self, "depth_mm", float(self.depth_mm))
        if self.lps_mm is not None:
            object.__setattr__(self, "lps_mm", tuple(float(c) for c in self.lps_mm))

    def describe(self) -> str:
        """Short text, e.g. ``"depth 100 mm on the central axis"``."""
        if self.point == "depth":
            text = f"depth {self.depth_mm:g} mm on the central axis"
        elif self.point == "lps":
            text = "LPS point ({:.1f}, {:.1f}, {:.1f}) mm".format(*self.lps_mm)  # type: ignore[misc]
        else:
            text = "midplane on the central axis"
        return f"{text}: {self.note}" if self.note else text


@dataclass(frozen=True)
class Plan:
    """A treatment plan.

    Parameters
    ----------
    name
        Plan name.
    beams
        The fields.
    prescription_gy
        Dose per fraction at the prescription point (Gy).
    fractions
        Number of fractions; the total dose is ``prescription_gy * fractions``.
    normalization
        The prescription point.
    heterogeneity
        Whether the dose calculation uses the CT densities (``False``: water inside the body).
    grid_mm
        Dose grid spacing (mm); ``None`` picks 5 mm for hemi-body sized fields, 2.5 mm otherwise.
    description
        Free text: borders, set-up and where the numbers come from.
    source
        File the plan was read from (for messages; not compared, not written).
    compensation
        ``"none"`` or ``"midplane"``: missing-tissue compensation, a transmission map per beam that makes
        the midplane dose uniform along the field (:mod:`hbiview.dose.compensation`).
    """

    name: str
    beams: tuple[Beam, ...]
    prescription_gy: float
    fractions: int = 1
    normalization: Normalization = field(default_factory=Normalization)
    heterogeneity: bool = True
    grid_mm: float | None = None
    description: str = ""
    source: str = field(default="", compare=False, repr=False)
    compensation: str = "none"

    def __post_init__(self) -> None:
        if self.compensation not in COMPENSATIONS:
            raise PlanError(
                f"compensation = {self.compensation!r} is unknown; use one of {', '.join(COMPENSATIONS)}"
            )
        object.__setattr__(self, "beams", tuple(self.beams))
        object.__setattr__(self, "prescription_gy", float(self.prescription_gy))
        object.__setattr__(self, "fractions", int(self.fractions))
        if self.grid_mm is not None:
            object.__setattr__(self, "grid_mm", float(self.grid_mm))

    @property
    def total_dose_gy(self) -> float:
        """Prescribed dose of the whole course (Gy)."""
        return self.prescription_gy * self.fractions

    @property
    def default_grid_mm(self) -> float:
        """``grid_mm``, or 5 mm when any field is longer than 250 mm (hemi-body) and 2.5 mm otherwise."""
        if self.grid_mm is not None:
            return self.grid_mm
        largest = max((max(b.field_mm) for b in self.beams), default=0.0)
        return 5.0 if largest > 250.0 else 2.5

    def beam_outlines(self, ct: CTVolume | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Source position and field corners of every beam, for drawing.

        Parameters
        ----------
        ct
            Needed only when some beam has no isocentre yet (a hand-written plan); see :func:`resolve_plan`.

        Returns
        -------
        list of (source, corners)
            ``source`` is ``(3,)`` and ``corners`` ``(4, 3)``: the jaw corners at the isocentre plane, in
            LPS mm, in the order (-x, -y), (+x, -y), (+x, +y), (-x, +y) of the collimator frame.
        """
        plan = self
        if any(b.isocentre_lps_mm is None for b in self.beams):
            if ct is None:
                raise PlanError(
                    f"plan {self.name!r}: some beams have no isocentre; pass the CT to place them"
                )
            plan = resolve_plan(self, ct)
        out = []
        for beam in plan.beams:
            source, d, u, v = beam.frame()
            iso = source + SAD_MM * d
            hx, hy = beam.field_mm[0] / 2, beam.field_mm[1] / 2
            corners = np.array(
                [iso + sx * hx * u + sy * hy * v for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            )
            out.append((source, corners))
        return out

    def summary(self) -> str:
        """A few lines: prescription and one line per beam."""
        lines = [
            f"plan {self.name}: {self.prescription_gy:g} Gy x {self.fractions} = {self.total_dose_gy:g} Gy "
            f"at the {self.normalization.describe()}; heterogeneity {'on' if self.heterogeneity else 'off'}"
            + ("" if self.compensation == "none" else f"; {self.compensation} compensation")
        ]
        for beam in self.beams:
            setup = f"SSD {beam.ssd_mm:.0f} mm" if beam.ssd_mm is not None else "isocentric (SAD 1000 mm)"
            lines.append(
                f"  {beam.label:<4} {beam.energy:<5} gantry {beam.gantry_deg:5.1f}  collimator "
                f"{beam.collimator_deg:5.1f}  field {beam.field_mm[0]:.0f} x {beam.field_mm[1]:.0f} mm "
                f"(at 1000 mm)  {setup}  weight {beam.weight:g}"
                + (f"  {len(beam.blocks)} block(s)" if beam.blocks else "")
            )
        return "\n".join(lines)

    def to_toml(self) -> str:
        """The plan as a TOML document that :func:`load_plan` reads back into an equal plan."""
        out = [f"# hbiview plan {self.name}", f"name = {_toml_value(self.name)}"]
        if self.description:
            out.append(f"description = {_toml_value(self.description)}")
        out.append(f"prescription_gy = {_toml_value(self.prescription_gy)}   # per fraction")
        out.append(f"fractions = {self.fractions}")
        norm: dict[str, Any] = {"point": self.normalization.point}
        if self.normalization.depth_mm is not None:
            norm["depth_mm"] = self.normalization.depth_mm
        if self.normalization.lps_mm is not None:
            norm["lps_mm"] = list(self.normalization.lps_mm)
        if self.normalization.note:
            norm["note"] = self.normalization.note
        out.append(f"normalization = {_toml_value(norm)}")
        out.append(f"heterogeneity = {_toml_value(self.heterogeneity)}")
        if self.compensation != "none":
            out.append(f"compensation = {_toml_value(self.compensation)}")
        if self.grid_mm is not None:
            out.append(f"grid_mm = {_toml_value(self.grid_mm)}")
        for beam in self.beams:
            out += ["", "[[beams]]"]
            if beam.name:
                out.append(f"name = {_toml_value(beam.name)}")
            out.append(f"energy = {_toml_value(beam.energy)}")
            out.append(f"gantry_deg = {_toml_value(beam.gantry_deg)}")
            out.append(f"collimator_deg = {_toml_value(beam.collimator_deg)}")
            out.append(f"field_mm = {_toml_value(list(beam.field_mm))}   # x, y at the isocentre plane")
            if beam.ssd_mm is not None:
                out.append(f"ssd_mm = {_toml_value(beam.ssd_mm)}")
            out.append(f"weight = {_toml_value(beam.weight)}")
            if beam.isocentre_lps_mm is not None:
                out.append(f"isocentre_lps_mm = {_toml_value(list(beam.isocentre_lps_mm))}")
            if beam.patient_position is not None:
                out.append(f"patient_position = {_toml_value(beam.patient_position)}")
            for block in beam.blocks:
                out += [
                    "[[beams.blocks]]",
                    f"polygon_mm = {_toml_value([list(p) for p in block.vertices_mm])}",
                ]
                out.append(f"transmission = {_toml_value(block.transmission)}")
        return "\n".join(out) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


# ---------------------------------------------------------------------------------------------- geometry
#: PatientPosition -> the patient's LPS directions of the IEC 61217 fixed axes X (to the right of an
#: observer at the foot of the couch facing the gantry), Y (towards the gantry) and Z (up), as columns.
_IEC_TO_LPS = {
    "HFS": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # X left, Y head, Z anterior
    "HFP": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),  # X right, Y head, Z posterior
    "FFS": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]]),  # X right, Y feet, Z anterior
    "FFP": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),  # X left, Y feet, Z posterior
}
#: PatientPosition codes the beams can follow.
PATIENT_POSITIONS = tuple(_IEC_TO_LPS)


def beam_basis(
    gantry_deg: float, collimator_deg: float = 0.0, patient_position: str = "HFS"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beam direction and field axes in the patient's LPS (IEC 61217), for the patient's set-up.

    Parameters
    ----------
    gantry_deg, collimator_deg
        IEC gantry and collimator angles (degrees).
    patient_position
        DICOM PatientPosition: ``"HFS"`` (head first supine, default), ``"FFS"``, ``"HFP"``, ``"FFP"``.
        Gantry 0 enters from above: through the patient's front when supine, the back when prone.

    Returns
    -------
    d, u, v
        Unit vectors: ``d`` from the source towards the isocentre, ``u`` and ``v`` the field's x and y
        directions (head-first supine at collimator 0: ``u`` points to the patient's left for an AP beam and
        ``v`` superior).

    Raises
    ------
    PlanError
        For a patient position other than those of :data:`PATIENT_POSITIONS`.
    """
    try:
        to_lps = _IEC_TO_LPS[str(patient_position).upper()]
    except KeyError:
        raise PlanError(
            f"patient position {patient_position!r} is not supported; use one of {', '.join(_IEC_TO_LPS)}"
        ) from None
    g = math.radians(gantry_deg)
    c = math.radians(collimator_deg)
    # in the IEC fixed system: the source at gantry g lies at (sin g, 0, cos g) from the isocentre
    d = np.array([-math.sin(g), 0.0, -math.cos(g)])
    u0 = np.array([math.cos(g), 0.0, -math.sin(g)])
    v0 = np.array([0.0, 1.0, 0.0])
    u = math.cos(c) * u0 + math.sin(c) * v0
    v = -math.sin(c) * u0 + math.cos(c) * v0
    return to_lps @ d, to_lps @ u, to_lps @ v


def ct_patient_position(ct: CTVolume) -> str:
    """The CT's PatientPosition (``metadata``), ``"HFS"`` when it gives none."""
    code = str(ct.metadata.get("PatientPosition") or "HFS").strip().upper()
    if code not in _IEC_TO_LPS:
        raise PlanError(
            f"the CT's PatientPosition {code} is not supported; hbiview places beams for "
            f"{', '.join(_IEC_TO_LPS)}"
        )
    return code


def _xyz(values: Iterable[float], ndigits: int | None = None) -> tuple[float, float, float]:
    """An LPS point ``(x, y, z)`` as three floats, rounded to ``ndigits`` decimals when given."""
    x, y, z = (float(c) if ndigits is None else round(float(c), ndigits) for c in values)
    return x, y, z


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
    from hbiview.dose.body import axis_crossing, body_outline_points

    where = f"{plan.source}: " if plan.source else f"plan {plan.name!r}: "
    body_pts = body_outline_points(ct)  # the outline is enough for the body's box and the field checks
    if not len(body_pts):
        raise PlanError(f"{where}the CT shows no body (nothing above -400 HU); check the series")
    centre = (body_pts.min(axis=0) + body_pts.max(axis=0)) / 2
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
        hx, hy = beam.field_mm[0] / 2, beam.field_mm[1] / 2
        for what, pts in (("the CT", ct_corners), ("the body", body_pts)):
            rel = pts - source
            w = rel @ d
            ahead = w > 1.0
            if not ahead.any():
                raise PlanError(
                    f"{where}{key}: {what} lies behind the source; check gantry_deg and isocentre_lps_mm"
                )
            pu = (rel[ahead] @ u) * SAD_MM / w[ahead]
            pv = (rel[ahead] @ v) * SAD_MM / w[ahead]
            if what == "the CT":
                miss = pu.max() < -hx or pu.min() > hx or pv.max() < -hy or pv.min() > hy
            else:
                miss = not np.any((np.abs(pu) <= hx) & (np.abs(pv) <= hy))
            if miss:
                raise PlanError(
                    f"{where}{key}.field_mm: the {beam.field_mm[0]:g} x {beam.field_mm[1]:g} mm field lies "
                    f"entirely outside {what}; check isocentre_lps_mm, gantry_deg and field_mm"
                )
        beams.append(replace(beam, isocentre_lps_mm=_xyz(iso)))
    return replace(plan, beams=tuple(beams))


# ---------------------------------------------------------------------------------------------- TOML files
_PLAN_KEYS = {
    "name",
    "description",
    "prescription_gy",
    "fractions",
    "normalization",
    "heterogeneity",
    "grid_mm",
    "beams",
    "compensation",
}
_BEAM_KEYS = {
    "name",
    "energy",
    "gantry_deg",
    "collimator_deg",
    "field_mm",
    "ssd_mm",
    "weight",
    "blocks",
    "isocentre_lps_mm",
    "patient_position",
}
_BLOCK_KEYS = {"polygon_mm", "rect_mm", "transmission"}
_NORM_KEYS = {"point", "depth_mm", "lps_mm", "note"}


def _number(where: str, key: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
    ):
        kind = "an integer" if integer else "a number"
        raise PlanError(f"{where}{key} must be {kind}, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise PlanError(f"{where}{key} = {value!r} is outside the sensible range {low:g} to {high:g}")
    return value


def _vector(where: str, key: str, value: Any, n: int, low: float, high: float) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != n:
        raise PlanError(f"{where}{key} must be a list of {n} numbers, got {value!r}")
    return tuple(float(_number(where, f"{key}[{i}]", x, low, high)) for i, x in enumerate(value))


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PlanError(f"{where}unknown key {prefix + unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _block_from(where: str, key: str, table: Any) -> Block:
    if not isinstance(table, Mapping):
        raise PlanError(f"{where}{key} must be a table with polygon_mm or rect_mm")
    _check_keys(where, table, _BLOCK_KEYS, f"{key}.")
    transmission = float(_number(where, f"{key}.transmission", table.get("transmission", 0.0), 0.0, 1.0))
    if ("polygon_mm" in table) == ("rect_mm" in table):
        raise PlanError(f"{where}{key} needs exactly one of polygon_mm or rect_mm")
    if "rect_mm" in table:
        x1, y1, x2, y2 = _vector(where, f"{key}.rect_mm", table["rect_mm"], 4, -1000, 1000)
        if x1 == x2 or y1 == y2:
            raise PlanError(f"{where}{key}.rect_mm has zero area")
        return Block.rectangle(x1, y1, x2, y2, transmission)
    poly = table["polygon_mm"]
    if not isinstance(poly, list) or len(poly) < 3:
        raise PlanError(f"{where}{key}.polygon_mm must be a list of at least 3 [x, y] points")
    verts = tuple(_vector(where, f"{key}.polygon_mm[{i}]", p, 2, -1000, 1000) for i, p in enumerate(poly))
    return Block(verts, transmission)  # type: ignore[arg-type]


def _beam_from(where: str, number: int, table: Any) -> Beam:
    key = f"beams[{number}]"
    if not isinstance(table, Mapping):
        raise PlanError(f"{where}{key} must be a table ([[beams]])")
    _check_keys(where, table, _BEAM_KEYS, f"{key}.")
    if "energy" not in table:
        raise PlanError(f"{where}{key}.energy is missing (one of {', '.join(ENERGIES)})")
    energy = table["energy"]
    if energy not in ENERGIES:
        raise PlanError(f"{where}{key}.energy = {energy!r} is unknown; use one of {', '.join(ENERGIES)}")
    if "field_mm" not in table:
        raise PlanError(f"{where}{key}.field_mm is missing ([x, y] in mm at the isocentre plane)")
    field_mm = _vector(where, f"{key}.field_mm", table["field_mm"], 2, 0.0, MAX_JAW_MM)
    if min(field_mm) < 5.0:
        raise PlanError(
            f"{where}{key}.field_mm = {list(field_mm)}: a field side of zero (or under 5 mm) gives no dose"
        )
    ssd = table.get("ssd_mm")
    if ssd is not None:
        ssd = float(_number(where, f"{key}.ssd_mm", ssd, MIN_SSD_MM, MAX_SSD_MM))
    iso = table.get("isocentre_lps_mm")
    if iso is not None:
        iso = _vector(where, f"{key}.isocentre_lps_mm", iso, 3, -5000, 5000)
    blocks_raw = table.get("blocks", [])
    if not isinstance(blocks_raw, list):
        raise PlanError(f"{where}{key}.blocks must be an array of tables ([[beams.blocks]])")
    name = table.get("name", "")
    if not isinstance(name, str):
        raise PlanError(f"{where}{key}.name must be a string")
    position = table.get("patient_position")
    if position is not None and str(position).strip().upper() not in PATIENT_POSITIONS:
        raise PlanError(
            f"{where}{key}.patient_position = {position!r}: use one of {', '.join(PATIENT_POSITIONS)}"
        )
    return Beam(
        energy=energy,
        gantry_deg=float(_number(where, f"{key}.gantry_deg", table.get("gantry_deg", 0.0), -360, 360)),
        collimator_deg=float(
            _number(where, f"{key}.collimator_deg", table.get("collimator_deg", 0.0), -360, 360)
        ),
        field_mm=field_mm,  # type: ignore[arg-type]
        ssd_mm=ssd,
        weight=float(_number(where, f"{key}.weight", table.get("weight", 1.0), 1e-6, 1e6)),
        blocks=tuple(_block_from(where, f"{key}.blocks[{i}]", b) for i, b in enumerate(blocks_raw, start=1)),
        isocentre_lps_mm=iso,  # type: ignore[arg-type]
        name=name,
        patient_position=position,
    )


def plan_from_dict(data: Mapping[str, Any], source: str = "") -> Plan:
    """Build and validate a plan from a parsed TOML document.

    Parameters
    ----------
    data
        The document (keys as in :meth:`Plan.to_toml`).
    source
        File name for error messages.

    Raises
    ------
    PlanError
        Naming the offending key.
    """
    where = f"{source}: " if source else ""
    _check_keys(where, data, _PLAN_KEYS, "")
    for required in ("name", "prescription_gy", "beams"):
        if required not in data:
            raise PlanError(f"{where}{required} is missing")
    if not isinstance(data["name"], str) or not data["name"]:
        raise PlanError(f"{where}name must be a non-empty string")
    dose = data["prescription_gy"]
    if isinstance(dose, (int, float)) and not isinstance(dose, bool) and dose <= 0:
        raise PlanError(f"{where}prescription_gy = {dose!r}: the dose per fraction must be positive")
    dose = _number(where, "prescription_gy", dose, 1e-3, MAX_DOSE_PER_FRACTION_GY)
    fractions = int(_number(where, "fractions", data.get("fractions", 1), 1, MAX_FRACTIONS, integer=True))
    if dose * fractions > MAX_TOTAL_DOSE_GY:
        raise PlanError(
            f"{where}prescription_gy x fractions = {dose * fractions:g} Gy is beyond "
            f"{MAX_TOTAL_DOSE_GY:g} Gy; "
            "prescription_gy is the dose per fraction"
        )
    norm_raw = data.get("normalization", {"point": "midplane"})
    if not isinstance(norm_raw, Mapping):
        raise PlanError(f'{where}normalization must be a table such as {{ point = "midplane" }}')
    _check_keys(where, norm_raw, _NORM_KEYS, "normalization.")
    point = norm_raw.get("point", "midplane")
    note = norm_raw.get("note", "")
    if not isinstance(note, str):
        raise PlanError(f"{where}normalization.note must be a string")
    if point == "depth":
        if "depth_mm" not in norm_raw:
            raise PlanError(f'{where}normalization.depth_mm is needed with point = "depth"')
        norm = Normalization(
            "depth",
            depth_mm=_number(where, "normalization.depth_mm", norm_raw["depth_mm"], 0, 500),
            note=note,
        )
    elif point == "lps":
        if "lps_mm" not in norm_raw:
            raise PlanError(f'{where}normalization.lps_mm is needed with point = "lps"')
        norm = Normalization(
            "lps",
            lps_mm=_vector(where, "normalization.lps_mm", norm_raw["lps_mm"], 3, -5000, 5000),  # type: ignore[arg-type]
            note=note,
        )
    elif point == "midplane":
        norm = Normalization("midplane", note=note)
    else:
        raise PlanError(f"{where}normalization.point = {point!r} is unknown; use midplane, depth or lps")
    heterogeneity = data.get("heterogeneity", True)
    if not isinstance(heterogeneity, bool):
        raise PlanError(f"{where}heterogeneity must be true or false")
    grid = data.get("grid_mm")
    if grid is not None:
        grid = float(_number(where, "grid_mm", grid, 0.5, 20.0))
    beams_raw = data["beams"]
    if not isinstance(beams_raw, list) or not beams_raw:
        raise PlanError(f"{where}beams must hold at least one [[beams]] table")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PlanError(f"{where}description must be a string")
    compensation = data.get("compensation", "none")
    if compensation not in COMPENSATIONS:
        raise PlanError(
            f"{where}compensation = {compensation!r} is unknown; use one of {', '.join(COMPENSATIONS)}"
        )
    return Plan(
        name=data["name"],
        beams=tuple(_beam_from(where, i, b) for i, b in enumerate(beams_raw, start=1)),
        prescription_gy=float(dose),
        fractions=fractions,
        normalization=norm,
        heterogeneity=heterogeneity,
        grid_mm=grid,
        description=description,
        source=source,
        compensation=compensation,
    )


def load_plan(path: str | os.PathLike[str], ct: CTVolume | None = None) -> Plan:
    """Read a TOML plan file.

    Parameters
    ----------
    path
        The file (keys as written by :meth:`Plan.to_toml`; see the example in the README).
    ct
        If given, the plan is also placed on this CT and checked against it (:func:`resolve_plan`).

    Returns
    -------
    Plan

    Raises
    ------
    MissingInputError
        If the file does not exist.
    PlanError
        Naming the file and the key: unknown key, unknown energy, a dose that is negative or absurd, a zero
        field, a field entirely outside the CT, an SSD that does not fit the patient.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise MissingInputError(f"{name}: plan file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{name}: not valid TOML ({exc})") from exc
    plan = plan_from_dict(data, source=name)
    return resolve_plan(plan, ct) if ct is not None else plan


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


@lru_cache(maxsize=1)
def _stature_fractions() -> dict[str, float]:
    ref = resources.files("hbiview") / "data" / "body_proportions.csv"
    lines = [ln for ln in ref.read_text().splitlines() if ln and not ln.startswith("#")]
    return {r["landmark"]: float(r["fraction_of_stature"]) for r in csv.DictReader(lines)}


def list_presets() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the plan presets."""
    return list(_PRESET_TEXT.items())


# approximate adult heights of vertebra + disc (mm): used only to spread vertebral levels between the skull
# base and the iliac crest when no landmark finder is available (our estimate; scaled to the patient)
_VERTEBRA_HEIGHT_MM = {"C": 16.0, "T": 23.0, "L": 34.0, "S": 34.0}


def _heuristic_landmarks(z_low: float, z_high: float) -> dict[str, float]:
    """Landmark z (mm) from the body's z extent by stature fractions (Drillis & Contini 1966)."""
    height = z_high - z_low
    marks = {k: z_low + f * height for k, f in _stature_fractions().items()}
    marks.update(_spread_vertebrae(marks["skull_base"], marks["iliac_crest"]))
    return marks


def _spread_vertebrae(skull_base: float, iliac_crest: float) -> dict[str, float]:
    """Vertebral-body centres: C1 10 mm below the skull base, the L4/L5 disc at the iliac crest (Tuffier)."""
    heights = np.array([_VERTEBRA_HEIGHT_MM[name[0]] for name in VERTEBRAE])
    tops = np.concatenate([[0.0], np.cumsum(heights)])
    centres = tops[:-1] + heights / 2
    l4_l5 = tops[VERTEBRAE.index("L5")]
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
        warn(
            f"landmarks not found in the scan, estimated from those found by typical adult proportions: "
            f"{', '.join(estimated)}; check them on the images"
        )
    if not any(given[k].z_mm is not None for k in LANDMARK_KEYS) and body_z[1] - body_z[0] >= WHOLE_BODY_MM:
        # nothing found to scale from, but the body is whole in the scan: its height is the stature
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


def _choose_setup(
    geometry: Any,
    mask: np.ndarray,
    inferior: float,
    superior: float,
    x_centre: float,
    margin: float,
    midplane_depth_mm: float,
    primary_radius_mm: float = 0.0,
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
    fit; :func:`_primary_collimator_warning` then says what is not reached.
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
    ssds = np.arange(1000.0, MAX_SSD_MM + 1.0, 50.0)
    for ssd in ssds:
        scale = SAD_MM / (ssd + midplane_depth_mm)
        if max(length, width) * scale <= MAX_JAW_MM + 1e-6:
            return _Setup(float(ssd), width * scale, length * scale, 0.0)
    diamond_setup = _diamond_within_circle(
        ssds, diamond, length, offset, half_width + margin, midplane_depth_mm, primary_radius_mm
    )
    if diamond_setup is not None:
        return diamond_setup
    scale = SAD_MM / (MAX_SSD_MM + midplane_depth_mm)
    # the smallest diamond over every centre along the patient (not only the border midpoint)
    zs = z_axis[band]
    ends = np.array([inferior, superior])
    best = min(
        max(float(np.max(np.abs(zs - zc) + half_width + margin)), float(np.max(np.abs(ends - zc))))
        for zc in zs
    )
    return _Setup(
        MAX_SSD_MM,
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


def _coverage_warning(
    name: str, borders: str, width: float, length: float, setup: _Setup, covered: tuple[float, float]
) -> str:
    """What to tell the user when one field cannot cover a hemi-body plan's length (and what clinics do)."""
    text = (
        f"{name}: one field cannot cover {borders} ({length:.0f} mm long, {width:.0f} mm wide at "
        f"midplane) on this patient: jaws capped at 400 mm reach {setup.covered_mm:.0f} mm at midplane "
        f"even at the longest SSD, {MAX_SSD_MM:.0f} mm, and turned to collimator 45 degrees the diamond "
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
    warn(f"{plan.name}: the central axis {why}; prescribed instead at the {where}, {at}")
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


def _two_pairs(
    ct: CTVolume,
    geometry: Any,
    mask: np.ndarray,
    borders_z: tuple[float, float],
    margin: float,
    energy: str,
    head: str,
    one: _Setup,
) -> Plan:
    """Lower hemi-body as two abutting AP/PA pairs matched at midplane (not yet resolved or normalised).

    The border-to-border length is split in two at midplane. Both AP sources lie at the same height, ``SSD``
    above the anterior skin at the junction, both PA sources ``SSD`` below the posterior skin there, so the
    fields' diverging edges meet on the midplane at the junction (the match depth ``d``, half the body's
    thickness there) and leave the skin gap of :func:`junction_gap_mm` on the skin. The SSD is the smallest
    in 50 mm steps at which 400 mm jaws cover each half and its width. The first beam is the superior AP.
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

    steps = np.arange(1000.0, MAX_SSD_MM + 1.0, 50.0)
    ssd = next((float(s) for s in steps if fits(s, circle=True)), None)
    if ssd is None:
        ssd = next((float(s) for s in steps if fits(s, circle=False)), None)
        if ssd is not None:
            warn(
                f"preset lower-hbi: at SSD {ssd:.0f} mm the corners of the two fields lie outside the "
                f"primary collimator's circle ({radius:.0f} mm at 1000 mm): they are not treated"
            )
    if ssd is None:
        raise PlanError(
            f"preset lower-hbi: even two fields of 400 mm jaws at SSD {MAX_SSD_MM:.0f} mm cannot cover "
            f"z {inferior:.0f} to {superior:.0f} mm; choose a closer inferior border (e.g. inferior=knees)"
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
        to mid_thigh, lower-hbi iliac_crest to ankles;
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
        "upper-hbi": {"superior", "inferior"},
        "mid-hbi": {"superior", "inferior"},
        "lower-hbi": {"superior", "inferior", "pairs"},
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
        setup = _choose_setup(
            geometry, mask, inferior, superior, (x0 + x1) / 2, margin, separation / 2, primary_radius
        )
        if name == "lower-hbi" and _two_pairs_wanted(options, setup):  # two abutting AP/PA pairs
            head = f"{_hbi_text(name, dose, fractions, default)}. Borders {borders}: "
            plan = _two_pairs(ct, geometry, mask, (inferior, superior), margin, energy, head, setup)
            if setup.covered_mm is not None:
                junction = plan.description.split("Junction at ")[1]
                warn(
                    f"{name}: one field cannot cover {borders} ({length:.0f} mm): jaws capped at 400 mm "
                    f"reach {setup.covered_mm:.0f} mm at midplane even at SSD {MAX_SSD_MM:.0f} mm. Built "
                    "as a clinic treats it: two abutting fields (AP/PA pairs matched at midplane with a "
                    f"calculated skin gap; junction at {junction}) Give pairs=1 for one field, or treat to "
                    'the knees only (preset option inferior="knees", --set inferior=knees): adult legs '
                    "below the knees carry almost no active marrow"
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
            warn(circle)
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
