"""``hbiview structures CT``: find or import structures, print volumes and marrow, export RTSTRUCT."""

from __future__ import annotations

import argparse
from typing import Any

from hbiview.cli._json import print_json

__all__ = ["add_parser", "collect", "run"]

EPILOG = """\
examples:
  hbiview structures sample_ct                          table of the automatic structures
  hbiview structures sample_ct --out rtss.dcm           ... and write them as a DICOM RTSTRUCT
  hbiview structures CT --rtstruct clinic_rtss.dcm --names-map names.toml --json
  hbiview structures CT --masks totalseg_output/        exact marrow sites from TotalSegmentator

Imported structures (--rtstruct, --masks) replace the automatic ones of the same role (Body, Lung_L,
Lung_R, Lungs, Skeleton, Bone_<site>); their names are mapped with built-in rules ("Lt Lung", "LUNG_L",
"External"...) and the optional --names-map file (TOML or JSON: "clinical name" = "role").
--masks takes a TotalSegmentator output folder or one NIfTI/NRRD mask file.

JSON keys: structures (name, volume_cc, active_marrow_fraction), landmarks (name -> z_mm or null),
missing_marrow_sites, missing_marrow_fraction, marrow_fraction_in_scan, notes, rtstruct (path or null).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``structures`` sub-command."""
    parser = subparsers.add_parser(
        "structures",
        help="find body, lungs, skeleton and active marrow; export them as RTSTRUCT",
        description="Segment a CT (body, lungs, skeleton, active bone marrow by skeletal site), merge "
        "imported structures, print volumes and active-marrow fractions, and write a DICOM RTSTRUCT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (searched recursively) or DICOM file")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID of the CT (default: largest)")
    parser.add_argument("--out", metavar="FILE", help="write the structures as a DICOM RTSTRUCT")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--rtstruct", metavar="FILE", help="import a clinical RTSTRUCT (its structures win)")
    parser.add_argument("--names-map", metavar="FILE", help="TOML/JSON mapping of clinical names to roles")
    parser.add_argument("--masks", metavar="PATH", help="TotalSegmentator output folder or a NIfTI/NRRD mask")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def collect(args: argparse.Namespace) -> dict[str, Any]:
    """Run the segmentation the arguments ask for and gather what ``structures`` prints."""
    from pathlib import Path

    from hbiview.anatomy import segment
    from hbiview.anatomy.names import load_names_map
    from hbiview.io.atomic import check_writable
    from hbiview.io.dicom import read_ct
    from hbiview.progress import progress

    if args.out:
        check_writable(args.out, args.force)  # fail before the work
    names_map = load_names_map(args.names_map) if args.names_map else None
    state: dict[str, Any] = {"imported": [], "written": None}

    def read() -> None:
        state["ct"] = read_ct(args.ct, args.series)

    def load_imports() -> None:
        ct = state["ct"]
        if args.rtstruct:
            from hbiview.io.rtstruct import read_rtstruct

            state["imported"].extend(read_rtstruct(args.rtstruct, ct.geometry))
        if args.masks:
            from hbiview.io.masks import read_mask, read_totalsegmentator

            if Path(args.masks).is_dir():
                state["imported"].extend(read_totalsegmentator(args.masks, ct.geometry).values())
            else:
                state["imported"].append(read_mask(args.masks, ct.geometry))

    def run_segment() -> None:
        state["result"] = segment(state["ct"], imported=state["imported"], names_map=names_map)

    def write() -> None:
        if args.out:
            from hbiview.io.rtstruct_write import write_rtstruct

            state["written"] = str(
                write_rtstruct(state["result"].structures, state["ct"], args.out, force=args.force)
            )

    for step in progress([read, load_imports, run_segment, write], desc="structures", min_seconds=0.5):
        step()
    result, written = state["result"], state["written"]
    return {
        "structures": result.table(),
        "landmarks": result.landmarks.as_dict(),
        "missing_marrow_sites": list(result.missing_marrow_sites),
        "missing_marrow_fraction": round(result.missing_marrow_fraction, 4),
        "marrow_fraction_in_scan": round(result.marrow_fraction_in_scan, 4),
        "notes": list(result.notes),
        "rtstruct": written,
    }


def _table(info: dict[str, Any]) -> str:
    lines = [f"{'structure':<28} {'volume cm3':>11} {'active marrow':>14}"]
    for row in info["structures"]:
        frac = row["active_marrow_fraction"]
        text = "" if frac is None else f"{100 * frac:13.1f}%"
        lines.append(f"{row['name']:<28} {row['volume_cc']:11.1f} {text:>14}")
    lines.append("")
    lines.append(f"active marrow inside the scan: {100 * info['marrow_fraction_in_scan']:.1f} %")
    if info["missing_marrow_sites"]:
        lines.append(
            f"marrow sites outside the scan ({100 * info['missing_marrow_fraction']:.1f} % of the body's "
            f"active marrow): {', '.join(info['missing_marrow_sites'])}"
        )
    marks = [f"{k} {v:.0f}" for k, v in info["landmarks"].items() if v is not None and not k[0].isupper()]
    if marks:
        lines.append("landmarks (z mm): " + ", ".join(marks))
    for note in info["notes"]:
        lines.append(f"note: {note}")
    if info["rtstruct"]:
        lines.append(f"wrote {info['rtstruct']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``hbiview structures``."""
    info = collect(args)
    if args.json:
        print_json(args, info)
    elif not args.quiet:
        print(_table(info))
    return 0
