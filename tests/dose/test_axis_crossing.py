"""Where a line enters and leaves the patient (hbiview.dose.body.axis_crossing), against a closed form.

A water slab 200 mm thick (y from -100 to +100 mm) in air, on 2 mm voxels whose centres sit at odd
millimetres: the voxel centres either side of each face are at 0 HU and -1000 HU, one voxel apart, so the
trilinear CT crosses -500 HU exactly on the face. The search for the body along the line only looks where the
line crosses the body's box: these tests check that it still finds the faces from far away, in both
directions, and that lines beside or parallel to the body miss it.
"""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.dose.body import axis_crossing
from hbiview.geometry import Geometry
from hbiview.volume import CTVolume

HALF_THICKNESS_MM = 100.0


def _slab() -> CTVolume:
    geometry = Geometry.box([-149.0, -149.0, -49.0], [149.0, 149.0, 49.0], 2.0)
    _, y, _ = geometry.axis_coordinates_mm()
    hu = np.full(geometry.shape, -1000, dtype=np.int16)
    x = geometry.axis_coordinates_mm()[2]
    inside_y = np.abs(y) < HALF_THICKNESS_MM
    inside_x = np.abs(x) < 120.0
    hu[:, inside_y[:, None] & inside_x[None, :]] = 0
    return CTVolume(geometry, hu)


@pytest.mark.parametrize("start_mm", [-2000.0, -300.0, 0.0])
def test_a_line_along_y_finds_both_faces_from_far_and_near(start_mm: float) -> None:
    ct = _slab()
    crossing = axis_crossing(ct, np.array([10.0, start_mm, 3.0]), np.array([0.0, 1.0, 0.0]))
    assert crossing is not None
    entry, exit_ = crossing
    # the faces at y = -100 and +100 mm, distances from the start point; 0.05 mm: the refinement's step
    assert entry == pytest.approx(-HALF_THICKNESS_MM - start_mm, abs=0.05)
    assert exit_ == pytest.approx(HALF_THICKNESS_MM - start_mm, abs=0.05)


def test_the_opposite_direction_gives_the_same_faces() -> None:
    ct = _slab()
    crossing = axis_crossing(ct, np.array([-20.0, 1500.0, 0.0]), np.array([0.0, -1.0, 0.0]))
    assert crossing is not None
    # from y = 1500 mm going towards -y: the +100 mm face at 1400 mm, the -100 mm face at 1600 mm (0.05 mm)
    assert crossing[0] == pytest.approx(1400.0, abs=0.05)
    assert crossing[1] == pytest.approx(1600.0, abs=0.05)


def test_an_oblique_line_meets_the_faces_where_geometry_says() -> None:
    ct = _slab()
    d = np.array([0.0, np.cos(np.radians(20.0)), np.sin(np.radians(20.0))])
    point = np.array([0.0, -1000.0, -1000.0 * np.tan(np.radians(20.0))])  # reaches z = 0 at y = 0
    crossing = axis_crossing(ct, point, d)
    assert crossing is not None
    # the faces y = -100 and +100 mm along a line at 20 degrees to y (z there +-36 mm, inside the CT):
    # (1000 -/+ 100) / cos 20; within 0.1 mm (the refinement's 0.05 mm step along the line, and trilinear HU
    # between voxels crossed obliquely)
    along = np.array([900.0, 1100.0]) / np.cos(np.radians(20.0))
    assert crossing == pytest.approx(tuple(along), abs=0.1)


@pytest.mark.parametrize(
    ("point", "direction"),
    [
        ([0.0, -500.0, 200.0], [0.0, 1.0, 0.0]),  # parallel to y, above the CT's top slice
        ([130.0, -500.0, 0.0], [0.0, 1.0, 0.0]),  # parallel to y, beside the slab (x beyond 120 mm)
        ([-500.0, 0.0, 500.0], [1.0, 0.0, 0.0]),  # along x, far above
    ],
)
def test_lines_beside_the_body_miss_it(point: list[float], direction: list[float]) -> None:
    assert axis_crossing(_slab(), np.array(point), np.array(direction)) is None
