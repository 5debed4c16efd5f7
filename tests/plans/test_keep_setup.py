"""A border moved with the set-up kept (``plans.keep_setup.move_jaws``): where the moved jaws put the field
edges, when the set-up cannot give the field, and the dose of a moved jaw against a field set up anew."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hbiview.dose import compute_dose_result
from hbiview.plans import SAD_MM, Beam, Normalization, Plan, resolve_plan
from hbiview.plans.keep_setup import move_jaws
from hbiview.sample import water_phantom


@pytest.fixture(scope="module")
def phantom():
    # 300 mm thick (AP), centred on the origin: the midplane of AP/PA beams is the plane y = 0
    return water_phantom(size_mm=(400, 300, 480), spacing_mm=5.0)


def _ap_pa(ct, field_mm: tuple[float, float], centre_z_mm: float) -> Plan:
    """Isocentric AP/PA fields centred on z = ``centre_z_mm`` at the midplane (isocentre there)."""
    beams = tuple(
        Beam("10MV", g, 0.0, field_mm, isocentre_lps_mm=(0.0, 0.0, centre_z_mm), name=n)
        for g, n in ((0.0, "AP"), (180.0, "PA"))
    )
    return resolve_plan(Plan("ap-pa", beams, 2.0, 1, Normalization("midplane"), True, 5.0), ct)


def _edges_z_at_midplane(beam: Beam) -> tuple[float, float]:
    """z (mm) of a beam's y-jaw edges on the plane y = 0 (the phantom's midplane)."""
    source, d, _, v = beam.frame()
    zs = []
    for y in beam.jaw_edges_mm()[1]:
        ray = d + y / SAD_MM * v  # from the source through the edge at the isocentre plane
        t = -source[1] / ray[1]
        zs.append(float(source[2] + t * ray[2]))
    return min(zs), max(zs)


def test_moved_jaws_put_the_edges_where_the_new_field_has_them(phantom):
    setup = _ap_pa(phantom, (300.0, 300.0), 0.0)
    # the inferior border 50 mm up: a 250 mm field centred 25 mm higher, set up anew
    target = _ap_pa(phantom, (300.0, 250.0), 25.0)
    moved = move_jaws(setup, target, phantom)
    assert moved is not None
    for kept, beam, wanted in zip(setup.beams, moved.beams, target.beams):
        # the same set-up: source and axis unchanged
        np.testing.assert_array_equal(beam.frame()[0], kept.frame()[0])
        assert beam.isocentre_lps_mm == kept.isocentre_lps_mm
        # at midplane the edges are the new field's, z -100 and +150 mm (0.1 mm: jaws rounded to 0.1 mm)
        assert _edges_z_at_midplane(beam) == pytest.approx(_edges_z_at_midplane(wanted), abs=0.1)
        assert _edges_z_at_midplane(beam) == pytest.approx((-100.0, 150.0), abs=0.1)
        assert beam.field_mm == pytest.approx((300.0, 250.0), abs=0.1)
    assert "asymmetric jaws" in moved.description


def test_a_jaw_that_cannot_reach_or_a_prescription_point_left_outside_needs_a_new_set_up(phantom):
    setup = _ap_pa(phantom, (300.0, 300.0), 0.0)
    # the superior edge to z = +230 mm: a jaw 230 mm from the axis, beyond the 200 mm it can reach
    assert move_jaws(setup, _ap_pa(phantom, (300.0, 300.0), 80.0), phantom) is None
    # a field from z = -170 to -70 mm: the jaws reach, but the prescription point (z = 0) is outside it
    assert move_jaws(setup, _ap_pa(phantom, (300.0, 100.0), -120.0), phantom) is None
    # other beams (another energy) cannot come from the same set-up
    other = _ap_pa(phantom, (300.0, 250.0), 25.0)
    six = tuple(replace(b, energy="6MV") for b in other.beams)
    assert move_jaws(setup, replace(other, beams=six), phantom) is None
    # two abutting pairs: their junction's skin gap belongs to their own set-up
    pairs = replace(setup, beams=setup.beams * 2)
    assert move_jaws(pairs, replace(other, beams=other.beams * 2), phantom) is None


def test_a_moved_jaw_gives_the_dose_of_the_field_set_up_anew(phantom):
    # the same field edges at midplane from two set-ups: the doses agree inside the field within 1.5 %: the
    # off-axis rise of the flattened beam (horn, a few % at 100 mm) is centred on each set-up's own axis, 25
    # mm apart, and each plan is normalised on its own axis; the 50 % edge at midplane stays within 1.5 mm
    # (the edges are matched there; the grid is 5 mm)
    setup = _ap_pa(phantom, (300.0, 300.0), 0.0)
    target = _ap_pa(phantom, (300.0, 250.0), 25.0)
    moved = move_jaws(setup, target, phantom)
    assert moved is not None
    z = np.arange(-160.0, 200.0, 1.0)
    points = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
    kept = compute_dose_result(phantom, moved).model.per_fraction_at(points)
    anew = compute_dose_result(phantom, target).model.per_fraction_at(points)
    inside = (z > -70) & (z < 120)
    np.testing.assert_allclose(kept[inside], anew[inside], rtol=0.015)
    # the inferior edge: where the dose first reaches half the 2 Gy prescription, going up
    half = []
    for profile in (kept, anew):
        k = int(np.argmax(profile >= 1.0))
        half.append(float(z[k - 1] + (1.0 - profile[k - 1]) / (profile[k] - profile[k - 1])))
    assert half[0] == pytest.approx(half[1], abs=1.5)
    assert half[0] == pytest.approx(-100.0, abs=3.0)  # the border at midplane (the 50 % point: 3 mm)
