"""The plan model: beams, blocks, the prescription point and the plan, with their IEC 61217 geometry.

Geometry follows IEC 61217; for a head-first supine patient gantry 0 is an anterior (AP) beam, 90 enters
from the patient's left, 180 is posterior (PA), 270 enters from the right. Other set-ups (the CT's
PatientPosition: FFS, HFP, FFP) turn these directions with the patient (see :func:`beam_basis`). Field
sizes ``(x, y)`` are jaw openings at the isocentre plane 1000 mm from the source; at collimator 0, ``x``
runs along the patient's left-right axis and ``y`` along the superior-inferior axis.

This module imports nothing from :mod:`hbiview.dose`: the dose engine depends on the plan, not the reverse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import PlanError
from hbiview.labels import LANDMARK_NAMES

if TYPE_CHECKING:
    from hbiview.volume import CTVolume


#: Beam energies (qualities) the dose engine knows.
ENERGIES = ("Co60", "6MV", "10MV", "15MV", "18MV")
#: Source-axis distance (mm): field sizes are defined at this distance from the source.
SAD_MM = 1000.0
#: Landmark names the presets read (z in LPS mm, superior positive): :data:`hbiview.labels.LANDMARK_NAMES`.
LANDMARK_KEYS = LANDMARK_NAMES
#: Largest jaw opening (mm at the isocentre plane) of a conventional linac; each jaw reaches at most
#: half of it from the central axis.
MAX_JAW_MM = 400.0
#: How far (mm at the isocentre plane) a jaw may cross the central axis (over-centre travel), X and Y jaws
#: alike. UNVERIFIED: no manufacturer specification was found (Varian and Elekta data sheets were not in the
#: searchable sources); a general description of asymmetric collimators gives 10-20 cm of travel across the
#: axis (xraycollimator.com, "Definition of asymmetric collimation system"), so 100 mm, the lower end, is
#: used for both pairs. A machine whose X jaws cross less (2 cm is often quoted) refuses what this accepts.
MAX_OVERTRAVEL_MM = 100.0
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
    field_offset_mm
        Centre ``(x, y)`` of the jaw opening in the collimator frame at the isocentre plane (mm): ``(0, 0)``
        is a symmetric field; otherwise the jaws are asymmetric, at :meth:`jaw_edges_mm`. Each jaw stays
        within ``MAX_JAW_MM / 2`` of the central axis and crosses it by at most :data:`MAX_OVERTRAVEL_MM`.
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
    field_offset_mm: tuple[float, float] = (0.0, 0.0)

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
        object.__setattr__(self, "field_offset_mm", tuple(float(f) for f in self.field_offset_mm))
        self._check_jaws()
        object.__setattr__(self, "weight", float(self.weight))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.ssd_mm is not None:
            object.__setattr__(self, "ssd_mm", float(self.ssd_mm))
        if self.isocentre_lps_mm is not None:
            object.__setattr__(self, "isocentre_lps_mm", tuple(float(c) for c in self.isocentre_lps_mm))

    def _check_jaws(self) -> None:
        """Refuse asymmetric jaws a linac cannot set (one-line :class:`PlanError` naming the beam)."""
        where = f"beam {self.label}"
        if len(self.field_offset_mm) != 2 or not all(math.isfinite(c) for c in self.field_offset_mm):
            raise PlanError(f"{where}: field_offset_mm = {list(self.field_offset_mm)} needs 2 finite numbers")
        if not self.asymmetric:
            return  # symmetric jaws: only the opening's limits apply (checked where plans are read)
        reach = MAX_JAW_MM / 2
        for axis, (lo, hi) in zip("XY", self.jaw_edges_mm()):
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -reach or hi > reach:
                raise PlanError(
                    f"{where}: {axis} jaws at {lo:g} .. {hi:g} mm; a jaw reaches at most {reach:g} mm from "
                    "the central axis (check field_mm and field_offset_mm)"
                )
            if lo > MAX_OVERTRAVEL_MM or hi < -MAX_OVERTRAVEL_MM:
                raise PlanError(
                    f"{where}: {axis} jaws at {lo:g} .. {hi:g} mm; a jaw crosses the central axis by at most "
                    f"{MAX_OVERTRAVEL_MM:g} mm (check field_mm and field_offset_mm)"
                )

    def jaw_edges_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Jaw positions ``((x1, x2), (y1, y2))`` in the collimator frame at the isocentre plane (mm).

        ``x1 = offset_x - field_x / 2`` and ``x2 = offset_x + field_x / 2`` (likewise for y); a symmetric
        field gives ``((-x/2, x/2), (-y/2, y/2))``.

        Examples
        --------
        >>> Beam("6MV", field_mm=(100, 200), field_offset_mm=(50, 0)).jaw_edges_mm()
        ((0.0, 100.0), (-100.0, 100.0))
        """
        (fx, fy), (cx, cy) = self.field_mm, self.field_offset_mm
        return (cx - fx / 2, cx + fx / 2), (cy - fy / 2, cy + fy / 2)

    @property
    def asymmetric(self) -> bool:
        """Whether the jaw opening is off the central axis (``field_offset_mm`` not zero)."""
        return self.field_offset_mm != (0.0, 0.0)

    def describe_jaws(self) -> str:
        """The opening in words, with the jaws when they are asymmetric.

        Examples
        --------
        >>> Beam("6MV", field_mm=(100, 200), field_offset_mm=(50, 0)).describe_jaws()
        '100 x 200 mm (asymmetric jaws x 0..100, y -100..100 mm)'
        """
        text = f"{self.field_mm[0]:.0f} x {self.field_mm[1]:.0f} mm"
        if self.asymmetric:
            (x1, x2), (y1, y2) = self.jaw_edges_mm()
            text += f" (asymmetric jaws x {x1:g}..{x2:g}, y {y1:g}..{y2:g} mm)"
        return text

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

    def beam_outlines(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Source position and field corners of every beam, for drawing.

        Returns
        -------
        list of (source, corners)
            ``source`` is ``(3,)`` and ``corners`` ``(4, 3)``: the jaw corners at the isocentre plane, in
            LPS mm, in the order (-x, -y), (+x, -y), (+x, +y), (-x, +y) of the collimator frame.

        Raises
        ------
        PlanError
            When some beam has no isocentre yet (a hand-written plan): place it on the CT first with
            :func:`hbiview.plans.resolve_plan` (presets and :func:`hbiview.plans.load_plan` with a CT do).
        """
        plan = self
        if any(b.isocentre_lps_mm is None for b in self.beams):
            raise PlanError(
                f"plan {self.name!r}: some beams have no isocentre; place the plan on the CT first "
                "(hbiview.plans.resolve_plan)"
            )
        out = []
        for beam in plan.beams:
            source, d, u, v = beam.frame()
            iso = source + SAD_MM * d
            (x1, x2), (y1, y2) = beam.jaw_edges_mm()
            corners = np.array([iso + cx * u + cy * v for cx, cy in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))])
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
                f"{beam.collimator_deg:5.1f}  field {beam.describe_jaws()} "
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
            if beam.asymmetric:
                out.append(
                    f"field_offset_mm = {_toml_value(list(beam.field_offset_mm))}   # opening's centre, x, y"
                )
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
