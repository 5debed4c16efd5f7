"""3D scene geometry: patient directions on screen, orientation marker, camera, cutaway, plane colours."""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.errors import InputError
from hbiview.render._pv import pyvista
from hbiview.render.scene import CAMERAS, SceneOptions, add_scene, orientation_marker, set_camera


def _red_fraction_by_half(image: np.ndarray) -> tuple[float, float]:
    red = (image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60)
    half = image.shape[1] // 2
    return float(red[:, :half].mean()), float(red[:, half:].mean())


@pytest.mark.parametrize(("camera", "side"), [("anterior", "right"), ("posterior", "left")])
def test_patient_left_appears_where_a_viewer_facing_the_patient_expects(camera, side):
    pv = pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(200, 150))
    # a red ball at the patient's left (+x in LPS) and a grey one at the right
    plotter.add_mesh(pv.Sphere(radius=20, center=(100, 0, 0)), color="red", lighting=False)
    plotter.add_mesh(pv.Sphere(radius=20, center=(-100, 0, 0)), color="grey", lighting=False)
    set_camera(plotter, camera, (-120, 120, -20, 20, -20, 20))
    image = plotter.screenshot(return_img=True)
    plotter.close()
    left, right = _red_fraction_by_half(image)
    # seen from the front the patient's left is on the viewer's right; seen from behind, on the left
    assert (right > 0.01 and left == 0) if side == "right" else (left > 0.01 and right == 0)


def test_orientation_marker_names_lps_directions():
    cube = orientation_marker()
    faces = {
        "+x": cube.GetXPlusFaceText(),
        "-x": cube.GetXMinusFaceText(),
        "+y": cube.GetYPlusFaceText(),
        "-y": cube.GetYMinusFaceText(),
        "+z": cube.GetZPlusFaceText(),
        "-z": cube.GetZMinusFaceText(),
    }
    # DICOM LPS: +x towards the patient's left, +y posterior, +z head
    assert faces == {"+x": "L", "-x": "R", "+y": "P", "-y": "A", "+z": "H", "-z": "F"}


def test_default_camera_looks_from_anterior_and_frames_the_field(case, anatomy):
    ct, _, dose, plan = case
    pv = pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(300, 200))
    groups = add_scene(plotter, ct, anatomy, dose, plan, SceneOptions())
    camera = plotter.camera
    view = np.asarray(camera.position) - np.asarray(camera.focal_point)
    plotter.close()
    assert view[1] < 0  # the camera stands on the anterior side (-y)
    assert camera.up[2] > 0.99  # head up
    # by default no CT planes: the isodose shells of the irradiated (50 %) and treated (95 %) volume
    assert {"skin", "lungs", "bone", "beams", "isodose 50%", "isodose 95%"} <= set(groups)
    assert "planes" not in groups and "isodose 80%" not in groups


def test_auto_camera_looks_from_the_side_the_beams_come_from(case):
    from dataclasses import dataclass

    from hbiview.render.scene import camera_for

    plan = case[3]
    assert camera_for("auto", plan) == "anterior-oblique"  # AP/PA pair

    @dataclass
    class PosteriorOnly:
        name: str = "PA"
        prescription_gy: float = 8.0
        fractions: int = 1

        def beam_outlines(self):
            return [outline for outline in plan.beam_outlines() if outline[0][1] > 0]  # the PA beam

    assert camera_for("auto", PosteriorOnly()) == "posterior-oblique"
    assert camera_for("left", PosteriorOnly()) == "left"


def test_cutaway_removes_what_is_between_camera_and_planes(case, anatomy):
    ct, _, dose, plan = case
    pv = pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(300, 200))
    options = SceneOptions(planes=("coronal",), camera="anterior", plane_position_mm=(0.0, 0.0, 0.0))
    groups = add_scene(plotter, ct, anatomy, dose, plan, options)
    skin = groups["skin"][0].mapper.dataset
    plotter.close()
    # the anterior half of the skin (y < 0, facing the camera) is cut away; clipping interpolates exactly
    # onto the plane, so nothing remains in front of it beyond float rounding
    assert skin.points[:, 1].min() > -1e-3
    assert skin.points[:, 1].max() > 100  # the posterior half is still there


def test_bad_options_are_refused():
    with pytest.raises(InputError, match="bone display"):
        SceneOptions(bone="cartilage")
    with pytest.raises(InputError, match="unknown plane"):
        SceneOptions(planes=("oblique",))
    with pytest.raises(InputError, match="unknown camera"):
        SceneOptions(camera="top")
    assert "anterior-oblique" in CAMERAS


@pytest.mark.parametrize("cut_y_mm", [10.0, -99.0, 120.0])
def test_clip_below_zero_gives_the_surface_vtk_clip_gives(cut_y_mm):
    """Only triangles crossing zero go through VTK's clip: the same triangles come out as from the whole."""
    from hbiview.render.scene import _clip_below_zero

    pv = pyvista()
    sphere = pv.Sphere(radius=100.0, theta_resolution=60, phi_resolution=60).compute_normals()
    points = np.asarray(sphere.points)
    # a wedge as the skin's cut makes it: in front of a plane and within a band of z
    values = np.minimum(points[:, 1] - cut_y_mm, np.minimum(points[:, 2] + 30.0, 60.0 - points[:, 2]))
    whole = sphere.copy()
    whole.point_data["v"] = values
    expected = whole.clip_scalar(scalars="v", value=0.0, invert=True)
    fast = _clip_below_zero(sphere, values, "v")
    assert fast.n_cells == expected.n_cells
    if expected.n_cells:
        # the same triangles (cell centres to 1e-9 mm, floating-point noise) and the same area
        centres = [np.sort(np.round(m.cell_centers().points, 9), axis=0) for m in (fast, expected)]
        np.testing.assert_allclose(centres[0], centres[1], rtol=0, atol=1e-9)
        assert fast.area == pytest.approx(expected.area, rel=1e-12)
        assert fast.point_data.active_normals_name == "Normals"  # smooth shading keeps the skin's normals


def test_add_mesh_copies_draw_exactly_what_pyvista_add_mesh_draws():
    """The second surface of a style copies the first's actor: same settings, same pixels as add_mesh."""
    from hbiview.render.scene import _add_mesh

    pv = pyvista()
    shell = pv.Sphere(radius=40.0, center=(0, 0, 0)).compute_normals()
    skin = pv.Sphere(radius=70.0, center=(0, 0, 0), theta_resolution=40).compute_normals()
    ring = pv.Circle(radius=90.0).extract_feature_edges()
    styles = [
        (shell, {"color": (0.2, 0.4, 0.9), "opacity": 0.65, "smooth_shading": True}),
        (skin, {"color": (0.96, 0.80, 0.69), "opacity": 0.22, "smooth_shading": True, "culling": "back"}),
        (ring, {"color": (1.0, 1.0, 0.55), "line_width": 4}),
    ]
    pictures, actors = [], []
    for copied in (False, True):
        plotter = pv.Plotter(off_screen=True, window_size=(240, 200))
        for index, (mesh, style) in enumerate(styles):
            if copied:  # a first mesh of the style makes the template; the one drawn is a copy of it
                _add_mesh(plotter, mesh.copy(), name=f"first {index}", **style)
                plotter.remove_actor(f"first {index}", reset_camera=False, render=False)
                actors.append(_add_mesh(plotter, mesh, name=f"mesh {index}", **style))
            else:
                actors.append(plotter.add_mesh(mesh, name=f"mesh {index}", **style))
        set_camera(plotter, "anterior-oblique", (-90, 90, -90, 90, -90, 90))
        pictures.append(plotter.screenshot(return_img=True))
        plotter.close()
    made, copies = actors[:3], actors[3:]
    for a, b in zip(made, copies, strict=True):
        assert b.GetMapper().GetInput() is not None and b.GetMapper() is not a.GetMapper()
        pa, pb = a.GetProperty(), b.GetProperty()
        assert pa.GetColor() == pb.GetColor() and pa.GetOpacity() == pb.GetOpacity()
        assert pa.GetInterpolation() == pb.GetInterpolation() and pa.GetLineWidth() == pb.GetLineWidth()
        assert pa.GetBackfaceCulling() == pb.GetBackfaceCulling()
        assert a.GetMapper().GetScalarVisibility() == b.GetMapper().GetScalarVisibility()
    # re-renders on one machine agree exactly (tests/render/imagecheck.py): the copies draw the same pixels
    np.testing.assert_array_equal(pictures[0], pictures[1])


def test_dose_in_body_is_the_dose_inside_the_outline_and_zero_outside():
    from hbiview.geometry import Geometry
    from hbiview.render.scene import _dose_in_body
    from hbiview.volume import DoseGrid, Structure

    geometry = Geometry.box((-40, -40, -40), (40, 40, 40), 4.0)
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([k, j, i], axis=-1))
    mask = np.linalg.norm(points, axis=-1) <= 30.0
    body = Structure(geometry, mask, name="Body")
    values = (10.0 - 0.1 * points[..., 0]).astype(np.float32)  # Gy, 6-14 Gy across the grid
    # a rounding residue below zero outside the body and a hot voxel inside: cleared or kept exactly
    outside, inside = tuple(np.argwhere(~mask)[0]), tuple(np.argwhere(mask)[0])
    values[outside], values[inside] = -1e-7, 123.0
    masked = _dose_in_body(DoseGrid(geometry, values), body)
    assert masked.dose_gy.dtype == np.float32
    np.testing.assert_array_equal(masked.dose_gy[mask], values[mask])  # exactly the dose inside
    np.testing.assert_array_equal(masked.dose_gy[~mask], 0.0)  # nothing outside (-0.0 == 0.0)
    assert masked.dose_gy[inside] == 123.0
