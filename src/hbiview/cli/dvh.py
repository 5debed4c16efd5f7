"""``hbiview dvh``: DVHs and metrics of hbiview plans on a CT, or of a planning system's RT Dose + RTSTRUCT.

The command-line form of :func:`hbiview.pipeline.run_plan` and :func:`hbiview.report.evaluate_plans`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AUDIT_END_CAPS",
    "add_common_inputs",
    "add_parser",
    "audit_end_caps",
    "check_form",
    "compare_planning_dvhs",
    "format_table",
    "load_case",
    "run",
]

#: How an audit of a planning system's files turns contour planes into volumes without --end-caps.
AUDIT_END_CAPS = "interpolated"


def audit_end_caps(args: argparse.Namespace) -> tuple[str, str]:
    """The end-caps mode of an audit and why: ``--end-caps``, or the convention of the RTSTRUCT's writer.

    Without ``--end-caps``: ``interpolated`` (the planning system's way, reproducing Varian Eclipse's DVHs)
    for structure sets from planning systems, ``full`` for those hbiview wrote (voxel-boundary contours).
    """
    from hbiview.io.rtstruct import contour_convention

    if args.end_caps:
        return args.end_caps, "--end-caps"
    mode, writer = contour_convention(args.rtstruct)
    return mode, f"default for structure sets written by {writer}; --end-caps to choose"


#: What each --end-caps mode means, for the line printed with the table.
END_CAPS_TEXT = {
    "interpolated": "shape-based interpolation between contour planes, as Varian Eclipse does",
    "full": "one full slab per contour plane, as voxel tools do",
    "half": "one slab per contour plane, half a slab at the end planes",
}

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
  hbiview dvh sample_ct --plan upper-hbi --plan lower-hbi --sum
  hbiview dvh sample_ct --plan upper-hbi --no-heterogeneity --grid-mm 2.5
  hbiview dvh /data/ct --plan spine --set level=L2 --set schedule=20x5 --json
  hbiview dvh /data/ct --plan upper-hbi --rtstruct RS.dcm --structures Lungs PTV
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm --structures Heart "Lt Lung"
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm --fractions 7 --end-caps full
  hbiview dvh --rtdose RD.dcm --rtstruct RS.dcm --prescription 14 --curves dvh.csv --json

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
By default the structure set's own convention is used, and printed: for a
planning system's RTSTRUCT, --end-caps interpolated blends each structure's
shape from one contour plane to the next (shape-based interpolation, reaching
a tenth of a plane spacing past the end contours), which reproduced Varian
Eclipse's own DVHs of a clinical case within 1.4 % of volume; for an RTSTRUCT
hbiview wrote (contours along voxel boundaries), full gives each plane a full
slab, which gives back hbiview's voxels; half gives the end planes half a
plane of thickness. When the RT
Dose carries the planning system's DVHs (DVHSequence), each structure is
compared with its own and the differences printed (volume, mean dose, largest
gap between the cumulative curves in % of the volume).

Doses are total-course Gy. --json prints every metric inside the common
envelope (hbiview_version, schema_version, command, inputs; keys documented in
docs/json.md). --curves writes the DVHs as CSV, cumulative and differential,
in Gy and in % of the prescription (columns in docs/json.md; a leading plan
column with several plans).
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
        help="with --rtdose: how contour planes make a volume: interpolated between planes (as Varian "
        "Eclipse does), full slabs, or half slabs at the ends (default: the RTSTRUCT writer's convention: "
        "full for hbiview's, interpolated for others)",
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
    from hbiview.cli._planopts import add_plan_arguments, add_sum_argument

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

    add_sum_argument(parser)
    add_systemic_argument(parser)
    parser.add_argument(
        "--prescription",
        type=float,
        metavar="GY",
        help="with --rtdose: prescription, total course (Gy), for the %% of prescription columns",
    )
    parser.add_argument(
        "--curves",
        metavar="FILE.csv",
        help="write the DVH curves as CSV (cumulative and differential, Gy and %% of prescription)",
    )
    parser.add_argument("--json", action="store_true", help="print every metric as JSON instead of the table")
    return parser


def _run_plans(args: argparse.Namespace) -> int:
    from hbiview.cli._json import print_json
    from hbiview.cli._planopts import build_plans, plan_labels, run_plans, sum_lines, sum_of_runs
    from hbiview.cli._systemicopts import check_systemic, systemic_runs
    from hbiview.errors import InputError
    from hbiview.pipeline import load_case as load_ct
    from hbiview.report import results_document, write_curves_csv

    if args.sum and len(args.plan or []) < 2:
        raise InputError("--sum needs at least two courses: --plan A --plan B --sum")
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
    total = sum_of_runs(case, runs, structures=args.structures) if args.sum else None
    runs += systemic_runs(case, args.systemic, args.structures, args.grid_mm)
    evaluations = [r.evaluation for r in runs] + ([total.evaluation] if total is not None else [])
    if args.curves:
        write_curves_csv(args.curves, evaluations, force=args.force)
    if args.json:
        print_json(args, results_document(evaluations))
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
    if total is not None:
        head = (
            f"{total.label}: {total.dose.fractions} fractions in all, doses in Gy (physical, added voxel by "
            "voxel)"
        )
        blocks.append(
            "\n".join([head, format_table(total.evaluation.metrics, PLAN_TABLE), *sum_lines(total)])
        )
    print("\n\n".join(blocks))
    if args.curves:
        print(f"curves written to {args.curves}")
    return 0


def compare_planning_dvhs(
    rtdose: str, structures: Sequence[Any], dvhs: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each structure's DVH against the planning system's own stored in the RT Dose (DVHSequence).

    Parameters
    ----------
    rtdose
        The RT Dose file.
    structures
        The structures read from the RT Structure Set (with their ROI numbers).
    dvhs
        hbiview's DVHs of the same structures, by name.

    Returns
    -------
    list of dict
        One row per structure that has a stored DVH: ``structure``, ``roi_number``, ``volume_cc_planning``,
        ``volume_cc``, ``volume_diff_pct`` (ours minus theirs, % of theirs), ``mean_gy_planning``,
        ``mean_gy``, ``mean_diff_pct``, ``max_curve_diff_pct`` (largest gap between the two cumulative
        curves at the stored doses, % of the planning system's volume). Empty without stored DVHs.
    """
    import numpy as np

    from hbiview.io.rtdose import read_rtdose_dvhs

    stored = read_rtdose_dvhs(rtdose)
    rows = []
    for structure in structures:
        number = getattr(structure, "roi_number", None)
        h = dvhs.get(structure.name)
        theirs = stored.get(number) if number is not None else None
        if theirs is None or h is None or h.is_empty or theirs.total_volume <= 0:
            continue
        ours = np.interp(theirs.dose_gy, h.dose_gy, h.volume_cc, left=h.total_volume_cc, right=0.0)
        if theirs.volume_unit == "PERCENT":
            ours = ours * (100.0 / h.total_volume_cc)
        gap = float(np.max(np.abs(ours - theirs.volume_cc)) / theirs.total_volume * 100.0)
        in_cc = theirs.volume_unit == "CM3"
        assert number is not None  # theirs was looked up by it
        row = {
            "structure": structure.name,
            "roi_number": int(number),
            "volume_cc_planning": theirs.total_volume if in_cc else None,
            "volume_cc": h.total_volume_cc,
            "volume_diff_pct": 100.0 * (h.total_volume_cc / theirs.total_volume - 1.0) if in_cc else None,
            "mean_gy_planning": theirs.mean_gy,
            "mean_gy": h.mean_gy,
            "mean_diff_pct": 100.0 * (h.mean_gy / theirs.mean_gy - 1.0) if theirs.mean_gy > 0 else None,
            "max_curve_diff_pct": gap,
        }
        rows.append(row)
    return rows


#: (key, heading, width, format) of the comparison with the planning system's DVHs.
COMPARISON_TABLE = (
    ("volume_cc_planning", "stored cc", 10, "{:.2f}"),
    ("volume_cc", "ours cc", 10, "{:.2f}"),
    ("volume_diff_pct", "dV %", 7, "{:+.1f}"),
    ("mean_gy_planning", "stored Dmean", 13, "{:.3f}"),
    ("mean_gy", "Dmean", 8, "{:.3f}"),
    ("mean_diff_pct", "dDmean %", 9, "{:+.1f}"),
    ("max_curve_diff_pct", "max|dV| %", 10, "{:.1f}"),
)


def run(args: argparse.Namespace) -> int:
    """Run ``hbiview dvh``."""
    from hbiview.cli._json import print_json
    from hbiview.io.atomic import check_writable
    from hbiview.report import evaluate_plans, results_document, write_curves_csv

    form = check_form(args, "dvh", plan_only=("sum",))
    if args.curves:
        check_writable(args.curves, args.force)
    if form == "plan":
        return _run_plans(args)
    fractions = 1 if args.fractions is None else args.fractions
    end_caps, why = audit_end_caps(args)
    dose, structures = load_case(args.rtdose, args.rtstruct, args.structures, fractions)
    summary = {} if args.prescription is None else {"prescription_gy": args.prescription}
    label = dose.description or "RT Dose"
    results = evaluate_plans([(label, dose, structures, summary)], end_caps=end_caps)
    result = results[0]
    comparison = compare_planning_dvhs(args.rtdose, structures, result.dvhs)
    if args.curves:
        write_curves_csv(args.curves, results, force=args.force)
    if args.json:
        document = results_document(results)
        document["end_caps"] = end_caps
        document["planning_system_dvhs"] = comparison
        print_json(args, document)
        return 0
    if not args.quiet:
        print(f"{args.rtdose}: {result.fractions} fraction(s), total dose in Gy")
        print(f"contours to volumes: end caps {end_caps} ({why}): {END_CAPS_TEXT[end_caps]}")
        print(format_table(result.metrics))
        if result.lung_assessment is not None:
            print(result.lung_assessment.text)
        if comparison:
            print()
            print(
                "against the DVHs the planning system stored in the RT Dose (ours minus theirs; "
                "max|dV|: largest gap between the cumulative curves, % of the volume):"
            )
            print(format_table(comparison, COMPARISON_TABLE))
        if args.curves:
            print(f"curves written to {args.curves}")
    return 0
