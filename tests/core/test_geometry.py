import numpy as np
import pytest

from hbiview.errors import GeometryError
from hbiview.geometry import Geometry


def test_index_lps_round_trip_for_oblique_grid():
    # a grid rotated 30 degrees about z: the round trip must be exact to floating point (closed form)
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    direction = rot @ np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    geo = Geometry.from_spacing((4, 5, 6), (3.0, 1.5, 2.0), (-10, 20, 5), direction)
    idx = np.array([[0, 0, 0], [3, 4, 5], [1.5, 2.25, 0.5]])
    assert np.allclose(geo.lps_to_index(geo.index_to_lps(idx)), idx, atol=1e-9)
    assert np.allclose(geo.spacing_mm, [3.0, 1.5, 2.0])
    assert not geo.is_axial


def test_axial_axis_coordinates_match_affine():
    geo = Geometry.from_spacing((3, 4, 5), (5.0, 2.0, 2.5), (-100.0, -50.0, 300.0))
    z, y, x = geo.axis_coordinates_mm()
    # voxel [k, j, i] lies at (x0 + 2.5 i, y0 + 2 j, z0 + 5 k) by construction
    assert np.allclose(x, -100 + 2.5 * np.arange(5))
    assert np.allclose(y, -50 + 2.0 * np.arange(4))
    assert np.allclose(z, 300 + 5.0 * np.arange(3))
    assert np.allclose(geo.index_to_lps([2, 3, 4]), [x[4], y[3], z[2]])


def test_with_spacing_keeps_extent_and_centre():
    geo = Geometry.from_spacing((40, 30, 20), (2.5, 2.0, 3.0), (0, 0, 0))
    new = geo.with_spacing(5.0)
    # extent (voxel edges) 100 x 60 x 60 mm -> 20 x 12 x 12 voxels of 5 mm
    assert new.shape == (20, 12, 12)
    centre_old = geo.index_to_lps((np.asarray(geo.shape) - 1) / 2)
    centre_new = new.index_to_lps((np.asarray(new.shape) - 1) / 2)
    assert np.allclose(centre_old, centre_new)


def test_box_covers_corners():
    geo = Geometry.box((-200, -200, -100), (200, 200, 100), 2.5)
    lower, upper = geo.bounds_mm()
    assert np.allclose(lower, [-200, -200, -100]) and np.allclose(upper, [200, 200, 100])
    assert geo.voxel_volume_cc == pytest.approx(2.5**3 / 1000)


def test_bad_geometry_is_an_error():
    with pytest.raises(GeometryError):
        Geometry.from_spacing((0, 2, 2), (1, 1, 1))
    with pytest.raises(GeometryError):
        Geometry.from_spacing((2, 2, 2), (1, 0, 1))
    with pytest.raises(GeometryError):
        Geometry((2, 2, 2), np.zeros((4, 4)))


def test_affine_is_read_only():
    geo = Geometry.from_spacing((2, 2, 2), (1, 1, 1))
    with pytest.raises(ValueError):
        geo.affine[0, 0] = 5


def test_subdivided_grid_has_the_same_extent_and_centres_split_evenly():
    geo = Geometry.from_spacing((2, 3, 4), (3.0, 2.0, 1.0), (5.0, -4.0, 10.0))
    fine = geo.subdivided(3)
    assert fine.shape == (6, 9, 12)
    assert np.allclose(fine.spacing_mm, [1.0, 2.0 / 3, 1.0 / 3])
    assert np.allclose(fine.extent_mm, geo.extent_mm)
    # the mean of the 27 sub-voxel centres of voxel [0, 0, 0] is that voxel's centre (closed form)
    sub = fine.index_to_lps(
        np.stack(np.meshgrid(range(3), range(3), range(3), indexing="ij"), -1).reshape(-1, 3)
    )
    assert np.allclose(sub.mean(axis=0), geo.index_to_lps([0, 0, 0]))
    assert geo.subdivided(1) is geo


def test_bounding_box_is_the_extent_of_the_true_voxels() -> None:
    from hbiview.geometry import bounding_box

    rng = np.random.default_rng(7)
    for ndim in (1, 2, 3, 4):
        for _ in range(50):
            mask = rng.random(tuple(int(n) for n in rng.integers(1, 8, ndim))) > 0.9
            box = bounding_box(mask, margin=2)
            if not mask.any():
                assert box is None
                continue
            # exact: the smallest and largest index along each axis, widened by the margin, clipped
            expected = tuple(
                slice(max(int(i.min()) - 2, 0), min(int(i.max()) + 3, n))
                for i, n in zip(np.nonzero(mask), mask.shape)
            )
            assert box == expected
            assert np.count_nonzero(mask[box]) == np.count_nonzero(mask)
