"""``hbiview dose CT --plan PRESET_OR_TOML --out FILE``: compute a plan's dose and write it."""

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

Output format by extension: .dcm (DICOM RT Dose, overlays the CT in any viewer), .nii/.nii.gz (NIfTI, RAS),
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
        help="preset name or plan file; repeat with --sum to add sequential courses",
    )
    parser.add_argument(
        "--sum",
        action="store_true",
        help="add the plans' doses (sequential courses) into one RT Dose; names their junction",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="output: .dcm, .nii, .nii.gz or .vti")
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


def run(args: argparse.Namespace) -> int:
    """Compute and write the dose."""
    import json
    from pathlib import Path

    from hbiview.cli.plans import parse_options
    from hbiview.dose import compute_dose_result
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable
    from hbiview.pipeline import load_case
    from hbiview.plans import list_presets

    if len(args.plan) > 1 or args.sum:
        return _run_sum(args)
    args.plan = args.plan[0]
    out = args.out
    lower = out.lower()
    if not lower.endswith((".dcm", ".nii", ".nii.gz", ".vti")):
        raise InputError(f"{out}: unknown output format; use .dcm, .nii, .nii.gz or .vti")
    check_writable(out, args.force)
    case = load_case(args.ct, series=args.series)
    ct = case.ct
    names = [n for n, _ in list_presets()]
    options = parse_options(args.options)
    is_file = Path(args.plan).suffix.lower() == ".toml" or Path(args.plan).exists()
    if args.plan not in names and not is_file:
        raise InputError(f"--plan {args.plan!r} is neither a preset ({', '.join(names)}) nor a .toml file")
    if args.plan not in names and options:
        raise InputError("--set applies to presets only; edit the plan file instead")
    # presets take their borders from the case's landmarks, searched once (hbiview.pipeline.Case)
    plan = case.plan(args.plan, **options)
    heterogeneity = False if args.no_heterogeneity else None
    result = compute_dose_result(
        ct, plan, grid_mm=args.grid_mm, heterogeneity=heterogeneity, engine=args.engine
    )
    dose = result.dose
    _write(dose, out, ct, args.force)
    from hbiview.dose.compensation import hot_spots_text, hot_spots_with_and_without

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
        print(json.dumps(document, indent=2))
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
    import json
    from types import SimpleNamespace

    from hbiview.cli._planopts import build_plans
    from hbiview.dose import compute_dose_result
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable
    from hbiview.pipeline import SUM_LEAVES_OUT, junction_region, load_case, sum_doses
    from hbiview.progress import progress

    if not args.sum:
        raise InputError(
            f"--plan given {len(args.plan)} times: add --sum to add the courses into one dose, or compute "
            "them one at a time"
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
    junction = junction_region(courses, total, case.plan_landmarks)  # type: ignore[arg-type]
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
        print(json.dumps(document, indent=2))
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
