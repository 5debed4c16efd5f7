"""``end_caps="interpolated"`` (shape-based interpolation between contour planes) against closed forms."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hbiview.dosevolume import dvh
from hbiview.geometry import Geometry
from hbiview.io.rtstruct import read_rtstruct
from hbiview.volume import DoseGrid

SPACING_MM = 3.0


def circle(radius_mm: float, z_mm: float, n: int = 256) -> np.ndarray:
    angle = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([radius_mm * np.cos(angle), radius_mm * np.sin(angle), np.full(n, z_mm)], axis=1)


def test_frustum_volume_and_mean_in_z_gradient(tmp_path: Path, make_rtstruct: Callable[..., Path]) -> None:
    # A truncated cone contoured every 3 mm: radius 6 mm at z = 0 growing to 18 mm at z = 30 mm. The signed
    # distance to a circle is linear in its radius, so interpolating between two concentric circles gives
    # the circle of the interpolated radius: the solid is the frustum itself, plus a tenth of a spacing of
    # each end contour beyond the end planes.
    r0, r1, length = 6.0, 18.0, 30.0
    planes = np.arange(0.0, length + 0.1, SPACING_MM)
    contours = [circle(r0 + (r1 - r0) * z / length, z) for z in planes]
    frame = "1.2.826.0.1.3680043.2.1125.1"
    path = make_rtstruct(tmp_path / "rs.dcm", {"Frustum": contours}, frame)
    grid = Geometry.from_spacing((16, 24, 24), (3.0, 2.5, 2.5), (-28.75, -28.75, -7.5), None, frame)
    z = grid.axis_coordinates_mm()[0]
    dose = DoseGrid(grid, np.broadcast_to((10.0 + 0.2 * z)[:, None, None], grid.shape).astype(np.float32))
    (structure,) = read_rtstruct(path, grid)
    h = dvh(dose, structure, end_caps="interpolated")
    cap = SPACING_MM / 10

    def radius(zz: float) -> float:
        return r0 + (r1 - r0) * zz / length

    frustum = math.pi * length / 3 * (r0**2 + r0 * r1 + r1**2)
    caps = cap * math.pi * (r0**2 + r1**2)
    volume_mm3 = frustum + caps
    # closed form of the mean dose 10 + 0.2 z over the frustum and its two caps (z-moments, Simpson exact
    # for the cubic integrand of the frustum)
    zs = np.linspace(0, length, 3)
    moment = length / 6 * sum(w * zz * math.pi * radius(zz) ** 2 for w, zz in zip((1, 4, 1), zs))
    moment += math.pi * r0**2 * cap * (-cap / 2) + math.pi * r1**2 * cap * (length + cap / 2)
    mean_gy = 10.0 + 0.2 * moment / volume_mm3
    # polygons of 256 points (area 0.01 % short of the circle) rasterised on sub-voxels, distance maps on
    # the same pixels: volume within 0.5 % (the analytic tolerance of issue 5), mean within 0.5 %
    assert h.total_volume_cc == pytest.approx(volume_mm3 / 1000, rel=0.005)
    assert h.mean_gy == pytest.approx(mean_gy, rel=0.005)


def test_unknown_end_caps_is_an_input_error(tmp_path: Path, make_rtstruct: Callable[..., Path]) -> None:
    from hbiview.errors import InputError

    frame = "1.2.826.0.1.3680043.2.1125.2"
    path = make_rtstruct(tmp_path / "rs.dcm", {"Disc": [circle(5.0, 0.0), circle(5.0, 3.0)]}, frame)
    grid = Geometry.from_spacing((4, 10, 10), (3.0, 2.5, 2.5), (-11.25, -11.25, -3.0), None, frame)
    (structure,) = read_rtstruct(path, grid)
    with pytest.raises(InputError, match="end_caps"):
        dvh(DoseGrid(grid, np.ones(grid.shape, np.float32)), structure, end_caps="quarter")
