"""``hbiview dose CT --plan PRESET_OR_TOML --out FILE``: compute a plan's dose and write it.

``--plan A --plan B --sum`` adds sequential courses; ``--out-dir DIR`` writes a whole DICOM-RT set instead
(:func:`hbiview.io.rtset.write_rt_set`).
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
  hbiview dose sample_ct --plan upper-hbi --set compensation=midplane --out compensated.dcm
  hbiview dose sample_ct --plan lower-hbi-2pairs --out lower.dcm
  hbiview dose /data/ct --plan my.toml --grid-mm 2.5 --out dose.dcm --force --json
  hbiview dose sample_ct --plan upper-hbi --plan lower-hbi --sum --out total.dcm
  hbiview dose sample_ct --plan upper-hbi --plan lower-hbi --set lower-hbi:inferior=knees --sum --out t.dcm
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

--set compensation=midplane (or compensation = "midplane" in a TOML plan) adds missing-tissue compensators
that even out the midplane dose along each field (transmission >= 0.5); the hot spots (body D2%, maximum and
where) are then shown with and without compensation.

lower-hbi too long for one field (iliac crest to ankles at SSD 2000 mm) is built as two abutting AP/PA
pairs matched at midplane (skin gap L1/2 d/SSD1 + L2/2 d/SSD2; --set pairs=1 for one field); the dose across
the junction (a profile and its coldest and hottest points) is shown.

--plan A --plan B --sum writes the physical dose of sequential courses added voxel by voxel (fractions add
up) and names their junction; --set PLAN:KEY=VALUE sets an option for one of them. The sum assumes the same
anatomy in every course and no repopulation between them; 'hbiview dvh/report --sum' add EQD2 per structure.
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
        help="preset name or plan file; repeat with --sum to add sequential courses, or with --out-dir "
        "for a DICOM-RT set of several plans and their sum",
    )
    parser.add_argument(
        "--sum",
        action="store_true",
        help="add the plans' doses (sequential courses) into one RT Dose; names their junction",
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
        metavar="[PLAN:]KEY=VALUE",
        action="append",
        default=[],
        dest="options",
        help="preset option, e.g. level=T10, or lower-hbi:inferior=knees for one plan of a sum "
        "(see 'hbiview plans --help')",
    )
    parser.add_argument("--engine", default="convolution", help="dose engine (default: convolution)")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID of the CT to read")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
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
                **({"field_offset_mm": list(beam.field_offset_mm)} if beam.asymmetric else {}),
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
    """Compute and write the dose (a sum of courses with ``--sum``, a DICOM-RT set with ``--out-dir``)."""
    from hbiview.cli._json import print_json
    from hbiview.cli.plans import parse_options
    from hbiview.dose import compute_dose_result
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable
    from hbiview.pipeline import load_case

    if args.out_dir:
        return _run_set(args)
    if args.no_dvhs:
        raise InputError("--no-dvhs applies to --out-dir (DVHs inside the RT Doses of a set)")
    if len(args.plan) > 1 or args.sum:
        return _run_sum(args)
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
    _write(dose, out, ct, args.force)
    from hbiview.dose.compensation import hot_spots_text
    from hbiview.dose.compute import hot_spots_with_and_without

    spots, without = hot_spots_with_and_without(
        ct,
        result.plan,
        dose,
        case.plan_landmarks,
        grid_mm=result.model.grid_mm,
        heterogeneity=result.model.heterogeneity,
        engine=args.engine,
    )
    from hbiview.dose.junction import field_junctions, junction_dose, junction_text

    junctions = [(j, junction_dose(result.model, j)) for j in field_junctions(result.plan)]
    if args.json:
        document = _summary(result, out)
        document["junctions"] = [
            {
                "beams": [result.plan.beams[k].label for k in j.beams],
                "point_lps_mm": list(j.point_lps_mm),
                "depth_mm": j.depth_mm,
                "skin_gap_mm": j.gap_mm,
                **dose,
            }
            for j, dose in junctions
        ]
        document["compensation"] = result.plan.compensation
        document["hot_spots"] = spots
        if without is not None:
            document["hot_spots_without_compensation"] = without
        print_json(args, document)
    elif not args.quiet:
        print(result.summary())
        for beam in result.plan.beams:
            if beam.transmission_map is not None:
                print(f"  {beam.label:<4} {beam.transmission_map.note}")
        print(hot_spots_text(spots, without))
        for junction, values in junctions:
            print(junction_text(result.plan, junction, values))
            if values["profile_gy"]:
                x, y, z = values["profile_lps_mm"]
                pairs = list(zip(values["profile_mm"], values["profile_gy"], strict=True))[::4]
                print(
                    f"  dose along the patient through LPS ({x:.0f}, {y:.0f}, {z:.0f}) mm (mm from the "
                    "junction: Gy): " + ", ".join(f"{m:+.0f}: {g:.2f}" for m, g in pairs)
                )
        print(f"wrote {out}")
    return 0


def _write(dose: Any, out: str, ct: Any, force: bool) -> None:
    """Write a dose grid by the suffix of ``out`` (RT Dose on the CT's frame, NIfTI or VTK)."""
    if out.lower().endswith(".dcm"):
        from hbiview.io.rtdose import write_rtdose

        write_rtdose(dose, out, ct=ct, description=dose.description, force=force)
    else:
        from hbiview.io.volume_files import write_volume

        write_volume(dose, out, force=force)


def _run_sum(args: argparse.Namespace) -> int:
    """``--plan A --plan B --sum``: the courses' physical dose added voxel by voxel, and their junction."""
    from types import SimpleNamespace

    from hbiview.cli._json import print_json
    from hbiview.cli._planopts import build_plans
    from hbiview.dose import compute_dose_result
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable
    from hbiview.pipeline import SUM_LEAVES_OUT, junction_region, load_case, sum_doses
    from hbiview.progress import progress

    if not args.sum:
        raise InputError(
            f"--plan given {len(args.plan)} times: add --sum to add the courses into one dose, or write "
            "every plan and their sum as a DICOM-RT set with --out-dir DIR"
        )
    if len(args.plan) < 2:
        raise InputError("--sum needs at least two courses: --plan A --plan B --sum")
    out = args.out
    if not out.lower().endswith((".dcm", ".nii", ".nii.gz", ".vti")):
        raise InputError(f"{out}: unknown output format; use .dcm, .nii, .nii.gz or .vti")
    check_writable(out, args.force)
    case = load_case(args.ct, series=args.series)
    plans = build_plans(case, args.plan, args.options)  # every plan checked before any dose
    heterogeneity = False if args.no_heterogeneity else None
    results = [
        compute_dose_result(
            case.ct, plan, grid_mm=args.grid_mm, heterogeneity=heterogeneity, engine=args.engine
        )
        for plan in progress(plans, desc="dose: courses")
    ]
    labels = [r.plan.name for r in results]
    if len(set(labels)) < len(labels):
        labels = [f"{name} ({i})" for i, name in enumerate(labels, start=1)]
    label = "sum: " + " + ".join(labels)
    total = sum_doses([r.dose for r in results], description=label)
    courses = [
        SimpleNamespace(label=lab, dose=r.dose, prescription_gy=r.plan.total_dose_gy)
        for lab, r in zip(labels, results, strict=True)
    ]
    junction = junction_region(courses, total, case.plan_landmarks)
    _write(total, out, case.ct, args.force)
    if args.json:
        document = {
            "sum": label,
            "fractions": total.fractions,
            "max_dose_gy_total": round(float(total.array.max()), 4),
            "courses": [_summary(r, out) | {"label": lab} for lab, r in zip(labels, results, strict=True)],
            "junction": junction,
            "leaves_out": SUM_LEAVES_OUT,
            "output": out,
        }
        print_json(args, document)
    elif not args.quiet:
        from hbiview.pipeline import _junction_text

        for lab, result in zip(labels, results, strict=True):
            print(f"course {lab}:")
            print(result.summary())
            print()
        print(
            f"{label}: {total.fractions} fractions in all, maximum {float(total.array.max()):.2f} Gy "
            f"on a grid of {total.geometry.shape[::-1]} voxels (x, y, z)"
        )
        if junction is not None:
            print(_junction_text(junction))
        print(SUM_LEAVES_OUT)
        print(f"wrote {out}")
    return 0


def _run_set(args: argparse.Namespace) -> int:
    """``--out-dir``: every plan's dose, their sum, RTSTRUCT, RTPLAN, RT Dose (with DVHs), CT or a note."""
    from pathlib import Path

    from hbiview.cli._json import print_json
    from hbiview.cli._planopts import build_plans, plan_labels
    from hbiview.dosevolume import dvhs as compute_dvhs
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_folder_writable
    from hbiview.io.rtset import RTCourse, write_rt_set
    from hbiview.pipeline import load_case, run_plan, sum_doses

    folder = Path(args.out_dir)
    check_folder_writable(folder, args.force)  # refuse a used folder before any work
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
    courses = [RTCourse.of_run(key, r, dvhs=not args.no_dvhs) for key, r in zip(keys, runs, strict=True)]
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
