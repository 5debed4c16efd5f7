"""Benchmark of the DVH engine (a script, not a test).

1. DVHs of 6 structures (body, two lungs, heart, liver, marrow with active-marrow weights) on a 5 mm
   whole-body dose grid: goal <= 0.2 s.
2. The Heart of the dicompyler example case against dicompyler-core's ``get_dvh`` (same machine, same run):
   goal >= 10x faster at equal or better agreement with the planning system's own DVH (Eclipse,
   DVHSequence of the RT Dose). Both sides start from the files (read, rasterise, histogram).

Agreement is the largest difference between cumulative curves, in % of the structure's volume, taken at the
centres of Eclipse's 0.01 Gy bins (the convention its DVH was measured to follow; see
tests/dvh/test_dvh_dicompyler.py), and the largest difference of D2/D50/D95/D98 %.

dicompyler-core is installed only in the benchmark environment (``pip install dicompyler-core``); version
0.5.6 still calls ``pydicom.dicomio.read_file``, removed in pydicom 3, so the script aliases it to
``pydicom.dcmread`` before importing it.

Run: ``python benchmarks/bench_dvh.py [--shared PATH]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hbiview import dosevolume
from hbiview.dosevolume import dvh, dvhs
from hbiview.errors import HbiviewWarning
from hbiview.geometry import Geometry
from hbiview.volume import DoseGrid, Structure

REPO = Path(__file__).resolve().parents[1]


def best_of(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def whole_body_case() -> tuple[DoseGrid, list[Structure]]:
    """A 5 mm grid over 180 x 55 x 35 cm with an upper hemi-body dose (6 Gy, sigmoid border at the navel)."""
    g = Geometry.from_spacing((360, 70, 110), (5.0, 5.0, 5.0), (-272.5, -172.5, -897.5), None, "1.2.3.4")
    z, y, x = np.meshgrid(*g.axis_coordinates_mm(), indexing="ij")
    body = ((x / 190) ** 2 + (y / 120) ** 2 <= 1) & (z > -880) & (z < 880)
    lung_l = ((x - 80) / 60) ** 2 + ((y + 10) / 70) ** 2 + ((z - 350) / 130) ** 2 <= 1
    lung_r = ((x + 80) / 60) ** 2 + ((y + 10) / 70) ** 2 + ((z - 350) / 130) ** 2 <= 1
    heart = ((x - 20) / 55) ** 2 + ((y + 30) / 50) ** 2 + ((z - 280) / 60) ** 2 <= 1
    liver = ((x + 60) / 90) ** 2 + (y / 70) ** 2 + ((z - 170) / 80) ** 2 <= 1
    marrow = ((np.abs(x) < 18) & (np.abs(y - 80) < 18) & (z > -150) & (z < 650)) | (
        (np.abs(x) > 60) & (np.abs(x) < 150) & (np.abs(y - 40) < 40) & (z > -250) & (z < -120)
    )
    weights = np.where(marrow, np.where(z > 0, 1.0, 0.6), 0.0)
    weights = (weights / weights.sum() * 0.9).astype(np.float32)  # 90 % of the body's active marrow in scan
    depth = 120 - np.abs(y)
    dose = 6.0 / (1 + np.exp(-(z - 0) / 10)) * (0.95 + 0.05 * depth / 120) * body
    dose = np.where(lung_l | lung_r, dose * 1.08, dose)
    structures = [
        Structure(g, body, name="Body"),
        Structure(g, lung_l, name="Lung_L"),
        Structure(g, lung_r, name="Lung_R"),
        Structure(g, heart, name="Heart"),
        Structure(g, liver, name="Liver"),
        Structure(g, marrow, name="Marrow", weights=weights),
    ]
    return DoseGrid(g, dose.astype(np.float32)), structures


def bench_whole_body() -> None:
    dose, structures = whole_body_case()
    n_vox = sum(int(s.mask.sum()) for s in structures)

    def first() -> dict[str, Any]:
        dosevolume._PLANS.clear()  # nothing kept: the first DVHs of these structures
        return dvhs(dose, structures)

    t, result = best_of(first)
    print(f"[1] 6 structures on a 5 mm whole-body dose grid {dose.geometry.shape} ({n_vox} structure voxels)")
    print(f"    dvhs(): {t * 1000:.1f} ms (goal <= 200 ms) -> {'met' if t <= 0.2 else 'NOT met'}")
    # another dose on the same grid (a border moved in hbiview serve): the structures' sample plans kept
    again = DoseGrid(dose.geometry, dose.array * np.float32(1.1))
    t_again, _ = best_of(lambda: dvhs(again, structures))
    print(f"    dvhs() of another dose on the same grid (sample plans kept): {t_again * 1000:.1f} ms")
    lungs = [result["Lung_L"], result["Lung_R"]]
    mld = sum(h.mean_gy * h.total_volume_cc for h in lungs) / sum(h.total_volume_cc for h in lungs)
    print(
        f"    mean lung dose {mld:.2f} Gy; "
        f"active marrow >= 3 Gy {result['Marrow'].weighted_fraction_at_least(3):.3f}"
    )


def tps_curves(rtdose: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    import pydicom

    ds = pydicom.dcmread(rtdose, stop_before_pixels=True)
    out = {}
    for item in ds.DVHSequence:
        data = np.asarray(item.DVHData, float).reshape(-1, 2)
        centres = (np.arange(len(data)) + 0.5) * float(data[0, 0])
        out[int(item.DVHReferencedROISequence[0].ReferencedROINumber)] = (centres, data[:, 1])
    return out


def tps_dose_at(centres: np.ndarray, volume: np.ndarray, target_cc: float) -> float:
    idx = int(np.searchsorted(-volume, -target_cc, side="right")) - 1
    v0, v1 = volume[idx], volume[idx + 1]
    return float(centres[idx] + (v0 - target_cc) / (v0 - v1) * (centres[1] - centres[0]))


def agreement(
    dose_gy: np.ndarray, volume_cc: np.ndarray, d_at: Callable[[float], float], tps
) -> tuple[float, float]:
    centres, tps_cc = tps
    ours = np.interp(centres, dose_gy, volume_cc, right=0.0)
    curve = float(100 * np.abs(ours - tps_cc).max() / volume_cc[0])
    d = max(
        abs(d_at(p / 100 * tps_cc[0]) - tps_dose_at(centres, tps_cc, p / 100 * tps_cc[0]))
        for p in (2, 50, 95, 98)
    )
    return curve, d


def bench_dicompyler(case: Path) -> None:
    import pydicom
    import pydicom.dicomio

    from hbiview.io.rtdose import read_rtdose
    from hbiview.io.rtstruct import read_rtstruct

    rtss, rtdose = case / "rtss.dcm", case / "rtdose.dcm"
    tps = tps_curves(rtdose)[5]

    def ours(end_caps: str = "full"):
        dose = read_rtdose(rtdose, fractions=7)
        (heart,) = read_rtstruct(rtss, dose.geometry, names=["Heart"])
        return dvh(dose, heart, end_caps=end_caps)

    try:
        if not hasattr(pydicom.dicomio, "read_file"):
            pydicom.dicomio.read_file = pydicom.dcmread  # dicompyler-core 0.5.6 with pydicom 3
        from dicompylercore import dvhcalc
    except ImportError:
        dvhcalc = None
    # interleave the runs so that both sides see the same machine load; keep each side's fastest run
    runs: dict[str, list[float]] = {"ours": [], "half": [], "peer": []}
    h = h_half = peer = None
    for _ in range(15):
        t, h = best_of(ours, 1)
        runs["ours"].append(t)
        t, h_half = best_of(lambda: ours("half"), 1)
        runs["half"].append(t)
        if dvhcalc is not None:
            t, peer = best_of(lambda: dvhcalc.get_dvh(str(rtss), str(rtdose), 5), 1)
            runs["peer"].append(t)
    t_ours, t_half = min(runs["ours"]), min(runs["half"])
    a_ours = agreement(h.dose_gy, h.volume_cc, h.d_cc, tps)
    a_half = agreement(h_half.dose_gy, h_half.volume_cc, h_half.d_cc, tps)
    print(
        "[2] dicompyler example, ROI 5 Heart (from the files: read, rasterise, histogram; fastest of 15 runs)"
    )
    print(
        f"    hbiview               {t_ours * 1000:7.1f} ms  volume {h.total_volume_cc:.2f} cm3  "
        f"mean {h.mean_gy:.4f} Gy"
        f"  vs Eclipse: curve {a_ours[0]:.2f} % of volume, D-metrics {a_ours[1]:.3f} Gy"
    )
    print(
        f"    hbiview end_caps=half {t_half * 1000:7.1f} ms  volume {h_half.total_volume_cc:.2f} cm3  mean "
        f"{h_half.mean_gy:.4f} Gy  vs Eclipse: curve {a_half[0]:.2f} %, D-metrics {a_half[1]:.3f} Gy"
    )
    if dvhcalc is None:
        print("    dicompyler-core is not installed (pip install dicompyler-core): no peer timing")
        return
    t_peer = min(runs["peer"])
    cum = peer.cumulative
    volume = np.asarray(cum.counts, float)  # volume receiving at least bins[i] (bins has one more edge)
    edges = np.asarray(cum.bins, float)[: volume.size]

    def peer_d(target_cc: float) -> float:
        idx = int(np.searchsorted(-volume, -target_cc, side="right")) - 1
        if idx >= volume.size - 1:
            return float(edges[-1])
        v0, v1 = volume[idx], volume[idx + 1]
        return float(edges[idx] + (v0 - target_cc) / (v0 - v1) * (edges[idx + 1] - edges[idx]))

    a_peer = agreement(edges, volume, peer_d, tps)
    print(
        f"    dicompyler-core       {t_peer * 1000:7.1f} ms  volume {peer.volume:.2f} cm3  "
        f"mean {peer.mean:.4f} Gy"
        f"  vs Eclipse: curve {a_peer[0]:.2f} % of volume, D-metrics {a_peer[1]:.3f} Gy"
    )
    ratio = t_peer / t_ours
    better = a_ours[0] <= a_peer[0] + 1e-9 and a_ours[1] <= a_peer[1] + 1e-9
    print(
        f"    speed ratio dicompyler / hbiview: {ratio:.1f}x (goal >= 10x) -> "
        f"{'met' if ratio >= 10 else 'NOT met'}; "
        f"agreement {'equal or better' if better else 'WORSE'}"
    )
    print(f"    (end_caps=half: ratio {t_peer / t_half:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shared", type=Path, default=REPO.parent / "shared", help="the team's shared/ folder"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", HbiviewWarning)
    bench_whole_body()
    case = args.shared / "data" / "dicompyler_example"
    if case.is_dir():
        bench_dicompyler(case)
    else:
        print(f"[2] {case} not found: peer comparison skipped")


if __name__ == "__main__":
    main()
