"""``hbiview view CT --plan P [P2 ...]``: the interactive 3D window."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]

DESCRIPTION = """\
Open an interactive window over a CT and one to four hbiview plans: the 3D
scene with movable CT planes, an isodose-level slider, structure toggles, a
plan switcher and a screenshot key. Plans take the same options as in
'hbiview render' and 'hbiview dose'."""


def _epilog() -> str:
    from hbiview.render.keys import KEYS, TOGGLES

    keys = "\n".join(f"  {key}   {what}" for key, what in KEYS.items())
    return f"""\
examples:
  hbiview view sample_ct --plan upper-hbi
  hbiview view sample_ct --plan upper-hbi lower-hbi spine   (n / b switch plans)
  hbiview view sample_ct --plan upper-hbi --no-heterogeneity --bone marrow
  hbiview view /data/ct --plan spine --set level=L2 --set schedule=20x5
  hbiview view /data/ct --plan upper-hbi spine --set spine:level=L2 --grid-mm 10

keys in the window:
{keys}
  mouse: left-drag rotates, shift-drag pans, wheel zooms

widgets: sliders move the axial, coronal and sagittal CT planes (LPS mm) and
add one isodose surface at any percent of the prescription; the checkboxes on
the left show or hide {", ".join(TOGGLES)}.

--plan takes presets ('hbiview plans') or plan TOML files; --set KEY=VALUE
sets a preset option for every preset, --set PLAN:KEY=VALUE for one.
The window needs a display (or xvfb-run). Without one, use
'hbiview render CT --plan P --html page.html' for an interactive page that
opens in any browser.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``view`` sub-command."""
    from hbiview.cli._planopts import add_plan_arguments
    from hbiview.cli.render import MAX_PLANS

    parser = subparsers.add_parser(
        "view",
        help="interactive 3D window: slice sliders, structure toggles, plan switcher",
        description=DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (searched recursively) or a DICOM file")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID to read (default: largest)")
    add_plan_arguments(
        parser,
        required=True,
        plan_help="preset name(s) or plan TOML file(s); n / b switch between them",
        max_plans=MAX_PLANS,
    )
    parser.add_argument(
        "--bone",
        choices=("skeleton", "marrow", "marrow-weight", "none"),
        default="skeleton",
        help="bones shown: skeleton, marrow, marrow coloured by active-marrow weight, or none",
    )
    parser.add_argument(
        "--size", type=int, nargs=2, default=(1400, 900), metavar=("W", "H"), help="window size in pixels"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Open the window and wait until it is closed."""
    from hbiview.cli.render import MAX_PLANS
    from hbiview.errors import InputError
    from hbiview.render._pv import has_display

    if len(args.plan) > MAX_PLANS:
        raise InputError(f"the viewer shows 1 to {MAX_PLANS} plans, got {len(args.plan)}")
    if not has_display():
        raise InputError(
            "no display for an interactive window (DISPLAY is not set): run it on a desktop or under "
            "xvfb-run, or write an interactive page with 'hbiview render CT --plan P --html page.html'"
        )
    from hbiview.cli.render import load_case
    from hbiview.render.scene import SceneOptions
    from hbiview.render.viewer import Viewer

    case = load_case(
        args.ct,
        list(args.plan),
        args.series,
        options=args.options,
        heterogeneity=False if args.no_heterogeneity else None,
        grid_mm=args.grid_mm,
    )
    viewer = Viewer(
        case.ct,
        list(zip(case.plans, case.doses, strict=True)),
        case.structures,
        options=SceneOptions(bone=args.bone),
        size=args.size,
    )
    viewer.show()
    if not args.quiet:
        for path in viewer.screenshots:
            print(f"wrote {path}")
    return 0
