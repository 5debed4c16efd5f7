"""The test patient the plan tests share: a water elliptic cylinder with landmarks at given heights."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hbiview.geometry import Geometry
from hbiview.volume import CTVolume

#: Half-axes (mm) of the cylinder's section: 400 mm wide (x), 240 mm deep (y); it runs from z -850 to 850 mm.
HALF_WIDTH, HALF_DEPTH = 200.0, 120.0

#: Landmark z (LPS mm) given to the presets on the cylinder (an adult's proportions, rounded).
CYLINDER_LANDMARKS = {
    "vertex": 850.0,
    "skull_base": 600.0,
    "lung_apex": 500.0,
    "lung_base": 250.0,
    "iliac_crest": 50.0,
    "femoral_heads": -50.0,
    "knees": -450.0,
    "ankles": -800.0,
    "soles": -850.0,
}


@lru_cache(maxsize=1)
def water_cylinder() -> CTVolume:
    """The cylinder as a CT (0 HU inside, -1000 HU outside; 10 x 4 x 4 mm voxels, skin on voxel faces)."""
    geometry = Geometry.box((-260, -162, -900), (260, 162, 900), (10.0, 4.0, 4.0))
    z, y, x = geometry.axis_coordinates_mm()
    inside = (x[None, None, :] / HALF_WIDTH) ** 2 + (y[None, :, None] / HALF_DEPTH) ** 2 <= 1.0
    inside = inside & (np.abs(z)[:, None, None] <= 850.0)
    return CTVolume(geometry, np.where(inside, 0, -1000).astype(np.int16))
