"""Dose outside the field (issue 12.2): head scatter, jaw transmission, leakage and the phantom-scatter tail.

The measured 10 MV profiles (``shared/reference/measured_10MV``, read through ``reference_dir``; skipped
without it) reach 55-60 mm beyond the field edge; farther out the engine must still give dose (a coarser grid
over the whole body) falling smoothly to the leakage floor.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hbiview.dose import plan_dose_model
from hbiview.dose.out_of_field import (
    HEAD_LEAKAGE,
    HEAD_SCATTER_FRACTION,
    JAW_TRANSMISSION,
    MAX_FIELD_HALF_MM,
    out_of_field_fluence,
)
from hbiview.plans import Beam, Normalization, Plan
from hbiview.sample import water_phantom

TANK_MM = (480, 320, 480)
SURFACE_Y = -TANK_MM[1] / 2


def test_out_of_field_fluence_closed_forms() -> None:
    beam = Beam("10MV", field_mm=(400.0, 400.0))
    u = np.arange(-400.0, 400.5, 1.0)
    opening = ((np.abs(u)[None, :] < 200.0) & (np.abs(u)[:, None] < 200.0)).astype(float)
    extra = out_of_field_fluence(beam, u, u, opening)
    centre = len(u) // 2
    # nothing is added inside the opening (there the head scatter is part of the calibrated output)
    assert np.all(extra[opening == 1.0] == 0.0)
    # just behind one jaw of a wide field half the Gaussian-blurred opening is seen: eps/2 + transmission
    assert extra[centre, centre + 201] == pytest.approx(
        HEAD_SCATTER_FRACTION / 2 + JAW_TRANSMISSION, rel=0.02
    )
    # far from the field (a corner 400 mm off axis in x and y, beyond the largest jaw opening): the head
    # leakage, plus a Gaussian tail 3.3 sigma out in both directions (1.6e-8)
    assert extra[0, 0] == pytest.approx(HEAD_LEAKAGE, rel=1e-3)
    assert MAX_FIELD_HALF_MM == 200.0


@lru_cache(maxsize=4)
def _model(field_mm: float):
    ct = water_phantom(size_mm=TANK_MM, spacing_mm=4.0)
    iso = (0.0, SURFACE_Y + 100.0, 0.0)
    beam = Beam("10MV", 0.0, 0.0, (field_mm, field_mm), ssd_mm=900.0, isocentre_lps_mm=iso)
    plan = Plan("tails", (beam,), 1.0, 1, Normalization("depth", depth_mm=100.0), False, 4.0)
    return plan_dose_model(ct, plan, grid_mm=4.0)


@pytest.mark.slow
@pytest.mark.parametrize("field_mm", [50.0, 100.0, 200.0])
def test_profile_tails_match_measurement_to_60_mm(reference_dir: Path, field_mm: float) -> None:
    with open(reference_dir / "measured_10MV" / "profiles.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if float(r["field_mm_x"]) == field_mm]
    model = _model(field_mm)
    worst = 0.0
    for depth in (15.0, 50.0, 100.0, 200.0):
        edge = field_mm / 2 * (900.0 + depth) / 1000.0
        beyond = edge + np.array([10.0, 20.0, 30.0, 40.0, 50.0, 55.0])
        measured, computed = [], []
        for axis in ("X", "Y"):
            scan = np.array(
                sorted(
                    (float(r["position_mm"]), float(r["dose_rel"]))
                    for r in rows
                    if float(r["depth_mm"]) == depth and r["scan_axis"] == axis
                )
            )
            axis_value = np.interp(0.0, scan[:, 0], scan[:, 1])
            both_sides = np.interp(beyond, scan[:, 0], scan[:, 1]) + np.interp(
                -beyond, scan[:, 0], scan[:, 1]
            )
            measured.append(both_sides / 2 / axis_value)
            pts = np.zeros((len(beyond) + 1, 3))
            pts[:, 1] = SURFACE_Y + depth
            pts[1:, 0 if axis == "X" else 2] = beyond
            dose = model.per_fraction_at(pts)
            computed.append(dose[1:] / dose[0])
        # the model has one jaw model for both axes: compare with the mean of the X and Y scans (they differ
        # by up to 40 % of each other 40-60 mm out: the upper and lower jaws see the head scatter differently)
        ratio = np.mean(computed, axis=0) / np.mean(measured, axis=0)
        worst = max(worst, float(np.abs(ratio - 1.0).max()))
    # issue 12.2: within 30 % of the measured dose 10-55 mm beyond the 50 % edge (there it is 0.7-6 % of the
    # axis dose). Measured: at most 22 / 17 / 20 % (fields 50 / 100 / 200 mm); without the head-scatter and
    # transmission terms the model was 20-70 % low at most points (a factor 2-3 at 55 mm, 15 mm deep).
    assert worst <= 0.30, (field_mm, worst)


@pytest.mark.slow
def test_dose_far_outside_the_field_falls_to_the_leakage_floor() -> None:
    ct = water_phantom(size_mm=(400, 200, 1200), spacing_mm=5.0)
    beam = Beam("10MV", 0.0, 0.0, (100.0, 100.0), ssd_mm=1000.0, isocentre_lps_mm=(0.0, -100.0, 0.0))
    plan = Plan("far", (beam,), 1.0, 1, Normalization("depth", depth_mm=50.0), False, 5.0)
    model = plan_dose_model(ct, plan, grid_mm=5.0)
    edge = 50.0 * 1.05  # geometric field edge at 50 mm depth (SSD 1000)
    beyond = np.array([50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0])
    pts = np.zeros((len(beyond) + 1, 3))
    pts[:, 1] = -50.0
    pts[1:, 2] = edge + beyond
    dose = model.beams[0].at(pts)
    relative = dose[1:] / dose[0]
    # every point out to 550 mm from the axis gets dose (the engine used to stop 80 mm beyond the jaws),
    # falling monotonically with distance
    assert np.all(relative > 0.0) and np.all(np.diff(relative) < 0.0), relative
    # 400-500 mm out only the head leakage is left: its fluence (HEAD_LEAKAGE) times the ratio of a very
    # wide field's dose to this field's axis dose at 50 mm (1.1-1.3 at 10 MV), i.e. 0.055-0.065 %; allowed
    # 0.04-0.1 % (the phantom-scatter tail adds a few thousandths of a percent). Measured 0.055 / 0.053 %.
    assert np.all((relative[-2:] >= 0.8 * HEAD_LEAKAGE) & (relative[-2:] <= 2.0 * HEAD_LEAKAGE)), relative
    # 100 mm beyond the edge the phantom scatter and head scatter still give 0.5-1 % of the axis dose (the
    # kernel's own tail plus head scatter; the measured profiles reach 60 mm). Measured 0.73 %.
    assert 0.005 <= relative[1] <= 0.01, relative[1]
