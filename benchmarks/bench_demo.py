"""Benchmark: ``hbiview demo`` on the bundled sample patient, as a newcomer runs it (issue 7 goal: <= 60 s).

Runs the real command (``hbiview demo --out TMP --json``) in a fresh process, ``--repeat`` times, and prints
the wall time of the whole command (imports included), its CPU time, the time of every step, and the
slowest steps. The machine is shared: the CPU time (user + system of the child) shows how much of the wall
time was waiting for a core.

    python benchmarks/bench_demo.py [--repeat 1] [--quick]

Prints ``RESULT name=... value=... unit=... goal=...`` lines for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 60.0
REPO = Path(__file__).resolve().parents[1]


def _hbiview() -> list[str]:
    exe = Path(sys.executable).with_name("hbiview")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hbiview"]


def run_once(quick: bool) -> dict:
    """One demo in a child process: wall and CPU seconds, and the demo's own JSON summary."""
    tmp = Path(tempfile.mkdtemp(prefix="hbiview-bench-demo-"))
    try:
        argv = [*_hbiview(), "demo", "--out", str(tmp / "demo"), "--json"] + (["--quick"] if quick else [])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            argv, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, HBIVIEW_NO_PROGRESS="1")
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"hbiview demo failed (exit {done.returncode}):\n{done.stderr}")
        summary = json.loads(done.stdout)
        size = sum(p.stat().st_size for p in (tmp / "demo").rglob("*") if p.is_file())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"wall": wall, "cpu": cpu, "summary": summary, "bytes": size}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs (the best is reported)")
    parser.add_argument("--quick", action="store_true", help="time 'hbiview demo --quick' instead")
    args = parser.parse_args(argv)
    if not any((REPO / "sample_ct").glob("*.dcm")):
        print("sample_ct/ not found beside benchmarks/: the demo would regenerate it", file=sys.stderr)
    runs = [run_once(args.quick) for _ in range(max(1, args.repeat))]
    best = min(runs, key=lambda r: r["wall"])
    steps = best["summary"]["steps"]
    print(f"hbiview demo{' --quick' if args.quick else ''} on {best['summary']['source']}")
    print(f"load average after the runs: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    print(f"{'step':72s} {'seconds':>8s}")
    for row in steps:
        print(f"{row['step'][:72]:72s} {row['seconds']:8.2f}")
    inside = best["summary"]["total_seconds"]
    print(f"{'sum of steps (inside the command)':72s} {inside:8.2f}")
    print(f"{'whole command, wall (imports and start-up included)':72s} {best['wall']:8.2f}")
    print(f"{'whole command, CPU (user + system)':72s} {best['cpu']:8.2f}")
    slowest = sorted(steps, key=lambda r: -r["seconds"])[:3]
    print("slowest steps: " + "; ".join(f"{r['step']} {r['seconds']:.1f} s" for r in slowest))
    print(f"output folder: {best['bytes'] / 1e6:.1f} MB, {len(best['summary']['files'])} files")
    walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
    print(f"runs (wall s): {walls}")
    name = "demo_quick" if args.quick else "demo"
    print(f"RESULT name={name}_wall value={best['wall']:.2f} unit=s goal=<={GOAL_SECONDS:g}")
    print(f"RESULT name={name}_cpu value={best['cpu']:.2f} unit=s goal=<={GOAL_SECONDS:g}")
    print(f"RESULT name={name}_output_size value={best['bytes'] / 1e6:.1f} unit=MB goal=")
    for row in slowest:
        key = re.sub(r"[^a-z0-9]+", "_", row["step"].split(",")[0].lower()).strip("_")
        print(f"RESULT name={name}_step_{key[:40]} value={row['seconds']:.2f} unit=s goal=")
    return 0


if __name__ == "__main__":
    sys.exit(main())
