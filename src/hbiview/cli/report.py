"""``hbiview report``: HTML, PDF, CSV or JSON report of RT Dose + RT Structure Set pairs."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  hbiview report --rtdose rtdose.dcm --rtstruct rtss.dcm --out report.pdf --fractions 7 --prescription 14
  hbiview report --rtdose rtdose.dcm --rtstruct rtss.dcm --out report.html --image "axial slice=slice.png"
  hbiview report --rtdose a.dcm b.dcm --label "open fields" "blocked" --rtstruct rtss.dcm --out cmp.pdf
  hbiview report --rtdose rtdose.dcm --rtstruct rtss.dcm --out metrics.csv --alpha-beta lung=4

The format follows the suffix of --out: .html (self-contained, images embedded), .pdf (A4), .csv or .json
(every metric; column names documented in 'python -m pydoc hbiview.report.tables'). Several RT Dose files
(same structure set) are compared: overlaid DVHs and a table of differences from the first.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command."""
    from hbiview.cli.dvh import add_common_inputs

    parser = subparsers.add_parser(
        "report",
        help="HTML/PDF/CSV/JSON report of RT Dose + RT Structure Set",
        description="Write a report of one or several plans given as RT Dose files with their RT Structure "
        "Set: plan summary, DVH plots, metric tables, clinical reference lines, the model's limits.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_inputs(parser, several_doses=True)
    parser.add_argument("--out", metavar="FILE", required=True, help="report.html, report.pdf, .csv or .json")
    parser.add_argument("--label", metavar="TEXT", nargs="+", help="plan label(s), one per RT Dose")
    parser.add_argument("--prescription", type=float, metavar="GY", help="prescription, total course (Gy)")
    parser.add_argument("--title", default="hbiview dose report", help="report title")
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
    from pathlib import Path

    from hbiview.cli.dvh import load_case
    from hbiview.errors import InputError, MissingInputError
    from hbiview.io.atomic import check_writable
    from hbiview.progress import progress
    from hbiview.report import REPORT_FORMATS, write_report

    out = Path(args.out)
    if out.suffix.lower() not in REPORT_FORMATS:
        raise InputError(f"{out}: unknown report format; use one of {', '.join(sorted(REPORT_FORMATS))}")
    check_writable(out, args.force)
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
    labels = args.label or []
    if labels and len(labels) != len(args.rtdose):
        raise InputError(f"--label gives {len(labels)} label(s) for {len(args.rtdose)} RT Dose file(s)")
    plans = []
    for i, rtdose in enumerate(progress(args.rtdose, desc="reading plans")):
        dose, structures = load_case(rtdose, args.rtstruct, args.structures, args.fractions)
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
        title=args.title,
        images=images,
        alpha_beta_gy=alpha_beta or None,
        end_caps=args.end_caps,
        force=args.force,
    )
    if not args.quiet:
        print(f"{out}: {REPORT_FORMATS[out.suffix.lower()]} of {len(plans)} plan(s) written")
    return 0
