"""Time hbiview.read_ct against SimpleITK's ImageSeriesReader on the same 512 x 512 x 300 CT series.

Usage: ``python benchmarks/bench_read_ct.py [--slices 300] [--repeat 3] [--syntax explicit]``

Writes an uncompressed CT series to a temporary folder, reads it with both programs (best of ``--repeat``
runs each, in alternation so both see the same page cache), checks that both give the same voxel values and
prints both times and the ratio hbiview / SimpleITK (goal: <= 1.0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hbiview.geometry import Geometry
from hbiview.io.dicom import read_ct, write_ct
from hbiview.volume import CTVolume


def synthetic_ct(n_slices: int, size: int = 512) -> CTVolume:
    """A body-like ellipse of soft tissue with a bone ring and noise, air outside (HU, int16)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size]
    r2 = ((x - size / 2) / (size * 0.4)) ** 2 + ((y - size / 2) / (size * 0.3)) ** 2
    plane = np.where(r2 < 1, 40, -1000).astype(np.int16)
    plane[(r2 > 0.05) & (r2 < 0.08)] = 900
    hu = np.empty((n_slices, size, size), dtype=np.int16)
    for k in range(n_slices):
        hu[k] = plane + rng.integers(-20, 21, size=(size, size), dtype=np.int16)
    geometry = Geometry.from_spacing(hu.shape, (2.0, 0.9765625, 0.9765625), (-250.0, -250.0, -300.0))
    return CTVolume(geometry, hu)


def time_hbiview(folder: Path) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    ct = read_ct(folder)
    return time.perf_counter() - start, ct.array


def time_simpleitk(folder: Path) -> tuple[float, np.ndarray]:
    import SimpleITK as sitk

    start = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    array = sitk.GetArrayViewFromImage(image)
    elapsed = time.perf_counter() - start
    return elapsed, np.array(array)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--syntax", default="explicit", help="transfer syntax of the written series")
    args = parser.parse_args(argv)
    try:
        import SimpleITK  # noqa: F401
    except ImportError:
        print("SimpleITK is not installed: pip install SimpleITK", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="hbiview-bench-") as tmp:
        folder = Path(tmp) / "ct"
        ct = synthetic_ct(args.slices)
        start = time.perf_counter()
        write_ct(ct, folder, transfer_syntax=args.syntax)
        elapsed = time.perf_counter() - start
        print(f"wrote {args.slices} slices of 512 x 512 ({args.syntax}) in {elapsed:.1f} s")
        ours, theirs = [], []
        for _ in range(args.repeat):
            t_ours, ours_array = time_hbiview(folder)
            t_theirs, theirs_array = time_simpleitk(folder)
            ours.append(t_ours)
            theirs.append(t_theirs)
        if ours_array.shape != theirs_array.shape or not np.array_equal(ours_array, theirs_array):
            print("MISMATCH: hbiview and SimpleITK voxel values differ", file=sys.stderr)
            return 1
        if not np.array_equal(ours_array, ct.array):
            print("MISMATCH: hbiview does not give back the written values", file=sys.stderr)
            return 1
        best_ours, best_theirs = min(ours), min(theirs)
        print(f"hbiview.read_ct            best of {args.repeat}: {best_ours:.3f} s")
        print(f"SimpleITK ImageSeriesReader best of {args.repeat}: {best_theirs:.3f} s")
        print("same voxel values: yes")
        print(f"ratio hbiview / SimpleITK: {best_ours / best_theirs:.2f} (goal <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
