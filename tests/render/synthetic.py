"""Small synthetic patient for rendering tests: a body ellipsoid, two lungs, a spine, an AP/PA dose block.

Every number is chosen here (mm, HU, Gy), so the tests know where each organ and field edge is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hbiview.geometry import Geometry
from hbiview.volume import CTVolume, DoseGrid, Structure

#: body ellipsoid semi-axes (x, y, z) mm, centred on the origin
BODY_MM = (170.0, 110.0, 230.0)
#: lung centres (x, y, z) and semi-axes mm; left lung at +x (LPS: x grows to the patient's left)
LUNG_RIGHT = ((-72.0, 0.0, 80.0), (55.0, 70.0, 110.0))
LUNG_LEFT = ((72.0, 0.0, 80.0), (55.0, 70.0, 110.0))
#: spine cylinder: axis at (x, y), radius mm; marrow is the inner cylinder
SPINE_XY = (0.0, 75.0)
SPINE_RADIUS_MM = 20.0
MARROW_RADIUS_MM = 13.0
#: AP/PA fields: source-axis distance, field half-width along x and half-length along z at the isocentre
SAD_MM = 1000.0
FIELD_HALF_X_MM = 130.0
FIELD_HALF_Z_MM = 120.0
FIELD_CENTRE_Z_MM = 60.0
PRESCRIPTION_GY = 6.0


@dataclass(frozen=True)
class StandInPlan:
    """What the renderer may use of a plan: name, prescription per fraction, fractions, beam outlines."""

    name: str = "test AP-PA"
    prescription_gy: float = PRESCRIPTION_GY
    fractions: int = 1
    half_x_mm: float = FIELD_HALF_X_MM

    def beam_outlines(self) -> list[tuple[np.ndarray, np.ndarray]]:
        iso = np.array([0.0, 0.0, FIELD_CENTRE_Z_MM])
        hx, hz = self.half_x_mm, FIELD_HALF_Z_MM
        corners = iso + np.array([[-hx, 0, -hz], [hx, 0, -hz], [hx, 0, hz], [-hx, 0, hz]])
        anterior = iso + np.array([0.0, -SAD_MM, 0.0])  # AP beam: source in front of the patient (-y)
        posterior = iso + np.array([0.0, SAD_MM, 0.0])
        return [(anterior, corners), (posterior, corners.copy())]


def _inside_ellipsoid(points: np.ndarray, centre, semi) -> np.ndarray:
    return np.sum(((points - np.asarray(centre)) / np.asarray(semi)) ** 2, axis=-1) <= 1.0


def make_case(spacing_mm: float = 8.0, dose_spacing_mm: float = 10.0, half_x_mm: float = FIELD_HALF_X_MM):
    """CT, structures (Body, Lung_R, Lung_L, Skeleton, Marrow with weights), dose and plan."""
    geometry = Geometry.box((-200.0, -140.0, -260.0), (200.0, 140.0, 260.0), spacing_mm)
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    body = _inside_ellipsoid(points, (0, 0, 0), BODY_MM)
    lung_r = _inside_ellipsoid(points, *LUNG_RIGHT) & body
    lung_l = _inside_ellipsoid(points, *LUNG_LEFT) & body
    radial = np.hypot(points[..., 0] - SPINE_XY[0], points[..., 1] - SPINE_XY[1])
    spine = (radial <= SPINE_RADIUS_MM) & body & (np.abs(points[..., 2]) < 200)
    marrow = (radial <= MARROW_RADIUS_MM) & spine
    hu = np.full(geometry.shape, -1000.0, dtype=np.float32)
    hu[body] = 30.0
    hu[lung_r | lung_l] = -800.0
    hu[spine] = 800.0
    hu[marrow] = 250.0
    ct = CTVolume(geometry, hu)
    # active-marrow weight grows towards the head (sums to 1 over the marrow)
    weights = np.where(marrow, points[..., 2] + 260.0, 0.0).astype(np.float32)
    weights /= weights.sum()
    structures = [
        Structure(geometry, body, name="Body", color=(230, 190, 160)),
        Structure(geometry, lung_r, name="Lung_R", color=(80, 170, 255)),
        Structure(geometry, lung_l, name="Lung_L", color=(120, 220, 255)),
        Structure(geometry, spine, name="Skeleton", color=(240, 235, 210)),
        Structure(geometry, marrow, name="Marrow", color=(200, 60, 60), weights=weights),
    ]
    plan = StandInPlan(half_x_mm=half_x_mm)
    dose_geometry = Geometry.box((-200.0, -140.0, -260.0), (200.0, 140.0, 260.0), dose_spacing_mm)
    dk, dj, di = np.indices(dose_geometry.shape)
    dp = dose_geometry.index_to_lps(np.stack([dk, dj, di], axis=-1))
    # divergent field: half-width scales with distance from the AP source; 8 mm penumbra (error function)
    scale = (dp[..., 1] + SAD_MM) / SAD_MM
    from scipy.special import erf

    edge_x = half_x_mm * scale - np.abs(dp[..., 0])
    edge_z = FIELD_HALF_Z_MM * scale - np.abs(dp[..., 2] - FIELD_CENTRE_Z_MM)
    profile = 0.25 * (1 + erf(edge_x / 8.0)) * (1 + erf(edge_z / 8.0))
    # AP/PA: hotter near the surfaces (entrance and exit), 100 % at midplane
    depth_term = 1.0 + 0.10 * (dp[..., 1] / BODY_MM[1]) ** 2
    inside = _inside_ellipsoid(dp, (0, 0, 0), BODY_MM)
    inside = ndimage.binary_dilation(inside) if dose_spacing_mm > spacing_mm else inside
    dose = DoseGrid(dose_geometry, (PRESCRIPTION_GY * profile * depth_term * inside).astype(np.float32))
    return ct, structures, dose, plan


@dataclass(frozen=True)
class DepthNormalization:
    """What the renderer reads of a prescription point given as a depth below the skin."""

    point: str = "depth"
    depth_mm: float = 50.0


@dataclass(frozen=True)
class PosteriorPlan:
    """A single posterior (PA) field over the spine, prescribed 50 mm below the skin of the back."""

    name: str = "test PA spine"
    prescription_gy: float = 8.0
    fractions: int = 1
    normalization: DepthNormalization = DepthNormalization()

    def beam_outlines(self) -> list[tuple[np.ndarray, np.ndarray]]:
        iso = np.array([SPINE_XY[0], SPINE_XY[1], FIELD_CENTRE_Z_MM])
        corners = iso + np.array([[-40, 0, -40], [40, 0, -40], [40, 0, 40], [-40, 0, 40]], dtype=float)
        return [(iso + np.array([0.0, SAD_MM, 0.0]), corners)]


def make_posterior_case(dose_spacing_mm: float = 10.0) -> tuple[PosteriorPlan, DoseGrid]:
    """The PA spine field's plan and dose: 100 % at 50 mm depth, falling 3 % per cm with depth."""
    from scipy.special import erf

    plan = PosteriorPlan()
    geometry = Geometry.box((-200.0, -140.0, -260.0), (200.0, 140.0, 260.0), dose_spacing_mm)
    k, j, i = np.indices(geometry.shape)
    p = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    skin_y = BODY_MM[1]  # the back of the body ellipsoid on the midline
    depth = skin_y - p[..., 1]
    profile = (
        0.25 * (1 + erf((40.0 - np.abs(p[..., 0])) / 8.0)) * (1 + erf((40.0 - np.abs(p[..., 2] - 60)) / 8))
    )
    falloff = np.clip(1.0 - 0.003 * (depth - 50.0), 0.0, None)
    inside = _inside_ellipsoid(p, (0, 0, 0), BODY_MM)
    inside = ndimage.binary_dilation(inside)
    dose = plan.prescription_gy * profile * falloff * inside
    return plan, DoseGrid(geometry, dose.astype(np.float32))
