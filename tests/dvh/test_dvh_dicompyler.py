"""DVHs of a real plan against its planning system's own DVHs and against dicompyler-core's figures.

Case: ``shared/data/dicompyler_example`` (Varian Eclipse breast boost, 7 fractions, 14 Gy). The RT Dose
carries Eclipse's cumulative DVHs (DVHSequence, 0.01 Gy bins, cm3). Two conventions of that DVH were
measured here and are applied when comparing:

* each listed cumulative volume is the volume receiving at least the *centre* of its 0.01 Gy bin (with the
  lower edge instead, curves in the steep low-dose part of the Heart differ by 3.5 % of its volume; with
  the centre, by 0.4 %);
* Eclipse interpolates the structure between contour planes (shape-based: the contours are blended through
  their signed distance maps) and lets it reach a tenth of the plane spacing beyond its outermost contours:
  hbiview's ``end_caps="interpolated"``. It reproduces Eclipse's volumes of every ROI within 1 % (ours /
  Eclipse 0.991-1.005 without BODY), including the three under 1 cm3, whose volumes one slab per plane
  misses by 3-45 % (the oblique Scar most). Fitting the end extension on each ROI alone gives 0.24-0.58 mm
  (Borders, two planes, the most sensitive: 0.30 mm); one tenth of the 3 mm spacing is used for all.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from hbiview.dosevolume import dvh
from hbiview.errors import HbiviewWarning
from hbiview.io.rtdose import read_rtdose
from hbiview.io.rtstruct import read_rtstruct

BIN_GY = 0.01


@pytest.fixture(scope="module")
def case(dicompyler_dir: Path):
    dose = read_rtdose(dicompyler_dir / "rtdose.dcm", fractions=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HbiviewWarning)  # 'Areola' has no contours
        structures = read_rtstruct(dicompyler_dir / "rtss.dcm", dose.geometry)
    ds = pydicom.dcmread(dicompyler_dir / "rtdose.dcm", stop_before_pixels=True)
    tps = {}
    for item in ds.DVHSequence:
        number = int(item.DVHReferencedROISequence[0].ReferencedROINumber)
        data = np.asarray(item.DVHData, float).reshape(-1, 2)
        assert np.allclose(data[:, 0], BIN_GY) and item.DVHType == "CUMULATIVE" and item.DoseUnits == "GY"
        centres = (np.arange(len(data)) + 0.5) * BIN_GY
        tps[number] = (centres, data[:, 1])
    return dose, {s.roi_number: s for s in structures}, tps


def tps_dose_at_volume(centres: np.ndarray, volume: np.ndarray, target_cc: float) -> float:
    idx = int(np.searchsorted(-volume, -target_cc, side="right")) - 1
    v0, v1 = volume[idx], volume[idx + 1]
    return float(centres[idx] + (v0 - target_cc) / (v0 - v1) * BIN_GY)


def test_heart_against_dicompyler_core(case) -> None:
    dose, structures, _ = case
    heart = structures[5]
    h = dvh(dose, heart, supersample=1)
    # peer: dicompyler-core's test suite (README of the example): 440.23125 cm3, mean 0.6475329 Gy, on the
    # dose grid without interpolation; tolerance 1 % (issue 5). Same voxels, same answers to 1e-5.
    assert h.total_volume_cc == pytest.approx(440.23125, rel=0.01)
    assert h.mean_gy == pytest.approx(0.6475329, rel=0.01)
    # and max/min as dicompyler rounds them (3.10 / 0.03 Gy): within one 0.01 Gy bin
    assert h.max_gy == pytest.approx(3.10, abs=0.01)
    assert h.min_gy == pytest.approx(0.03, abs=0.01)


# ROIs with an embedded Eclipse DVH (all but 2 'Areola', which has no contours)
ROIS = {
    1: "BODY",
    3: "Borders",
    4: "Breast",
    5: "Heart",
    6: "Lt Lung",
    7: "Nodes",
    8: "Scar",
    9: "Tumor Bed",
    10: "Tumor Bed Block",
}


@pytest.mark.slow
@pytest.mark.parametrize("number", sorted(ROIS))
def test_rois_against_planning_system(case, number: int) -> None:
    dose, structures, tps = case
    # 0.005 Gy bins: the centres of Eclipse's 0.01 Gy bins are edges of ours, so our curve is read there
    # exactly rather than interpolated across a bin (which alone adds up to 0.9 % in steep parts)
    h = dvh(dose, structures[number], end_caps="interpolated", bin_width_gy=BIN_GY / 2)
    centres, tps_cc = tps[number]
    ours = np.interp(centres, h.dose_gy, h.volume_cc, right=0.0)
    curve = float(100 * np.abs(ours - tps_cc).max() / tps_cc[0])
    # issue 5: cumulative DVH within 2 % of the structure volume at every dose, in cm3 against Eclipse's cm3.
    # Measured (% of Eclipse's volume): BODY 0.72, Borders 0.84, Breast 0.56, Heart 0.65, Lt Lung 0.35,
    # Nodes 1.40, Scar 1.30, Tumor Bed 0.82, Tumor Bed Block 0.85. What remains: the volumes (ours/Eclipse
    # 0.991-1.005, e.g. Nodes -0.9 %, Heart -0.5 %: Eclipse's in-plane voxelisation of the contour boundary)
    # and, for Nodes and Scar (0.6 and 0.3 cm3), the dose within 0.002 Gy of a 0.01 Gy bin edge in the
    # steepest part of the curve. With slabs per plane (end_caps "full"/"half") the small ROIs are off by
    # 3-45 % of their volume (Scar: its planes are shifted 6 mm each along the skin; Eclipse interpolates).
    assert curve <= 2.0, (ROIS[number], curve)
    # issue 5: D2/D50/D95/D98 % within 0.15 Gy, at equal absolute volumes (x % of Eclipse's volume: BODY's
    # Eclipse curve starts at its first bin centre, 0.005 Gy, and so leaves out 793 cm3 of zero-dose body).
    # Measured: Scar 0.098 Gy (D98 %, its coldest 0.007 cm3 at the skin, where the dose falls by several
    # Gy per dose voxel), Lt Lung 0.049 Gy (D2 %), the others <= 0.04 Gy.
    dmetrics = [
        h.d_cc(p / 100 * tps_cc[0]) - tps_dose_at_volume(centres, tps_cc, p / 100 * tps_cc[0])
        for p in (2, 50, 95, 98)
    ]
    assert max(abs(d) for d in dmetrics) <= 0.15, (ROIS[number], dmetrics)


@pytest.mark.parametrize("number", [3, 7, 8])
def test_small_rois_need_interpolation_between_planes(case, number: int) -> None:
    # The same small ROIs with one slab per contour plane and half end planes: Eclipse's volumes (Borders
    # 0.745, Nodes 0.566, Scar 0.343 cm3) are not what those slabs enclose (0.647, 0.547, 0.493 cm3), so the
    # planning system interpolates between planes. Measured slab/Eclipse: 0.87, 0.97, 1.44; the limit is the
    # issue's 2 % of volume, which 'interpolated' meets (0.991-1.002 for these three).
    dose, structures, tps = case
    slabs = dvh(dose, structures[number], end_caps="half")
    interpolated = dvh(dose, structures[number], end_caps="interpolated")
    eclipse_cc = tps[number][1][0]
    assert abs(slabs.total_volume_cc / eclipse_cc - 1) > 0.02
    assert interpolated.total_volume_cc == pytest.approx(eclipse_cc, rel=0.02)


def test_tumor_bed_mean_and_embedded_figures(case) -> None:
    dose, structures, _ = case
    h = dvh(dose, structures[9], end_caps="interpolated")
    # Eclipse's figures for ROI 9 (README of the example; DVHMeanDose is stored in % of 14 Gy):
    # mean 14.2858 Gy, max 14.58, min 14.07, volume 12.8092 cm3. Tolerances: mean 0.15 Gy (issue 5's
    # D-metric tolerance); max/min 0.15 Gy likewise; volume 2 % (curve tolerance). Measured: mean 14.290 Gy,
    # volume 12.721 cm3 (-0.7 %).
    assert h.mean_gy == pytest.approx(14.2858, abs=0.15)
    assert h.max_gy == pytest.approx(14.58, abs=0.15)
    assert h.min_gy == pytest.approx(14.07, abs=0.15)
    assert h.total_volume_cc == pytest.approx(12.8092, rel=0.02)
    assert h.fractions == 7 and h.mean(per_fraction=True) == pytest.approx(h.mean_gy / 7)
