"""``hbiview dose CT --plan PRESET_OR_TOML --out FILE``: compute a plan's dose and write it.

``--out-dir DIR`` writes a whole DICOM-RT set instead (:func:`hbiview.io.rtset.write_rt_set`).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  hbiview dose sample_ct --plan upper-hbi --out dose.dcm
  hbiview dose sample_ct --plan upper-hbi --no-heterogeneity --out uncorrected.nii.gz
  hbiview dose /data/ct --plan spine --set level=L2 --set schedule=20x5 --out spine.vti
  hbiview dose /data/ct --plan my.toml --grid-mm 2.5 --out dose.dcm --force --json
  hbiview dose sample_ct --plan upper-hbi --plan lower-hbi --out-dir hbi_set

--out-dir DIR writes one DICOM-RT set that planning systems and viewers open as one plan: rtstruct.dcm
(the automatic structures), rtplan_<plan>.dcm (beams, jaws, blocks, SSD, isocentre, weights, prescription,
fractions; no monitor units: the model is not commissioned on a machine), rtdose_<plan>.dcm per plan and
rtdose_sum.dcm with several plans (courses one after the other), each with the DVHs of every structure
(DVHSequence; --no-dvhs leaves them out) on its whole grid, and the CT (ct/) or CT.txt naming the series
they reference. All share the CT's patient, study and frame of reference.

Output format by extension: .dcm (DICOM RT Dose alone, overlays the CT in any viewer; its RT Plan
reference resolves only in a set written with --out-dir), .nii/.nii.gz (NIfTI, RAS),
.vti (VTK image data, LPS mm). The dose is the total of the course (per fraction x fractions).
The model is a convolution engine for comparison and teaching, not a clinical planning system.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dose`` sub-command."""
    parser = subparsers.add_parser(
        "dose",
        help="compute the dose of a plan preset or TOML plan on a CT",
        description="Compute the dose of a plan (a preset name or a TOML plan file) on a CT with the "
        "convolution engine, normalise it to the prescription point and write it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (or file list) to read")
    parser.add_argument(
        "--plan",
        required=True,
        action="append",
        metavar="PRESET_OR_TOML",
        help="preset name or plan file (repeat with --out-dir for several plans and their sum)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", metavar="FILE", help="output: .dcm, .nii, .nii.gz or .vti")
    target.add_argument(
        "--out-dir", metavar="DIR", help="write a DICOM-RT set: CT or CT.txt, RTSTRUCT, RTPLAN, RT Dose"
    )
    parser.add_argument("--no-dvhs", action="store_true", help="with --out-dir: no DVHs inside the RT Doses")
    parser.add_argument("--grid-mm", type=float, metavar="G", help="dose grid spacing (default 5 HBI, 2.5)")
    parser.add_argument("--no-heterogeneity", action="store_true", help="water inside the body")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="options",
        help="preset option, e.g. level=T10 (see 'hbiview plans --help')",
    )
    parser.add_argument("--engine", default="convolution", help="dose engine (default: convolution)")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID of the CT to read")
    parser.add_argument("--force", action="store_true", help="replace an existing output file or folder")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def _summary(result: Any, out: str) -> dict[str, Any]:
    plan = result.plan
    beams = []
    for beam, dose, mu in zip(plan.beams, result.beam_doses_gy, result.model.monitor_units):
        beams.append(
            {
                "name": beam.label,
                "energy": beam.energy,
                "gantry_deg": beam.gantry_deg,
                "collimator_deg": beam.collimator_deg,
                "field_mm": list(beam.field_mm),
                "ssd_mm": beam.ssd_mm,
                "isocentre_lps_mm": list(beam.isocentre_lps_mm),
                "weight": beam.weight,
                "dose_at_prescription_point_gy": round(dose, 4),
                "monitor_units": round(mu, 1),
            }
        )
    dose = result.dose
    return {
        "plan": plan.name,
        "description": plan.description,
        "prescription_gy_per_fraction": plan.prescription_gy,
        "fractions": plan.fractions,
        "total_gy": plan.total_dose_gy,
        "normalization": plan.normalization.describe(),
        "prescription_point_lps_mm": [round(float(v), 2) for v in result.prescription_point_lps_mm],
        "dose_at_prescription_point_gy_per_fraction": round(result.prescription_dose_gy, 4),
        "dose_at_prescription_point_gy_total": round(result.prescription_dose_gy * plan.fractions, 4),
        "max_dose_gy_total": round(float(dose.array.max()), 4),
        "heterogeneity": result.model.heterogeneity,
        "engine": result.model.engine,
        "grid_mm": result.model.grid_mm,
        "grid_shape_zyx": list(dose.geometry.shape),
        "beams": beams,
        "output": out,
    }


def _check_plan(text: str, options: Any) -> None:
    from pathlib import Path

    from hbiview.errors import InputError
    from hbiview.plans import list_presets

    names = [n for n, _ in list_presets()]
    is_file = Path(text).suffix.lower() == ".toml" or Path(text).exists()
    if text not in names and not is_file:
        raise InputError(f"--plan {text!r} is neither a preset ({', '.join(names)}) nor a .toml file")
    if text not in names and options:
        raise InputError("--set applies to presets only; edit the plan file instead")


def run(args: argparse.Namespace) -> int:
    """Compute and write the dose (or a whole DICOM-RT set with ``--out-dir``)."""
    from hbiview.cli._json import print_json
    from hbiview.cli.plans import parse_options
    from hbiview.dose import compute_dose_result
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable
    from hbiview.pipeline import load_case

    if args.out_dir:
        return _run_set(args)
    if len(args.plan) > 1:
        raise InputError("--out writes one plan's dose; give several --plan with --out-dir DIR")
    if args.no_dvhs:
        raise InputError("--no-dvhs applies to --out-dir (DVHs inside the RT Doses of a set)")
    out = args.out
    lower = out.lower()
    if not lower.endswith((".dcm", ".nii", ".nii.gz", ".vti")):
        raise InputError(f"{out}: unknown output format; use .dcm, .nii, .nii.gz or .vti")
    check_writable(out, args.force)
    options = parse_options(args.options)
    _check_plan(args.plan[0], options)
    case = load_case(args.ct, series=args.series)
    ct = case.ct
    # presets take their borders from the case's landmarks, searched once (hbiview.pipeline.Case)
    plan = case.plan(args.plan[0], **options)
    heterogeneity = False if args.no_heterogeneity else None
    result = compute_dose_result(
        ct, plan, grid_mm=args.grid_mm, heterogeneity=heterogeneity, engine=args.engine
    )
    dose = result.dose
    if lower.endswith(".dcm"):
        from hbiview.io.rtdose import write_rtdose

        write_rtdose(dose, out, ct=ct, description=dose.description, force=args.force)
    else:
        from hbiview.io.volume_files import write_volume

        write_volume(dose, out, force=args.force)
    if args.json:
        print_json(args, _summary(result, out))
    elif not args.quiet:
        print(result.summary())
        print(f"wrote {out}")
    return 0


def _run_set(args: argparse.Namespace) -> int:
    """``--out-dir``: every plan's dose, their sum, RTSTRUCT, RTPLAN, RT Dose (with DVHs), CT or a note."""
    from pathlib import Path

    from hbiview.cli._json import print_json
    from hbiview.cli._planopts import build_plans, plan_labels
    from hbiview.dosevolume import dvhs as compute_dvhs
    from hbiview.errors import InputError
    from hbiview.io.dicom import _prepare_folder
    from hbiview.io.rtset import RTCourse, write_rt_set
    from hbiview.pipeline import load_case, run_plan, sum_doses

    folder = Path(args.out_dir)
    _prepare_folder(folder, args.force)  # refuse a used folder before any work
    for text in args.plan:
        _check_plan(text, [o for o in args.options if ":" not in o.partition("=")[0]])
    case = load_case(args.ct, series=args.series)
    plans = build_plans(case, args.plan, args.options)
    heterogeneity = False if args.no_heterogeneity else None
    labels = plan_labels(plans, None, heterogeneity=heterogeneity)
    runs = [
        run_plan(
            case, plan, label=label, heterogeneity=heterogeneity, grid_mm=args.grid_mm, engine=args.engine
        )
        for plan, label in zip(plans, labels, strict=True)
    ]
    keys = [_file_key(r.plan.name) for r in runs]
    if len(set(keys)) != len(keys):
        keys = [f"{k}-{i + 1}" for i, k in enumerate(keys)]
    if "sum" in keys:
        raise InputError("a plan named 'sum' would clash with the summed dose rtdose_sum.dcm; rename it")
    structures = case.structure_list()
    courses = [
        RTCourse(
            key,
            r.dose,
            plan=r.plan,
            prescription_point_lps_mm=r.dose_result.prescription_point_lps_mm,
            beam_doses_gy=r.dose_result.beam_doses_gy,
            dvhs=None if args.no_dvhs else r.dvhs,
            label=r.label,
        )
        for key, r in zip(keys, runs, strict=True)
    ]
    total = None
    if len(runs) > 1:
        total = sum_doses(runs, description="sum of " + " + ".join(r.label for r in runs))
        courses.append(
            RTCourse(
                "sum",
                total,
                dvhs=None if args.no_dvhs else compute_dvhs(total, structures),
                parts=tuple(keys),
                label="sum",
            )
        )
    _, files = write_rt_set(folder, case.ct, structures, courses, force=args.force)
    if args.json:
        print_json(
            args,
            {
                "out_dir": str(folder),
                "plans": [
                    _summary(r.dose_result, str(folder / f"rtdose_{k}.dcm")) for k, r in zip(keys, runs)
                ],
                "sum": None
                if total is None
                else {
                    "fractions": total.fractions,
                    "max_dose_gy_total": round(float(total.array.max()), 4),
                    "output": str(folder / "rtdose_sum.dcm"),
                },
                "files": files,
            },
        )
    elif not args.quiet:
        for r in runs:
            print(r.dose_result.summary())
        print(f"wrote the DICOM-RT set {folder}/:")
        width = max(len(n) for n in files)
        for name, text in sorted(files.items()):
            print(f"  {name:<{width}}  {text}")
    return 0


def _file_key(name: str) -> str:
    text = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-")
    return text or "plan"
