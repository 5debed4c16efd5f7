"""Lung/water dose ratios on the central axis against EGSnrc Monte Carlo (issue 12.1).

The Monte Carlo cases are in ``shared/reference/montecarlo/`` (read through the ``reference_dir`` fixture; the
tests skip without it): a finite 30 x 30 x 30 cm water box in vacuum, with or without a 10 cm lung slab
(density 0.25) from 5 to 15 cm depth, a point source at SSD 100 cm, a sharp square field defined at the
surface. hbiview computes the same two boxes (5 mm CT voxels, slab faces on voxel faces, 2.5 mm beam grid)
and the central-axis value the way the Monte Carlo scored it: the mean over the central 1 x 1 cm and the
5 mm slice.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hbiview.dose import plan_dose_model
from hbiview.plans import Beam, Normalization, Plan
from hbiview.sample import lung_slab_phantom, water_phantom

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

BOX_MM = 300.0
SURFACE_Y = -BOX_MM / 2
GRID_MM = 2.5
CASES = {"6MV_5x5": ("6MV", 50.0), "6MV_20x20": ("6MV", 200.0), "10MV_10x10": ("10MV", 100.0)}


def _read(path: Path) -> np.ndarray:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(v) for v in r.values()] for r in rows])


@lru_cache(maxsize=4)
def _ratio(case: str) -> np.ndarray:
    """hbiview's lung/water ratio at the Monte Carlo slice centres (2.5 ... 297.5 mm)."""
    energy, field = CASES[case]
    depth = np.arange(2.5, BOX_MM, 5.0)
    # the slice means: 5 depths x 5 x 5 points over the central 1 x 1 cm and the 5 mm slice
    offsets = np.stack(np.meshgrid(np.linspace(-4, 4, 5), np.linspace(-2, 2, 5), np.linspace(-4, 4, 5)), -1)
    offsets = offsets.reshape(-1, 3)
    values = {}
    for name, ct in (
        ("water", water_phantom((BOX_MM,) * 3, 5.0)),
        ("lung", lung_slab_phantom((BOX_MM,) * 3, 5.0, slab_depth_mm=50.0, slab_thickness_mm=100.0)),
    ):
        beam = Beam(energy, 0.0, 0.0, (field, field), ssd_mm=1000.0, isocentre_lps_mm=(0.0, SURFACE_Y, 0.0))
        plan = Plan("mc", (beam,), 1.0, 1, Normalization("depth", depth_mm=100.0), True, GRID_MM)
        model = plan_dose_model(ct, plan, grid_mm=GRID_MM)
        points = np.array([[0.0, SURFACE_Y + d, 0.0] for d in depth])[:, None, :] + offsets[None, :, :]
        values[name] = model.beams[0].at(points.reshape(-1, 3)).reshape(len(depth), -1).mean(axis=1)
    return values["lung"] / values["water"]


@pytest.mark.parametrize("case", ["6MV_5x5", "10MV_10x10"])
def test_lung_water_ratio_within_3_percent_of_monte_carlo(reference_dir: Path, case: str) -> None:
    mc = _read(reference_dir / "montecarlo" / case / "ratio.csv")
    depth, expected, sigma = mc[:, 0], mc[:, 1], mc[:, 2]
    model = _ratio(case)
    deviation = np.abs(model / expected - 1.0)
    beyond_sigma = deviation - sigma
    # issue 12.1: within 3 % of the Monte Carlo beyond its 1 sigma at every depth. Measured (max excess over
    # 1 sigma): 6 MV 5 x 5 2.8 % inside the slab (72.5 mm) and 1.8 % in the 5 mm slice right behind it, where
    # the dose builds up again (the electrons' density is that of their path upstream: with the local density
    # the re-build-up was immediate and this slice 3.1 % beyond); 10 MV 10 x 10 2.6 % (267.5 mm)
    assert beyond_sigma.max() <= 0.03, (case, depth[np.argmax(beyond_sigma)], beyond_sigma.max())


def test_lung_water_ratio_20x20_within_3_percent_over_depth_ranges(reference_dir: Path) -> None:
    mc = _read(reference_dir / "montecarlo" / "6MV_20x20" / "ratio.csv")
    depth, expected, sigma = mc[:, 0], mc[:, 1], mc[:, 2]
    model = _ratio("6MV_20x20")
    # the 20 x 20 case is noisier (median 1 sigma of the ratio 1.7 %) and its batch fluctuations are
    # correlated along depth, so its README says to compare over depth ranges: 25 mm windows (5 slices)
    # inside one medium, the window's 1 sigma the median of its slices (not divided by sqrt(5): correlated)
    worst = 0.0
    for lo, hi in ((20.0, 50.0), (50.0, 150.0), (150.0, 300.0)):
        inside = np.flatnonzero((depth > lo) & (depth < hi))
        for start in range(len(inside) - 4):
            window = inside[start : start + 5]
            deviation = abs(model[window].mean() / expected[window].mean() - 1.0)
            worst = max(worst, deviation - float(np.median(sigma[window])))
    # issue 12.1: within 3 % beyond 1 sigma; measured 2.3 % at most (4.0 % below the Monte Carlo over the
    # window 117.5-137.5 mm in the lung, whose median 1 sigma there is 1.7 %)
    assert worst <= 0.03, worst


def test_lung_correction_follows_the_monte_carlo_trend_with_field_size(reference_dir: Path) -> None:
    # inside the slab (100 mm) the 5 x 5 field's ratio is lower than what radiological depth alone gives
    # (lateral electron disequilibrium) by more than the 20 x 20 field's: the Monte Carlo gives 1.056 / 1.037
    # against a depth-scaled (pencil-beam) 1.115 / 1.101 (issue 12.1's starting point); the model must sit
    # within the Monte Carlo's 3 % band for both, so it reproduces the field-size dependence
    for case in ("6MV_5x5", "6MV_20x20"):
        mc = _read(reference_dir / "montecarlo" / case / "ratio.csv")
        at = np.flatnonzero(np.isclose(mc[:, 0], 97.5))[0]
        window = slice(at - 2, at + 3)
        model = _ratio(case)[window].mean()
        expected = mc[window, 1].mean()
        # 3 % of the ratio plus the case's median 1 sigma (0.8 % / 1.7 %)
        assert abs(model / expected - 1.0) <= 0.03 + float(np.median(mc[:, 2])), (case, model, expected)
