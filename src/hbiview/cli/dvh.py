"""``hbiview dvh``: DVHs and metrics of hbiview plans on a CT, or of a planning system's RT Dose + RTSTRUCT.

The command-line form of :func:`hbiview.pipeline.run_plan` and :func:`hbiview.report.evaluate_plans`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_common_inputs", "add_parser", "check_form", "format_table", "load_case", "run"]

DESCRIPTION = """\
Cumulative DVHs and their metrics (volume, Dmean, Dmin, Dmax, D2/50/95/98 %,
D0.03cc, Vx, EQD2 for lungs and marrow, the active-marrow fraction in the
field) of either
  - hbiview plans computed on a CT (CT --plan P ...), with the automatic
    structures or the clinician's contours (--rtstruct), or
  - a planning system's RT Dose and RT Structure Set (--rtdose F --rtstruct F),
    to audit a real plan."""

EPILOG = """\
examples:
  hbiview dvh sample_ct --plan upper-hbi
  hbiview dvh sample_ct --plan upper-hbi --plan lower-hbi --curves dvh.csv
  hbiview dvh sample_ct --plan upper-hbi --no-heterogeneity --grid-mm 2.5
  hbiview dvh /data/ct --plan spine --set level=L2 --set schedule=20x5 --json
  hbiview dvh /data/ct --plan upper-hbi --rtstruct RS.dcm --structures Lungs PTV
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm --structures Heart "Lt Lung"
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm --fractions 7 --end-caps interpolated
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm --curves dvh.csv --json

hbiview plans (CT --plan P): P is a preset ('hbiview plans' lists them) or a
TOML plan file; --set KEY=VALUE sets a preset option for every preset given,
--set PLAN:KEY=VALUE for one (spine:level=L2). Structures come from the
automatic segmentation (Body, Lungs, Lung_L, Lung_R, Marrow with active-marrow
weights, Skeleton); --rtstruct adds the clinician's contours, which replace the
automatic ones of the same role (a ROI named "Lungs" or "LUNG_TOTAL" replaces
Lungs). The table shows, per plan, the share of the body's active marrow that
receives at least 50 % of the prescription (the field's marrow) and, for
single-fraction plans, where the mean lung dose stands against the pneumonitis
onset (7.5 Gy) and 5 % incidence (8.2 Gy) doses of Van Dyk et al.

RT Dose + RTSTRUCT: structures are rasterised on the RT Dose grid (voxel
centres, even-odd rule); small ones are supersampled from their contours.
--end-caps interpolated blends each structure's shape from one contour plane to
the next (shape-based interpolation, reaching a tenth of a plane spacing past
the end contours), which reproduced Varian Eclipse's own DVHs of a clinical
case within 1.4 % of volume; half gives the end planes half a plane of
thickness; full (default) gives each plane a full slab, as voxel tools do.

Doses are total-course Gy. --json prints every metric (keys documented in
'python -m pydoc hbiview.report.tables'). --curves writes cumulative DVHs with
columns structure, dose_gy, volume_cc, volume_pct (weighted_fraction for the
marrow; a leading plan column with several plans).
"""

#: (metric key, heading, width, format) of the terminal table of an RT Dose.
TABLE = (
    ("volume_cc", "volume cc", 10, "{:.2f}"),
    ("mean_gy", "Dmean", 7, "{:.2f}"),
    ("min_gy", "Dmin", 7, "{:.2f}"),
    ("max_gy", "Dmax", 7, "{:.2f}"),
    ("d2_pct_gy", "D2%", 7, "{:.2f}"),
    ("d50_pct_gy", "D50%", 7, "{:.2f}"),
    ("d95_pct_gy", "D95%", 7, "{:.2f}"),
    ("d98_pct_gy", "D98%", 7, "{:.2f}"),
    ("d0p03cc_gy", "D0.03cc", 8, "{:.2f}"),
)

#: The terminal table of an hbiview plan (the marrow and lung lines follow it).
PLAN_TABLE = (
    ("volume_cc", "volume cc", 10, "{:.1f}"),
    ("mean_gy", "Dmean", 7, "{:.2f}"),
    ("min_gy", "Dmin", 7, "{:.2f}"),
    ("max_gy", "Dmax", 7, "{:.2f}"),
    ("d2_pct_gy", "D2%", 7, "{:.2f}"),
    ("d98_pct_gy", "D98%", 7, "{:.2f}"),
)


def add_common_inputs(parser: argparse.ArgumentParser, several_doses: bool = False) -> None:
    """Options shared by ``dvh`` and ``report``: the CT or the RT Dose, the RT Structure Set, structures."""
    parser.add_argument(
        "ct",
        metavar="CT",
        nargs="?",
        help="CT folder (searched recursively) or file, for hbiview plans (--plan)",
    )
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID of the CT (default: largest)")
    if several_doses:
        parser.add_argument(
            "--rtdose",
            metavar="FILE",
            nargs="+",
            help="RT Dose file(s) of a planning system; several files make a comparison (one plan each)",
        )
    else:
        parser.add_argument("--rtdose", metavar="FILE", help="RT Dose file (Gy) of a planning system")
    parser.add_argument(
        "--rtstruct",
        metavar="FILE",
        help="RT Structure Set: of the RT Dose's study (required with --rtdose), or the clinician's "
        "contours on the CT (replacing the automatic structures of the same role)",
    )
    parser.add_argument("--structures", metavar="NAME", nargs="+", help="structures to use (default: all)")
    parser.add_argument(
        "--fractions",
        type=int,
        metavar="N",
        help="with --rtdose: number of fractions of the dose (the file does not say; default 1)",
    )
    parser.add_argument(
        "--end-caps",
        choices=("full", "half", "interpolated"),
        help="with --rtdose: how contour planes make a volume: full slabs (default), half slabs at the ends, "
        "or interpolated between planes (as Varian Eclipse does)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output files")


def check_form(args: argparse.Namespace, command: str, plan_only: Sequence[str] = ()) -> str:
    """Which input form the options ask for: ``"plan"`` (CT --plan) or ``"rtdose"`` (--rtdose --rtstruct).

    Parameters
    ----------
    args
        Parsed options of ``dvh`` or ``report``.
    command
        The sub-command's name, for messages.
    plan_only
        More option names (attribute names) that only the plan form takes.

    Raises
    ------
    InputError
        For options of both forms, or a form missing what it needs.
    """
    from hbiview.errors import InputError

    systemic = getattr(args, "systemic", None)  # --systemic (hbiview.cli._systemicopts) counts as a plan
    if args.ct is not None or args.plan or systemic:
        if args.ct is None:
            raise InputError(f"--plan needs a CT: hbiview {command} CT --plan P (e.g. sample_ct)")
        if not args.plan and not systemic:
            raise InputError(
                f"{args.ct}: give the plan(s) to compute with --plan P (a preset or TOML plan file), "
                f"or leave out the CT for --rtdose F --rtstruct F"
            )
        wrong = [
            f"--{name.replace('_', '-')}"
            for name in ("rtdose", "fractions", "end_caps", "prescription")
            if getattr(args, name, None) not in (None, [])
        ]
        if wrong:
            raise InputError(
                f"{wrong[0]} belongs to the RT Dose form (hbiview {command} --rtdose F --rtstruct F); "
                f"an hbiview plan on a CT (--plan) sets its own"
            )
        return "plan"
    if not args.rtdose or not args.rtstruct:
        raise InputError(
            f"give a CT and plans (hbiview {command} CT --plan P) or a planning system's dose and "
            f"structures (hbiview {command} --rtdose F --rtstruct F)"
        )
    wrong = [
        f"--{name.replace('_', '-')}"
        for name in ("no_heterogeneity", "grid_mm", "options", "series", *plan_only)
        if getattr(args, name, None) not in (None, False, [])
    ]
    if wrong:
        option = "--set" if wrong[0] == "--options" else wrong[0]
        raise InputError(f"{option} applies to hbiview plans on a CT (hbiview {command} CT --plan P)")
    return "rtdose"


def load_case(
    rtdose: str, rtstruct: str, names: Sequence[str] | None, fractions: int
) -> tuple[Any, list[Any]]:
    """Read an RT Dose and an RT Structure Set's ROIs on its grid, checking that they belong together.

    Raises
    ------
    GeometryError
        Different frames of reference, or no structure overlaps the dose grid.
    """
    import warnings

    import numpy as np

    from hbiview.errors import GeometryError, HbiviewWarning, InputError, warn
    from hbiview.io.rtdose import read_rtdose
    from hbiview.io.rtstruct import read_rtstruct

    if fractions < 1:
        raise InputError(f"--fractions must be at least 1, got {fractions}")
    dose = read_rtdose(rtdose, fractions=fractions)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HbiviewWarning)
        structures = read_rtstruct(rtstruct, dose.geometry, names=names)
    for message in caught:  # pass on all but "outside the grid", which is said once below
        if not (
            issubclass(message.category, HbiviewWarning) and "outside the target grid" in str(message.message)
        ):
            warnings.warn_explicit(message.message, message.category, message.filename, message.lineno)
    kept = []
    outside_names = []
    for structure in structures:
        points = np.concatenate(structure.contours) if structure.contours else np.zeros((0, 3))
        if not structure.mask.any():
            if structure.contours:
                outside_names.append(structure.name)
            continue
        outside = ~dose.geometry.contains_lps(points, margin_voxels=0.5)
        if outside.any():
            warn(
                f"{100 * outside.mean():.0f} % of the contour points of {structure.name!r} lie outside the "
                f"RT Dose grid of {rtdose}; that part is left out of its DVH"
            )
        kept.append(structure)
    if not kept:
        raise GeometryError(
            f"{rtdose}: the RT Dose grid does not overlap any structure of {rtstruct}; "
            "check that both files come from the same plan"
        )
    if outside_names:
        warn(
            f"{', '.join(map(repr, outside_names))} of {rtstruct} lie outside the RT Dose grid of "
            f"{rtdose}: skipped"
        )
    return dose, kept


def format_table(rows: Sequence[dict[str, Any]], table: Sequence[tuple[str, str, int, str]] = TABLE) -> str:
    """A readable fixed-width table of the main metrics (one row per structure)."""
    name_width = max([len("structure")] + [len(str(r["structure"])) for r in rows])
    head = f"{'structure':<{name_width}}" + "".join(f"{h:>{w}}" for _, h, w, _ in table)
    lines = [head, "-" * len(head)]
    for row in rows:
        cells = []
        for key, _, width, fmt in table:
            value = row.get(key)
            text = (
                "-"
                if value is None or (isinstance(value, float) and math.isnan(value))
                else fmt.format(value)
            )
            cells.append(f"{text:>{width}}")
        lines.append(f"{row['structure']:<{name_width}}" + "".join(cells))
    return "\n".join(lines)


def lung_line(assessment: Any) -> str:
    """Where a single-fraction mean lung dose stands against Van Dyk's 7.5 Gy onset and 8.2 Gy 5 % figures.

    Parameters
    ----------
    assessment
        A :class:`hbiview.radiobiology.PneumonitisAssessment` (:func:`hbiview.radiobiology.assess_lung_dose`).
    """
    if assessment.category == "not_applicable":
        return assessment.text
    onset, five = assessment.onset_gy, assessment.incidence_5_percent_gy
    where = {
        "below_onset": f"below the pneumonitis onset dose {onset:g} Gy and the 5 % incidence dose "
        f"{five:g} Gy",
        "between_onset_and_5_percent": f"above the pneumonitis onset dose {onset:g} Gy, below the 5 % "
        f"incidence dose {five:g} Gy",
        "at_or_above_5_percent": f"at or above the 5 % pneumonitis incidence dose {five:g} Gy "
        f"(onset {onset:g} Gy)",
    }[assessment.category]
    caveat = ""
    if assessment.heterogeneity_corrected is False:
        caveat = "; computed without lung correction, the figures are for lung-corrected doses"
    return (
        f"mean lung dose {assessment.mean_lung_dose_gy:.2f} Gy in 1 fraction: {where} "
        f"(Van Dyk et al.){caveat}"
    )


def marrow_lines(run: Any) -> list[str]:
    """For each marrow structure with active-marrow weights, the share of it receiving >= 50 % of the Rx.

    Parameters
    ----------
    run
        A :class:`hbiview.pipeline.PlanRun`.
    """
    lines = []
    half_gy = 0.5 * run.prescription_gy
    for name, h in run.dvhs.items():
        if h.weighted_fraction is None or h.is_empty:
            continue
        fraction = run.active_marrow_in_field(name)
        share = run.metrics(name).get("marrow_share_in_structure")
        scan = ""
        if share is not None and not math.isnan(share) and share < 0.995:
            scan = f" (the scan holds {100 * share:.0f} %)"
        lines.append(
            f"{name}: {100 * fraction:.1f} % of the body's active marrow gets >= 50 % of the "
            f"prescription, {half_gy:.2f} Gy{scan}"
        )
    return lines


def plan_header(run: Any) -> str:
    """One line per plan: label, prescription, heterogeneity, dose grid."""
    plan = run.plan
    rx = f"{plan.prescription_gy:g} Gy" + (
        " in 1 fraction" if plan.fractions == 1 else f" x {plan.fractions} = {plan.total_dose_gy:g} Gy"
    )
    corrected = "heterogeneity corrected" if run.heterogeneity else "water inside the body (no correction)"
    grid = run.dose.geometry.spacing_mm
    return f"{run.label}: {rx}, {corrected}, {grid[0]:g} mm dose grid; doses in Gy (total course)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dvh`` sub-command."""
    from hbiview.cli._planopts import add_plan_arguments

    parser = subparsers.add_parser(
        "dvh",
        help="DVHs and metrics of hbiview plans on a CT, or of an RT Dose + RT Structure Set",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_inputs(parser)
    add_plan_arguments(parser, required=False, plan_help="preset name or plan TOML file; several compare")
    from hbiview.cli._systemicopts import add_systemic_argument

    add_systemic_argument(parser)
    parser.add_argument("--curves", metavar="FILE.csv", help="write the cumulative DVH curves as CSV")
    parser.add_argument("--json", action="store_true", help="print every metric as JSON instead of the table")
    return parser


def _run_plans(args: argparse.Namespace) -> int:
    from hbiview.cli._planopts import build_plans, plan_labels, run_plans
    from hbiview.cli._systemicopts import check_systemic, systemic_runs
    from hbiview.pipeline import load_case as load_ct
    from hbiview.report import results_document, write_curves_csv

    check_systemic(args.systemic)  # bad agents fail before the long steps
    case = load_ct(args.ct, series=args.series, rtstruct=args.rtstruct)
    plans = build_plans(case, args.plan, args.options) if args.plan else []
    heterogeneity = False if args.no_heterogeneity else None
    labels = plan_labels(plans, None, heterogeneity=heterogeneity)
    runs = (
        run_plans(
            case, plans, labels, heterogeneity=heterogeneity, grid_mm=args.grid_mm, structures=args.structures
        )
        if plans
        else []
    )
    runs += systemic_runs(case, args.systemic, args.structures, args.grid_mm)
    evaluations = [r.evaluation for r in runs]
    if args.curves:
        write_curves_csv(args.curves, runs[0].dvhs if len(runs) == 1 else evaluations, force=args.force)
    if args.json:
        json.dump(results_document(evaluations), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    if args.quiet:
        return 0
    blocks = []
    for run in runs:
        if getattr(run, "is_systemic", False):  # a radionuclide beside the plans (hbiview.systemic)
            from hbiview.cli._systemicopts import systemic_header, systemic_lines

            table = format_table(run.evaluation.metrics, PLAN_TABLE)
            blocks.append("\n".join([systemic_header(run), table, *systemic_lines(run)]))
            continue
        lines = [plan_header(run), format_table(run.evaluation.metrics, PLAN_TABLE)]
        lines += marrow_lines(run)
        if run.evaluation.lung_assessment is not None:
            lines.append(lung_line(run.evaluation.lung_assessment))
        lines += list(run.notes)
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    if args.curves:
        print(f"curves written to {args.curves}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``hbiview dvh``."""
    from hbiview.io.atomic import check_writable
    from hbiview.report import evaluate_plans, results_document, write_curves_csv

    form = check_form(args, "dvh")
    if args.curves:
        check_writable(args.curves, args.force)
    if form == "plan":
        return _run_plans(args)
    fractions = 1 if args.fractions is None else args.fractions
    end_caps = args.end_caps or "full"
    dose, structures = load_case(args.rtdose, args.rtstruct, args.structures, fractions)
    results = evaluate_plans([(dose.description or "RT Dose", dose, structures)], end_caps=end_caps)
    result = results[0]
    if args.curves:
        write_curves_csv(args.curves, result.dvhs, force=args.force)
    if args.json:
        json.dump(results_document(results), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    if not args.quiet:
        print(f"{args.rtdose}: {result.fractions} fraction(s), total dose in Gy")
        print(format_table(result.metrics))
        if result.lung_assessment is not None:
            print(result.lung_assessment.text)
        if args.curves:
            print(f"curves written to {args.curves}")
    return 0
