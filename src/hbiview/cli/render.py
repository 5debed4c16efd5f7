"""``hbiview render CT --plan P``: pictures of a plan (3D or slices), comparisons, HTML page, orbit movie."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RenderCase", "add_parser", "load_case", "run"]

VIEWS = ("3d", "axial", "coronal", "sagittal")

#: Most plans in one picture (and in the viewer).
MAX_PLANS = 4

DESCRIPTION = """\
Render the dose of hbiview plans on a CT, off-screen: a 3D scene (skin, lungs,
bones, beams, isodose shells of 50 and 95 % cut at the skin, the skin cut away
in front of them) or a slice view (axial, coronal, sagittal). Several plans
(--plan P1 P2 ...) are shown side by side with one dose colour scale, or as a
difference map (--difference). Also writes an interactive HTML page for a
browser and an orbit animation."""

EPILOG = """\
examples:
  hbiview render sample_ct --plan upper-hbi --out upper.png
  hbiview render sample_ct --plan upper-hbi --view coronal --window lung \\
                 --out coronal.png
  hbiview render sample_ct --plan upper-hbi --view axial --position-mm 1250 \\
                 --out axial.png
  hbiview render sample_ct --plan upper-hbi mid-hbi spine --out compare.png
  hbiview render sample_ct --plan upper-hbi lower-hbi --view coronal --out c.png
  hbiview render sample_ct --plan upper-hbi lower-hbi --sum --view coronal --out total.png
  hbiview render sample_ct --plan upper-hbi --difference --view coronal \\
                 --out lung_correction.png    (heterogeneity on minus off)
  hbiview render sample_ct --plan upper-hbi mid-hbi --difference --out diff.png
  hbiview render /data/ct --plan spine --set level=L2 --grid-mm 2.5 --out s.png
  hbiview render sample_ct --plan upper-hbi --no-heterogeneity --out water.png
  hbiview render sample_ct --plan upper-hbi --html upper.html --orbit upper.gif
  hbiview render sample_ct --plan upper-hbi --html upper.html --planes coronal axial
      (the page has checkboxes for skin, lungs, bones, beams, shells, planes)

--plan takes 1 to 4 presets ('hbiview plans') or plan TOML files; several are
compared side by side (--compare P2 ... is the same as adding them to --plan).
--set KEY=VALUE sets a preset option for every preset, --set PLAN:KEY=VALUE for
one (spine:level=L2). --difference shows P1 minus P2, or with one plan its dose
with minus without heterogeneity correction (--view 3d colours the CT planes).
--html and --orbit show the first plan. Positions are DICOM patient
coordinates (LPS mm): z for axial, y for coronal, x for sagittal; default each
plan's prescription point. No display is needed. Structures (skin, lungs, skeleton,
marrow) come from the automatic segmentation of the CT.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``render`` sub-command."""
    from hbiview.cli._planopts import add_plan_arguments, add_sum_argument

    parser = subparsers.add_parser(
        "render",
        help="render plans in 3D or on slices (PNG, HTML page, orbit movie)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (searched recursively) or a DICOM file")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID to read (default: largest)")
    add_plan_arguments(
        parser,
        required=True,
        plan_help="preset name(s) or plan TOML file(s); several are shown side by side",
        max_plans=MAX_PLANS,
    )
    parser.add_argument(
        "--compare",
        dest="plan",
        action="extend",
        nargs="+",
        metavar="P2",
        help="alias: more plans shown side by side (the same as adding them to --plan)",
    )
    from hbiview.cli._systemicopts import add_systemic_argument

    add_sum_argument(parser)
    add_systemic_argument(parser)
    parser.add_argument("--out", metavar="PNG", help="picture to write (.png)")
    parser.add_argument("--view", choices=VIEWS, default="3d", help="3d (default) or a slice orientation")
    parser.add_argument(
        "--position-mm", type=float, metavar="MM", help="slice position (LPS mm along the view's normal)"
    )
    parser.add_argument(
        "--size", type=int, nargs=2, metavar=("W", "H"), help="picture size in pixels (default 1280 800)"
    )
    parser.add_argument(
        "--difference",
        action="store_true",
        help="dose difference map: P1 minus P2 (two plans) or, with one plan, heterogeneity on minus off",
    )
    parser.add_argument("--window", choices=("soft", "lung", "bone"), default="soft", help="CT window")
    parser.add_argument(
        "--isodose",
        type=float,
        nargs="+",
        metavar="PCT",
        help="isodose levels in %% of the prescription (default 50 80 95 105 on slices, 50 95 in 3D)",
    )
    parser.add_argument(
        "--bone",
        choices=("skeleton", "marrow", "marrow-weight", "none"),
        default="skeleton",
        help="3D bones: skeleton, marrow, marrow coloured by active-marrow weight, or none",
    )
    parser.add_argument(
        "--planes",
        nargs="+",
        choices=("axial", "coronal", "sagittal"),
        default=(),
        metavar="VIEW",
        help="3D and --html: CT planes (axial, coronal, sagittal) through the prescription point with the "
        "dose colourwash; the HTML page has a checkbox to hide them",
    )
    cameras = ("auto", "anterior-oblique", "anterior", "posterior", "left", "right", "posterior-oblique")
    parser.add_argument(
        "--camera",
        choices=cameras,
        default="auto",
        metavar="NAME",
        help=f"3D camera: {', '.join(cameras)} (default auto: from the side the beams come from)",
    )
    parser.add_argument("--html", metavar="HTML", help="also write a standalone interactive HTML page")
    parser.add_argument("--orbit", metavar="GIF|MP4", help="also write an orbit animation (.gif or .mp4)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    return parser


@dataclass
class RenderCase:
    """A CT with its structures and the plans to show, with their doses.

    Attributes
    ----------
    ct
        The CT.
    structures
        Its structures (automatic segmentation, or imported ones).
    plans
        The computed plans, named by their labels (``" (water)"`` when computed without correction).
    doses
        Total dose (Gy) of each plan.
    case
        The :class:`hbiview.pipeline.Case` (landmarks, structures by name).
    """

    ct: Any
    structures: list[Any]
    plans: list[Any]
    doses: list[Any]
    case: Any = field(default=None, repr=False)


def load_case(
    ct_path: str,
    plans: Sequence[str],
    series: str | None = None,
    water_twin: bool = False,
    *,
    options: Sequence[str] = (),
    heterogeneity: bool | None = None,
    grid_mm: float | None = None,
) -> RenderCase:
    """Read the CT, place the plans, segment the CT and compute the doses.

    Plans are placed first (:meth:`hbiview.pipeline.Case.plan`: presets share the CT's landmarks, a bad
    plan fails before the long steps), then the CT is segmented once and the doses computed.

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
    options
        ``--set`` items: ``KEY=VALUE`` for every preset, ``PLAN:KEY=VALUE`` for one.
    heterogeneity
        ``False``: water inside the body for every plan; ``None`` keeps each plan's setting.
    grid_mm
        Dose grid spacing (mm); ``None``: each plan's default.
    """
    from dataclasses import replace

    from hbiview.cli._planopts import build_plans, water_label
    from hbiview.dose import compute_dose_result
    from hbiview.pipeline import load_case as load_ct
    from hbiview.progress import progress

    case = load_ct(ct_path, series=series)
    placed = build_plans(case, list(plans), options)  # bad plans fail before the long steps
    jobs = [(plan, heterogeneity) for plan in placed]
    if water_twin:
        jobs.append((placed[0], False))
    tasks: list[Callable[[], Any]] = [lambda: case.structures]
    tasks += [
        functools.partial(compute_dose_result, case.ct, plan, grid_mm=grid_mm, heterogeneity=het)
        for plan, het in jobs
    ]
    results = [task() for task in progress(tasks, desc="segmenting and computing dose")]
    structures, doses = results[0], results[1:]
    named = []
    for result in doses:
        plan = result.plan
        if not result.model.heterogeneity:
            plan = replace(plan, name=water_label(plan.name))
        named.append(plan)
    return RenderCase(case.ct, list(structures.values()), named, [r.dose for r in doses], case)


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
    plans = list(args.plan)
    if args.systemic:  # radionuclides beside the plans (hbiview.cli._systemicopts)
        from hbiview.cli._systemicopts import check_systemic

        check_systemic(args.systemic)
        if args.difference:
            raise InputError("--difference compares plans; leave out --systemic")
        if len(plans) + len(args.systemic) > MAX_PLANS:
            raise InputError(f"--plan and --systemic together take 1 to {MAX_PLANS}, got more")
    if len(plans) > MAX_PLANS:
        raise InputError(
            f"--plan takes 1 to {MAX_PLANS} plans (with --compare: 1 to {MAX_PLANS - 1} more), "
            f"got {len(plans)}"
        )
    if args.sum and (len(plans) < 2 or args.difference):
        raise InputError(
            "--sum shows the sum of two or more courses (--plan A B --sum), without --difference"
        )
    if args.difference and len(plans) > 2:
        raise InputError(f"--difference compares two plans (P1 minus P2), got {len(plans)}")
    if args.difference and len(plans) == 1 and args.no_heterogeneity:
        raise InputError(
            "--difference with one plan shows heterogeneity on minus off: leave out --no-heterogeneity"
        )
    if args.orbit:
        from hbiview.render.export import orbit_backend

        orbit_backend(args.orbit)
    if args.html:
        from hbiview.render.export import _require_trame_vtk

        _require_trame_vtk()
    size = tuple(args.size) if args.size else None

    case = load_case(
        args.ct,
        plans,
        args.series,
        water_twin=args.difference and len(plans) == 1,
        options=args.options,
        heterogeneity=False if args.no_heterogeneity else None,
        grid_mm=args.grid_mm,
    )
    if args.sum:  # sequential courses: one picture of their summed dose
        from hbiview.cli._planopts import summed_plan

        plan_sum, dose_sum = summed_plan(case.plans, case.doses)
        case = RenderCase(case.ct, case.structures, [plan_sum], [dose_sum], case.case)
    if args.systemic:
        from hbiview.cli._systemicopts import systemic_runs

        for extra in systemic_runs(case.case, args.systemic, grid_mm=args.grid_mm):
            case.plans.append(extra.plan)
            case.doses.append(extra.dose)
    from hbiview.render.scene import SceneOptions, prepare_anatomy
    from hbiview.render.slices import SliceStyle
    from hbiview.render.style import DEFAULT_ISODOSE_PCT, SHELL_ISODOSE_PCT

    levels = tuple(args.isodose) if args.isodose else DEFAULT_ISODOSE_PCT
    shells = tuple(args.isodose) if args.isodose else SHELL_ISODOSE_PCT
    options = SceneOptions(
        isodose_pct=shells, bone=args.bone, window=args.window, camera=args.camera, planes=tuple(args.planes)
    )
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
    args: argparse.Namespace, case: RenderCase, options: Any, style: Any, anatomy: Any, size: Any
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
