"""Plan options shared by ``dvh``, ``report``, ``render`` and ``view``: one convention for hbiview plans.

``--plan P [P ...]`` (repeatable; several plans are compared), ``--no-heterogeneity``, ``--grid-mm G`` and
``--set [PLAN:]KEY=VALUE`` mean the same in every command, as in ``hbiview dose``. Plans are placed with
:meth:`hbiview.pipeline.Case.plan`, so presets share the CT's landmarks (searched once) and a bad plan is
refused before the segmentation and dose calculation start.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from hbiview.pipeline import Case, PlanRun
    from hbiview.plans import Plan

__all__ = [
    "add_plan_arguments",
    "add_sum_argument",
    "build_plans",
    "plan_labels",
    "plan_options",
    "run_plans",
    "sum_lines",
    "sum_of_runs",
    "summed_plan",
    "water_label",
]

#: Suffix of the label of a plan computed with water inside the body (as :func:`hbiview.pipeline.run_plan`).
WATER = " (water)"


def add_plan_arguments(
    parser: argparse.ArgumentParser, *, required: bool, plan_help: str, max_plans: int | None = None
) -> None:
    """Add ``--plan``, ``--no-heterogeneity``, ``--grid-mm`` and ``--set`` to a sub-command's parser.

    Parameters
    ----------
    parser
        The sub-command's parser.
    required
        Whether ``--plan`` must be given.
    plan_help
        Help text of ``--plan``.
    max_plans
        Largest number of plans the command takes (stated in the help; checked by the command).
    """
    parser.add_argument(
        "--plan",
        action="extend",
        nargs="+",
        metavar="P",
        required=required,
        help=plan_help + (f" (1 to {max_plans})" if max_plans else ""),
    )
    parser.add_argument(
        "--no-heterogeneity",
        action="store_true",
        help="compute with water inside the body (no lung or bone density correction)",
    )
    parser.add_argument(
        "--grid-mm",
        type=float,
        metavar="G",
        help="dose grid spacing in mm (default 5 for hemi-body fields, 2.5 for localized ones)",
    )
    parser.add_argument(
        "--set",
        metavar="[PLAN:]KEY=VALUE",
        action="append",
        default=[],
        dest="options",
        help="preset option for every preset given, or with PLAN: for that one only, e.g. energy=6MV, "
        "spine:level=L2 (options: 'hbiview plans --help'); repeatable",
    )


def add_sum_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--sum``: the plans are sequential courses; add their doses (and EQD2) as one more plan."""
    parser.add_argument(
        "--sum",
        action="store_true",
        help="the plans are sequential courses of one patient: also show their sum (physical dose voxel by "
        "voxel, EQD2 per structure course by course, the junction where the fields meet)",
    )


def sum_of_runs(
    case: Case,
    runs: Sequence[PlanRun],
    *,
    structures: Sequence[str] | None = None,
    alpha_beta_gy: dict[str, float] | None = None,
) -> Any:
    """The :class:`hbiview.pipeline.CourseSum` of the runs (``--sum``), refusing a single course.

    Raises
    ------
    InputError
        With fewer than two plans.
    """
    from hbiview.errors import InputError
    from hbiview.pipeline import sum_courses

    if len(runs) < 2:
        raise InputError("--sum needs at least two courses: --plan A --plan B --sum")
    return sum_courses(case, runs, structures=structures, alpha_beta_gy=alpha_beta_gy)


def summed_plan(plans: Sequence[Plan], doses: Sequence[Any]) -> tuple[Plan, Any]:
    """One plan standing for sequential courses in pictures: every course's beams and the summed dose.

    The plan's prescription is the largest course's total dose, given over all the courses' fractions,
    so percentage isodoses read against that course's prescription; its description says so.
    """
    from dataclasses import replace

    from hbiview.pipeline import SUM_LEAVES_OUT, sum_doses
    from hbiview.plans import Plan

    name = "sum: " + " + ".join(p.name for p in plans)
    total = sum_doses(list(doses), description=name)
    largest = max(plans, key=lambda p: p.total_dose_gy)
    beams = tuple(replace(b, name=f"{p.name} {b.label}") for p in plans for b in p.beams)
    text = (
        f"{name}: courses given one after the other; percentages of {largest.name}'s "
        f"{largest.total_dose_gy:g} Gy. {SUM_LEAVES_OUT}"
    )
    plan = Plan(
        name,
        beams,
        largest.total_dose_gy / total.fractions,
        total.fractions,
        largest.normalization,
        all(p.heterogeneity for p in plans),
        None,
        text,
    )
    return plan, total


def sum_lines(total: Any) -> list[str]:
    """Terminal lines of a sum: EQD2 per structure (courses and total), junction, what it leaves out."""
    lines = []
    for name, row in total.eqd2_by_structure.items():
        courses = " + ".join("n/a" if v is None else f"{v:.2f}" for v in row["courses_mean_eqd2_gy"])
        lines.append(
            f"{name}: mean {row['mean_gy']:.2f} Gy physical; mean EQD2 (alpha/beta {row['alpha_beta_gy']:g} "
            f"Gy) {row['mean_eqd2_gy']:.2f} Gy (courses {courses}, voxel by voxel)"
        )
    lines += list(total.notes)
    return lines


def _preset_names() -> list[str]:
    from hbiview.plans import list_presets

    return [name for name, _ in list_presets()]


def plan_options(plans: Sequence[str], items: Sequence[str]) -> list[dict[str, Any]]:
    """Preset options of each plan from ``--set`` items.

    ``KEY=VALUE`` applies to every preset among ``plans``; ``PLAN:KEY=VALUE`` to the plans given exactly as
    ``PLAN``. Values are parsed as in ``hbiview dose`` (numbers and booleans; see
    :func:`hbiview.cli.plans.parse_options`).

    Parameters
    ----------
    plans
        The ``--plan`` values (preset names or TOML files).
    items
        The ``--set`` values.

    Returns
    -------
    list of dict
        One option mapping per plan, in the order of ``plans``.

    Raises
    ------
    InputError
        For an item that is not ``[PLAN:]KEY=VALUE``, a ``PLAN`` that is not among the plans, or options
        for plan files (edit the file instead).
    """
    from hbiview.cli.plans import parse_options
    from hbiview.errors import InputError

    presets = set(_preset_names())
    out: list[dict[str, Any]] = [{} for _ in plans]
    for item in items:
        key, sep, value = item.partition("=")
        scope, colon, name = key.rpartition(":")
        if not sep or not name.strip():
            raise InputError(f"--set {item!r}: write KEY=VALUE or PLAN:KEY=VALUE, e.g. --set level=T10")
        parsed = parse_options([f"{name}={value}"])
        if colon:
            targets = [i for i, text in enumerate(plans) if text == scope]
            if not targets:
                raise InputError(f"--set {item!r}: no --plan {scope!r} (plans: {', '.join(plans)})")
        else:
            targets = [i for i, text in enumerate(plans) if text in presets]
        for i in targets:
            if plans[i] not in presets:
                raise InputError(
                    f"--set {item!r}: {plans[i]} is a plan file; --set applies to presets only, "
                    "edit the plan file instead"
                )
            out[i].update(parsed)
        if not targets:
            raise InputError(f"--set {item!r} applies to presets only; edit the plan file instead")
    return out


def build_plans(case: Case, plans: Sequence[str], items: Sequence[str] = ()) -> list[Plan]:
    """The plans placed on the case's CT, with their ``--set`` options (fast: before any dose).

    Raises
    ------
    PlanError
        For an unknown preset or option or an invalid plan file (naming it).
    InputError
        For bad ``--set`` items.
    """
    from hbiview.errors import PlanError

    options = plan_options(plans, items)
    shared = any(":" not in item.partition("=")[0] for item in items)
    placed = []
    for text, opts in zip(plans, options, strict=True):
        try:
            placed.append(case.plan(text, **opts))
        except PlanError as exc:
            if shared and len(plans) > 1 and "unknown option" in str(exc):
                raise PlanError(f"{exc}; write --set PLAN:KEY=VALUE to set it for one plan only") from None
            raise
    return placed


def water_label(label: str) -> str:
    """The label of a plan's twin computed with water inside the body."""
    return label + WATER


def plan_labels(
    plans: Sequence[Plan],
    labels: Sequence[str] | None,
    *,
    heterogeneity: bool | None,
    water_twins: bool = False,
) -> list[str]:
    """Labels of the runs: ``--label`` values or plan names (``" (water)"`` when computed without correction).

    With ``water_twins`` each plan is followed by its twin with heterogeneity off.

    Raises
    ------
    InputError
        If the number of labels does not match the plans, or two runs would get the same label.
    """
    from hbiview.errors import InputError

    if labels and len(labels) != len(plans):
        raise InputError(f"--label gives {len(labels)} label(s) for {len(plans)} plan(s); give one per plan")
    out = []
    for i, plan in enumerate(plans):
        corrected = plan.heterogeneity if heterogeneity is None else heterogeneity
        if labels:
            label = labels[i]
        else:
            label = plan.name + ("" if corrected else WATER)
        out.append(label)
        if water_twins:
            out.append(water_label(labels[i] if labels else plan.name))
    seen: set[str] = set()
    for label in out:
        if label in seen:
            raise InputError(f"two plans are labelled {label!r}; give each plan its own with --label")
        seen.add(label)
    return out


def run_plans(
    case: Case,
    plans: Sequence[Plan],
    labels: Sequence[str],
    *,
    heterogeneity: bool | None = None,
    grid_mm: float | None = None,
    water_twins: bool = False,
    structures: Sequence[str] | None = None,
    alpha_beta_gy: dict[str, float] | None = None,
) -> list[PlanRun]:
    """Segment the CT (once), then compute and evaluate every plan (:func:`hbiview.pipeline.run_plan`).

    Parameters
    ----------
    case
        From :func:`hbiview.pipeline.load_case`.
    plans
        From :func:`build_plans`.
    labels
        From :func:`plan_labels` (with the same ``water_twins``).
    heterogeneity
        ``False``: water inside the body for every plan; ``None`` keeps each plan's setting.
    grid_mm
        Dose grid spacing (mm); ``None``: each plan's default.
    water_twins
        Follow each plan by its twin computed with heterogeneity off.
    structures
        Structure names to evaluate (default: every structure of the case).
    alpha_beta_gy
        alpha/beta overrides by structure name or kind (Gy).

    Returns
    -------
    list of PlanRun
        In the order of ``labels``.
    """
    from hbiview.pipeline import run_plan
    from hbiview.progress import progress

    jobs: list[tuple[Plan, bool | None]] = []
    for plan in plans:
        jobs.append((plan, heterogeneity))
        if water_twins:
            jobs.append((plan, False))

    def segment() -> None:
        case.structure_list(structures)  # segments, and checks the names before any dose is computed

    tasks = [segment] + [
        lambda p=plan, h=het, label=label: run_plan(
            case,
            p,
            label=label,
            heterogeneity=h,
            grid_mm=grid_mm,
            structures=structures,
            alpha_beta_gy=alpha_beta_gy,
        )
        for (plan, het), label in zip(jobs, labels, strict=True)
    ]
    results = [task() for task in progress(tasks, desc="segmenting, computing dose and DVHs")]
    return [r for r in results[1:] if r is not None]  # all of them: run_plan returns a PlanRun
