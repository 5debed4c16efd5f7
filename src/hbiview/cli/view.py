"""``hbiview view CT --plan P [P2 ...]``: the interactive 3D window."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def _epilog() -> str:
    from hbiview.render.keys import KEYS, TOGGLES

    keys = "\n".join(f"  {key}   {what}" for key, what in KEYS.items())
    return f"""\
examples:
  hbiview view sample_ct --plan upper-hbi
  hbiview view sample_ct --plan upper-hbi lower-hbi spine     (n / b switch between the plans)

keys in the window:
{keys}
  mouse: left-drag rotates, shift-drag pans, wheel zooms

widgets: sliders move the axial, coronal and sagittal CT planes (LPS mm) and add one isodose surface
at any percent of the prescription; the checkboxes on the left show or hide {", ".join(TOGGLES)}.

The window needs a display (or xvfb-run). Without one, use 'hbiview render CT --plan P --html page.html'
for an interactive page that opens in any browser.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``view`` sub-command."""
    parser = subparsers.add_parser(
        "view",
        help="interactive 3D window: slice sliders, structure toggles, plan switcher",
        description="Open an interactive window over a CT and one to four plans: the 3D scene with movable "
        "CT planes, an isodose-level slider, structure toggles, a plan switcher and a screenshot key.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (searched recursively) or a DICOM file")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID to read (default: largest)")
    parser.add_argument(
        "--plan", required=True, nargs="+", metavar="P", help="1 to 4 presets or plan TOML files"
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
    from hbiview.errors import InputError
    from hbiview.render._pv import has_display

    if len(args.plan) > 4:
        raise InputError(f"the viewer shows 1 to 4 plans, got {len(args.plan)}")
    if not has_display():
        raise InputError(
            "no display for an interactive window (DISPLAY is not set): run it on a desktop or under "
            "xvfb-run, or write an interactive page with 'hbiview render CT --plan P --html page.html'"
        )
    from hbiview.cli.render import load_case
    from hbiview.render.scene import SceneOptions
    from hbiview.render.viewer import Viewer

    case = load_case(args.ct, list(args.plan), args.series)
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
