"""Plan dose: sum the beams of an engine, normalise to the prescription point, sample on a dose grid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hbiview.dose.body import body_box_mm, density_on
from hbiview.dose.engine import BeamDose, get_engine
from hbiview.errors import PlanError, warn
from hbiview.geometry import Geometry
from hbiview.loops import weighted_sum
from hbiview.plans import Beam, Normalization, Plan, resolve_plan
from hbiview.progress import progress
from hbiview.volume import CTVolume, DoseGrid

__all__ = [
    "DoseResult",
    "PlanDoseModel",
    "compute_dose",
    "compute_dose_result",
    "hot_spots_with_and_without",
    "plan_dose_model",
]

#: Beams computed at the same time (threads; numpy, SciPy's FFT and ndimage release the GIL).
BEAM_THREADS = 2


@dataclass(frozen=True, eq=False)
class PlanDoseModel:
    """A plan's dose as a function of position, normalised to the prescription.

    Parameters
    ----------
    plan
        The resolved plan.
    beams
        Each beam's dose per unit weight (from the engine).
    scale
        Multiplier of the weighted beam sum that puts ``prescription_gy`` at the prescription point.
    prescription_point_lps_mm
        Where the prescription applies (LPS mm).
    density_geometry, body
        The grid the engine walked through and the body mask on it.
    engine, heterogeneity, grid_mm
        How the dose was computed.
    """

    plan: Plan
    beams: tuple[BeamDose, ...]
    scale: float
    prescription_point_lps_mm: np.ndarray
    density_geometry: Geometry
    body: np.ndarray
    engine: str
    heterogeneity: bool
    grid_mm: float

    def beam_per_fraction_at(self, index: int, points_lps_mm: np.ndarray) -> np.ndarray:
        """Dose per fraction (Gy) of beam ``index`` at ``(n, 3)`` LPS points (body mask not applied)."""
        weight = self.plan.beams[index].weight * self.scale
        return self.beams[index].at(points_lps_mm) * np.float32(weight)

    def per_fraction_at(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Dose per fraction (Gy) of the whole plan at ``(n, 3)`` LPS points (body mask not applied)."""
        pts = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
        total = np.zeros(len(pts), dtype=np.float32)
        for i in range(len(self.beams)):
            total += self.beam_per_fraction_at(i, pts)
        return total

    def per_fraction_at_indices(self, geometry: Geometry, index: np.ndarray) -> np.ndarray:
        """Dose per fraction (Gy) at voxel indices ``(n, 3)`` of ``geometry`` (body mask not applied)."""
        total = np.zeros(len(index), dtype=np.float32)
        for beam, dose in zip(self.plan.beams, self.beams):
            weight = np.float32(beam.weight * self.scale)
            if hasattr(dose, "at_indices"):
                total += dose.at_indices(geometry, index) * weight
            else:
                total += dose.at(geometry.index_to_lps(index)) * weight
        return total

    def per_fraction_on_grid(self, geometry: Geometry) -> np.ndarray | None:
        """Dose per fraction (Gy) at every voxel of ``geometry`` (body mask not applied).

        ``None`` unless every beam can sample a whole grid at once (beams along the grid's axes; see
        :meth:`hbiview.dose.convolution.BevDose.on_grid`): then use :meth:`per_fraction_at_indices`.
        """
        if not all(hasattr(dose, "on_grid") for dose in self.beams):
            return None
        with ThreadPoolExecutor(max_workers=min(BEAM_THREADS, len(self.beams))) as pool:
            grids = list(pool.map(lambda dose: dose.on_grid(geometry), self.beams))
        return self._weighted_sum(grids)

    def _weighted_sum(
        self, grids: Sequence[np.ndarray | None], inside: np.ndarray | None = None, factor: float = 1.0
    ) -> np.ndarray | None:
        """Dose (Gy) from each beam's dose per unit weight on one grid (``None``: not all given).

        The dose per fraction times ``factor`` (the number of fractions gives the course's), 0 outside
        ``inside`` (a mask on the grid), in one pass (:func:`hbiview.loops.weighted_sum`).
        """
        given = [grid for grid in grids if grid is not None]
        if not given or len(given) < len(grids):
            return None
        flat = tuple(np.ascontiguousarray(grid, dtype=np.float32).reshape(-1) for grid in given)
        weights = np.array([beam.weight * self.scale for beam in self.plan.beams], dtype=np.float32)
        mask = None if inside is None else np.ascontiguousarray(inside).reshape(-1)
        out = np.empty(given[0].shape, dtype=np.float32)
        weighted_sum(flat, weights, mask, np.float32(factor), out.reshape(-1))
        return out

    @property
    def monitor_units(self) -> tuple[float, ...]:
        """Monitor units per fraction of each beam (1 MU = 1 cGy at dmax, 10 x 10 cm, SSD 1000 mm)."""
        return tuple(100.0 * b.weight * self.scale for b in self.plan.beams)


@dataclass(frozen=True, eq=False)
class DoseResult:
    """A computed dose grid and how its normalisation came out.

    Parameters
    ----------
    dose
        Total dose (Gy) on its own grid; ``dose.fractions`` set.
    model
        The normalised dose model (dose at any point, per beam).
    prescription_point_lps_mm
        The prescription point (LPS mm).
    prescription_dose_gy
        Dose per fraction the model gives at that point (equals the prescription).
    beam_doses_gy
        Each beam's dose per fraction at the prescription point (Gy).
    """

    dose: DoseGrid
    model: PlanDoseModel
    prescription_point_lps_mm: np.ndarray
    prescription_dose_gy: float
    beam_doses_gy: tuple[float, ...]

    @property
    def plan(self) -> Plan:
        """The resolved plan."""
        return self.model.plan

    def summary(self) -> str:
        """Plan, beams (SSD, field, collimator, MU), prescription point, its dose per fraction and total."""
        plan = self.plan
        lines = [plan.summary()]
        for beam, dose, mu in zip(plan.beams, self.beam_doses_gy, self.model.monitor_units):
            lines.append(
                f"  {beam.label:<4} gives {dose:.3f} Gy per fraction at the prescription point, "
                f"{mu:.0f} nominal MU"
            )
        x, y, z = self.prescription_point_lps_mm
        lines.append(
            f"prescription point ({plan.normalization.describe()}): LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm, "
            f"{self.prescription_dose_gy:.3f} Gy per fraction, "
            f"{self.prescription_dose_gy * plan.fractions:.3f} Gy "
            f"in {plan.fractions} fraction(s)"
        )
        dmax = float(self.dose.array.max())
        lines.append(
            f"dose grid {self.dose.geometry.shape[::-1]} voxels (x, y, z) at {self.model.grid_mm:g} mm, "
            f"{self.model.engine} engine, heterogeneity {'on' if self.model.heterogeneity else 'off'}; "
            f"maximum {dmax:.2f} Gy total ({dmax / plan.fractions:.2f} Gy per fraction)"
        )
        return "\n".join(lines)


def _prescription_point(
    plan: Plan, ct: CTVolume, geometry: Geometry, body: np.ndarray
) -> tuple[np.ndarray, Plan]:
    """The prescription point, and the plan with its normalization made explicit if the point had to move.

    A midplane prescription whose central axis misses the body (a lower hemi-body field centred between the
    legs) goes to the point :func:`hbiview.dose.prescription.midplane_point` chooses in tissue; the returned
    plan then carries it as an LPS point with a note saying where and why, and a warning says the same. The
    point is :func:`hbiview.dose.prescription.prescription_point`'s (the one a border moved by the jaws keeps
    in its field); here it is checked, with the errors a user can act on.
    """
    from hbiview.dose.prescription import prescription_point

    norm = plan.normalization
    where = f"{plan.source}: " if plan.source else f"plan {plan.name!r}: "
    found = prescription_point(ct, plan)
    if norm.point == "lps":
        assert found.lps_mm is not None  # an LPS point is placed as given
        point = found.lps_mm
    elif norm.point == "midplane":
        if found.lps_mm is None:
            raise PlanError(
                f"{where}the central axis of beams[1] misses the body, and so does every line parallel to it "
                "inside the field; cannot place the prescription point"
            )
        point, moved = found.lps_mm, found.moved
        if moved:
            x, y, z = point
            note = f"{moved}, because the central axis of beams[1] misses the body"
            warn(f"{where}the central axis of beams[1] misses the body; prescribed instead at the {moved}")
            plan = replace(
                plan,
                normalization=Normalization("lps", lps_mm=(round(x, 1), round(y, 1), round(z, 1)), note=note),
            )
            point = np.asarray(plan.normalization.lps_mm, dtype=float)
    else:
        if found.lps_mm is None or found.thickness_mm is None:
            raise PlanError(
                f"{where}the central axis of beams[1] misses the body; cannot place the prescription point "
                f"{norm.depth_mm:g} mm deep on it: use a midplane or an LPS prescription point"
            )
        assert norm.depth_mm is not None  # a "depth" normalization carries depth_mm (checked on reading)
        point = found.lps_mm
        if norm.depth_mm > found.thickness_mm:
            raise PlanError(
                f"{where}normalization.depth_mm = {norm.depth_mm:g} mm is beyond the patient's thickness "
                f"{found.thickness_mm:.0f} mm on the central axis"
            )
    idx = np.rint(geometry.lps_to_index(point)).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.asarray(body.shape)) or not body[tuple(idx)]:
        raise PlanError(f"{where}the prescription point {np.round(point, 1).tolist()} mm is outside the body")
    return point, plan


def _grids(ct: CTVolume, grid_mm: float, density_grid_mm: float | None) -> tuple[Geometry, Geometry]:
    box = body_box_mm(ct)
    if box is None:
        raise PlanError("the CT shows no body (nothing above -400 HU); check the series")
    lower, upper = box[0] - 5.0, box[1] + 5.0
    ct_lo, ct_hi = ct.geometry.bounds_mm()
    lower, upper = np.maximum(lower, ct_lo), np.minimum(upper, ct_hi)
    frame = ct.geometry.frame_of_reference_uid
    dose_geometry = Geometry.box(lower, upper, grid_mm, frame)
    if density_grid_mm is None:
        density_grid_mm = max(grid_mm, float(ct.geometry.spacing_mm.min()))
    density_geometry = (
        dose_geometry if density_grid_mm == grid_mm else Geometry.box(lower, upper, density_grid_mm, frame)
    )
    return dose_geometry, density_geometry


def plan_dose_model(
    ct: CTVolume,
    plan: Plan,
    *,
    grid_mm: float | None = None,
    heterogeneity: bool | None = None,
    engine: str = "convolution",
    density_grid_mm: float | None = None,
) -> PlanDoseModel:
    """Compute every beam of ``plan`` on ``ct`` and normalise to the prescription, without a dose grid.

    Parameters
    ----------
    ct
        The patient.
    plan
        The plan (resolved on ``ct`` here if needed).
    grid_mm
        Resolution (mm) of the beam calculation; default :attr:`Plan.default_grid_mm`.
    heterogeneity
        Override the plan's setting.
    engine
        Dose engine name (see :func:`hbiview.dose.available_engines`).
    density_grid_mm
        Spacing of the density volume the engine walks through; default the larger of ``grid_mm`` and the
        CT's finest spacing.

    Returns
    -------
    PlanDoseModel
    """
    return _dose_model(
        ct, plan, grid_mm=grid_mm, heterogeneity=heterogeneity, engine=engine, density_grid_mm=density_grid_mm
    )[0]


def _dose_model(
    ct: CTVolume,
    plan: Plan,
    *,
    grid_mm: float | None,
    heterogeneity: bool | None,
    engine: str,
    density_grid_mm: float | None = None,
    sample: bool = False,
) -> tuple[PlanDoseModel, Geometry, tuple[np.ndarray | None, ...] | None]:
    """:func:`plan_dose_model`, the dose grid, and with ``sample`` each beam's dose per unit weight on it.

    Each beam is sampled on the dose grid in its own thread as soon as it is computed
    (:meth:`hbiview.dose.convolution.BevDose.on_grid`; ``None`` for a beam that cannot sample a whole grid).
    """
    resolved = resolve_plan(plan, ct)
    grid = float(grid_mm if grid_mm is not None else resolved.default_grid_mm)
    hetero = resolved.heterogeneity if heterogeneity is None else bool(heterogeneity)
    resolved = replace(resolved, heterogeneity=hetero)
    dose_geometry, density_geometry = _grids(ct, grid, density_grid_mm)
    density, body = density_on(ct, density_geometry, heterogeneity=hetero)
    point, resolved = _prescription_point(resolved, ct, density_geometry, body)
    if resolved.compensation != "none":  # a transmission map per beam (hbiview.dose.compensation)
        from hbiview.dose.compensation import compensate

        resolved = compensate(resolved, density_geometry, body, point, grid)
    calculator = get_engine(engine)

    def one_beam(beam: Beam) -> tuple[Any, np.ndarray | None]:
        dose = calculator.beam_dose(beam, density, density_geometry, resolution_mm=grid, heterogeneity=hetero)
        on_grid = getattr(dose, "on_grid", None) if sample else None
        return dose, (on_grid(dose_geometry) if on_grid is not None else None)

    # beams are independent: two at a time (the array work releases the GIL, so 2 cores share it)
    with ThreadPoolExecutor(max_workers=min(BEAM_THREADS, len(resolved.beams))) as pool:
        done = tuple(
            progress(pool.map(one_beam, resolved.beams), total=len(resolved.beams), desc="dose: beams")
        )
    beams = tuple(dose for dose, _ in done)
    raw = sum(float(b.at(point[None, :])[0]) * beam.weight for b, beam in zip(beams, resolved.beams))
    if raw <= 1e-9:
        raise PlanError(f"plan {resolved.name!r}: the prescription point receives no dose from any beam")
    model = PlanDoseModel(
        resolved, beams, resolved.prescription_gy / raw, point, density_geometry, body, engine, hetero, grid
    )
    return model, dose_geometry, (tuple(grid for _, grid in done) if sample else None)


def _beam_region(model: PlanDoseModel, geometry: Geometry) -> np.ndarray | None:
    """Voxels of an axial ``geometry`` inside some beam's BEV bounding box (the others get no dose)."""
    if not geometry.is_axial or not all(hasattr(b, "bounds_lps_mm") for b in model.beams):
        return None
    z, y, x = geometry.axis_coordinates_mm()
    region = np.zeros(geometry.shape, dtype=bool)
    for beam in model.beams:
        lower, upper = beam.bounds_lps_mm()  # type: ignore[attr-defined]
        inside = [(c >= lo - 1.0) & (c <= hi + 1.0) for c, lo, hi in zip((x, y, z), lower, upper)]
        region |= inside[2][:, None, None] & inside[1][None, :, None] & inside[0][None, None, :]
    return region


def compute_dose_result(
    ct: CTVolume,
    plan: Plan,
    *,
    grid_mm: float | None = None,
    heterogeneity: bool | None = None,
    engine: str = "convolution",
) -> DoseResult:
    """Dose grid of ``plan`` on ``ct`` and how its normalisation came out.

    Parameters
    ----------
    ct
        The patient.
    plan
        The plan.
    grid_mm
        Dose grid spacing (mm); default 5 mm for hemi-body fields, 2.5 mm for localized ones.
    heterogeneity
        Override the plan's setting (``False``: water inside the body).
    engine
        Dose engine name.

    Returns
    -------
    DoseResult
    """
    model, dose_geometry, sampled = _dose_model(
        ct, plan, grid_mm=grid_mm, heterogeneity=heterogeneity, engine=engine, sample=True
    )
    if dose_geometry.isclose(model.density_geometry):
        body = model.body
    else:
        from hbiview.dose.body import body_on

        body = body_on(ct, dose_geometry)
    plan_r = model.plan
    # the whole course inside the body (outside every beam's grid the sampled dose is 0 already)
    course = model._weighted_sum(sampled or (), body, plan_r.fractions)
    if course is None:  # oblique beams: sampled at the body's voxels inside some beam's box
        region = _beam_region(model, dose_geometry)
        if region is not None:
            body = body & region
        course = np.zeros(dose_geometry.shape, dtype=np.float32)
        plane = dose_geometry.shape[1] * dose_geometry.shape[2]
        flat_body = body.reshape(-1)
        out = course.reshape(-1)
        chunk_slices = max(1, 2_000_000 // plane)
        for start in range(0, dose_geometry.shape[0], chunk_slices):
            stop = min(start + chunk_slices, dose_geometry.shape[0])
            flat = np.flatnonzero(flat_body[start * plane : stop * plane]) + start * plane
            if flat.size == 0:
                continue
            idx = np.stack(np.unravel_index(flat, dose_geometry.shape), axis=1).astype(np.float64)
            out[flat] = model.per_fraction_at_indices(dose_geometry, idx)
        course *= np.float32(plan_r.fractions)
    description = (
        f"{plan_r.name}: {model.engine} engine, heterogeneity {'on' if model.heterogeneity else 'off'}, "
        f"{model.grid_mm:g} mm grid; {plan_r.prescription_gy:g} Gy x {plan_r.fractions} at the "
        f"{plan_r.normalization.describe()}"
    )
    dose = DoseGrid(dose_geometry, course, plan_r.fractions, description)
    point = model.prescription_point_lps_mm
    beam_doses = tuple(
        float(model.beam_per_fraction_at(i, point[None, :])[0]) for i in range(len(model.beams))
    )
    return DoseResult(dose, model, point, float(sum(beam_doses)), beam_doses)


def compute_dose(
    ct: CTVolume,
    plan: Plan,
    *,
    grid_mm: float | None = None,
    heterogeneity: bool | None = None,
    engine: str = "convolution",
) -> DoseGrid:
    """Total dose (Gy, float32) of ``plan`` on ``ct``, on its own grid covering the body.

    The array is the dose of the whole course (dose per fraction x fractions); ``fractions`` is set and
    ``description`` names the plan, the engine and whether heterogeneity correction was on. See
    :func:`compute_dose_result` for the prescription point and the dose there.

    Parameters
    ----------
    ct
        The patient.
    plan
        The plan (presets: :func:`hbiview.plans.preset`; files: :func:`hbiview.plans.load_plan`).
    grid_mm
        Dose grid spacing (mm); default 5 mm for hemi-body fields, 2.5 mm for localized ones.
    heterogeneity
        Override the plan's setting (``False``: water inside the body).
    engine
        Dose engine name (``"convolution"``).
    """
    return compute_dose_result(ct, plan, grid_mm=grid_mm, heterogeneity=heterogeneity, engine=engine).dose


def hot_spots_with_and_without(
    ct: Any,
    plan: Plan,
    dose: DoseGrid,
    landmarks: Mapping[str, Any] | None = None,
    **dose_options: Any,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Hot spots of a computed plan and, when it is compensated, of the same plan without compensation.

    Parameters
    ----------
    ct
        The patient.
    plan
        The plan as computed.
    dose
        Its total dose.
    landmarks
        To name the level of the maximum.
    **dose_options
        ``grid_mm``, ``heterogeneity``, ``engine`` as used for ``dose`` (the plan without compensation is
        computed the same way).

    Returns
    -------
    with_, without
        :func:`hot_spots` of the plan, and of the plan without compensation (``None`` if not compensated).
    """
    from hbiview.dose.compensation import hot_spots

    spots = hot_spots(dose, landmarks)
    if plan.compensation == "none":
        return spots, None
    open_plan = replace(
        plan, compensation="none", beams=tuple(replace(b, transmission_map=None) for b in plan.beams)
    )
    open_dose = compute_dose(ct, open_plan, **dose_options)
    return spots, hot_spots(open_dose, landmarks)
