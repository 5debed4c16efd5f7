"""Conversion at the edge ((z, y, x) + LPS affine -> VTK) and surfaces, against closed-form geometry."""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.geometry import Geometry
from hbiview.render.convert import isodose_surfaces, mask_surface, probe_array, to_image_data
from hbiview.volume import DoseGrid


def _feet_first_flipped() -> Geometry:
    # slices run towards the feet and columns towards the patient's right: both axes reversed
    direction = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    return Geometry.from_spacing((5, 6, 7), (3.0, 2.0, 1.5), (10.0, -20.0, 300.0), direction)


def test_image_data_points_are_the_lps_voxel_centres():
    geometry = _feet_first_flipped()
    values = np.arange(geometry.size, dtype=np.float32).reshape(geometry.shape)
    image = to_image_data(values, geometry, name="v")
    assert image.dimensions == (7, 6, 5)  # (nx, ny, nz): x fastest
    rng = np.random.default_rng(1)
    for k, j, i in rng.integers(0, [5, 6, 7], size=(20, 3)):
        point_id = i + 7 * (j + 6 * k)
        # exact up to float rounding (1e-9 mm): VTK computes origin + direction @ (index * spacing)
        np.testing.assert_allclose(image.points[point_id], geometry.index_to_lps([k, j, i]), atol=1e-6)
        assert image.point_data["v"][point_id] == values[k, j, i]


def test_mask_surface_of_a_ball_has_its_volume_and_radius():
    geometry = Geometry.box((-60, -60, -60), (60, 60, 60), 2.0)
    centre = np.array([5.0, -3.0, 8.0])
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    radius = 40.0
    mask = np.linalg.norm(points - centre, axis=-1) <= radius
    surface = mask_surface(mask, geometry, smoothing_mm=2.0, max_faces=5000)
    assert surface.n_cells <= 2 * 5000  # the budget: decimated only above twice max_faces
    distance = np.linalg.norm(surface.points - centre, axis=1)
    # voxel staircase of 2 mm voxels, blurred: the surface stays within one voxel of the true sphere
    assert np.abs(distance - radius).max() < 2.0
    # enclosed volume within 3 % of 4/3 pi r^3 (voxelisation ~1 %, decimation ~0.5 %)
    assert surface.volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.03)


def test_isodose_surface_of_a_linear_dose_is_the_plane_where_dose_equals_the_level():
    geometry = _feet_first_flipped().with_spacing(2.0)
    k, j, i = np.indices(geometry.shape)
    x = geometry.index_to_lps(np.stack([k, j, i], axis=-1))[..., 0]
    dose = DoseGrid(geometry, 5.0 + 0.01 * x)  # Gy; 0.01 Gy per mm along the patient's left
    level = 5.0 + 0.01 * 6.0  # the plane x = 6 mm
    (surface,) = isodose_surfaces(dose, [level], smoothing_mm=0.0, max_faces=0, max_voxels=10**7)
    lower, upper = geometry.bounds_mm()
    interior = np.all((surface.points > lower + 0.5) & (surface.points < upper - 0.5), axis=1)
    assert interior.sum() > 10
    # linear interpolation of a linear field is exact: the plane x = 6 mm to float precision
    np.testing.assert_allclose(surface.points[interior, 0], 6.0, atol=1e-3)


def test_probe_array_interpolates_linearly_in_lps():
    geometry = _feet_first_flipped()
    k, j, i = np.indices(geometry.shape)
    pts = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    field = 2.0 * pts[..., 0] - pts[..., 2]
    inside = geometry.index_to_lps([[1.5, 2.25, 3.75], [3.0, 4.5, 0.5]])
    # trilinear interpolation reproduces a linear function exactly
    np.testing.assert_allclose(
        probe_array(inside, field, geometry), 2 * inside[:, 0] - inside[:, 2], atol=1e-3
    )


def _feet_first(columns_to_right: bool = False) -> Geometry:
    # slices towards the feet: index (i, j, k) -> LPS flips handedness; with the columns reversed as well
    # (as in _feet_first_flipped) it does not
    direction = np.array([[0.0, 0.0, -1.0 if columns_to_right else 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    return Geometry.from_spacing((64, 66, 68), (2.0, 2.0, 2.0), (70.0, -60.0, 60.0), direction)


_SPHERE_GRIDS = {
    "axial": Geometry.box((-64, -64, -64), (64, 64, 64), 2.0),
    "feet-first": _feet_first(),
    "two axes reversed": _feet_first(columns_to_right=True),
}


def _radial(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    offset = np.asarray(points, float) - centre
    return offset / np.linalg.norm(offset, axis=1, keepdims=True)


def _outward_triangles(surface, centre: np.ndarray) -> float:
    """Share of the (non-degenerate) triangles whose winding normal points away from ``centre``."""
    points = np.asarray(surface.points, float)
    faces = np.asarray(surface.regular_faces)
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    normal = np.cross(b - a, c - a)
    area = np.linalg.norm(normal, axis=1)
    keep = area > 1e-9 * area.max()
    return float(np.mean(np.sum(normal[keep] * ((a + b + c)[keep] / 3 - centre), axis=1) > 0))


@pytest.mark.parametrize("grid", list(_SPHERE_GRIDS))
def test_isodose_sphere_normals_and_triangles_point_outwards(grid):
    from hbiview.render.convert import _oriented_normals

    geometry = _SPHERE_GRIDS[grid]
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    # off the voxel centres, so that no voxel lies exactly on the surface (degenerate triangles)
    centre = points.reshape(-1, 3).mean(axis=0) + np.array([0.3, -0.7, 0.45])
    radius = 40.0
    distance = np.linalg.norm(points - centre, axis=-1)
    dose = DoseGrid(geometry, (10.0 - 0.1 * distance).astype(np.float32))  # 6 Gy at 40 mm from the centre
    (surface,) = isodose_surfaces(dose, [6.0], smoothing_mm=0.0, max_faces=0, max_voxels=10**7)
    # the normals only: the contour's constant dose would be copied by every cut and sent to the browser
    assert surface.point_data.keys() == ["Normals"] and surface.point_data.active_normals_name == "Normals"
    normals = np.asarray(surface.point_data["Normals"], float)
    # a 40 mm sphere sampled at 2 mm: the area-weighted normals of the triangles round a point stay within
    # 8 degrees of the radius (cos > 0.99); pointing inwards would give -1
    assert np.min(np.sum(normals * _radial(surface.points, centre), axis=1)) > 0.99
    # every triangle wound outwards too (back-face culling, VTK's volume): whatever the grid's handedness
    assert _outward_triangles(surface, centre) == 1.0
    # the enclosed volume of the polyhedron inscribed in the sphere: within 1 % of 4/3 pi r^3 (chords of
    # 2 mm cells cut it by ~0.2 %); an inward winding gives a wrong sign or size
    assert surface.volume == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.01)
    # the same normals as VTK's orientation pass (consistency + auto-orientation) on the same triangles
    oriented = _oriented_normals(surface.copy())
    np.testing.assert_allclose(normals, oriented.point_data["Normals"], atol=1e-6)  # float32 rounding


@pytest.mark.parametrize("max_faces", [0, 1000])
def test_mask_surface_on_a_feet_first_grid_points_outwards(max_faces):
    geometry = _feet_first()
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    centre = points.reshape(-1, 3).mean(axis=0) + np.array([3.0, -2.0, 5.0])
    mask = np.linalg.norm(points - centre, axis=-1) <= 40.0
    # max_faces 1000: decimated (to 1000 of ~20 000 triangles), normals then from the orientation pass
    surface = mask_surface(mask, geometry, smoothing_mm=2.0, max_faces=max_faces)
    if max_faces:
        assert surface.n_cells <= max_faces + 2  # the decimation's target (a triangle or two of rounding)
    assert surface.point_data.keys() == ["Normals"]
    normals = np.asarray(surface.point_data["Normals"], float)
    # a blurred 2 mm voxel ball (or its decimation to 1000 triangles, ~8 mm edges): normals within 26
    # degrees of the radius (cos > 0.9), never inwards
    assert np.min(np.sum(normals * _radial(surface.points, centre), axis=1)) > 0.9
    assert _outward_triangles(surface, centre) == 1.0
