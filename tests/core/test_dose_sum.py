"""Adding dose grids: DoseGrid.total, ``a + b``, ``sum(...)`` and hbiview.pipeline.sum_doses."""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.errors import GeometryError
from hbiview.geometry import Geometry
from hbiview.pipeline import sum_doses
from hbiview.volume import DoseGrid


def linear_dose(geo: Geometry, a: float, b: float, c: float, d: float) -> np.ndarray:
    """A dose a*x + b*y + c*z + d (Gy) at the voxel centres (LPS mm)."""
    k, j, i = np.indices(geo.shape)
    lps = geo.index_to_lps(np.stack([k, j, i], axis=-1))
    return (a * lps[..., 0] + b * lps[..., 1] + c * lps[..., 2] + d).astype(np.float32)


def test_same_grid_adds_voxel_by_voxel_and_courses_add_fractions() -> None:
    geo = Geometry.box((-20, -20, -20), (20, 20, 20), 5.0)
    upper = DoseGrid(geo, np.full(geo.shape, 6.0), 1, "upper")
    lower = DoseGrid(geo, linear_dose(geo, 0.01, 0.0, 0.02, 8.0), 2, "lower")
    total = upper + lower
    assert total.geometry.isclose(geo)
    # the same grid: no resampling, so the sum is exact in float32
    np.testing.assert_array_equal(total.array, upper.array + lower.array)
    # courses given one after the other: 1 + 2 sessions
    assert total.fractions == 3 and total.description == "upper + lower"
    # builtin sum() starts from 0: __radd__
    assert sum([upper, lower]).fractions == 3
    # delivered together in one session
    same_day = sum_doses([upper, lower], fractions=1, description="same day")
    assert same_day.fractions == 1 and same_day.description == "same day"
    np.testing.assert_array_equal(same_day.array, total.array)


def test_different_grids_go_onto_one_covering_both_at_the_finest_spacing() -> None:
    a_geo = Geometry.box((-40, -40, -100), (40, 40, 0), 5.0)
    b_geo = Geometry.box((-40, -40, -20), (40, 40, 100), (2.5, 4.0, 4.0))
    a = DoseGrid(a_geo, linear_dose(a_geo, 0.02, -0.01, 0.03, 6.0), 1, "a")
    b = DoseGrid(b_geo, linear_dose(b_geo, -0.01, 0.02, -0.02, 8.0), 1, "b")
    total = DoseGrid.total([a, b])
    low, high = total.geometry.bounds_mm()
    # the union of both boxes (voxel centres), so no dose is cut off; spacing the finest, 2.5 mm
    assert low == pytest.approx([-40, -40, -100], abs=2.5) and high == pytest.approx([40, 40, 100], abs=2.5)
    assert float(total.geometry.spacing_mm.min()) == pytest.approx(2.5)
    # trilinear interpolation reproduces a linear dose exactly inside its grid (closed form): where both
    # grids cover a voxel (one grid voxel inside each border) the sum is the sum of the two linear functions
    k, j, i = np.indices(total.geometry.shape)
    lps = total.geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    x, y, z = lps[..., 0], lps[..., 1], lps[..., 2]
    both = (np.abs(x) <= 35) & (np.abs(y) <= 35) & (z >= -15) & (z <= -5)
    only_a = (np.abs(x) <= 35) & (np.abs(y) <= 35) & (z <= -30) & (z >= -95)
    expected_a = 0.02 * x - 0.01 * y + 0.03 * z + 6.0
    expected_b = -0.01 * x + 0.02 * y - 0.02 * z + 8.0
    assert both.any() and only_a.any()
    # float32 rounding of values ~10 Gy
    np.testing.assert_allclose(total.array[both], (expected_a + expected_b)[both], atol=1e-4)
    # outside a grid its dose is zero, not extrapolated
    np.testing.assert_allclose(total.array[only_a], expected_a[only_a], atol=1e-4)
    # an explicit grid is used as given
    on_a = DoseGrid.total([a, b], a_geo)
    assert on_a.geometry.isclose(a_geo)


def test_bad_sums_are_refused() -> None:
    geo = Geometry.box((0, 0, 0), (10, 10, 10), 5.0)
    other = Geometry.from_spacing(geo.shape, (5.0, 5.0, 5.0), (1, 0, 0), frame_of_reference_uid="1.2.3")
    mine = Geometry.from_spacing(geo.shape, (5.0, 5.0, 5.0), (0, 0, 0), frame_of_reference_uid="1.2.4")
    with pytest.raises(GeometryError, match="no dose grid"):
        DoseGrid.total([])
    with pytest.raises(GeometryError, match="frames of reference"):
        DoseGrid.total([DoseGrid(mine, np.ones(geo.shape)), DoseGrid(other, np.ones(geo.shape))])
    with pytest.raises(GeometryError, match="at least one fraction"):
        DoseGrid.total([DoseGrid(geo, np.ones(geo.shape))], fractions=0)
    with pytest.raises(TypeError):
        DoseGrid(geo, np.ones(geo.shape)) + 1.0  # a number is not a dose
