"""The pipeline helpers the lessons use: central-axis profiles, marrow split by border, summed courses."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from hbiview.errors import InputError, PlanError
from hbiview.pipeline import run_plan, sum_doses

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upper(lesson_case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_plan(lesson_case, "upper-hbi", grid_mm=10.0, structures=["Marrow"])


def test_central_axis_profile_passes_through_the_prescription(upper) -> None:
    depth, dose = upper.central_axis_profile(step_mm=1.0)
    assert depth[0] == 0.0 and np.allclose(np.diff(depth), 1.0)
    # upper HBI is prescribed at midplane on the central axis: halfway along the profile the dose is the
    # prescription (the engine normalises to 0.5 %; linear interpolation over 1 mm adds nothing visible)
    assert np.interp(depth[-1] / 2, depth, dose) == pytest.approx(upper.prescription_gy, rel=0.005)
    # the PA beam's axis is the same line walked the other way: the same doses in reverse order (the
    # two walks meet the skin to within the 1 mm step, and the model gives one dose per point)
    back_depth, back_dose = upper.central_axis_profile(beam_index=1, step_mm=1.0)
    assert back_depth[-1] == pytest.approx(depth[-1], abs=1.0)
    n = min(depth.size, back_depth.size) - 2
    np.testing.assert_allclose(back_dose[::-1][-n:], dose[-n:], rtol=0.02)
    # per fraction x fractions is the total
    per_fraction = upper.central_axis_profile(per_fraction=True)[1]
    np.testing.assert_allclose(per_fraction * upper.plan.fractions, dose, rtol=1e-6)


def test_central_axis_profile_without_the_ct_uses_the_engines_body(upper) -> None:
    depth = upper.central_axis_profile()[0]
    coarse = dataclasses.replace(upper, ct=None).central_axis_profile()[0]
    # the engine's body mask is on its own grid (voxel centres, 10 mm here): the same separation within
    # one voxel at each end
    spacing = float(upper.dose_result.model.density_geometry.spacing_mm.max())
    assert coarse[-1] == pytest.approx(depth[-1], abs=2 * spacing)
    with pytest.raises(InputError, match="beam_index 2"):
        upper.central_axis_profile(beam_index=2)
    with pytest.raises(InputError, match="step_mm"):
        upper.central_axis_profile(step_mm=0.0)


def test_marrow_above_and_below_a_border(lesson_case) -> None:
    marrow = lesson_case.structures["Marrow"]
    total = float(marrow.weights.sum(dtype=np.float64))
    crest = lesson_case.border_z_mm("iliac_crest")
    above = lesson_case.active_marrow_fraction_above(crest)
    below = lesson_case.active_marrow_fraction_below(crest)
    # every slice is either at/above or below: the two add up to the marrow the scan holds (float64 sums)
    assert above + below == pytest.approx(total, abs=1e-9)
    # ICRP 110 adult phantoms: 0.631 / 0.630 above the top of the iliac crest (hbi_marrow_split_icrp110.csv),
    # +-0.05 for a phantom of different build (as lesson 3)
    assert above == pytest.approx(0.63, abs=0.05)
    # a border name reads the same landmark; a border array gives one share each, falling as it rises
    assert lesson_case.active_marrow_fraction_above("iliac_crest") == above
    z = np.linspace(crest - 300.0, crest + 300.0, 7)
    shares = lesson_case.active_marrow_fraction_above(z)
    assert shares.shape == (7,) and np.all(np.diff(shares) <= 0)
    assert shares[3] == above
    assert lesson_case.active_marrow_fraction_above(-1e6) == pytest.approx(total, abs=1e-9)
    assert lesson_case.active_marrow_fraction_above(1e6) == 0.0
    # the L4-L5 disc halfway between the vertebral-body centres, as the presets read it
    marks = lesson_case.plan_landmarks
    assert lesson_case.border_z_mm("L4-L5") == pytest.approx((marks.z("L4") + marks.z("L5")) / 2)
    with pytest.raises(PlanError):
        lesson_case.border_z_mm("navel")
    with pytest.raises(InputError, match="no active-marrow weights"):
        lesson_case.active_marrow_fraction_above(crest, structure="Body")


def test_sum_doses_of_plan_runs(lesson_case, upper) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lower = run_plan(lesson_case, "lower-hbi", inferior="knees", grid_mm=10.0, structures=["Marrow"])
    both = sum_doses([upper, lower], fractions=1)
    sequential = upper.dose + lower.dose
    assert (both.fractions, sequential.fractions) == (1, 2)
    np.testing.assert_array_equal(both.array, sequential.array)
    # the sum is each dose on the common grid, added (trilinear resampling; float32)
    on_grid = [r.dose.resampled(both.geometry).array for r in (upper, lower)]
    np.testing.assert_allclose(both.array, on_grid[0] + on_grid[1], atol=1e-4)
    # 10 cm or more above the border the lower field adds only its scatter tail: out-of-field dose 10 cm
    # from a megavoltage field edge is a few % of the prescription (here at most 5 % of 8 Gy)
    z = both.geometry.axis_coordinates_mm()[0]
    far_above = z > lesson_case.border_z_mm("iliac_crest") + 100.0
    assert float(on_grid[1][far_above].max()) <= 0.05 * lower.prescription_gy
    assert float(both.array[far_above].max()) >= upper.prescription_gy  # the upper field is there
