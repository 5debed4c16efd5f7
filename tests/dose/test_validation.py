"""Validation of the convolution engine against measured and published beam data (issue 3, "Validation").

Measured data are read from ``shared/reference/`` through the ``reference_dir`` fixture (the tests skip
without it). Phantoms are built with :mod:`hbiview.sample` (water box in air, box faces on voxel faces).
The beam is computed at 2 mm (BEV steps along and across the axis) on a 4 mm density grid; doses are read
on lines of points, not on a dose grid, to keep each test to a few seconds.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hbiview.dose import compute_dose_result, plan_dose_model
from hbiview.plans import Beam, Normalization, Plan
from hbiview.sample import lung_slab_phantom, water_phantom

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

FIELDS_MM = (50, 100, 150, 200, 400)
GRID_MM = 2.0
# water tank: wide enough for the 400 mm field at 300 mm depth (half width 240 mm) plus scatter
TANK_MM = (640, 360, 640)
SURFACE_Y = -TANK_MM[1] / 2  # anterior face, where an AP beam enters


@lru_cache(maxsize=1)
def _tank():
    return water_phantom(size_mm=TANK_MM, spacing_mm=4.0)


def _ssd_plan(
    field_mm: float, energy: str = "10MV", ssd_mm: float = 900.0, surface_y: float = SURFACE_Y
) -> Plan:
    iso = (0.0, surface_y + (1000.0 - ssd_mm), 0.0)
    beam = Beam(energy, 0.0, 0.0, (field_mm, field_mm), ssd_mm=ssd_mm, isocentre_lps_mm=iso)
    return Plan("validation", (beam,), 1.0, 1, Normalization("depth", depth_mm=100.0), False, GRID_MM)


@lru_cache(maxsize=8)
def _model_10mv(field_mm: int):
    return plan_dose_model(_tank(), _ssd_plan(field_mm), grid_mm=GRID_MM)


def _axis_points(depth_mm: np.ndarray, surface_y: float = SURFACE_Y) -> np.ndarray:
    return np.stack([np.zeros_like(depth_mm), surface_y + depth_mm, np.zeros_like(depth_mm)], axis=1)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _peak_depth(depth: np.ndarray, dose: np.ndarray) -> float:
    """Depth of maximum from a parabola through the highest point and its neighbours."""
    i = int(np.clip(np.argmax(dose), 1, len(dose) - 2))
    y0, y1, y2 = dose[i - 1], dose[i], dose[i + 1]
    shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) if (y0 - 2 * y1 + y2) != 0 else 0.0
    return float(depth[i] + shift * (depth[1] - depth[0]))


@pytest.mark.parametrize("field_mm", FIELDS_MM)
def test_10mv_depth_dose_matches_measurement(reference_dir: Path, field_mm: int) -> None:
    rows = [
        r
        for r in _read(reference_dir / "measured_10MV" / "depth_dose.csv")
        if float(r["field_mm_x"]) == field_mm
    ]
    measured = np.array(sorted((float(r["depth_mm"]), float(r["dose_rel"])) for r in rows))
    depth_meas, reading = measured[:, 0], measured[:, 1]
    pdd_meas = reading / reading.max() * 100.0
    dmax_meas = float(depth_meas[np.argmax(reading)])

    depth = np.arange(0.0, 320.0, 1.0)
    dose = _model_10mv(field_mm).per_fraction_at(_axis_points(depth))
    pdd = dose / dose.max() * 100.0
    dmax_model = _peak_depth(depth, dose)
    # dmax within 3 mm (issue 3); the measured raw maximum itself is uncertain by 1-2 mm (noise, README)
    assert abs(dmax_model - dmax_meas) <= 3.0, (dmax_model, dmax_meas)
    sel = (depth >= dmax_meas) & (depth <= 300.0)
    diff = pdd[sel] - np.interp(depth[sel], depth_meas, pdd_meas)
    # PDD within 2 % of the maximum from dmax to 300 mm (issue 3); measured at commissioning: max |diff|
    # 0.3-1.5 % over the five fields with TPR20,10 = 0.740 fitted to these curves
    assert np.abs(diff).max() <= 2.0, (field_mm, diff.min(), diff.max())


def _profile_metrics(position: np.ndarray, dose: np.ndarray) -> tuple[float, float, np.ndarray]:
    """50 % half-width and 80-20 % penumbra (mm) of the positive side, and the profile in % of the axis."""
    profile = dose / np.interp(0.0, position, dose) * 100.0
    pos = position > 0
    x, p = position[pos], profile[pos]

    def crossing(level: float) -> float:
        i = np.flatnonzero((p[:-1] >= level) & (p[1:] < level))[0]
        return float(x[i] + (level - p[i]) * (x[i + 1] - x[i]) / (p[i + 1] - p[i]))

    return crossing(50.0), crossing(20.0) - crossing(80.0), profile


@pytest.mark.parametrize("field_mm", FIELDS_MM[:4])
def test_10mv_profiles_match_measurement(reference_dir: Path, field_mm: int) -> None:
    rows = _read(reference_dir / "measured_10MV" / "profiles.csv")
    model = _model_10mv(field_mm)
    checked = 0
    for depth in (15.0, 50.0, 100.0, 200.0):
        for axis in ("X", "Y"):
            scan = [
                r
                for r in rows
                if float(r["field_mm_x"]) == field_mm
                and float(r["depth_mm"]) == depth
                and r["scan_axis"] == axis
            ]
            data = np.array(sorted((float(r["position_mm"]), float(r["dose_rel"])) for r in scan))
            half_meas, pen_meas, prof_meas = _profile_metrics(data[:, 0], data[:, 1])
            x = np.arange(data[0, 0], data[-1, 0] + 0.25, 0.5)
            # measured X runs along the patient's left-right axis, Y along superior-inferior (collimator 0)
            pts = np.zeros((len(x), 3))
            pts[:, 1] = SURFACE_Y + depth
            pts[:, 0 if axis == "X" else 2] = x
            half_model, pen_model, prof_model = _profile_metrics(x, model.per_fraction_at(pts))
            where = f"{field_mm} mm field, depth {depth:g} mm, {axis}"
            # 50 % field width within 2 mm (issue 3); measured: model wider by up to 1.8 mm (X) and 1.3 mm
            # (Y); the diode's X edges lie 0.4-0.8 mm inside the geometric edge (reference README)
            assert abs(2 * (half_model - half_meas)) <= 2.0, (where, 2 * half_model, 2 * half_meas)
            # 80-20 % penumbra within 3 mm (issue 3); measured: within 1.0 mm (largest: X scans at 15 mm,
            # model 0.6-1.0 mm sharper; the diode's X penumbrae are 0.4-1.0 mm wider than its Y penumbrae at
            # every depth, a jaw difference the model's single source blur does not represent)
            assert abs(pen_model - pen_meas) <= 3.0, (where, pen_model, pen_meas)
            geometric_half = field_mm / 2 * (900.0 + depth) / 1000.0
            central = np.abs(data[:, 0]) <= 0.8 * geometric_half
            diff = np.interp(data[central, 0], x, prof_model) - prof_meas[central]
            # central 80 % of the geometric field within 3 % (issue 3); measured: at most 2.7 % (150 mm field,
            # 15 mm depth, Y), 1.7 % at 50 mm and deeper. The 50 mm field at 15 mm depth (build-up region) is
            # within 1.0 % since the kernel's build-up narrowing (hbiview.dose.kernel.BUILDUP_NARROWING);
            # without it 3.8 % at the outermost 1 mm of the central region, where the shoulder was too round.
            assert np.abs(diff).max() <= 3.0, (where, diff.min(), diff.max())
            checked += 1
    assert checked == 8


def test_6mv_depth_dose_matches_typical_values(reference_dir: Path) -> None:
    rows = _read(reference_dir / "pdd_6MV_10x10_bjr25_typical.csv")
    typical = {float(r["depth_cm"]) * 10: float(r["pdd_percent"]) for r in rows}
    ct = water_phantom(size_mm=(400, 320, 400), spacing_mm=4.0)
    surface = -160.0
    model = plan_dose_model(ct, _ssd_plan(100.0, "6MV", 1000.0, surface), grid_mm=GRID_MM)
    depth = np.arange(0.0, 260.0, 1.0)
    dose = model.per_fraction_at(_axis_points(depth, surface))
    pdd = dose / dose.max() * 100.0
    for d in (50.0, 100.0, 200.0):
        # within 2 % of the typical values (issue 3); measured: 85.2/65.9/37.8 vs 85.5/66.9/38.4
        assert abs(pdd[int(d)] - typical[d]) <= 2.0, (d, pdd[int(d)], typical[d])


def test_inverse_square_follows_mayneord_factor() -> None:
    ct = water_phantom(size_mm=(400, 320, 400), spacing_mm=4.0)
    surface = -160.0
    depth = np.arange(0.0, 121.0, 1.0)
    pdd = {}
    for ssd in (1000.0, 1500.0):
        # same field size at the surface (100 mm), so that only the distance changes: jaws scale with the SSD
        field = 100.0 * 1000.0 / ssd
        model = plan_dose_model(ct, _ssd_plan(field, "10MV", ssd, surface), grid_mm=GRID_MM)
        dose = model.beams[0].at(_axis_points(depth, surface))
        pdd[ssd] = (dose[100] / dose.max(), _peak_depth(depth, dose))
    dmax = pdd[1000.0][1]
    mayneord = ((1500.0 + dmax) / (1000.0 + dmax)) ** 2 * ((1000.0 + 100.0) / (1500.0 + 100.0)) ** 2
    # PDD(100 mm) at SSD 1500 over SSD 1000 equals the Mayneord F factor within 1 % (issue 3). Measured:
    # 0.7 % high; without the electron-contamination term 0.2 % (its lateral spread follows the jaws, so
    # the smaller jaw opening at SSD 1500 lowers the dose at dmax a little more than F assumes)
    assert pdd[1500.0][0] / pdd[1000.0][0] == pytest.approx(mayneord, rel=0.01)


def test_lung_slab_increase_per_cm_within_published_range(reference_dir: Path) -> None:
    import tomllib

    with open(reference_dir / "hbi_clinical.toml", "rb") as handle:
        rule = tomllib.load(handle)["dose_beyond_lung_rule_of_thumb"]["percent_per_cm_lung"]
    slab_depth, slab_thickness = 48.0, 100.0  # slab faces on 4 mm voxel faces
    ct = lung_slab_phantom(
        size_mm=(400, 360, 400),
        spacing_mm=4.0,
        slab_depth_mm=slab_depth,
        slab_thickness_mm=slab_thickness,
        slab_density=0.25,
    )
    surface = -180.0
    plan = _ssd_plan(100.0, "10MV", 1000.0, surface)
    on = plan_dose_model(ct, plan, grid_mm=GRID_MM, heterogeneity=True).beams[0]
    off = plan_dose_model(ct, plan, grid_mm=GRID_MM, heterogeneity=False).beams[0]
    inside = _axis_points(np.array([80.0, 100.0, 140.0]), surface)
    beyond = _axis_points(np.array([slab_depth + slab_thickness + 20.0]), surface)
    # inside the slab and beyond it the corrected dose is higher (less attenuation on the way)
    assert np.all(on.at(inside) > off.at(inside))
    increase = (on.at(beyond)[0] / off.at(beyond)[0] - 1.0) * 100.0 / (slab_thickness / 10.0)
    # Khan's rule of thumb: 10 MV about 2 %/cm of lung; the range accepted is the table's neighbours,
    # 1 %/cm (20 MV) to 3 %/cm (4 MV). Measured: 2.0 %/cm (2.3 %/cm before the photon-scatter part of the
    # kernel was density-scaled too)
    assert rule["mv20"] <= increase <= rule["mv4"], increase


def test_prescription_and_ap_pa_symmetry() -> None:
    ct = water_phantom(size_mm=(300, 200, 300), spacing_mm=4.0)
    beams = tuple(
        Beam("10MV", g, 0.0, (150.0, 150.0), isocentre_lps_mm=(0.0, 0.0, 0.0)) for g in (0.0, 180.0)
    )
    plan = Plan("appa", beams, 2.5, 4, Normalization("midplane"), True, 4.0)
    result = compute_dose_result(ct, plan)
    dose = result.dose
    assert dose.fractions == 4
    # midplane of the 200 mm phantom on the axis: y = 0 (within a quarter of a CT voxel, the crossing step)
    assert np.allclose(result.prescription_point_lps_mm, [0.0, 0.0, 0.0], atol=1.0)
    idx = dose.geometry.lps_to_index(result.prescription_point_lps_mm)
    from scipy import ndimage

    at_point = ndimage.map_coordinates(dose.array, idx[:, None], order=1)[0]
    # total dose at the prescription point = 2.5 Gy x 4 within 0.5 % (issue 3): trilinear reading of a 4 mm
    # grid at a point where the dose is flat
    assert at_point == pytest.approx(10.0, rel=0.005)
    # AP/PA on a symmetric phantom is symmetric about the midplane within 1 % (issue 3)
    y = np.arange(-90.0, 90.1, 5.0)
    pts = np.stack([np.zeros_like(y), y, np.zeros_like(y)], axis=1)
    line = result.model.per_fraction_at(pts)
    assert np.allclose(line, line[::-1], rtol=0.01)
    # and the two beams share the midplane dose equally
    assert result.beam_doses_gy[0] == pytest.approx(result.beam_doses_gy[1], rel=0.01)


def _diagonal_scans(reference_dir: Path) -> list[np.ndarray]:
    """The two measured 400 x 400 mm diagonal scans: rows (x_mm, y_mm, position_mm, % of the axis)."""
    rows = _read(reference_dir / "measured_10MV" / "diagonals.csv")
    scans = []
    for number in sorted({r["measurement"] for r in rows}):
        data = np.array(
            [
                [float(r["x_mm"]), float(r["y_mm"]), float(r["position_mm"]), float(r["dose_rel"])]
                for r in rows
                if r["measurement"] == number
            ]
        )
        data = data[np.argsort(data[:, 2])]
        data[:, 3] *= 100.0 / np.interp(0.0, data[:, 2], data[:, 3])
        scans.append(data)
    return scans


def _crossing(position: np.ndarray, profile: np.ndarray, level: float) -> float:
    """Outermost position (mm, positive side) where ``profile`` falls through ``level``."""
    order = np.argsort(position)
    pos = position[order] > 0
    x, p = position[order][pos], profile[order][pos]
    i = np.flatnonzero((p[:-1] >= level) & (p[1:] < level))[-1]
    return float(x[i] + (level - p[i]) * (x[i + 1] - x[i]) / (p[i + 1] - p[i]))


def test_10mv_large_field_diagonals_match_measurement(reference_dir: Path) -> None:
    """Off-axis dose of the largest field and the round primary collimator (issue 19, items 1 and 2)."""
    model = _model_10mv(400)
    depth = 100.0
    axis = model.per_fraction_at(_axis_points(np.array([depth])))[0]
    scans = _diagonal_scans(reference_dir)
    assert len(scans) == 2
    for data in scans:
        # measured X runs along the patient's left-right axis, Y along superior-inferior (collimator 0)
        pts = np.zeros((len(data), 3))
        pts[:, 0], pts[:, 1], pts[:, 2] = data[:, 0], SURFACE_Y + depth, data[:, 1]
        model_pct = model.per_fraction_at(pts) / axis * 100.0
        inner = np.abs(data[:, 2]) <= 200.0
        diff = model_pct[inner] - data[inner, 3]
        # within 3 % of the axis dose out to 200 mm off axis (issue 19 goal); measured: at most 1.5 %
        # (the model +0.6/+0.1/+1.3 % at 100/150/200 mm). With the horn held to 200 mm (before): up to 13 %
        assert np.abs(diff).max() <= 3.0, (diff.min(), diff.max())
        # the primary collimator: the measured 50 % point lies at 249-251 mm off axis (the jaw corners, at
        # 283 mm, are not reached); the model within 3 mm (measured 0-1 mm; the circle's radius was fitted
        # to these scans, a 3 mm tolerance is a 1.2 % error in the radius)
        for side in (1.0, -1.0):
            half_meas = _crossing(side * data[:, 2], data[:, 3], 50.0)
            half_model = _crossing(side * data[:, 2], model_pct, 50.0)
            assert abs(half_model - half_meas) <= 3.0, (side, half_model, half_meas)


def _axis_output(model, depth_mm: float = 100.0) -> float:
    """Dose per unit beam weight (Gy) on the central axis at ``depth_mm`` (first beam)."""
    return float(model.beams[0].at(_axis_points(np.array([depth_mm])))[0])


def test_10mv_output_factors_match_measurement(reference_dir: Path) -> None:
    """Field-size dependence of the output: phantom scatter (kernel) x head scatter Sc (issue 19, item 7)."""
    import json

    with open(reference_dir / "measured_10MV" / "measurements_10_of_sp.json") as handle:
        measured = {(r["field_x_mm"], r["field_y_mm"]): r["sp"] for r in json.load(handle)}
    reference = _axis_output(_model_10mv(100))
    checked = 0
    for (fx, fy), value in measured.items():
        if fx == fy and fx in FIELDS_MM:
            model = _model_10mv(int(fx))
        elif fx != fy:
            plan = _ssd_plan(100.0)
            beam = plan.beams[0]
            plan = Plan(
                plan.name,
                (Beam("10MV", 0.0, 0.0, (fx, fy), ssd_mm=900.0, isocentre_lps_mm=beam.isocentre_lps_mm),),
                1.0,
                1,
                plan.normalization,
                False,
                GRID_MM,
            )
            model = plan_dose_model(_tank(), plan, grid_mm=GRID_MM)
        else:
            continue
        ratio = _axis_output(model) / reference
        # measured output factors at 100 mm depth, SSD 900 mm, relative to 100 x 100 mm: within 0.5 % (the
        # usual output-factor measurement uncertainty); measured: within 0.07 % for all 14 fields (Sc fitted
        # to them), without Sc up to 0.53 % (400 x 400 mm low)
        assert ratio == pytest.approx(value, rel=0.005), ((fx, fy), ratio, value)
        checked += 1
    assert checked == 7  # 50, 100, 150, 200, 400 mm squares, 50 x 400 and 400 x 50 mm


def test_calibration_gives_one_gy_at_dmax() -> None:
    """1 unit of weight = 1 Gy at dmax, 100 x 100 mm, SSD 1000 mm, electron contamination included."""
    ct = water_phantom(size_mm=(400, 320, 400), spacing_mm=4.0)
    surface = -160.0
    for energy in ("6MV", "10MV"):
        model = plan_dose_model(ct, _ssd_plan(100.0, energy, 1000.0, surface), grid_mm=GRID_MM)
        depth = np.arange(0.0, 60.0, 0.5)
        dose = model.beams[0].at(_axis_points(depth, surface))
        # within 0.5 % (the BEV grid's divergence and interpolation against the parallel-beam integral the
        # calibration uses); measured 1.0003 (10 MV) and 1.0000 (6 MV). Before: 1.022 (10 MV), the
        # contamination left out of the calibration
        assert float(dose.max()) == pytest.approx(1.0, rel=0.005), (energy, float(dose.max()))
