"""``hbiview plans``: the plan presets, and a preset dumped as a TOML plan file to start from."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "parse_options", "run"]

EPILOG = """\
examples:
  hbiview plans                                   table of presets
  hbiview plans --dump upper-hbi --out my.toml    a preset as a plan file (on the bundled sample patient)
  hbiview plans --dump spine --ct /data/ct --set level=L3 --set schedule=20x5 --out spine.toml
  hbiview plans --dump upper-hbi > my.toml        the same on stdout, for pipes
  hbiview dose /data/ct --plan my.toml --out dose.dcm

--out FILE is the safe form: the file is written only when the preset was built (to a temporary name, then
renamed), and an existing file is kept unless --force. With '> my.toml' the shell creates (or empties)
my.toml before hbiview runs, so a mistyped preset leaves an empty file behind.

Preset options (--set KEY=VALUE): all presets: energy (Co60, 6MV, 10MV, 15MV, 18MV), margin_mm, grid_mm,
heterogeneity, prescription_gy, fractions, compensation=none|midplane (missing-tissue compensators that
even out the midplane dose); upper/mid/lower-hbi: superior=, inferior= (a landmark such as
iliac_crest or knees, a vertebra such as L5, a disc such as L4-L5, or z in mm), ssd_mm=1000..2000 (the
source-skin distance; default the shortest, in 50 mm steps, at which the field covers the borders);
lower-hbi: pairs=1|2|auto
(two abutting AP/PA pairs matched at midplane when one field cannot cover; lower-hbi-2pairs always);
spine: level=T10, schedule=8x1|20x5|30x10, technique=PA|AP/PA, width_mm, depth_mm; pelvis: schedule.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``plans`` sub-command."""
    parser = subparsers.add_parser(
        "plans",
        help="list plan presets or dump one as a TOML plan file",
        description="List the plan presets (hemi-body and localized fields), or write one as a TOML plan "
        "file to edit. Presets take their borders from the landmarks of a CT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dump", metavar="PRESET", help="print PRESET as a TOML plan file")
    parser.add_argument(
        "--out", metavar="FILE", help="with --dump: write the TOML plan file here (safer than '> FILE')"
    )
    parser.add_argument("--force", action="store_true", help="with --out: replace an existing file")
    parser.add_argument(
        "--ct",
        metavar="CT",
        help="CT folder the preset is built on (default: sample_ct/ or the built-in phantom)",
    )
    parser.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], dest="options", help="preset option"
    )
    parser.add_argument("--json", action="store_true", help="list the presets as JSON")
    return parser


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["level=T10", "width_mm=90"]`` -> ``{"level": "T10", "width_mm": 90.0}`` (numbers and booleans)."""
    from hbiview.errors import InputError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: write KEY=VALUE, e.g. --set level=T10")
        text = value.strip()
        parsed: Any = text
        if text.lower() in ("true", "false"):
            parsed = text.lower() == "true"
        else:
            try:
                parsed = float(text)
            except ValueError:
                parsed = text
        out[key.strip()] = parsed
    return out


def default_ct() -> tuple[Any, str]:
    """The CT presets are shown on without ``--ct``: ``./sample_ct`` if present, else the built-in phantom."""
    from pathlib import Path

    if Path("sample_ct").is_dir() and any(Path("sample_ct").glob("*.dcm")):
        from hbiview.io.dicom import read_ct

        return read_ct("sample_ct"), "sample_ct/"
    from hbiview.sample import make_phantom

    return make_phantom().ct, "the built-in synthetic phantom (hbiview.sample.make_phantom)"


def run(args: argparse.Namespace) -> int:
    """List the presets or dump one (to stdout, or atomically to ``--out``)."""
    from hbiview.errors import InputError
    from hbiview.plans import list_presets

    out = getattr(args, "out", None)
    names = [n for n, _ in list_presets()]
    if args.dump and args.dump not in names:
        from hbiview.errors import PlanError

        raise PlanError(
            f"unknown preset {args.dump!r}; choose one of {', '.join(names)} (see 'hbiview plans')"
        )
    if not args.dump:
        if out:
            raise InputError("--out writes a dumped preset: add --dump PRESET (see 'hbiview plans --help')")
        presets = list_presets()
        if args.json:
            from hbiview.cli._json import print_json

            print_json(args, {"presets": [{"name": n, "description": d} for n, d in presets]})
            return 0
        width = max(len(n) for n, _ in presets)
        print(f"{'preset':<{width}}  description")
        for name, text in presets:
            print(f"{name:<{width}}  {text}")
        print("\nDump one as a plan file to edit: hbiview plans --dump upper-hbi --out my.toml")
        return 0
    if out:
        from hbiview.io.atomic import check_writable

        check_writable(out, args.force)  # before the work: an existing file is named at once
    from hbiview.pipeline import load_case

    if args.ct:
        case = load_case(args.ct)
        where = args.ct
    else:
        ct, where = default_ct()
        case = load_case(ct)
    # the preset's borders come from the case's landmarks, searched once (hbiview.pipeline.Case)
    plan = case.plan(args.dump, **parse_options(args.options))
    text = (
        f"# built on {where}; isocentre_lps_mm positions (and an lps prescription point) refer to that CT:\n"
        "# delete them to let hbiview centre the beams on another patient (SSD set-ups keep their SSD).\n"
        + plan.to_toml()
    )
    if not out:
        sys.stdout.write(text)
        return 0
    from hbiview.io.atomic import atomic_path

    with atomic_path(out, args.force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if not getattr(args, "quiet", False):
        print(f"wrote {out}")
    return 0
