"""Time hbiview.segment on a 512 x 512 x 400 CT and measure its peak memory; check its accuracy there.

Usage: ``python benchmarks/bench_segment.py [--slices 400] [--size 512]``

The CT is the sample phantom (``hbiview.sample.make_phantom``) synthesised at a fine grid: a 580 mm field
of view on ``size x size`` pixels (1.13 mm) and ``slices`` slices of 2.5 mm from the knees to the neck.
Making it is not timed. The segmentation runs in a fresh child process so that its peak resident memory
(``ru_maxrss``, including the CT itself) is measured alone. Goals (issue 4): <= 20 s on 2 cores,
peak <= 4 GB. Also printed: Dice of body, lungs and skeleton against the phantom's ground truth, the
fraction of marrow voxels given the right site, landmark errors and the active-marrow split at the
iliac crest (ICRP 110: 0.63 / 0.37).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

GOAL_SECONDS = 20.0
GOAL_PEAK_GB = 4.0


def child(folder: Path) -> None:
    """Load the CT, segment it, print time, peak memory and the result's quality as JSON."""
    from hbiview.anatomy import segment
    from hbiview.geometry import Geometry
    from hbiview.volume import CTVolume

    hu = np.load(folder / "hu.npy")
    geometry = Geometry(hu.shape, np.load(folder / "affine.npy"))
    ct = CTVolume(geometry, hu)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        cpu_start = time.process_time()
        result = segment(ct)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    del hu, ct
    labels = np.load(folder / "labels.npy")
    truth = json.loads((folder / "truth.json").read_text())

    def dice(a: np.ndarray, b: np.ndarray) -> float:
        return float(2 * np.count_nonzero(a & b) / max(np.count_nonzero(a) + np.count_nonzero(b), 1))

    s = result.structures
    out = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_gb": peak_gb,
        "dice_body": dice(s["Body"].mask, labels > 0),
        "dice_lung_l": dice(s["Lung_L"].mask, labels == 4),
        "dice_lung_r": dice(s["Lung_R"].mask, labels == 5),
        "dice_skeleton": dice(s["Skeleton"].mask, labels >= 100),
    }
    offset = labels.astype(np.int32) - 200
    true_sites = np.where((offset >= 0) & (offset < 13), offset + 1, 0)
    both = (true_sites > 0) & (result.site_labels > 0)
    out["site_accuracy"] = float(np.mean(result.site_labels[both] == true_sites[both]))
    out["landmark_errors_mm"] = {
        k: round(result.landmarks.z(k) - v, 1) for k, v in truth.items() if result.landmarks.z(k) is not None
    }
    crest = result.landmarks.z("iliac_crest")
    if crest is not None:
        z = result.structures["Marrow"].geometry.axis_coordinates_mm()[0]
        w = result.structures["Marrow"].weights
        out["split_upper_lower"] = [float(w[z >= crest].sum()), float(w[z < crest].sum())]
    out["marrow_in_scan"] = result.marrow_fraction_in_scan
    print(json.dumps(out))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child))
        return 0
    from hbiview.sample import make_phantom

    fov = 580.0
    dz = 2.5
    z_top = 1500.0  # neck
    print(f"synthesising a {args.size} x {args.size} x {args.slices} phantom CT (not timed)...", flush=True)
    phantom = make_phantom(
        spacing_mm=(dz, fov / args.size, fov / args.size),
        fov_mm=fov,
        z_range_mm=(z_top - dz * args.slices, z_top),
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "hu.npy", np.asarray(phantom.ct.array))
        np.save(folder / "affine.npy", phantom.geometry.affine)
        np.save(folder / "labels.npy", np.asarray(phantom.labels))
        (folder / "truth.json").write_text(json.dumps({**phantom.landmarks_mm, **phantom.vertebrae_mm}))
        shape = phantom.geometry.shape
        del phantom
        env = dict(os.environ, OMP_NUM_THREADS="2")
        run = subprocess.run(
            [sys.executable, __file__, "--child", str(folder)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        return 1
    r = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"CT {shape[2]} x {shape[1]} x {shape[0]} (columns x rows x slices)")
    sec, cpu, peak = r["seconds"], r["cpu_seconds"], r["peak_gb"]
    goal = GOAL_SECONDS
    print(f"segment:      {sec:6.1f} s wall, {cpu:.1f} s CPU  (goal <= {goal:.0f} s)  ratio {sec / goal:.2f}")
    print(f"peak memory:  {peak:6.2f} GB  (goal <= {GOAL_PEAK_GB:.0f} GB)  ratio {peak / GOAL_PEAK_GB:.2f}")
    print(
        f"Dice body {r['dice_body']:.3f}, lung L {r['dice_lung_l']:.3f}, lung R {r['dice_lung_r']:.3f}, "
        f"skeleton {r['dice_skeleton']:.3f}; marrow sites right {100 * r['site_accuracy']:.1f} %"
    )
    errors = r["landmark_errors_mm"]
    worst = max(errors, key=lambda k: abs(errors[k])) if errors else None
    if worst:
        print(f"landmarks: {len(errors)} found in the scan, worst {worst} {errors[worst]:+.1f} mm")
    if "split_upper_lower" in r:
        up, lo = r["split_upper_lower"]
        print(
            f"marrow above / below the iliac crest: {up:.3f} / {lo:.3f} of the body's active marrow "
            f"({r['marrow_in_scan']:.3f} inside this scan)"
        )
    ok = r["seconds"] <= GOAL_SECONDS and r["peak_gb"] <= GOAL_PEAK_GB
    print("goals met" if ok else "goals NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
