"""``hbiview render CT --plan P``: pictures of a plan (3D or slices), comparisons, HTML page, orbit movie."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["add_parser", "load_case", "run"]

VIEWS = ("3d", "axial", "coronal", "sagittal")

EPILOG = """\
examples:
  hbiview render sample_ct --plan upper-hbi --out upper.png
  hbiview render sample_ct --plan upper-hbi --view coronal --window lung --out coronal.png
  hbiview render sample_ct --plan upper-hbi --view axial --position-mm 1250 --out axial.png
  hbiview render sample_ct --plan upper-hbi --compare mid-hbi spine --out compare.png
  hbiview render sample_ct --plan upper-hbi --difference --view coronal --out lung_correction.png
        (heterogeneity on minus off; with --compare P2: P minus P2; --view 3d colours the CT planes)
  hbiview render sample_ct --plan upper-hbi --html upper.html --orbit upper.gif

--plan and --compare take a preset name (see 'hbiview plans') or a plan TOML file. Positions are DICOM
patient coordinates (LPS mm): z for axial, y for coronal, x for sagittal; default the fields' centre.
Pictures are rendered off-screen; no display is needed. Structures (skin, lungs, skeleton, marrow) come
from the automatic segmentation of the CT.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``render`` sub-command."""
    parser = subparsers.add_parser(
        "render",
        help="render a plan in 3D or on slices (PNG, HTML page, orbit movie)",
        description="Render the dose of a plan on a CT: a 3D scene (skin, lungs, bones, isodose surfaces, "
        "beams, CT planes with dose colourwash) or a slice view; compare plans side by side or as a "
        "difference map; write an interactive HTML page or an orbit animation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (searched recursively) or a DICOM file")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID to read (default: largest)")
    parser.add_argument("--plan", required=True, metavar="P", help="preset name or plan TOML file")
    parser.add_argument("--out", metavar="PNG", help="picture to write (.png)")
    parser.add_argument("--view", choices=VIEWS, default="3d", help="3d (default) or a slice orientation")
    parser.add_argument(
        "--position-mm", type=float, metavar="MM", help="slice position (LPS mm along the view's normal)"
    )
    parser.add_argument(
        "--size", type=int, nargs=2, metavar=("W", "H"), help="picture size in pixels (default 1280 800)"
    )
    parser.add_argument(
        "--compare", nargs="+", default=[], metavar="P2", help="1 to 3 more plans shown side by side"
    )
    parser.add_argument(
        "--difference",
        action="store_true",
        help="dose difference map: P minus P2 (--compare P2) or heterogeneity on minus off",
    )
    parser.add_argument("--window", choices=("soft", "lung", "bone"), default="soft", help="CT window")
    parser.add_argument(
        "--isodose",
        type=float,
        nargs="+",
        metavar="PCT",
        help="isodose levels in %% of the prescription (default 50 80 95 105)",
    )
    parser.add_argument(
        "--bone",
        choices=("skeleton", "marrow", "marrow-weight", "none"),
        default="skeleton",
        help="3D bones: skeleton, marrow, marrow coloured by active-marrow weight, or none",
    )
    parser.add_argument(
        "--camera",
        choices=("auto", "anterior-oblique", "anterior", "posterior", "left", "right", "posterior-oblique"),
        default="auto",
        help="3D camera (auto: from the side the beams come from)",
    )
    parser.add_argument("--html", metavar="HTML", help="also write a standalone interactive HTML page")
    parser.add_argument("--orbit", metavar="GIF|MP4", help="also write an orbit animation (.gif or .mp4)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    return parser


@dataclass
class Case:
    """A CT with its structures and the plans to show, with their doses."""

    ct: Any
    structures: list[Any]
    plans: list[Any]
    doses: list[Any]


def _plan(text: str, ct: Any) -> Any:
    from hbiview.plans import load_plan, preset

    if text.lower().endswith(".toml") or os.path.sep in text or os.path.exists(text):
        return load_plan(text, ct)
    return preset(text, ct)


def load_case(ct_path: str, plans: list[str], series: str | None = None, water_twin: bool = False) -> Case:
    """Read the CT, segment it, build the plans and compute their doses.

    Parameters
    ----------
    ct_path
        CT folder or file.
    plans
        Preset names or plan TOML files.
    series
        SeriesInstanceUID to read.
    water_twin
        Add the first plan again with heterogeneity off (for the lung-correction difference map).
    """
    from dataclasses import replace

    from hbiview.anatomy import segment
    from hbiview.dose import compute_dose
    from hbiview.io.dicom import read_ct
    from hbiview.progress import progress

    ct = read_ct(ct_path, series)
    plan_objects = [_plan(text, ct) for text in plans]  # bad plans fail before the long steps
    if water_twin:
        first = plan_objects[0]
        plan_objects.append(replace(first, heterogeneity=False, name=f"{first.name} (water)"))
    tasks = [lambda: segment(ct).structures, *[lambda p=plan: compute_dose(ct, p) for plan in plan_objects]]
    results = [task() for task in progress(tasks, desc="segmenting and computing dose")]
    structures, doses = results[0], results[1:]
    structure_list = list(structures.values()) if hasattr(structures, "values") else list(structures)
    return Case(ct, structure_list, plan_objects, doses)


def run(args: argparse.Namespace) -> int:
    """Render what the options ask for."""
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable

    outputs = [path for path in (args.out, args.html, args.orbit) if path]
    if not outputs:
        raise InputError("nothing to write: give --out PNG, --html HTML or --orbit GIF|MP4")
    for path in outputs:
        check_writable(path, args.force)
    if args.out and not args.out.lower().endswith(".png"):
        raise InputError(f"{args.out}: --out writes a PNG picture; name it .png")
    if len(args.compare) > 3:
        raise InputError(f"--compare takes 1 to 3 plans (4 in all), got {len(args.compare)}")
    if args.difference and len(args.compare) > 1:
        raise InputError("--difference compares two plans: give at most one --compare plan")
    if args.orbit:
        from hbiview.render.export import orbit_backend

        orbit_backend(args.orbit)
    if args.html:
        from hbiview.render.export import _require_trame_vtk

        _require_trame_vtk()
    size = tuple(args.size) if args.size else None

    case = load_case(
        args.ct, [args.plan, *args.compare], args.series, water_twin=args.difference and not args.compare
    )
    from hbiview.render.scene import SceneOptions, prepare_anatomy
    from hbiview.render.slices import SliceStyle
    from hbiview.render.style import DEFAULT_ISODOSE_PCT

    levels = tuple(args.isodose) if args.isodose else DEFAULT_ISODOSE_PCT
    options = SceneOptions(isodose_pct=levels, bone=args.bone, window=args.window, camera=args.camera)
    style = SliceStyle(window=args.window, isodose_pct=levels)
    needs_3d = (args.out and args.view == "3d") or args.html or args.orbit
    anatomy = prepare_anatomy(case.structures, bone=args.bone) if needs_3d else None
    written = []
    if args.out:
        written.append(_render_png(args, case, options, style, anatomy, size))
    plan, dose = case.plans[0], case.doses[0]
    if args.html:
        from hbiview.render.figures import export_html

        written.append(
            export_html(
                case.ct, args.html, dose=dose, plan=plan, anatomy=anatomy, options=options, force=args.force
            )
        )
    if args.orbit:
        from hbiview.render.figures import render_orbit

        written.append(
            render_orbit(
                case.ct,
                args.orbit,
                dose=dose,
                plan=plan,
                anatomy=anatomy,
                options=options,
                size=size or (640, 400),
                force=args.force,
            )
        )
    if not args.quiet:
        for path in written:
            print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} kB)")
    return 0


def _render_png(
    args: argparse.Namespace, case: Case, options: Any, style: Any, anatomy: Any, size: Any
) -> Any:
    from pathlib import Path

    from hbiview.render import figures, slices

    pairs = list(zip(case.plans, case.doses, strict=True))
    if args.difference and args.view == "3d":
        (plan_a, dose_a), (plan_b, dose_b) = pairs[0], pairs[1]
        figures.render_difference_3d(
            case.ct,
            dose_a,
            dose_b,
            label_a=plan_a.name,
            label_b=plan_b.name,
            plan=plan_a,
            anatomy=anatomy,
            options=options,
            size=size or (1280, 800),
            out=args.out,
            force=args.force,
        )
    elif args.difference:
        (plan_a, dose_a), (plan_b, dose_b) = pairs[0], pairs[1]
        slices.render_difference_slice(
            case.ct,
            dose_a,
            dose_b,
            label_a=plan_a.name,
            label_b=plan_b.name,
            structures=case.structures,
            view=args.view,
            position_mm=args.position_mm,
            plan=plan_a,
            style=style,
            size=size or (1100, 800),
            out=args.out,
            force=args.force,
        )
    elif len(pairs) > 1 and args.view == "3d":
        figures.render_compare_3d(
            case.ct, pairs, anatomy=anatomy, options=options, size=size or (1800, 800), out=args.out,
            force=args.force,
        )  # fmt: skip
    elif len(pairs) > 1:
        slices.render_compare_slices(
            case.ct,
            pairs,
            structures=case.structures,
            view=args.view,
            position_mm=args.position_mm,
            style=style,
            size=size or (1600, 800),
            out=args.out,
            force=args.force,
        )
    elif args.view == "3d":
        figures.render_3d(
            case.ct, dose=case.doses[0], plan=case.plans[0], anatomy=anatomy, options=options,
            size=size or (1280, 800), out=args.out, force=args.force,
        )  # fmt: skip
    else:
        slices.render_slice(
            case.ct,
            dose=case.doses[0],
            plan=case.plans[0],
            structures=case.structures,
            view=args.view,
            position_mm=args.position_mm,
            style=style,
            size=size or (1100, 800),
            out=args.out,
            force=args.force,
        )
    return Path(args.out)
