"""``hbiview lessons``: the teaching lessons, each a question with its answer in figures and numbers."""

from __future__ import annotations

import argparse
import textwrap
import time
from pathlib import Path
from typing import Any

from hbiview.cli._json import print_json

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  hbiview lessons                        list the lessons and the question each answers
  hbiview lessons --json                 the same as JSON
  hbiview lessons run 2                  run lesson 2 into lesson_output/02/
  hbiview lessons run 5 --out /tmp/l5    into another folder (--force to replace an earlier run)

The lessons are the scripts examples/NN_name.py of the hbiview source checkout; read and change them, or
run one directly: python examples/02_lung_correction.py --out DIR. They are not installed with the
package: run from a checkout, or set HBIVIEW_EXAMPLES to its examples/ folder.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``lessons`` sub-command."""
    parser = subparsers.add_parser(
        "lessons",
        help="list the teaching lessons or run one",
        description="List the teaching lessons (examples/NN_name.py), each answering a question about "
        "hemi-body irradiation with figures and numbers, or run one into a folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="list the lessons as JSON")
    actions = parser.add_subparsers(dest="lessons_action", metavar="run")
    runner = actions.add_parser(
        "run",
        help="run one lesson",
        description="Run one lesson: figures (PNG) and summary.md into the output folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  hbiview lessons run 3 --out lesson_output/03\n",
    )
    runner.add_argument("lesson", metavar="N", help="lesson number (1-6) or name, e.g. 2 or lung_correction")
    runner.add_argument("--out", metavar="DIR", help="output folder (default: lesson_output/NN)")
    runner.add_argument("--force", action="store_true", help="replace the files of an earlier run in DIR")
    # also after "run" (hbiview lessons run 2 -q); SUPPRESS keeps the -q given before "run"
    runner.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print only errors"
    )
    runner.add_argument(
        "--quick", action="store_true", help="coarser dose grids and smaller pictures (a few seconds faster)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """List the lessons, or run one."""
    from hbiview.lessons import LESSONS, default_out_dir, find_examples_dir, get_lesson, run_lesson

    if getattr(args, "lessons_action", None) != "run":
        folder = find_examples_dir()
        if args.json:
            rows = [
                {
                    "number": lesson.number,
                    "name": lesson.name,
                    "title": lesson.title,
                    "question": lesson.question,
                    "script": None if folder is None else str(folder / lesson.script),
                }
                for lesson in LESSONS
            ]
            print_json(args, {"lessons": rows})
            return 0
        for lesson in LESSONS:
            print(f"{lesson.number:>2}  {lesson.title}  ({lesson.script})")
            print(textwrap.indent(textwrap.fill(lesson.question, 96), "    "))
        if folder is None:
            print(
                "\nThe lesson scripts are not here (they are installed with the package, or live in "
                "examples/ of a checkout): reinstall hbiview, or set HBIVIEW_EXAMPLES to that folder."
            )
        else:
            print(f"\nscripts in {folder}/; run one with: hbiview lessons run N [--out DIR]")
        return 0

    from hbiview.errors import OutputError

    lesson = get_lesson(args.lesson)
    out = Path(args.out) if args.out else default_out_dir(lesson.number)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; choose another --out")
    if (out / "summary.md").exists() and not args.force:
        raise OutputError(f"{out}: holds an earlier run of a lesson (summary.md); use --force to replace it")
    start = time.perf_counter()
    numbers = run_lesson(lesson.number, out, quick=args.quick)
    if not args.quiet:
        files = ", ".join(numbers.get("files", []))
        print(
            f"lesson {lesson.number} ({lesson.title}) in {time.perf_counter() - start:.0f} s: {out}/ {files}"
        )
        summary = out / "summary.md"
        if summary.exists():
            for line in summary.read_text(encoding="utf-8").splitlines():
                if line.startswith("**Take-away.**"):
                    print(textwrap.fill(line.replace("**", ""), 100))
    return 0
