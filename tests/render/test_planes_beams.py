"""Radiological orientation of slices and field geometry (divergent edges), against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import (
    BODY_MM,
    FIELD_CENTRE_Z_MM,
    FIELD_HALF_X_MM,
    FIELD_HALF_Z_MM,
    SAD_MM,
    make_case,
)

from hbiview.errors import InputError
from hbiview.render.beams import plane_field_segments, skin_outline
from hbiview.render.planes import make_plane, sample_on_plane


def test_axial_view_has_patient_right_on_the_left_and_anterior_up(case):
    ct, structures, _, _ = case
    plane = make_plane(ct.geometry, "axial", 80.0)
    assert plane.labels == ("R", "L", "A", "P")
    lung_left = next(s for s in structures if s.name == "Lung_L")
    picture = sample_on_plane(lung_left.mask.astype(float), lung_left.geometry, plane, order=0)
    columns = np.flatnonzero(picture.any(axis=0))
    # the left lung (centre x = +72 mm, LPS +x = patient's left) is drawn in the right half of the picture
    assert plane.columns_mm[columns].min() > 0 and columns.min() > picture.shape[1] / 2
    # the spine (posterior, y = +75 mm) is drawn in the lower half of the picture
    spine = next(s for s in structures if s.name == "Skeleton")
    rows = np.flatnonzero(
        sample_on_plane(spine.mask.astype(float), spine.geometry, plane, order=0).any(axis=1)
    )
    assert rows.min() > picture.shape[0] / 2


def test_coronal_view_has_head_up_and_sagittal_has_anterior_left(case):
    ct = case[0]
    coronal = make_plane(ct.geometry, "coronal", 0.0)
    assert coronal.labels == ("R", "L", "H", "F")
    assert coronal.rows_mm[0] > coronal.rows_mm[-1]  # first row is the most superior
    assert coronal.columns_mm[0] < coronal.columns_mm[-1]  # patient right (-x) first
    sagittal = make_plane(ct.geometry, "sagittal", 0.0)
    assert sagittal.labels == ("A", "P", "H", "F")
    assert sagittal.columns_mm[0] < sagittal.columns_mm[-1]  # anterior (-y) first


def test_plane_outside_the_ct_is_refused(case):
    with pytest.raises(InputError, match="outside the CT"):
        make_plane(case[0].geometry, "axial", 900.0)


def test_field_border_on_an_axial_slice_diverges_from_the_source(case):
    ct, _, _, plan = case
    plane = make_plane(ct.geometry, "axial", FIELD_CENTRE_Z_MM)
    source, corners = plan.beam_outlines()[0]  # the AP beam, source at y = -SAD
    segments = plane_field_segments(source, corners, plane, ct.geometry)
    assert len(segments) == 2  # the two lateral faces cross an axial slice inside the field
    for segment in segments:
        x, y = segment[:, 0], segment[:, 1]
        # closed form: half-width grows with distance from the source, x = +-w (y + SAD) / SAD
        np.testing.assert_allclose(np.abs(x), FIELD_HALF_X_MM * (y + SAD_MM) / SAD_MM, atol=1e-6)


def test_field_border_on_a_coronal_slice_is_the_magnified_rectangle(case):
    ct, _, _, plan = case
    depth = 100.0  # mm behind the isocentre plane
    plane = make_plane(ct.geometry, "coronal", depth)
    source, corners = plan.beam_outlines()[0]
    points = np.concatenate(plane_field_segments(source, corners, plane, ct.geometry))
    magnification = (SAD_MM + depth) / SAD_MM
    np.testing.assert_allclose(np.abs(points[:, 0]).max(), FIELD_HALF_X_MM * magnification, atol=1e-6)
    np.testing.assert_allclose(
        np.abs(points[:, 1] - FIELD_CENTRE_Z_MM).max(), FIELD_HALF_Z_MM * magnification, atol=1e-6
    )


def test_field_outline_on_the_skin_lies_on_the_body_surface():
    _, structures, _, plan = make_case(spacing_mm=4.0)
    body = structures[0]
    source, corners = plan.beam_outlines()[0]
    points = skin_outline(source, corners, body.mask, body.geometry, step_mm=1.0, lift_mm=0.0)
    hit = np.all(np.isfinite(points), axis=1)
    assert hit.sum() > 100
    a, b, c = BODY_MM
    p = points[hit]
    # anterior surface of the ellipsoid: y = -b sqrt(1 - (x/a)^2 - (z/c)^2)
    inner = 1 - (p[:, 0] / a) ** 2 - (p[:, 2] / c) ** 2
    surface_y = -b * np.sqrt(np.clip(inner, 0, None))
    # within one voxel diagonal of the 4 mm mask (6.9 mm) plus one 1 mm step; the ray meets the surface
    # at a grazing angle near the field's lateral edges, where a voxel step moves it furthest
    assert np.all(np.abs(p[:, 1] - surface_y) < 4.0 * np.sqrt(3) + 1.0)
    # the outline is the divergent field rectangle projected to that depth
    scale = (p[:, 1] + SAD_MM) / SAD_MM
    on_side = np.isclose(np.abs(p[:, 0]), FIELD_HALF_X_MM * scale, atol=0.5) | np.isclose(
        np.abs(p[:, 2] - FIELD_CENTRE_Z_MM), FIELD_HALF_Z_MM * scale, atol=0.5
    )
    assert on_side.all()


def test_field_extent_grows_with_divergence_and_centre_is_on_the_midplane(case):
    from hbiview.render.beams import field_centre, field_extent

    ct, _, _, plan = case
    lower, upper = ct.geometry.bounds_mm()
    low, high = field_extent(plan.beam_outlines(), lower, upper)
    # the AP beam's edge rays are widest where they leave the CT box on the posterior side (y = upper),
    # the PA beam's on the anterior side: half-length there = FIELD_HALF_Z (SAD + |y|) / SAD
    far = (SAD_MM + upper[1]) / SAD_MM
    assert high[2] == pytest.approx(FIELD_CENTRE_Z_MM + FIELD_HALF_Z_MM * far, abs=1e-6)
    assert low[2] == pytest.approx(FIELD_CENTRE_Z_MM - FIELD_HALF_Z_MM * far, abs=1e-6)
    # each central axis crosses the box symmetrically about y = 0: the midplane point (0, 0, z_c)
    np.testing.assert_allclose(
        field_centre(plan.beam_outlines(), lower, upper), [0, 0, FIELD_CENTRE_Z_MM], atol=1e-6
    )


@pytest.mark.parametrize("feet_first", [False, True])
def test_skin_outline_finds_a_ball_far_inside_the_grid_and_misses_beside_it(feet_first):
    from hbiview.geometry import Geometry
    from hbiview.render.beams import outline_points

    # a 60 mm ball 270 mm behind where the rays enter the grid: they march past many chunks of steps
    # before meeting it; the field's far sides send rays past it, which must come back as NaN rows
    direction = np.diag([1.0, 1.0, -1.0 if feet_first else 1.0])[:, ::-1]  # columns: z, y, x axes
    origin = (-59.0, -199.0, 59.0 if feet_first else -59.0)
    geometry = Geometry.from_spacing((60, 200, 60), (2.0, 2.0, 2.0), origin, direction)
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    centre, radius = np.array([0.0, 70.0, 0.0]), 50.0
    mask = np.linalg.norm(points - centre, axis=-1) <= radius
    source = np.array([0.0, -1000.0, 0.0])
    corners = np.array([[-20.0, 0.0, -20.0], [120.0, 0.0, -20.0], [120.0, 0.0, 120.0], [-20.0, 0.0, 120.0]])
    step = 1.0
    outline = skin_outline(source, corners, mask, geometry, per_side=16, step_mm=step, lift_mm=0.0)
    rays = outline_points(corners, per_side=16) - source
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    # closed form: where each ray meets the sphere (|s + t d - c| = r), or no root when it passes beside
    b = rays @ (source - centre)
    disc = b**2 - (np.sum((source - centre) ** 2) - radius**2)
    meets = disc > 0
    # rays passing within 2 mm of the sphere's rim are left out: the voxel ball's edge decides them
    passing = np.sqrt(np.maximum(np.sum((source - centre) ** 2) - b**2, 0.0))  # distance from the centre
    clear = np.abs(passing - radius) > 2.0
    found = np.all(np.isfinite(outline), axis=1)
    assert (meets & clear).sum() > 10 and (~meets & clear).sum() > 10  # both kinds of ray are tested
    np.testing.assert_array_equal(found[clear], meets[clear])  # NaN rows exactly for the rays that miss
    entry = -b - np.sqrt(np.where(meets, disc, 0.0))
    depth = np.sum((outline - source) * rays, axis=1)
    # the first sample inside the voxel ball: within one step after the sphere, or up to half a voxel
    # diagonal (1.7 mm) before it where the voxel ball bulges out
    error = (depth - entry)[meets & found]
    assert np.all((error > -np.sqrt(3.0)) & (error < step + np.sqrt(3.0)))
    # a read-only mask (a Structure's) has its bounding box kept between calls: the same outline each time
    frozen = mask.copy()
    frozen.setflags(write=False)
    for _ in range(2):
        again = skin_outline(source, corners, frozen, geometry, per_side=16, step_mm=step, lift_mm=0.0)
        np.testing.assert_array_equal(again, outline)
    # an empty mask: every ray misses
    assert np.isnan(skin_outline(source, corners, np.zeros_like(mask), geometry, per_side=16)).all()
