"""A systemic administration evaluated like a plan: DVHs and metrics beside the external plans.

:class:`SystemicRun` answers the questions a :class:`hbiview.pipeline.PlanRun` answers (label, dose, DVHs,
metrics, the active marrow above a dose, the mean lung dose), so that commands, reports and lessons put
both in one table. Its DVHs are computed on the dose grid itself, with the case's structures brought onto
it and the active-marrow weights of the model: sampling the map at the CT's voxels would blend the marrow
dose inside trabecular bone with the dose of the cortex beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hbiview.errors import InputError
from hbiview.systemic.agents import BIOKINETICS
from hbiview.systemic.model import SystemicDose, compute_systemic
from hbiview.volume import DoseGrid, Structure

if TYPE_CHECKING:  # pragma: no cover
    from hbiview.dosevolume import DVH
    from hbiview.pipeline import Case
    from hbiview.report.evaluate import PlanResult

__all__ = ["SystemicPlan", "SystemicRun", "grid_structures", "parse_systemic", "run_systemic"]

#: What reports say about the dose-volume metrics of a systemic dose.
PROTRACTED_NOTE = (
    "the dose is given over weeks at a low dose rate: EQD2/BED computed as for one acute fraction "
    "overstate its effect, and the single-fraction pneumonitis figures do not apply"
)


@dataclass(frozen=True)
class SystemicPlan:
    """What pictures need of a plan (:class:`hbiview.render.style.PlanLike`), for a systemic dose.

    There are no fields; the isodose levels are percentages of the mean active-marrow dose.
    """

    name: str
    prescription_gy: float
    fractions: int = 1
    beams: tuple[()] = ()

    @property
    def total_dose_gy(self) -> float:
        """The reference dose of the isodose levels (Gy): the mean active-marrow dose."""
        return self.prescription_gy * self.fractions

    def beam_outlines(self) -> list[tuple[Any, Any]]:
        """No beams."""
        return []


@dataclass(frozen=True, eq=False)
class SystemicRun:
    """A systemic dose with its DVHs and metrics, answering like :class:`hbiview.pipeline.PlanRun`.

    Parameters
    ----------
    label
        Name in tables and legends (``"Sr-89 150 MBq"``).
    result
        The model's output (:class:`hbiview.systemic.model.SystemicDose`).
    evaluation
        DVHs and metrics (:class:`hbiview.report.PlanResult`).
    notes
        Remarks for reports.
    """

    label: str
    result: SystemicDose
    evaluation: PlanResult
    notes: tuple[str, ...] = field(default=())

    is_systemic = True
    heterogeneity = False
    prescription_gy = None

    @property
    def plan(self) -> SystemicPlan:
        """A plan-like for pictures: the label, isodoses in percent of the mean active-marrow dose."""
        return SystemicPlan(self.label, float(f"{max(self.result.red_marrow_gy, 1e-9):.3g}"))

    @property
    def dose(self) -> DoseGrid:
        """Absorbed dose (Gy)."""
        return self.result.dose

    @property
    def dvhs(self) -> dict[str, DVH]:
        """Structure name -> cumulative DVH (on the dose grid)."""
        return self.evaluation.dvhs

    @property
    def mean_lung_dose_gy(self) -> float | None:
        """Mean dose to both lungs (Gy)."""
        return self.evaluation.mean_lung_dose_gy

    def metrics(self, structure: str) -> dict[str, Any]:
        """Every metric of one structure (as :meth:`hbiview.pipeline.PlanRun.metrics`)."""
        return self.evaluation.structure_metrics(structure, repr(self.label))

    def active_marrow_fraction(self, at_least_gy: float, structure: str = "Marrow") -> float:
        """Fraction (0-1) of the body's active marrow receiving at least ``at_least_gy``."""
        h = self.dvhs.get(structure)
        if h is None or h.weighted_fraction is None:
            raise InputError(f"{structure!r} has no active-marrow weights")
        return float(h.weighted_fraction_at_least(at_least_gy))

    def volume_pct(self, structure: str, at_least_gy: float) -> float:
        """Percentage of a structure's volume receiving at least ``at_least_gy``."""
        return float(self.dvhs[structure].v_gy_pct(at_least_gy))

    def summary(self) -> dict[str, Any]:
        """The administration's summary (agent, activity, marrow and bone-surface doses, reference)."""
        return dict(self.evaluation.summary)


def grid_structures(case: Case, result: SystemicDose, names: Any = None) -> list[Structure]:
    """The case's structures on the systemic dose grid (nearest neighbour); ``Marrow`` with model weights."""
    geometry = result.dose.geometry
    out = []
    for s in case.structure_list(names):
        if s.name == "Marrow" and result.marrow is not None:
            out.append(result.marrow)
        else:
            out.append(Structure(geometry, s.resampled(geometry).mask, name=s.name, color=s.color))
    return out


def run_systemic(
    case: Case,
    agent: str,
    *,
    label: str | None = None,
    structures: Any = None,
    **options: Any,
) -> SystemicRun:
    """Compute a systemic dose on a case and evaluate its DVHs like a plan's.

    Parameters
    ----------
    case
        From :func:`hbiview.pipeline.load_case`.
    agent
        ``"sr89"``, ``"sm153"`` or ``"ra223"``.
    label
        Name in tables (default e.g. ``"Sr-89 150 MBq"``).
    structures
        Structure names to evaluate (default :meth:`hbiview.pipeline.Case.structure_list`).
    **options
        Passed to :func:`hbiview.systemic.compute_systemic` (``activity_mbq``, ``activity_mbq_per_kg``,
        ``uptake``, ``lesion_ratio``, ``grid_mm``).
    """
    from hbiview.report import evaluate_plans

    result = compute_systemic(case, agent, **options)
    label = label or result.label
    summary = result.summary()
    summary["notes"] = (summary.get("notes", "") + " " + PROTRACTED_NOTE).strip()
    evaluation = evaluate_plans(
        [(label, result.dose, grid_structures(case, result, structures), summary)], supersample=1
    )[0]
    evaluation = replace(evaluation, lung_assessment=None)
    return SystemicRun(label, result, evaluation, (*result.notes, PROTRACTED_NOTE))


def parse_systemic(text: str) -> tuple[str, dict[str, Any]]:
    """``"sr89"``, ``"sr89:150"`` (MBq) or ``"sm153:37/kg"`` (MBq/kg) -> agent and activity options.

    A trailing ``@icrp`` or ``@label`` picks the biokinetics (``"sr89:150@icrp"``; default ``label``).

    Raises
    ------
    InputError
        For an activity that is not a positive number, or unknown biokinetics.
    """
    text, _, choice = text.partition("@")
    options: dict[str, Any] = {}
    if choice:
        choice = choice.strip().lower()
        if choice not in BIOKINETICS:
            raise InputError(
                f"--systemic {text}@{choice}: the biokinetics after '@' must be {' or '.join(BIOKINETICS)}"
            )
        options["biokinetics"] = choice
    agent, _, amount = text.partition(":")
    if amount:
        per_kg = amount.lower().endswith("/kg")
        number = amount[:-3] if per_kg else amount
        try:
            value = float(number)
        except ValueError:
            raise InputError(
                f"--systemic {text!r}: the activity after ':' must be a number of MBq (sr89:150) or MBq/kg "
                "(sm153:37/kg)"
            ) from None
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"--systemic {text!r}: the activity must be positive")
        options["activity_mbq_per_kg" if per_kg else "activity_mbq"] = value
    return agent.strip().lower(), options
