"""Plans in, DVHs, metrics and clinical context out: the data behind every report format.

A *plan input* is a tuple ``(label, dose, structures)`` or ``(label, dose, structures, summary)``:

=========== ================================================================================================
item        meaning
=========== ================================================================================================
label       short name shown in tables and legends, e.g. ``"upper HBI 6 Gy"``
dose        :class:`~hbiview.volume.DoseGrid` (total course, Gy; its ``fractions`` is the fraction count)
structures  sequence of :class:`~hbiview.volume.Structure` (lungs, marrow with weights, body, ...)
summary     optional mapping shown in the plan summary; keys read by hbiview (others are listed as given):
            ``prescription_gy`` (total, Gy), ``heterogeneity_corrected`` (bool), ``beams`` (list of str or
            dicts), ``geometry`` (str), ``description`` (str), ``engine`` (str), ``dose_source`` (str).
            An :class:`hbiview.plans.Plan` is accepted too (converted by :func:`plan_summary`).
=========== ================================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hbiview.dosevolume import DVH, dvh, metrics
from hbiview.errors import InputError
from hbiview.radiobiology import PneumonitisAssessment, alpha_beta_for, assess_lung_dose, structure_kind
from hbiview.volume import DoseGrid, Structure

__all__ = ["PlanInput", "PlanResult", "evaluate_plans", "metric_rows", "plan_summary"]

PlanInput = tuple  # (label, DoseGrid, Sequence[Structure]) or (label, DoseGrid, Sequence[Structure], Mapping)

#: Names that mean "both lungs together" (case-insensitive, spaces and underscores ignored).
BOTH_LUNGS_NAMES = {
    "lungs",
    "lung",
    "lungtotal",
    "totallung",
    "lungsbilateral",
    "bilaterallungs",
    "lungbilat",
}


@dataclass(frozen=True)
class PlanResult:
    """DVHs, metrics and clinical context of one plan.

    Attributes
    ----------
    label
        Plan label.
    fractions
        Number of fractions.
    summary
        The plan summary mapping (see the module docstring).
    dvhs
        Structure name -> :class:`~hbiview.dosevolume.DVH` (input order).
    metrics
        One :func:`hbiview.dosevolume.metrics` dict per structure, plus ``plan`` and ``kind``.
    kinds
        Structure name -> ``"lung"``, ``"marrow"`` or ``None``.
    mean_lung_dose_gy
        Mean dose to both lungs (Gy), or ``None`` without lung structures.
    lung_assessment
        Where the mean lung dose stands against the single-fraction pneumonitis figures, or ``None``.
    max_dose_gy
        Maximum of the dose grid (Gy).
    """

    label: str
    fractions: int
    summary: Mapping[str, Any]
    dvhs: dict[str, DVH]
    metrics: list[dict[str, Any]]
    kinds: dict[str, str | None]
    mean_lung_dose_gy: float | None
    lung_assessment: PneumonitisAssessment | None
    max_dose_gy: float
    grid: str = field(default="")

    def structure_metrics(self, structure: str, who: str | None = None) -> dict[str, Any]:
        """Every metric of one structure (a copy of its row of :attr:`metrics`).

        Raises
        ------
        InputError
            For a structure that was not evaluated; ``who`` names the plan in the message (default its
            label, quoted).
        """
        for row in self.metrics:
            if row["structure"] == structure:
                return dict(row)
        who = who if who is not None else repr(self.label)
        raise InputError(f"{who} has no DVH of {structure!r}; evaluated: {', '.join(self.dvhs)}")

    @property
    def prescription_gy(self) -> float | None:
        """Prescription (total Gy) from the summary, if given."""
        value = self.summary.get("prescription_gy")
        return None if value is None else float(value)


def _describe_grid(dose: DoseGrid) -> str:
    nz, ny, nx = dose.geometry.shape
    sz, sy, sx = dose.geometry.spacing_mm
    return f"{nx} x {ny} x {nz} voxels of {sx:.3g} x {sy:.3g} x {sz:.3g} mm (x, y, z)"


def _normalise_name(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _mean_lung_dose(dvhs: Mapping[str, DVH], kinds: Mapping[str, str | None]) -> float | None:
    lungs = {n: h for n, h in dvhs.items() if kinds.get(n) == "lung" and not h.is_empty}
    if not lungs:
        return None
    for name, h in lungs.items():
        if _normalise_name(name) in BOTH_LUNGS_NAMES:
            return h.mean_gy
    volume = sum(h.total_volume_cc for h in lungs.values())
    return sum(h.mean_gy * h.total_volume_cc for h in lungs.values()) / volume


def plan_summary(plan: Any) -> dict[str, Any]:
    """The report summary of an :class:`hbiview.plans.Plan` (duck-typed: name, beams, prescription...).

    ``Plan.prescription_gy`` is per fraction; the summary's ``prescription_gy`` is the total course.
    """
    beams = []
    for beam in getattr(plan, "beams", ()):
        field_mm = getattr(beam, "field_mm", None)
        parts = [str(getattr(beam, "energy", ""))]
        parts.append(f"gantry {getattr(beam, 'gantry_deg', 0.0):g}°")
        if getattr(beam, "collimator_deg", 0.0):
            parts.append(f"collimator {beam.collimator_deg:g}°")
        if field_mm is not None:
            parts.append(f"field {field_mm[0] / 10:g} x {field_mm[1] / 10:g} cm")
            offset = tuple(getattr(beam, "field_offset_mm", (0.0, 0.0)))
            if offset != (0.0, 0.0):  # asymmetric jaws: where the opening lies (collimator frame)
                (x1, x2), (y1, y2) = beam.jaw_edges_mm()
                parts.append(
                    f"asymmetric jaws x {x1 / 10:g}..{x2 / 10:g}, y {y1 / 10:g}..{y2 / 10:g} cm "
                    f"(centre offset {offset[0] / 10:g}, {offset[1] / 10:g} cm)"
                )
        if getattr(beam, "ssd_mm", None):
            parts.append(f"SSD {beam.ssd_mm / 10:g} cm")
        if getattr(beam, "blocks", ()):
            parts.append(f"{len(beam.blocks)} block(s)")
        parts.append(f"weight {getattr(beam, 'weight', 1.0):g}")
        name = getattr(beam, "name", "") or "beam"
        beams.append(f"{name}: " + ", ".join(p for p in parts if p))
    fractions = int(getattr(plan, "fractions", 1))
    summary: dict[str, Any] = {
        "description": " - ".join(
            t for t in (getattr(plan, "name", ""), getattr(plan, "description", "")) if t
        ),
        "prescription_gy": float(plan.prescription_gy) * fractions,
        "heterogeneity_corrected": bool(getattr(plan, "heterogeneity", True)),
        "beams": beams,
        "engine": "hbiview convolution model",
        "dose_source": "computed by hbiview (simplified convolution model)",
    }
    normalization = getattr(plan, "normalization", None)
    if normalization is not None and hasattr(normalization, "describe"):
        summary["prescription point"] = normalization.describe()
    return summary


def _unpack(plan: Sequence[Any]) -> tuple[str, DoseGrid, Sequence[Structure], Mapping[str, Any]]:
    if not isinstance(plan, (tuple, list)) or len(plan) not in (3, 4):
        raise InputError(
            "each plan must be (label, DoseGrid, structures) or (label, DoseGrid, structures, summary)"
        )
    label, dose, structures = plan[0], plan[1], plan[2]
    summary = plan[3] if len(plan) == 4 and plan[3] is not None else {}
    if not isinstance(summary, Mapping) and hasattr(summary, "beams") and hasattr(summary, "prescription_gy"):
        summary = plan_summary(summary)
    if not isinstance(dose, DoseGrid):
        raise InputError(f"plan {label!r}: the second item must be a DoseGrid, got {type(dose).__name__}")
    return str(label), dose, list(structures), dict(summary)


def evaluate_plans(
    plans: Sequence[Sequence[Any]],
    *,
    alpha_beta_gy: Mapping[str, float] | None = None,
    kinds: Mapping[str, str] | None = None,
    bin_width_gy: float = 0.01,
    supersample: int | str = "auto",
    end_caps: str = "full",
) -> list[PlanResult]:
    """Compute DVHs, metrics and the clinical context of every plan.

    Parameters
    ----------
    plans
        Plan inputs ``(label, dose, structures[, summary])`` (see the module docstring).
    alpha_beta_gy
        alpha/beta overrides by structure name or kind (defaults: lung 3 Gy, marrow 10 Gy; other
        structures get no BED/EQD2 unless named here).
    kinds
        Structure name -> kind overrides (``"lung"``, ``"marrow"``).
    bin_width_gy, supersample, end_caps
        Passed to :func:`hbiview.dosevolume.dvh`.

    Returns
    -------
    list of PlanResult
        In the order given.
    """
    if not plans:
        raise InputError("no plan to report")
    results = []
    labels = set()
    for plan in plans:
        label, dose, structures, summary = _unpack(plan)
        if label in labels:
            raise InputError(f"two plans are labelled {label!r}; give each plan its own label")
        labels.add(label)
        dvhs: dict[str, DVH] = {}
        for structure in structures:
            name = structure.name
            n = 2
            while name in dvhs:
                name = f"{structure.name} ({n})"
                n += 1
            dvhs[name] = dvh(
                dose, structure, bin_width_gy=bin_width_gy, supersample=supersample, end_caps=end_caps
            )
        kind_of = {name: structure_kind(name, kinds) for name in dvhs}
        for name, h in dvhs.items():
            if h.weighted_fraction is not None and kind_of[name] is None:
                kind_of[name] = "marrow"
        prescription = summary.get("prescription_gy")
        rows = []
        for name, h in dvhs.items():
            kind = kind_of[name]
            ab = alpha_beta_for(name, alpha_beta_gy, {name: kind} if kind else kinds)
            row: dict[str, Any] = {"plan": label, "kind": kind or ""}
            m = metrics(h, prescription_gy=prescription, alpha_beta_gy=ab)
            m["structure"] = name
            row.update(m)
            rows.append(row)
        mld = _mean_lung_dose(dvhs, kind_of)
        assessment = None
        if mld is not None and not math.isnan(mld):
            assessment = assess_lung_dose(
                mld, dose.fractions, heterogeneity_corrected=summary.get("heterogeneity_corrected")
            )
        results.append(
            PlanResult(
                label=label,
                fractions=int(dose.fractions),
                summary=summary,
                dvhs=dvhs,
                metrics=rows,
                kinds=kind_of,
                mean_lung_dose_gy=mld,
                lung_assessment=assessment,
                max_dose_gy=dose.max_gy,
                grid=_describe_grid(dose),
            )
        )
    return results


def metric_rows(results: Sequence[PlanResult]) -> tuple[list[str], list[dict[str, Any]]]:
    """All metric rows of all plans and the column order (stable: first appearance over the rows).

    Returns
    -------
    columns, rows
        ``columns`` starts with ``plan, structure, kind`` followed by the metric keys of
        :data:`hbiview.dosevolume.METRIC_KEYS` in their documented order.
    """
    columns: list[str] = ["plan", "structure", "kind"]
    rows: list[dict[str, Any]] = []
    for result in results:
        for row in result.metrics:
            for key in row:
                if key not in columns:
                    columns.append(key)
            rows.append(row)
    return columns, rows
