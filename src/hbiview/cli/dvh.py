"""``hbiview dvh``: dose-volume histograms of an RT Dose + RT Structure Set pair from a planning system."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "load_case", "run"]

EPILOG = """\
examples:
  hbiview dvh --rtdose rtdose.dcm --rtstruct rtss.dcm
  hbiview dvh --rtdose rtdose.dcm --rtstruct rtss.dcm --structures Heart "Lt Lung" --fractions 7
  hbiview dvh --rtdose rtdose.dcm --rtstruct rtss.dcm --curves dvh.csv --json > metrics.json

Structures are rasterised on the RT Dose grid (voxel centres, even-odd rule); small ones are supersampled
from their contours. The terminal table shows total-course doses in Gy. --json prints every metric (keys
documented in 'python -m pydoc hbiview.report.tables'). --curves writes cumulative DVHs with columns
structure, dose_gy, volume_cc, volume_pct. --end-caps half gives the first and last contour plane half a
plane of thickness, as Varian Eclipse does (default: full, as voxel-based tools do).
"""

#: (metric key, heading, width, format) of the terminal table.
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


def add_common_inputs(parser: argparse.ArgumentParser, several_doses: bool = False) -> None:
    """Options shared by ``dvh`` and ``report``: the RT Dose / RT Structure Set pair and how to read it."""
    if several_doses:
        parser.add_argument(
            "--rtdose",
            metavar="FILE",
            nargs="+",
            required=True,
            help="RT Dose file(s); several files make a comparison (one plan each)",
        )
    else:
        parser.add_argument("--rtdose", metavar="FILE", required=True, help="RT Dose file (Gy)")
    parser.add_argument(
        "--rtstruct", metavar="FILE", required=True, help="RT Structure Set of the same study"
    )
    parser.add_argument("--structures", metavar="NAME", nargs="+", help="ROI names to use (default: all)")
    parser.add_argument(
        "--fractions",
        type=int,
        default=1,
        metavar="N",
        help="number of fractions of the dose (the RT Dose file does not say; default 1)",
    )
    parser.add_argument(
        "--end-caps",
        choices=("full", "half"),
        default="full",
        help="thickness of the first/last contour plane (default full)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output files")


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


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A readable fixed-width table of the main metrics (one row per structure)."""
    name_width = max([len("structure")] + [len(str(r["structure"])) for r in rows])
    head = f"{'structure':<{name_width}}" + "".join(f"{h:>{w}}" for _, h, w, _ in TABLE)
    lines = [head, "-" * len(head)]
    for row in rows:
        cells = []
        for key, _, width, fmt in TABLE:
            value = row.get(key)
            text = (
                "-"
                if value is None or (isinstance(value, float) and math.isnan(value))
                else fmt.format(value)
            )
            cells.append(f"{text:>{width}}")
        lines.append(f"{row['structure']:<{name_width}}" + "".join(cells))
    return "\n".join(lines)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dvh`` sub-command."""
    parser = subparsers.add_parser(
        "dvh",
        help="DVHs and metrics of an RT Dose + RT Structure Set",
        description="Compute cumulative DVHs and their metrics (volume, Dmean, Dmin, Dmax, D2/50/95/98 %, "
        "D0.03cc, Vx, EQD2 for lungs and marrow) from a planning system's RT Dose and RT Structure Set.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_inputs(parser)
    parser.add_argument("--curves", metavar="FILE.csv", help="write the cumulative DVH curves as CSV")
    parser.add_argument("--json", action="store_true", help="print every metric as JSON instead of the table")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``hbiview dvh``."""
    from hbiview.io.atomic import check_writable
    from hbiview.report import evaluate_plans, results_document, write_curves_csv

    if args.curves:
        check_writable(args.curves, args.force)
    dose, structures = load_case(args.rtdose, args.rtstruct, args.structures, args.fractions)
    results = evaluate_plans([(dose.description or "RT Dose", dose, structures)], end_caps=args.end_caps)
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
