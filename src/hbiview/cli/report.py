"""``hbiview report``: HTML, PDF, CSV or JSON report of hbiview plans on a CT, or of RT Dose + RTSTRUCT.

The command-line form of :func:`hbiview.pipeline.write_comparison` (plans) and
:func:`hbiview.report.write_report` (RT Dose files).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "report_images", "run"]

DESCRIPTION = """\
Write a report of one or several plans: plan summary (beams, prescription,
heterogeneity), DVH plots, metric tables, clinical reference lines, slice views
and 3D pictures, the model's limits. Several plans make a comparison (overlaid
DVHs and a table of differences from the first). The plans are either
  - hbiview plans computed on a CT (CT --plan P [P ...]), each also without
    heterogeneity correction with --compare-heterogeneity, or
  - a planning system's RT Dose files with their RT Structure Set
    (--rtdose F [F ...] --rtstruct F)."""

EPILOG = """\
examples:
  hbiview report sample_ct --plan upper-hbi --out upper.pdf
  hbiview report sample_ct --plan upper-hbi lower-hbi spine --out compare.html
  hbiview report sample_ct --plan upper-hbi --compare-heterogeneity --out l.pdf
  hbiview report sample_ct --plan upper-hbi lower-hbi --label upper lower \\
                 --set energy=6MV --out metrics.csv
  hbiview report ct/ --plan spine --set level=L2 --rtstruct RS.dcm --out s.pdf
  hbiview report sample_ct --plan upper-hbi --no-images --out quick.html
  hbiview report --rtdose RD.dcm --rtstruct RS.dcm --fractions 7 \\
                 --prescription 14 --out report.pdf
  hbiview report --rtdose a.dcm b.dcm --label open blocked --rtstruct RS.dcm \\
                 --out compare.pdf
  hbiview report --rtdose RD.dcm --rtstruct RS.dcm --alpha-beta lung=4 \\
                 --out metrics.csv
  hbiview report cohort.parquet --out cohort.html     # a table of 'hbiview batch'

The format follows the suffix of --out: .html (self-contained, images
embedded), .pdf (A4), .csv or .json (every metric; column names documented in
'python -m pydoc hbiview.report.tables').

hbiview plans: P is a preset ('hbiview plans') or a TOML plan file; --set
KEY=VALUE sets a preset option for every preset, --set PLAN:KEY=VALUE for one
(spine:level=L2). HTML and PDF reports include slice views and 3D pictures of
the plans (and lung-correction difference maps with --compare-heterogeneity);
--no-images leaves them out (faster). --image adds pictures of your own.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command."""
    from hbiview.cli._planopts import add_plan_arguments, add_sum_argument
    from hbiview.cli.dvh import add_common_inputs

    parser = subparsers.add_parser(
        "report",
        help="HTML/PDF/CSV/JSON report of hbiview plans on a CT, or of RT Dose + RT Structure Set",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_inputs(parser, several_doses=True)
    add_plan_arguments(parser, required=False, plan_help="preset name(s) or plan TOML file(s)")
    from hbiview.cli._systemicopts import add_systemic_argument

    add_sum_argument(parser)
    add_systemic_argument(parser)
    parser.add_argument(
        "--compare-heterogeneity",
        action="store_true",
        help="with --plan: add each plan again computed with water inside the body",
    )
    parser.add_argument("--out", metavar="FILE", required=True, help="report.html, report.pdf, .csv or .json")
    parser.add_argument(
        "--label", metavar="TEXT", nargs="+", help="plan label(s), one per --plan or per RT Dose"
    )
    parser.add_argument(
        "--prescription", type=float, metavar="GY", help="with --rtdose: prescription, total course (Gy)"
    )
    parser.add_argument("--title", help="report title")
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="with --plan: leave the slice views and 3D pictures out of HTML/PDF (faster)",
    )
    parser.add_argument(
        "--image",
        metavar="CAPTION=PNG",
        action="append",
        default=[],
        help="add an image (HTML and PDF); repeatable",
    )
    parser.add_argument(
        "--alpha-beta",
        metavar="NAME=GY",
        action="append",
        default=[],
        help="alpha/beta by structure name or kind (lung, marrow); repeatable",
    )
    return parser


def _pairs(items: list[str], option: str) -> list[tuple[str, str]]:
    from hbiview.errors import InputError

    out = []
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key or not value:
            raise InputError(f"{option} expects NAME=VALUE, got {item!r}")
        out.append((key, value))
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``hbiview report``."""
    from hbiview.cli.dvh import check_form
    from hbiview.errors import InputError, MissingInputError
    from hbiview.io.atomic import check_writable
    from hbiview.report import REPORT_FORMATS

    out = Path(args.out)
    if args.ct and Path(args.ct).suffix.lower() in (".parquet", ".csv") and Path(args.ct).is_file():
        return _report_cohort(args, out)
    if out.suffix.lower() not in REPORT_FORMATS:
        raise InputError(f"{out}: unknown report format; use one of {', '.join(sorted(REPORT_FORMATS))}")
    check_writable(out, args.force)
    form = check_form(args, "report", plan_only=("compare_heterogeneity", "no_images", "sum"))
    if form == "plan" and args.compare_heterogeneity and args.no_heterogeneity:
        raise InputError(
            "--compare-heterogeneity adds plans without correction: leave out --no-heterogeneity"
        )
    images = []
    for caption, png in _pairs(args.image, "--image"):
        if not Path(png).is_file():
            raise MissingInputError(f"{png}: no such image (from --image {caption}={png})")
        images.append((caption, png))
    alpha_beta = {}
    for name, value in _pairs(args.alpha_beta, "--alpha-beta"):
        try:
            alpha_beta[name] = float(value)
        except ValueError as exc:
            raise InputError(f"--alpha-beta {name}={value}: not a number (Gy)") from exc
    if form == "plan":
        count = _report_plans(args, out, images, alpha_beta or None)
    else:
        count = _report_rtdose(args, out, images, alpha_beta or None)
    if not args.quiet:
        print(f"{out}: {REPORT_FORMATS[out.suffix.lower()]} of {count} plan(s) written")
    return 0


def _report_cohort(args: argparse.Namespace, out: Path) -> int:
    """``hbiview report cohort.parquet --out cohort.html``: the table of ``hbiview batch``, by plan."""
    from hbiview.cohort import read_table
    from hbiview.cohort.report import write_cohort_report
    from hbiview.errors import InputError

    ignored = [f"--{n}" for n in ("plan", "rtdose", "rtstruct") if getattr(args, n, None)]
    if ignored:
        raise InputError(f"{args.ct}: a cohort table is reported as it is; leave out {', '.join(ignored)}")
    rows = read_table(args.ct)
    write_cohort_report(rows, out, title=args.title or "hbiview cohort report", force=args.force)
    if not args.quiet:
        patients = len({r["patient"] for r in rows})
        print(f"{out}: cohort report of {patients} patient(s), {len(rows)} row(s) written")
    return 0


def _report_rtdose(
    args: argparse.Namespace, out: Path, images: list[tuple[str, Any]], alpha_beta: dict[str, float] | None
) -> int:
    from hbiview.cli.dvh import audit_end_caps, load_case
    from hbiview.errors import InputError
    from hbiview.progress import progress
    from hbiview.report import write_report

    labels = args.label or []
    if labels and len(labels) != len(args.rtdose):
        raise InputError(f"--label gives {len(labels)} label(s) for {len(args.rtdose)} RT Dose file(s)")
    fractions = 1 if args.fractions is None else args.fractions
    plans = []
    for i, rtdose in enumerate(progress(args.rtdose, desc="reading plans")):
        dose, structures = load_case(rtdose, args.rtstruct, args.structures, fractions)
        label = (
            labels[i]
            if labels
            else (Path(rtdose).stem if len(args.rtdose) > 1 else dose.description or "plan")
        )
        summary: dict[str, Any] = {"dose_source": f"RT Dose file {Path(rtdose).name}"}
        if dose.description:
            summary["description"] = dose.description
        if args.prescription is not None:
            summary["prescription_gy"] = args.prescription
        plans.append((label, dose, structures, summary))
    write_report(
        out,
        plans,
        title=args.title or "hbiview dose report",
        images=images,
        alpha_beta_gy=alpha_beta,
        end_caps=audit_end_caps(args)[0],
        force=args.force,
    )
    return len(plans)


def _report_plans(
    args: argparse.Namespace, out: Path, images: list[tuple[str, Any]], alpha_beta: dict[str, float] | None
) -> int:
    import tempfile

    from hbiview.cli._planopts import build_plans, plan_labels, run_plans, sum_of_runs
    from hbiview.cli._systemicopts import check_systemic, systemic_runs
    from hbiview.errors import InputError
    from hbiview.pipeline import load_case, write_comparison

    n_plans = len(args.plan or [])
    if args.label and len(args.label) != n_plans:  # before any work
        raise InputError(f"--label gives {len(args.label)} label(s) for {n_plans} plan(s); give one per plan")
    if args.sum and (n_plans < 2 or args.compare_heterogeneity):
        raise InputError(
            "--sum needs at least two courses (--plan A --plan B --sum), without --compare-heterogeneity"
        )
    if args.systemic and args.compare_heterogeneity:
        raise InputError("--compare-heterogeneity pairs plans with their water twins; leave out --systemic")
    check_systemic(args.systemic)  # bad agents fail before the long steps
    case = load_case(args.ct, series=args.series, rtstruct=args.rtstruct)
    plans = build_plans(case, args.plan, args.options) if args.plan else []
    heterogeneity = False if args.no_heterogeneity else None
    twins = bool(args.compare_heterogeneity)
    labels = plan_labels(plans, args.label, heterogeneity=heterogeneity, water_twins=twins)
    runs = (
        []
        if not plans
        else run_plans(
            case,
            plans,
            labels,
            heterogeneity=heterogeneity,
            grid_mm=args.grid_mm,
            water_twins=twins,
            structures=args.structures,
            alpha_beta_gy=alpha_beta,
        )
    )
    total = (  # the courses of external plans only: radionuclides are reported beside, not added
        sum_of_runs(case, runs, structures=args.structures, alpha_beta_gy=alpha_beta) if args.sum else None
    )
    courses = " + ".join(r.label for r in runs)
    runs += systemic_runs(case, args.systemic, args.structures, args.grid_mm)  # radionuclides too
    title = args.title or "hbiview dose report: " + (
        runs[0].label if len(runs) == 1 else " vs ".join(r.label for r in runs)
    )
    if total is not None and not args.title:
        title = f"hbiview dose report: {courses} (sequential courses, summed)"
    pictures = out.suffix.lower() in (".html", ".htm", ".pdf") and not args.no_images
    with tempfile.TemporaryDirectory(prefix="hbiview-report-") as folder:
        rendered = report_images(case, runs, Path(folder), water_twins=twins) if pictures else []
        reported = [*runs, total] if total is not None else runs
        write_comparison(out, reported, title=title, images=[*rendered, *images], force=args.force)
    return len(runs)


def _named(run: Any) -> Any:
    """The run's plan renamed to its label, so that picture titles match the report's tables."""
    from dataclasses import replace

    return replace(run.plan, name=run.label) if run.plan.name != run.label else run.plan


def report_images(
    case: Any, runs: list[Any], folder: Path, *, water_twins: bool = False
) -> list[tuple[str, Path]]:
    """Slice views and 3D pictures of the runs for an HTML or PDF report, as ``(caption, PNG)`` pairs.

    One plan: its 3D scene, a coronal slice and an axial slice through the lungs. Several plans: side-by-side
    3D scenes and coronal slices (up to four plans per picture, one dose colour scale). With ``water_twins``
    (each plan followed by its twin without heterogeneity correction) the twins are left out of those and
    each plan gets a coronal difference map (corrected minus water).

    Parameters
    ----------
    case
        The :class:`hbiview.pipeline.Case` the runs were computed on.
    runs
        :class:`hbiview.pipeline.PlanRun` in report order.
    folder
        Where the PNG files are written (e.g. a temporary folder).
    water_twins
        Whether ``runs`` alternate plan, water twin.

    Returns
    -------
    list of (caption, path)
    """
    from hbiview.errors import warn
    from hbiview.progress import progress
    from hbiview.render.slices import render_compare_slices, render_difference_slice, render_slice

    shown = runs[::2] if water_twins else list(runs)
    structures = case.structure_list()
    pairs = [(_named(r), r.dose) for r in shown]
    groups = [pairs[i : i + 4] for i in range(0, len(pairs), 4)]
    images: list[tuple[str, Path]] = []

    def path(name: str) -> Path:
        return folder / f"{len(images):02d}_{name}.png"

    def pictures_3d() -> None:
        try:
            from hbiview.render.figures import render_3d, render_compare_3d
            from hbiview.render.scene import prepare_anatomy

            anatomy = prepare_anatomy(case.structures, bone="skeleton")
        except ImportError as exc:  # PyVista/VTK missing: the report keeps its slices
            warn(f"3D pictures left out of the report: {exc}; install pyvista, or use --no-images")
            return
        for group in groups:
            if len(group) == 1:
                out = path("3d")
                render_3d(
                    case.ct, dose=group[0][1], plan=group[0][0], anatomy=anatomy, size=(1280, 800), out=out
                )
                images.append((f"3D: {group[0][0].name}, isodose surfaces and the fields", out))
            else:
                out = path("3d_compare")
                render_compare_3d(case.ct, group, anatomy=anatomy, size=(1800, 800), out=out)
                names = ", ".join(p.name for p, _ in group)
                images.append((f"3D side by side: {names} (one dose colour scale)", out))

    def pictures_slices() -> None:
        for group in groups:
            out = path("coronal")
            if len(group) == 1:
                render_slice(case.ct, dose=group[0][1], plan=group[0][0], structures=structures,
                             view="coronal", size=(1100, 800), out=out)  # fmt: skip
                images.append((f"Coronal slice: {group[0][0].name}", out))
            else:
                render_compare_slices(case.ct, group, structures=structures, view="coronal",
                                      size=(1600, 800), out=out)  # fmt: skip
                names = ", ".join(p.name for p, _ in group)
                images.append((f"Coronal slices: {names} (one dose colour scale)", out))
        if len(shown) == 1:
            apex, base = case.landmarks.z("lung_apex"), case.landmarks.z("lung_base")
            if apex is not None and base is not None:
                out = path("axial_lungs")
                render_slice(case.ct, dose=pairs[0][1], plan=pairs[0][0], structures=structures, view="axial",
                             position_mm=0.5 * (apex + base), size=(1100, 800), out=out)  # fmt: skip
                images.append((f"Axial slice through the lungs: {pairs[0][0].name}", out))
        if water_twins:
            for corrected, water in zip(runs[::2], runs[1::2], strict=True):
                out = path("lung_correction")
                render_difference_slice(case.ct, corrected.dose, water.dose, label_a=corrected.label,
                                        label_b=water.label, structures=structures, view="coronal",
                                        plan=_named(corrected), size=(1100, 800), out=out)  # fmt: skip
                images.append(
                    (f"Lung correction: {corrected.label} minus {water.label} (heterogeneity on - off)", out)
                )

    for task in progress([pictures_3d, pictures_slices], desc="pictures for the report"):
        task()
    return images
