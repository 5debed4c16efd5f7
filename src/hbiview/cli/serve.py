"""``hbiview serve CT --plan P``: the classroom web viewer (trame, served locally)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]

DESCRIPTION = """\
Serve a web page over a CT and one or more hbiview plans, for a teaching
session: move a field border (landmark, vertebra, disc or z in mm), change the
SSD, the lateral margin, the energy, lung correction or compensation, and watch the dose,
the DVHs of lungs, marrow and body and the key numbers follow (mean lung dose
against the pneumonitis figures, share of active marrow in the field, hot spot).
Pin a field and compare: two plans side by side with linked cameras, one colour
scale and their difference. Everything is served by this process: no internet."""

EPILOG = """\
examples:
  hbiview serve sample_ct --plan upper-hbi
      then open http://localhost:8080/index.html on this machine
  hbiview serve sample_ct --plan upper-hbi lower-hbi mid-hbi --port 8090
  hbiview serve /data/ct --plan upper-hbi --set inferior=L4-L5 --grid-mm 5
  hbiview serve sample_ct --plan upper-hbi --host 0.0.0.0
      a classroom: every student opens the URL printed (it carries a random
      access token; requests without it are refused)

The page is read-only over the case: it offers the plans given here and their
field settings, never a file. Each browser gets its own viewer (a process
forked from this one after the CT was segmented: it starts in a second), so
every student moves their own borders; with --shared every browser shares one
page instead (the teacher's changes show on every screen, as on a projector).
Stop the server with Ctrl+C.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` sub-command."""
    from hbiview.cli._planopts import add_plan_arguments

    parser = subparsers.add_parser(
        "serve",
        help="classroom web viewer: move a border, watch dose, DVHs and key numbers follow",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (searched recursively) or a DICOM file")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID to read (default: largest)")
    add_plan_arguments(parser, required=True, plan_help="preset name(s) or plan TOML file(s) the page offers")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: the classroom, with a "
        "random access token in the URL)",
    )
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="one page for the whole room: every browser sees and changes the same settings (a projector); "
        "default: each browser gets its own viewer",
    )
    return parser


def _check_plans(plans: list[str]) -> None:
    """Refuse a plan that is neither a preset nor an existing file, before the CT is read."""
    from pathlib import Path

    from hbiview.errors import PlanError
    from hbiview.plans import list_presets

    names = [n for n, _ in list_presets()]
    for plan in plans:
        if plan not in names and not Path(plan).is_file():
            raise PlanError(f"plan {plan!r} is neither a preset ({', '.join(names)}) nor a plan file")


def run(args: argparse.Namespace) -> int:
    """Load the case, compute the first plan and serve the page until Ctrl+C."""
    from hbiview.cli._planopts import plan_options
    from hbiview.serve.app import _require_trame, check_port
    from hbiview.serve.security import is_loopback, new_token

    _require_trame()
    plans = list(dict.fromkeys(args.plan))
    check_port(args.host, args.port)  # a port in use fails before the long steps
    _check_plans(plans)
    options = plan_options(plans, args.options)
    if args.no_heterogeneity:
        for opts in options:
            opts["heterogeneity"] = False
    from hbiview.pipeline import load_case
    from hbiview.progress import progress
    from hbiview.serve.model import ServeModel

    case = load_case(args.ct, series=args.series)
    tasks = [lambda: case.anatomy]
    for _ in progress(tasks, desc="segmenting the CT"):
        _()
    model = ServeModel(case, plans, grid_mm=args.grid_mm or 5.0, options=options)
    first = model.compute(model.default_settings())  # the page opens on a computed plan
    first.numbers  # noqa: B018 - its DVHs too, before a viewer is forked for a browser
    token = None if is_loopback(args.host) else new_token()

    def ready(url: str) -> None:
        lines = [f"hbiview serve: {case.source}, plans {', '.join(plans)}"]
        lines += ["  " + line for line in first.numbers.lines()]
        lines.append(f"open {url}")
        if token:
            lines.append("  (share this URL with the class: requests without its token are refused)")
        lines.append("stop with Ctrl+C")
        print("\n".join(lines), flush=True)

    import os

    from hbiview.serve.app import serve
    from hbiview.serve.rooms import serve_rooms

    shared = args.shared or not hasattr(os, "fork")  # one viewer per browser needs fork (POSIX)
    if shared and not args.shared:
        from hbiview.errors import warn

        warn("this system cannot fork: every browser shares one page (as with --shared)")
    try:
        if shared:
            serve(model, host=args.host, port=args.port, token=token, on_ready=ready)
        else:
            serve_rooms(model, host=args.host, port=args.port, token=token, on_ready=ready)
    except KeyboardInterrupt:
        pass
    return 0
