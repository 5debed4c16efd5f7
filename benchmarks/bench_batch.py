"""Cohort throughput: the same cohort with one and with two local Dask workers, and the cost per patient.

Usage: ``python benchmarks/bench_batch.py [--patients 6] [--plans upper-hbi lower-hbi]``

The cohort is the sample phantom in ``--patients`` variants (thin, thick, arms up, couch; hbiview's
default 5 x 3.5 x 3.5 mm grid), written as DICOM before timing. Each run starts its own local cluster
(start-up included in the time, as a user sees it) and writes its own table. Goal (issue 17): two workers
at least 1.7 times the throughput of one on a 2-core machine. Prints RESULT lines for run_all.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

GOAL_SPEEDUP = 1.7


def _variants(n: int) -> list[dict[str, object]]:
    base: list[dict[str, object]] = [
        {},
        {"lateral_scale": 0.85, "ap_scale": 0.85},
        {"lateral_scale": 1.2, "ap_scale": 1.2},
        {"arms": "up"},
        {"couch": True},
        {"height_mm": 1600.0},
    ]
    return [dict(base[i % len(base)], seed=i) for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=6)
    parser.add_argument("--plans", nargs="+", default=["upper-hbi", "lower-hbi"])
    args = parser.parse_args()

    from hbiview.cohort import CohortInput, run_cohort
    from hbiview.io.dicom import write_ct
    from hbiview.sample import make_phantom

    with tempfile.TemporaryDirectory(prefix="hbiview-bench-batch-") as tmp:
        root = Path(tmp)
        inputs = []
        print(f"writing {args.patients} phantom CTs (not timed)...", flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, options in enumerate(_variants(args.patients)):
                folder = root / f"p{i:02d}"
                write_ct(make_phantom(**options).ct, folder, uid_seed=f"bench-{i}")  # type: ignore[arg-type]
                inputs.append(CohortInput(folder.name, str(folder)))
        seconds = {}
        for workers in (1, 2):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = run_cohort(inputs, args.plans, root / f"cohort_{workers}.parquet", workers=workers)
            seconds[workers] = time.perf_counter() - start
            if run.failed:
                print(f"failed patients: {run.failed}", file=sys.stderr)
                return 1
            case = sum(r["case_seconds"] for r in run.rows if r["plan"] == args.plans[0]) / len(inputs)
            plan = sum(r["plan_seconds"] for r in run.rows) / len(run.rows)
            print(
                f"{workers} worker(s): {seconds[workers]:.1f} s for {len(inputs)} patients x "
                f"{len(args.plans)} plans; per patient {case:.1f} s reading and segmentation, "
                f"{plan:.1f} s per plan"
            )
            print(f"RESULT name=batch_{workers}_worker_seconds value={seconds[workers]:.2f} unit=s goal=")
            per_patient = seconds[workers] / len(inputs)
            print(f"RESULT name=batch_{workers}_worker_per_patient value={per_patient:.2f} unit=s goal=")
        speedup = seconds[1] / seconds[2]
        print(f"throughput 2 workers / 1 worker: {speedup:.2f}x (goal >= {GOAL_SPEEDUP}x)")
        print(f"RESULT name=batch_speedup_2_vs_1_workers value={speedup:.2f} unit=x goal=>={GOAL_SPEEDUP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
