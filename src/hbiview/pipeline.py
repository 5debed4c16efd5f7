"""The whole chain in a few calls: a CT with its structures, then plans with their dose, DVHs and metrics.

This is the layer the demo, the command line and the teaching lessons share, so that a lesson reads like
the question it answers:

>>> from hbiview.pipeline import load_case, run_plan, write_comparison   # doctest: +SKIP
>>> case = load_case()                                     # the bundled sample patient  # doctest: +SKIP
>>> upper = run_plan(case, "upper-hbi")                    # doctest: +SKIP
>>> water = run_plan(case, "upper-hbi", heterogeneity=False, label="upper-hbi (water)")  # doctest: +SKIP
>>> upper.mean_lung_dose_gy, water.mean_lung_dose_gy       # doctest: +SKIP
>>> spine = run_plan(case, "spine", level="L2", schedule="20x5")  # doctest: +SKIP
>>> write_comparison("report.pdf", [upper, water, spine])  # doctest: +SKIP
>>> lower = run_plan(case, "lower-hbi", superior="L4-L5", inferior="knees")  # moved  # doctest: +SKIP
>>> both = sum_doses([upper, lower], fractions=1)          # both fields on the same day  # doctest: +SKIP
>>> total = sum_courses(case, [upper, lower])              # weeks apart: EQD2 per structure  # doctest: +SKIP
>>> total.eqd2_by_structure["Lungs"], total.junction, total.notes  # doctest: +SKIP
>>> depth_mm, dose_gy = upper.central_axis_profile()       # AP axis, skin to skin  # doctest: +SKIP
>>> case.active_marrow_fraction_above("iliac_crest")       # share of the marrow above it  # doctest: +SKIP

A :class:`Case` segments its CT once (on first use) and keeps the landmarks, so every plan built on it
uses the same borders; a :class:`PlanRun` keeps the plan, its dose and the DVH evaluation together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import InputError, MissingInputError, PlanError, warn
from hbiview.geometry import bounding_box
from hbiview.volume import CTVolume, DoseGrid, Structure

if TYPE_CHECKING:  # pragma: no cover
    from hbiview.anatomy import AnatomyResult, Landmarks
    from hbiview.dose.compute import DoseResult
    from hbiview.dosevolume import DVH
    from hbiview.plans import Plan
    from hbiview.report.evaluate import PlanResult

__all__ = [
    "DVH_STRUCTURES",
    "SAMPLE_CT_ENV",
    "SAMPLE_REGENERATED",
    "SUM_LEAVES_OUT",
    "Case",
    "CourseSum",
    "PlanDose",
    "PlanRun",
    "crop_dose",
    "dose_plan",
    "eqd2_sum",
    "evaluate_dose",
    "find_sample_ct",
    "junction_region",
    "load_case",
    "load_sample_ct",
    "run_plan",
    "sum_courses",
    "sum_doses",
    "write_comparison",
]

#: Environment variable naming the sample patient's folder (used when ``./sample_ct`` is not there).
SAMPLE_CT_ENV = "HBIVIEW_SAMPLE_CT"

#: Structures evaluated by default (those the segmentation always makes), in report order.
DVH_STRUCTURES = ("Lungs", "Lung_L", "Lung_R", "Marrow", "Skeleton", "Body")


# ------------------------------------------------------------------------------------------ the sample CT
def _has_dicom(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.dcm"))


def find_sample_ct() -> Path | None:
    """The folder of the bundled sample patient, or ``None`` when it cannot be found.

    Looked for in this order: the folder named by ``$HBIVIEW_SAMPLE_CT``, ``./sample_ct`` in the current
    directory, the copy installed inside the package (``hbiview/sample_ct``, from a wheel), and
    ``sample_ct/`` at the root of the source tree the package runs from (an editable install).

    Raises
    ------
    MissingInputError
        If ``$HBIVIEW_SAMPLE_CT`` is set but names no folder of DICOM files (a typo should not silently
        fall back to another patient).
    """
    env = os.environ.get(SAMPLE_CT_ENV)
    if env:
        path = Path(env)
        if not _has_dicom(path):
            raise MissingInputError(
                f"{path}: ${SAMPLE_CT_ENV} names no folder of DICOM (.dcm) files; fix or unset it"
            )
        return path
    here = Path("sample_ct")
    if _has_dicom(here):
        return here
    installed = Path(__file__).resolve().parent / "sample_ct"
    source_root = Path(__file__).resolve().parents[2]  # src/hbiview/pipeline.py -> repository root
    for bundled in (installed, source_root / "sample_ct"):
        if _has_dicom(bundled):
            return bundled
    return None


def load_sample_ct() -> tuple[CTVolume, str]:
    """The sample patient's CT and where it came from.

    Returns
    -------
    ct, source
        The CT read from :func:`find_sample_ct`'s folder. When there is none, the same synthetic patient is
        generated (:func:`hbiview.sample.write_sample_ct`, with a warning saying so), written to a temporary
        folder and read back, so that it carries the same DICOM UIDs as the bundled series.
    """
    from hbiview.io.dicom import read_ct

    folder = find_sample_ct()
    if folder is not None:
        return read_ct(folder), str(folder)
    import tempfile

    from hbiview.sample import write_sample_ct

    warn(
        f"sample_ct/ not found (not in the current directory, not beside the package, ${SAMPLE_CT_ENV} not "
        "set): generated the same synthetic patient with hbiview.sample.make_phantom()"
    )
    with tempfile.TemporaryDirectory(prefix="hbiview-sample-") as tmp:
        write_sample_ct(Path(tmp) / "sample_ct")
        ct = read_ct(Path(tmp) / "sample_ct")
    return ct, SAMPLE_REGENERATED


#: ``source`` of a case whose CT was generated because ``sample_ct/`` was not found.
SAMPLE_REGENERATED = "hbiview.sample.make_phantom() (generated: sample_ct/ not found)"


# ------------------------------------------------------------------------------------------------- Case
@dataclass(eq=False)
class Case:
    """A CT, its structures and landmarks: what every plan of one patient is computed on.

    The segmentation runs on first use of :attr:`anatomy` (or :attr:`structures`, :attr:`landmarks`) and
    is kept.

    Parameters
    ----------
    ct
        The CT (HU).
    source
        Where the CT came from (a folder, a file, or a description), for messages and reports.
    imported
        Structures to use instead of the automatic ones of the same role (see :func:`hbiview.segment`).
    names_map
        Clinical name -> role mapping for ``imported``.
    """

    ct: CTVolume
    source: str = ""
    imported: Sequence[Structure] = field(default_factory=tuple)
    names_map: Mapping[str, str] | None = None

    @cached_property
    def anatomy(self) -> AnatomyResult:
        """Structures, marrow sites and landmarks (:func:`hbiview.anatomy.segment`, run once).

        When plans were placed before the segmentation (:attr:`plan_landmarks`), their landmarks are kept,
        so that structures, marrow sites and field borders agree.
        """
        from hbiview.anatomy import segment
        from hbiview.dose.body import use_body

        result = segment(
            self.ct,
            landmarks=self.__dict__.get("plan_landmarks"),
            imported=list(self.imported) or None,
            names_map=self.names_map,
        )
        # one body: the segmentation's Body (the same mask as :attr:`body`, or the imported one) is the
        # outline plans and dose use from now on
        self.__dict__["body"] = result.structures["Body"]
        use_body(self.ct, result.structures["Body"])
        return result

    @cached_property
    def body(self) -> Structure:
        """The patient's outline without couch or devices: the ``Body`` of :attr:`anatomy`, found once.

        Presets, plan checks, the prescription point, the dose engine's density and the dose grid all use
        it (it is handed to them with :func:`hbiview.dose.body.use_body`), so a couch the patient lies on is
        neither skin, nor tissue, nor part of the body DVH. Before a full segmentation it is computed alone
        (:func:`hbiview.anatomy.pipeline.body_structure`, the same mask a segmentation makes).
        """
        from hbiview.dose.body import use_body

        if "anatomy" in self.__dict__ or self.imported:
            return self.anatomy.structures["Body"]
        from hbiview.anatomy.pipeline import body_structure

        body = body_structure(self.ct)
        use_body(self.ct, body)
        return body

    @cached_property
    def plan_landmarks(self) -> Landmarks:
        """The landmarks presets take their borders from, found once per case.

        Those of :attr:`anatomy` when the case is already segmented or has imported structures (which the
        landmark search should see); otherwise :func:`hbiview.anatomy.find_landmarks` alone, on a coarse grid
        (a second or two rather than a full segmentation, for a command that only needs a plan), which
        :attr:`anatomy` then keeps.
        """
        if "anatomy" in self.__dict__ or self.imported:
            return self.anatomy.landmarks
        from hbiview.anatomy import find_landmarks

        return find_landmarks(self.ct)

    @property
    def structures(self) -> Mapping[str, Structure]:
        """Name -> structure on the CT grid.

        ``Body``, ``Lung_L``, ``Lung_R``, ``Lungs``, ``Skeleton``, ``Marrow`` (with active-marrow weights)
        and any imported ones.
        """
        return self.anatomy.structures

    @property
    def landmarks(self) -> Landmarks:
        """Axial landmarks and vertebral levels (z, LPS mm)."""
        return self.anatomy.landmarks

    def border_z_mm(self, border: Any) -> float:
        """The z (LPS mm) of a field border on this patient, as the presets read it.

        Parameters
        ----------
        border
            A landmark name (``"iliac_crest"``), a vertebral-body centre (``"L5"``), a disc (``"L4-L5"``,
            halfway between the two vertebral-body centres) or a z in mm; see
            :func:`hbiview.plans.border_z_mm`. Landmarks are :attr:`plan_landmarks`.

        Raises
        ------
        PlanError
            For a border that is none of these or a landmark not found on this CT.
        """
        from hbiview.plans import border_z_mm

        return border_z_mm(border, self.plan_landmarks)[0]

    def active_marrow_fraction_above(self, border: Any, structure: str = "Marrow") -> Any:
        """Share (0-1) of the body's active marrow above a border: the upper field's share of a split.

        No dose is involved: the marrow structure's active-marrow weights (each voxel's share of the body's
        active marrow, ICRP 89 site shares) are summed over the axial slices whose centres lie at or above
        the border.

        Parameters
        ----------
        border
            z (LPS mm, superior positive), an array of z values, or a border name as in :meth:`border_z_mm`
            (``"iliac_crest"``, ``"L4-L5"``).
        structure
            The structure holding the weights.

        Returns
        -------
        float or numpy.ndarray
            One share per z (the shape of ``border``).

        Raises
        ------
        InputError
            If the structure has no active-marrow weights.
        """
        z_slices, per_slice = self._marrow_per_slice(structure)
        if isinstance(border, str):
            border = self.border_z_mm(border)
        z = np.asarray(border, dtype=float)
        above = (z_slices[None, :] >= z.reshape(-1, 1)) @ per_slice
        return float(above[0]) if z.ndim == 0 else above.reshape(z.shape)

    def active_marrow_fraction_below(self, border: Any, structure: str = "Marrow") -> Any:
        """Share (0-1) of the body's active marrow below a border (slice centres below it).

        The complement of :meth:`active_marrow_fraction_above` within the scan: together they add up to the
        share of the body's active marrow the CT holds.
        """
        z_slices, per_slice = self._marrow_per_slice(structure)
        if isinstance(border, str):
            border = self.border_z_mm(border)
        z = np.asarray(border, dtype=float)
        below = (z_slices[None, :] < z.reshape(-1, 1)) @ per_slice
        return float(below[0]) if z.ndim == 0 else below.reshape(z.shape)

    def _marrow_per_slice(self, structure: str) -> tuple[np.ndarray, np.ndarray]:
        """Slice z (mm) and the active-marrow weight on each slice (float64)."""
        marrow = self.structures.get(structure)
        if marrow is None or marrow.weights is None:
            raise InputError(f"{structure!r} on {self.source or 'this CT'} has no active-marrow weights")
        z_slices = marrow.geometry.axis_coordinates_mm()[0]
        return z_slices, marrow.weights.sum(axis=(1, 2), dtype=np.float64)

    def structure_list(self, names: Sequence[str] | None = None) -> list[Structure]:
        """Structures by name (default :data:`DVH_STRUCTURES` that exist, then the imported ones).

        Raises
        ------
        InputError
            For a name the case does not have.
        """
        available = self.structures
        if names is None:
            chosen = [n for n in DVH_STRUCTURES if n in available]
            chosen += [n for n in available if n not in chosen]
            return [available[n] for n in chosen]
        missing = [n for n in names if n not in available]
        if missing:
            raise InputError(
                f"no structure named {missing[0]!r} on {self.source or 'this CT'}; "
                f"available: {', '.join(available)}"
            )
        return [available[n] for n in names]

    def plan(self, plan: str | os.PathLike[str] | Plan, **options: Any) -> Plan:
        """A plan placed on this CT: a preset name (with its options), a TOML plan file, or a Plan.

        Presets take their borders from this case's landmarks (found once, not per plan).

        Raises
        ------
        PlanError
            For an unknown preset or option, or an invalid plan file.
        """
        from hbiview.plans import Plan, list_presets, load_plan, preset, resolve_plan

        self.body  # noqa: B018 - plans are placed on the anatomy's body (no couch), see :attr:`body`
        if isinstance(plan, Plan):
            if options:
                raise PlanError(f"plan {plan.name!r}: preset options {sorted(options)} apply to presets only")
            return resolve_plan(plan, self.ct)
        text = os.fspath(plan)
        names = [n for n, _ in list_presets()]
        if text in names:
            return preset(text, self.ct, landmarks=self.plan_landmarks, **options)
        if text.lower().endswith(".toml") or Path(text).exists():
            if options:
                raise PlanError(f"{text}: preset options {sorted(options)} apply to presets only")
            return load_plan(text, self.ct)
        raise PlanError(f"plan {text!r} is neither a preset ({', '.join(names)}) nor a .toml plan file")


def load_case(
    ct: str | os.PathLike[str] | CTVolume | None = None,
    *,
    series: str | None = None,
    rtstruct: str | os.PathLike[str] | None = None,
    names_map: Mapping[str, str] | None = None,
) -> Case:
    """A CT ready for plans: read (or take) the CT; structures and landmarks follow on first use.

    Parameters
    ----------
    ct
        A CT folder or file, a :class:`~hbiview.volume.CTVolume`, or ``None`` for the bundled sample patient
        (see :func:`load_sample_ct`).
    series
        SeriesInstanceUID to read from a folder holding several series.
    rtstruct
        A clinical RT Structure Set whose structures replace the automatic ones of the same role (names
        mapped as in :func:`hbiview.anatomy.names.role_of`, plus ``names_map``).
    names_map
        Clinical name -> role (``"Lung_L"``, ``"Body"``...).

    Returns
    -------
    Case
    """
    if ct is None:
        volume, source = load_sample_ct()
    elif isinstance(ct, CTVolume):
        volume, source = ct, str(ct.metadata.get("source_path", "CT in memory"))
    else:
        from hbiview.io.dicom import read_ct

        volume, source = read_ct(ct, series), os.fspath(ct)
    imported: list[Structure] = []
    if rtstruct is not None:
        from hbiview.io.rtstruct import read_rtstruct

        imported = list(read_rtstruct(rtstruct, volume.geometry))
    return Case(volume, source, tuple(imported), names_map)


# ---------------------------------------------------------------------------------------------- PlanRun
@dataclass(frozen=True, eq=False)
class PlanRun:
    """One plan computed on a case: the plan, its dose, and its DVHs and metrics.

    Parameters
    ----------
    label
        Short name used in tables and legends.
    plan
        The plan as computed (resolved on the CT; heterogeneity as used).
    dose_result
        The engine's output (:class:`hbiview.dose.compute.DoseResult`): dose grid, prescription point, MU.
    evaluation
        DVHs, metrics and the lung-dose assessment (:class:`hbiview.report.PlanResult`); pass it to
        :func:`hbiview.report.write_report` to report several runs together.
    notes
        What the report should say about the plan (e.g. where the prescription point is when the central
        axis misses the body).
    ct
        The CT the dose was computed on (finds the skin for :meth:`central_axis_profile`); ``None``: the
        dose engine's body mask on its own grid is used instead.
    """

    label: str
    plan: Plan
    dose_result: DoseResult
    evaluation: PlanResult
    notes: tuple[str, ...] = ()
    ct: CTVolume | None = field(default=None, repr=False)

    @property
    def dose(self) -> DoseGrid:
        """Total dose of the course (Gy)."""
        return self.dose_result.dose

    @property
    def dvhs(self) -> dict[str, DVH]:
        """Structure name -> cumulative DVH."""
        return self.evaluation.dvhs

    @property
    def prescription_gy(self) -> float:
        """Prescribed total dose (Gy)."""
        return self.plan.total_dose_gy

    @property
    def heterogeneity(self) -> bool:
        """Whether the dose used the CT densities (``False``: water inside the body)."""
        return bool(self.dose_result.model.heterogeneity)

    @property
    def mean_lung_dose_gy(self) -> float | None:
        """Mean dose to both lungs (Gy, total course), or ``None`` without lungs."""
        return self.evaluation.mean_lung_dose_gy

    def metrics(self, structure: str) -> dict[str, Any]:
        """Every metric of one structure (keys documented in :data:`hbiview.dosevolume.METRIC_KEYS`).

        Raises
        ------
        InputError
            For a structure that was not evaluated.
        """
        return self.evaluation.structure_metrics(structure, f"plan {self.label!r}")

    def active_marrow_fraction(self, at_least_gy: float, structure: str = "Marrow") -> float:
        """Fraction (0-1) of the body's active marrow receiving at least ``at_least_gy`` (total Gy)."""
        h = self._dvh(structure)
        if h.weighted_fraction is None:
            raise InputError(f"{structure!r} has no active-marrow weights")
        return float(h.weighted_fraction_at_least(at_least_gy))

    def active_marrow_in_field(self, structure: str = "Marrow") -> float:
        """Fraction (0-1) of the body's active marrow inside the field: at least 50 % of the prescription.

        The 50 % isodose is the field edge of an open field, so this is the share of the marrow the field
        irradiates (the figure behind sequential upper/lower HBI).
        """
        return self.active_marrow_fraction(0.5 * self.prescription_gy, structure)

    def volume_pct(self, structure: str, at_least_gy: float) -> float:
        """Percentage of a structure's volume receiving at least ``at_least_gy`` (total Gy)."""
        return float(self._dvh(structure).v_gy_pct(at_least_gy))

    def _dvh(self, structure: str) -> DVH:
        try:
            return self.dvhs[structure]
        except KeyError:
            raise InputError(
                f"plan {self.label!r} has no DVH of {structure!r}; evaluated: {', '.join(self.dvhs)}"
            ) from None

    def summary(self) -> dict[str, Any]:
        """The plan summary shown in reports (beams, set-up, prescription, heterogeneity)."""
        return dict(self.evaluation.summary)

    def central_axis_profile(
        self, beam_index: int = 0, step_mm: float = 1.0, *, per_fraction: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Depth-dose of the whole plan along one beam's central axis, from skin to skin.

        The dose comes from the dose model at each point (all beams, not only ``beam_index``), not from the
        voxels of the dose grid, so the profile is as fine as ``step_mm``. The skin is where the CT crosses
        -500 HU on the axis (:func:`hbiview.dose.body.axis_crossing`).

        Parameters
        ----------
        beam_index
            Which beam's central axis (0 = the first beam, e.g. AP of an AP/PA pair, PA of a spine field).
        step_mm
            Distance between points (mm).
        per_fraction
            Dose per fraction instead of the total of the course.

        Returns
        -------
        depth_mm, dose_gy
            Depth along the axis from the entrance skin (mm; 0 to the separation) and the dose there (Gy).

        Raises
        ------
        InputError
            For a beam index the plan does not have, a step that is not positive, or an axis that misses
            the body.
        """
        from hbiview.dose.body import axis_crossing
        from hbiview.plans import SAD_MM

        beams = self.plan.beams
        if not -len(beams) <= beam_index < len(beams):
            raise InputError(
                f"plan {self.label!r} has {len(beams)} beam(s); beam_index {beam_index} is not one"
            )
        if not step_mm > 0:
            raise InputError(f"step_mm = {step_mm!r}: the step along the axis must be positive")
        source, d, _, _ = beams[beam_index].frame()
        iso = source + SAD_MM * d
        model = self.dose_result.model
        if self.ct is not None:
            crossing = axis_crossing(self.ct, iso, d)
        else:
            t = np.arange(-SAD_MM, SAD_MM + 1.0, 1.0)
            index = np.rint(model.density_geometry.lps_to_index(iso + t[:, None] * d)).astype(int)
            ok = np.all((index >= 0) & (index < np.asarray(model.body.shape)), axis=1)
            inside = np.zeros(t.size, dtype=bool)
            inside[ok] = model.body[index[ok, 0], index[ok, 1], index[ok, 2]]
            crossing = (float(t[inside][0]), float(t[inside][-1])) if inside.any() else None
        if crossing is None:
            raise InputError(f"plan {self.label!r}: the central axis of beam {beam_index} misses the body")
        entry, leave = crossing
        depth = np.arange(0.0, leave - entry + 1e-6, float(step_mm))
        dose = model.per_fraction_at(iso + (entry + depth)[:, None] * d).astype(np.float64)
        if not per_fraction:
            dose *= self.plan.fractions
        return depth, dose


def _plan_summary(plan: Plan, result: DoseResult, notes: Sequence[str]) -> dict[str, Any]:
    beams = []
    for beam, dose, mu in zip(plan.beams, result.beam_doses_gy, result.model.monitor_units):
        beams.append(
            f"{beam.label}: {beam.energy}, gantry {beam.gantry_deg:g} deg, field "
            f"{beam.describe_jaws()} at 1000 mm, SSD {beam.ssd_mm or 0:.0f} mm, "
            f"{dose:.2f} Gy per fraction at the prescription point, {mu:.0f} nominal MU"
        )
    summary: dict[str, Any] = {
        "prescription_gy": plan.total_dose_gy,
        "heterogeneity_corrected": bool(result.model.heterogeneity),
        "beams": beams,
        "description": plan.description,
        "engine": f"{result.model.engine}, {result.model.grid_mm:g} mm grid",
        "normalization": plan.normalization.describe(),
        "fractions": plan.fractions,
    }
    if notes:
        summary["notes"] = " ".join(notes)
    return summary


@dataclass(frozen=True, eq=False)
class PlanDose:
    """A plan's dose on a case, before its DVHs (:func:`dose_plan`; :func:`evaluate_dose` adds them).

    Parameters
    ----------
    label
        Name in tables and legends.
    plan
        The plan as computed (resolved on the CT; heterogeneity as used).
    dose_result
        The engine's output (:class:`hbiview.dose.compute.DoseResult`).
    notes
        What the report should say about the plan (see :class:`PlanRun`).
    """

    label: str
    plan: Plan
    dose_result: DoseResult
    notes: tuple[str, ...] = ()

    @property
    def dose(self) -> DoseGrid:
        """Total dose of the course (Gy)."""
        return self.dose_result.dose

    @property
    def prescription_gy(self) -> float:
        """Prescribed total dose (Gy)."""
        return self.plan.total_dose_gy


def run_plan(
    case: Case,
    plan: str | os.PathLike[str] | Plan,
    *,
    label: str | None = None,
    heterogeneity: bool | None = None,
    grid_mm: float | None = None,
    structures: Sequence[str] | None = None,
    alpha_beta_gy: Mapping[str, float] | None = None,
    engine: str = "convolution",
    **options: Any,
) -> PlanRun:
    """Compute a plan's dose on a case and evaluate its DVHs and metrics.

    :func:`dose_plan`, then :func:`evaluate_dose`.

    Parameters
    ----------
    case
        From :func:`load_case`.
    plan
        A preset name (``"upper-hbi"``, ``"mid-hbi"``, ``"lower-hbi"``, ``"spine"``, ``"pelvis"``), a TOML
        plan file, or a :class:`~hbiview.plans.Plan`.
    label
        Name in tables and legends; default the plan name, with ``" (water)"`` when heterogeneity is off.
    heterogeneity
        ``False`` computes with water inside the body (the uncorrected plan); ``None`` keeps the plan's.
    grid_mm
        Dose grid spacing (mm); default 5 mm for hemi-body fields, 2.5 mm for localized ones.
    structures
        Structure names to evaluate (default :meth:`Case.structure_list`).
    alpha_beta_gy
        alpha/beta overrides by structure name or kind for EQD2 (defaults lung 3 Gy, marrow 10 Gy).
    engine
        Dose engine.
    **options
        Preset options, e.g. ``level="L2"``, ``schedule="20x5"``, ``energy="6MV"`` (see
        :func:`hbiview.plans.preset`).

    Returns
    -------
    PlanRun
    """
    dosed = dose_plan(
        case, plan, label=label, heterogeneity=heterogeneity, grid_mm=grid_mm, engine=engine, **options
    )
    return evaluate_dose(case, dosed, structures=structures, alpha_beta_gy=alpha_beta_gy)


def dose_plan(
    case: Case,
    plan: str | os.PathLike[str] | Plan,
    *,
    label: str | None = None,
    heterogeneity: bool | None = None,
    grid_mm: float | None = None,
    engine: str = "convolution",
    **options: Any,
) -> PlanDose:
    """Compute a plan's dose on a case, with what the report should say about it (no DVHs yet).

    The first half of :func:`run_plan` (same parameters); ``hbiview serve`` draws the dose while the DVHs
    (:func:`evaluate_dose`) are computed in another thread.

    Returns
    -------
    PlanDose
    """
    from hbiview.dose import compute_dose_result

    case.anatomy  # noqa: B018 - segment first: the evaluation needs it and presets then share its landmarks
    resolved = case.plan(plan, **options)
    result = compute_dose_result(
        case.ct, resolved, grid_mm=grid_mm, heterogeneity=heterogeneity, engine=engine
    )
    computed = result.plan
    # where the prescription point is when it is not the midplane on the central axis (a lower hemi-body
    # field centred between the legs): chosen by the preset or the dose engine, which also warned
    note = computed.normalization.note
    notes = (f"prescription point: {computed.normalization.describe()}",) if note else ()
    if computed.compensation != "none":  # hot spots with and without (hbiview.dose.compensation)
        from hbiview.dose.compensation import hot_spots_text
        from hbiview.dose.compute import hot_spots_with_and_without

        spots, without = hot_spots_with_and_without(
            case.ct,
            computed,
            result.dose,
            case.plan_landmarks,
            grid_mm=result.model.grid_mm,
            heterogeneity=result.model.heterogeneity,
            engine=engine,
        )
        maps = tuple(
            f"{b.label}: {b.transmission_map.note}" for b in computed.beams if b.transmission_map is not None
        )
        notes = (*notes, *maps, hot_spots_text(spots, without))
    from hbiview.dose.junction import field_junctions, junction_dose, junction_text

    for junction in field_junctions(computed):  # abutting fields: the dose across their junction
        notes = (*notes, junction_text(computed, junction, junction_dose(result.model, junction)))
    if label is None:
        label = computed.name + ("" if result.model.heterogeneity else " (water)")
    return PlanDose(label, computed, result, notes)


def evaluate_dose(
    case: Case,
    dosed: PlanDose,
    *,
    structures: Sequence[str] | None = None,
    alpha_beta_gy: Mapping[str, float] | None = None,
) -> PlanRun:
    """The DVHs and metrics of a computed plan dose (the second half of :func:`run_plan`).

    Parameters
    ----------
    case
        The case the dose was computed on.
    dosed
        From :func:`dose_plan`.
    structures, alpha_beta_gy
        As for :func:`run_plan`.

    Returns
    -------
    PlanRun
    """
    from hbiview.report import evaluate_plans

    summary = _plan_summary(dosed.plan, dosed.dose_result, dosed.notes)
    evaluation = evaluate_plans(
        [(dosed.label, dosed.dose, case.structure_list(structures), summary)], alpha_beta_gy=alpha_beta_gy
    )[0]
    return PlanRun(dosed.label, dosed.plan, dosed.dose_result, evaluation, dosed.notes, case.ct)


# ------------------------------------------------------------------------------------------------ output
def sum_doses(
    doses: Sequence[DoseGrid | PlanRun],
    geometry: Any = None,
    *,
    fractions: int | None = None,
    description: str | None = None,
) -> DoseGrid:
    """Add the dose of several courses (dose grids or plan runs) on one grid.

    See :meth:`hbiview.volume.DoseGrid.total`: the doses are resampled onto ``geometry`` (default: their
    common grid, or one covering all of them at the finest spacing) and added. ``fractions`` defaults to
    the sum of the courses' fractions (courses given one after the other); give ``fractions=1`` for
    courses delivered together in one session, e.g. upper and lower hemi-body fields on the same day.

    Examples
    --------
    >>> both = sum_doses([upper, lower], fractions=1)   # doctest: +SKIP
    >>> sequential = upper.dose + lower.dose             # 2 fractions  # doctest: +SKIP
    """
    grids = [d.dose if isinstance(d, PlanRun) else d for d in doses]
    return DoseGrid.total(grids, geometry, fractions=fractions, description=description)


#: What a sum of courses does not model, stated wherever a sum is shown (CLI, reports, README).
SUM_LEAVES_OUT = (
    "The sum adds each course's physical dose voxel by voxel on this one CT: it assumes the same anatomy "
    "and set-up in every course (no weight loss, tumour response, organ motion or different positioning), "
    "and counts no repair or repopulation between courses (upper and lower hemi-body courses are usually "
    "6-8 weeks apart, in which irradiated marrow repopulates; the summed marrow dose overstates its "
    "biological effect). EQD2 is added course by course with the linear-quadratic model (each course's own "
    "dose per fraction; alpha/beta lung 3 Gy, marrow 10 Gy unless set), without a time factor."
)


def eqd2_sum(doses: Sequence[DoseGrid | PlanRun], alpha_beta_gy: float, geometry: Any = None) -> DoseGrid:
    """Voxel-by-voxel EQD2 (Gy) of courses given one after the other, each with its own fractionation.

    Each course's total dose ``D_i`` in ``n_i`` fractions becomes ``EQD2_i = D_i (D_i / n_i + a/b) /
    (2 + a/b)`` in every voxel (each voxel's own dose per fraction), and the courses' EQD2 are added. A
    course's grid is resampled onto the common grid first (as :func:`sum_doses` does).

    Parameters
    ----------
    doses
        The courses (dose grids with their ``fractions``, or plan runs).
    alpha_beta_gy
        alpha/beta (Gy) of the tissue.
    geometry
        Grid of the sum (default: as :meth:`hbiview.volume.DoseGrid.total`).

    Returns
    -------
    DoseGrid
        EQD2 (Gy) with ``fractions`` the sum of the courses' (its array is already in 2 Gy equivalents).
    """
    from hbiview.radiobiology import eqd2

    grids = [d.dose if isinstance(d, PlanRun) else d for d in doses]
    physical = DoseGrid.total(grids, geometry)
    total = np.zeros(physical.geometry.shape, dtype=np.float64)
    for grid in grids:
        on = grid if grid.geometry.isclose(physical.geometry) else grid.resampled(physical.geometry, 1, 0.0)
        d = np.asarray(on.array, dtype=np.float64)
        total += np.asarray(eqd2(d, d / grid.fractions, alpha_beta_gy))
    text = f"EQD2 (alpha/beta {alpha_beta_gy:g} Gy) of " + " + ".join(g.description or "dose" for g in grids)
    return DoseGrid(physical.geometry, total.astype(np.float32), physical.fractions, text)


@dataclass(frozen=True, eq=False)
class CourseSum:
    """Sequential courses of one patient added up: physical dose, EQD2 per structure, the junction.

    Made by :func:`sum_courses`. It quacks like a :class:`PlanRun` where reports need it (``label``,
    ``dose``, ``evaluation``, ``dvhs``, ``metrics``, ``notes``), so it can be reported beside its courses.

    Parameters
    ----------
    label
        Name in tables, e.g. ``"sum: upper-hbi + lower-hbi"``.
    courses
        The plan runs added, in order.
    dose
        Physical dose of all courses (Gy), on a grid covering all of them; ``fractions`` their sum.
    evaluation
        DVHs and metrics of the physical sum; each structure's ``mean_eqd2_gy`` / ``mean_bed_gy`` are those
        of the course-by-course EQD2 sum (:func:`eqd2_sum`), not of the summed dose.
    eqd2_by_structure
        Structure -> ``{"alpha_beta_gy", "mean_gy", "mean_eqd2_gy", "courses_mean_eqd2_gy"}``.
    junction
        Where the courses' fields meet (see :func:`junction_region`), or ``None`` for a single course.
    notes
        What the sum leaves out (:data:`SUM_LEAVES_OUT`) and the junction in words.
    """

    label: str
    courses: tuple[PlanRun, ...]
    dose: DoseGrid
    evaluation: PlanResult
    eqd2_by_structure: dict[str, dict[str, Any]]
    junction: dict[str, Any] | None
    notes: tuple[str, ...] = ()

    @property
    def dvhs(self) -> dict[str, DVH]:
        """Structure name -> cumulative DVH of the physical sum."""
        return self.evaluation.dvhs

    @property
    def mean_lung_dose_gy(self) -> float | None:
        """Mean physical dose to both lungs (Gy, all courses)."""
        return self.evaluation.mean_lung_dose_gy

    def metrics(self, structure: str) -> dict[str, Any]:
        """Every metric of one structure in the sum (EQD2 added course by course)."""
        return self.evaluation.structure_metrics(structure, repr(self.label))

    def summary(self) -> dict[str, Any]:
        """The sum's summary as reports show it."""
        return dict(self.evaluation.summary)


def _in_field_z(run: Any, level: float = 0.5) -> tuple[float, float] | None:
    """The z range (mm) of the axial slices where a course gives at least ``level`` of its prescription."""
    dose = run.dose
    rx = run.prescription_gy
    if rx <= 0:
        return None
    per_slice = dose.array.reshape(dose.array.shape[0], -1).max(axis=1)
    z = dose.geometry.axis_coordinates_mm()[0]
    hot = z[per_slice >= level * rx]
    if hot.size == 0:
        return None
    return float(hot.min()), float(hot.max())


def junction_region(
    runs: Sequence[Any], total: DoseGrid, landmarks: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Where the courses' fields abut or overlap along the patient, and the summed dose there.

    ``runs`` are plan runs (or anything with ``label``, ``dose`` and total ``prescription_gy``). Each
    course's field reaches along z as far as its dose is at least 50 % of its prescription (the field
    edge) somewhere on the axial slice. Two courses whose ranges overlap meet in that overlap; ranges that
    do not overlap leave a gap between their edges. The junction region is the overlap (or gap) widened by
    20 mm each side (the penumbra), and the sum's maximum there is reported with its position.

    Returns
    -------
    dict or None
        ``{"between", "kind" ("overlap" | "gap"), "z_mm" (low, high), "width_mm", "max_gy", "max_lps_mm",
        "near"}``, or ``None`` when fewer than two courses reach 50 %.
    """
    all_extents = [(r, _in_field_z(r)) for r in runs]
    extents = [(r, e) for r, e in all_extents if e is not None]
    if len(extents) < 2:
        return None
    best: tuple[float, PlanRun, PlanRun, tuple[float, float]] | None = None
    for i in range(len(extents)):
        for j in range(i + 1, len(extents)):
            (ra, a), (rb, b) = extents[i], extents[j]
            lo, hi = max(a[0], b[0]), min(a[1], b[1])
            distance = lo - hi  # > 0: a gap of that size; <= 0: an overlap
            if best is None or distance < best[0]:
                best = (distance, ra, rb, (min(lo, hi), max(lo, hi)))
    assert best is not None
    distance, ra, rb, (lo, hi) = best
    z = total.geometry.axis_coordinates_mm()[0]
    band = (z >= lo - 20.0) & (z <= hi + 20.0)
    out: dict[str, Any] = {
        "between": (ra.label, rb.label),
        "kind": "gap" if distance > 0 else "overlap",
        "z_mm": (round(lo, 1), round(hi, 1)),
        "width_mm": round(abs(distance), 1),
        "max_gy": None,
        "max_lps_mm": None,
        "near": "",
    }
    if band.any():
        block = np.where(band[:, None, None], total.array, 0.0)
        k = np.unravel_index(int(np.argmax(block)), block.shape)
        out["max_gy"] = round(float(block[k]), 3)
        out["max_lps_mm"] = tuple(round(float(c), 1) for c in total.geometry.index_to_lps(np.array(k, float)))
    if landmarks:
        from hbiview.labels import LANDMARK_NAMES
        from hbiview.plans.borders import _to_z

        found = {k: _to_z(landmarks[k]) for k in LANDMARK_NAMES if k in landmarks}
        marks = {k: v for k, v in found.items() if v is not None}
        if marks:
            centre = (lo + hi) / 2
            name, zm = min(marks.items(), key=lambda kv: abs(kv[1] - centre))
            out["near"] = f"{name.replace('_', ' ')} (z {zm:.0f} mm)"
    return out


def _junction_text(junction: dict[str, Any]) -> str:
    a, b = junction["between"]
    lo, hi = junction["z_mm"]
    where = f", near the {junction['near']}" if junction["near"] else ""
    if junction["kind"] == "gap":
        text = f"junction of {a} and {b}: a {junction['width_mm']:.0f} mm gap between their 50 % edges"
    else:
        text = f"junction of {a} and {b}: their 50 % edges overlap by {junction['width_mm']:.0f} mm"
    text += f" at z {lo:.0f} to {hi:.0f} mm{where}"
    if junction["max_gy"] is not None:
        x, y, zz = junction["max_lps_mm"]
        text += (
            f"; summed maximum within 20 mm of it {junction['max_gy']:.2f} Gy "
            f"at LPS ({x:.0f}, {y:.0f}, {zz:.0f}) mm"
        )
    return text


def sum_courses(
    case: Case,
    runs: Sequence[PlanRun],
    *,
    label: str | None = None,
    structures: Sequence[str] | None = None,
    alpha_beta_gy: Mapping[str, float] | None = None,
) -> CourseSum:
    """Add sequential courses (e.g. upper then lower hemi-body) of one patient, physically and in EQD2.

    Parameters
    ----------
    case
        The case the runs were computed on (structures and landmarks).
    runs
        The courses, from :func:`run_plan`, each with its own fractionation.
    label
        Name of the sum (default ``"sum: A + B"``).
    structures
        Structures to evaluate (default those of the first run).
    alpha_beta_gy
        alpha/beta overrides by structure name or kind (defaults lung 3 Gy, marrow 10 Gy).

    Returns
    -------
    CourseSum
        Physical sum (:func:`sum_doses`), its DVHs and metrics, each structure's EQD2 added course by
        course (:func:`eqd2_sum`), the junction region (:func:`junction_region`) and what the sum leaves
        out (:data:`SUM_LEAVES_OUT`).

    Raises
    ------
    InputError
        For fewer than two courses.
    """
    from hbiview.dosevolume import dvh as make_dvh
    from hbiview.radiobiology import alpha_beta_for
    from hbiview.report import evaluate_plans

    if len(runs) < 2:
        raise InputError("a sum needs at least two courses (give --plan twice or more)")
    label = label or "sum: " + " + ".join(r.label for r in runs)
    total = sum_doses(runs, description=label)
    if structures is None:
        structures = list(runs[0].dvhs)
    chosen = case.structure_list(structures)
    junction = junction_region(runs, total, case.plan_landmarks)
    notes = [SUM_LEAVES_OUT]
    if junction is not None:
        notes.insert(0, _junction_text(junction))
    fractions = " + ".join(f"{r.plan.prescription_gy:g} Gy x {r.plan.fractions}" for r in runs)
    summary: dict[str, Any] = {
        "description": f"{label}: courses given one after the other ({fractions})",
        "heterogeneity_corrected": all(r.heterogeneity for r in runs),
        "beams": [f"{r.label} {b}" for r in runs for b in r.summary().get("beams", [])],
        "fractions": total.fractions,
        "notes": " ".join(n if n.endswith(".") else n + "." for n in notes),
    }
    evaluation = evaluate_plans([(label, total, chosen, summary)], alpha_beta_gy=alpha_beta_gy)[0]
    eqd2_grids: dict[float, DoseGrid] = {}
    by_structure: dict[str, dict[str, Any]] = {}
    for row, structure in zip(evaluation.metrics, chosen, strict=True):
        ab = row.get("alpha_beta_gy")
        if ab is None:
            ab = alpha_beta_for(row["structure"], alpha_beta_gy)
        if ab is None or (isinstance(ab, float) and np.isnan(ab)):
            continue
        ab = float(ab)
        if ab not in eqd2_grids:
            eqd2_grids[ab] = eqd2_sum(runs, ab, total.geometry)
        h = make_dvh(eqd2_grids[ab], structure)
        per_course = []
        for run in runs:
            course_dvh = run.dvhs.get(row["structure"])
            per_course.append(
                None
                if course_dvh is None
                else float(run.metrics(row["structure"]).get("mean_eqd2_gy", np.nan))
            )
        mean = float(h.mean_gy)
        row["mean_eqd2_gy"] = mean
        row["mean_bed_gy"] = mean * (1.0 + 2.0 / ab)
        by_structure[row["structure"]] = {
            "alpha_beta_gy": ab,
            "mean_gy": float(row["mean_gy"]),
            "mean_eqd2_gy": mean,
            "courses_mean_eqd2_gy": per_course,
        }
    return CourseSum(label, tuple(runs), total, evaluation, by_structure, junction, tuple(notes))


def crop_dose(dose: DoseGrid, threshold_pct: float = 0.5, margin_voxels: int = 2) -> DoseGrid:
    """The dose grid cropped to the box where the dose exceeds ``threshold_pct`` of its maximum.

    A localized field computed on a grid covering the whole body is mostly zeros; cropped, its RT Dose file
    is a few MB instead of tens. Nothing above the threshold is lost.

    Parameters
    ----------
    dose
        Total dose (Gy).
    threshold_pct
        Percentage of the maximum dose below which border planes are dropped.
    margin_voxels
        Voxels kept beyond the box on each side.
    """
    array = dose.array
    peak = float(array.max()) if array.size else 0.0
    if peak <= 0:
        return dose
    box = bounding_box(array > peak * threshold_pct / 100.0, margin_voxels)
    assert box is not None  # the peak itself is above the threshold
    start, stop = [s.start for s in box], [s.stop for s in box]
    if start == [0, 0, 0] and stop == list(array.shape):
        return dose
    geometry = dose.geometry.cropped(start, stop)
    sub = array[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
    return DoseGrid(geometry, np.ascontiguousarray(sub), dose.fractions, dose.description)


def write_comparison(
    path: str | os.PathLike[str],
    runs: Sequence[PlanRun],
    *,
    title: str = "hbiview plan comparison",
    images: Sequence[tuple[str, bytes | str | os.PathLike[str]]] = (),
    force: bool = False,
) -> Path:
    """Report several runs together (HTML, PDF, CSV or JSON by the suffix of ``path``).

    See :func:`hbiview.report.write_report`: overlaid DVHs, metric tables and differences from the first.
    """
    from hbiview.report import write_report

    if not runs:
        raise InputError("no plan to report")
    return write_report(path, [r.evaluation for r in runs], title=title, images=images, force=force)
