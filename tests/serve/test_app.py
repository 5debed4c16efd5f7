"""The page's application without a browser: what it draws for one plan, for a comparison, and toggles."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("trame", reason="the web extra (pip install 'hbiview[web]') is not installed")

pytestmark = pytest.mark.slow  # the sample patient is segmented and its surfaces made


@pytest.fixture(scope="module")
def app(serve_model):
    from hbiview.serve.app import ViewerApp

    return ViewerApp(serve_model, name="hbiview-test-app")


def test_one_plan_fills_numbers_dvh_and_slices(app, serve_model):
    computed = serve_model.compute(serve_model.default_settings("upper-hbi"))
    app.show(computed)
    s = app.state
    mld = computed.numbers.mean_lung_dose_gy
    assert s.numbers_a[0] == {"name": "mean lung dose", "value": f"{mld:.2f} Gy"}
    assert s.numbers_b == [] and s.img_b == ""
    assert s.dvh.count("<polyline") == 3  # lungs, marrow, body
    for view in ("axial", "coronal", "sagittal"):
        assert s[f"img_{view}"].startswith("data:image/png;base64,")
    assert app.plotter.renderers[0].GetViewport() == (0.0, 0.0, 1.0, 1.0)  # A alone fills the view


def test_comparison_links_cameras_and_shares_one_scale(app, serve_model):
    a = serve_model.compute(serve_model.default_settings("upper-hbi").with_(inferior="L2"))
    b = serve_model.compute(serve_model.default_settings("upper-hbi"))
    app.show(a, b)
    left, right = app.plotter.renderers[0], app.plotter.renderers[1]
    assert left.GetActiveCamera() is right.GetActiveCamera()  # one camera: the views turn together
    assert left.GetViewport() == (0.0, 0.0, 0.5, 1.0) and right.GetViewport() == (0.5, 0.0, 1.0, 1.0)
    references, clims = app._scale()
    # the same prescription (6 Gy): one scale in Gy for both (hbiview.render.colors.shared_dose_scale)
    assert references == [6.0, 6.0] and clims[0] == clims[1]
    assert app.state.numbers_b[0]["value"] == f"{b.numbers.mean_lung_dose_gy:.2f} Gy"
    assert app.state.img_diff.startswith("data:image/png;base64,") and "A minus B" in app.state.diff_text
    assert app.state.dvh.count("<polyline") == 6 and app.state.dvh.count('stroke-dasharray="6,4"') >= 3


def test_toggles_hide_their_actors(app, serve_model):
    app.show(serve_model.compute(serve_model.default_settings("upper-hbi")))
    app.state.show_lungs = False
    app._on_toggles()
    assert all(not actor.GetVisibility() for actor in app.groups[0]["lungs"])
    assert all(actor.GetVisibility() for actor in app.groups[0]["skin"])
    app.state.show_lungs = True
    app._on_toggles()
    assert all(actor.GetVisibility() for actor in app.groups[0]["lungs"])


def test_settings_from_the_page_are_checked(app, serve_model):
    from hbiview.errors import PlanError

    app.state.plan_a = "upper-hbi"
    app.state.inferior = " L2 "
    app.state.heterogeneity = False
    settings = app.settings_from_state()
    assert settings.inferior == "L2" and settings.heterogeneity is False and settings.superior is None
    with pytest.raises(PlanError, match="not loaded"):
        serve_model.check(settings.with_(plan="../../etc/passwd"))
    app.state.ssd_mm = "1600"  # typed or chosen on the page: a number of mm for the preset's ssd_mm
    assert app.settings_from_state().preset_options()["ssd_mm"] == 1600.0
    app.state.ssd_mm = "far"
    with pytest.raises(PlanError, match="SSD 'far' is not a number of mm"):
        app.settings_from_state()
    app.state.ssd_mm = ""


def test_a_border_change_redraws_what_the_field_changes_and_keeps_the_rest(app, serve_model):
    from hbiview.render.convert import isodose_surfaces
    from hbiview.render.scene import _dose_in_body

    app.state.compare = False
    app.state.bone = "skeleton"
    app.show(serve_model.compute(serve_model.default_settings("upper-hbi")))
    before = {name: list(actors) for name, actors in app.groups[0].items()}
    moved = serve_model.compute(serve_model.default_settings("upper-hbi").with_(inferior="L2"))
    app.show(moved)
    after = app.groups[0]
    # lungs and skeleton do not depend on the field: the same actors; skin cut, shells, beams are new
    assert after["lungs"] == before["lungs"] and after["bone"] == before["bone"]
    assert not set(after["skin"]) & set(before["skin"]) and not set(after["beams"]) & set(before["beams"])
    renderer = app.plotter.renderers[0]
    on_screen = {
        renderer.GetActors().GetItemAsObject(k) for k in range(renderer.GetActors().GetNumberOfItems())
    }
    shown_now = {a for actors in after.values() for a in actors}
    replaced = {a for actors in before.values() for a in actors} - shown_now
    assert shown_now <= on_screen and not replaced & on_screen  # the old skin, shells, beams are gone
    # the shells drawn are those of the new dose: 50 % and 95 % of the prescription, inside the body,
    # as the renderer makes them from scratch
    rx = moved.run.prescription_gy
    dose = _dose_in_body(moved.run.dose, app._anatomy_for(moved.run.dose.geometry).body)
    expected = isodose_surfaces(dose, [0.5 * rx, 0.95 * rx], smoothing_mm=3.0)
    for name, surface in zip(("isodose 50%", "isodose 95%"), expected, strict=True):
        shown = after[name][0].GetMapper().GetInput()
        assert shown.GetNumberOfPoints() == surface.n_points  # the same contour of the same dose
        np.testing.assert_allclose(shown.GetBounds(), surface.bounds, atol=1e-9)
    # the colour scale is that of the new dose's maximum (each grid's maximum is found once and kept)
    from hbiview.render.colors import dose_range_gy

    assert app._scale()[1][0] == dose_range_gy(rx, float(np.max(moved.run.dose.array)))
    # the bones shown change: the bone actor is made again
    app.state.bone = "marrow"
    app._on_bone()
    assert app.groups[0]["bone"] != after["bone"]
    app.state.bone = "skeleton"
    app._on_bone()


def test_a_slider_redraws_only_its_own_slice(app, serve_model, monkeypatch):
    from hbiview.serve.pictures import png_data_url

    app.state.compare = False
    computed = serve_model.compute(serve_model.default_settings("upper-hbi"))
    app.show(computed)
    before = {view: app.state[f"img_{view}"] for view in ("axial", "coronal", "sagittal")}
    drawn = []
    rgb = app.painter.rgb
    monkeypatch.setattr(app.painter, "rgb", lambda view, *a, **k: drawn.append(view) or rgb(view, *a, **k))
    app.state.pos_axial = float(app.state.pos_axial) + 20.0
    app._on_slices()
    assert drawn == ["axial"]  # the coronal and sagittal pictures are those already on the page
    assert app.state.img_coronal == before["coronal"] and app.state.img_sagittal == before["sagittal"]
    # the new axial picture is the painter's picture of the new position, as drawn without any cache
    references, clims = app._scale()
    position = float(app.state.pos_axial)
    fresh = png_data_url(
        rgb("axial", position, dose=computed.run.dose, reference_gy=references[0], clim_gy=clims[0])
    )
    assert app.state.img_axial == fresh != before["axial"]
