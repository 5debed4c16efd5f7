"""``hbiview batch CT... --plan P ... --out cohort.parquet``: the same plans over many CTs (Dask)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  hbiview batch ct/p001 ct/p002 ct/p003 --plan upper-hbi lower-hbi --out cohort.parquet
  hbiview batch --list cohort.csv --plan upper-hbi --set superior=C1 --out cohort.csv --workers 2
  hbiview batch ct/* --plan lower-hbi --set inferior=knees --out knees.parquet --scheduler tcp://host:8786
  hbiview report cohort.parquet --out cohort.html          # box plots and scatter plots by plan

One row per patient and plan: landmarks, field extent, separation, mean lung dose, lung V5/V8, the share of
active marrow in the field and above 50 % of the prescription, body maximum, warnings, run times (the
columns are listed in the README). A patient that fails is recorded with its error and the cohort goes on.
The table is rewritten after every patient; running the same command again skips the patients already
done (--restart starts over). The list file is a CSV with a 'ct' column (paths relative to the list) and
optionally 'patient'. Needs: pip install "hbiview[cohort]".
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``batch`` sub-command."""
    from hbiview.cli._planopts import add_plan_arguments

    parser = subparsers.add_parser(
        "batch",
        help="the same plans over a cohort of CTs (one row per patient and plan; Dask)",
        description="Run plan presets or TOML plans over many CTs, one Dask task per patient (a local "
        "cluster by default, or an existing scheduler), and write one row per patient and plan.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("cts", metavar="CT", nargs="*", help="CT folders (or files), one per patient")
    parser.add_argument("--list", metavar="FILE.csv", help="CSV list of CTs: columns 'ct' and 'patient'")
    add_plan_arguments(parser, required=True, plan_help="plans to run on every patient")
    parser.add_argument("--out", required=True, metavar="FILE", help="cohort table: .parquet or .csv")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local Dask cluster (default 2, or the cores if fewer); "
        "0 runs the patients one after the other without Dask",
    )
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, tcp://host:port")
    parser.add_argument(
        "--memory-gb",
        type=float,
        default=4.0,
        metavar="GB",
        help="memory limit of each local worker (default 4); a patient exceeding it is recorded as failed",
    )
    parser.add_argument("--restart", action="store_true", help="ignore the rows already in --out")
    parser.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the cohort and print a summary."""
    import json
    from pathlib import Path

    from hbiview.cli._planopts import plan_options
    from hbiview.cohort import cohort_inputs, run_cohort
    from hbiview.cohort.run import _progress_printer
    from hbiview.cohort.table import TABLE_SUFFIXES
    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable

    out = Path(args.out)
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(f"{out}: the cohort table is .parquet or .csv")
    check_writable(out, force=True)
    if args.memory_gb <= 0:
        raise InputError(f"--memory-gb {args.memory_gb}: give a positive number of GB")
    inputs = cohort_inputs(args.cts, args.list)
    plans = list(dict.fromkeys(args.plan))
    options = dict(zip(plans, plan_options(plans, args.options)))
    show = None if args.quiet or args.json else _progress_printer(len(inputs))
    result = run_cohort(
        inputs,
        plans,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        memory_per_worker_gb=args.memory_gb,
        resume=not args.restart,
        grid_mm=args.grid_mm,
        heterogeneity=False if args.no_heterogeneity else None,
        options=options,
        on_patient=show,
    )
    summary = {
        "output": str(out),
        "patients": len(inputs),
        "plans": plans,
        "computed": list(result.computed),
        "skipped_already_done": list(result.skipped),
        "failed": list(result.failed),
        "rows": len(result.rows),
        "seconds": round(result.seconds, 1),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        print(
            f"{out}: {len(result.rows)} rows ({len(inputs)} patients x {len(plans)} plans); computed "
            f"{len(result.computed)}, already done {len(result.skipped)}, failed {len(result.failed)}"
            + (f" ({', '.join(result.failed)})" if result.failed else "")
            + f"; {result.seconds:.0f} s"
        )
    return 0
