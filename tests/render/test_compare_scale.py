"""Comparisons keep one honest colour scale; panel labels; text size for lecture halls; framing; colourwash.

The comparison tests put the same dose (Gy) under two prescriptions (6 and 8 Gy) or the same relative dose
under both: on a Gy scale equal doses must look the same in every panel, on a percent scale equal
percentages must. Before this scale existed each panel was coloured against its own prescription under a
bar in Gy, so the 8 Gy panel looked cooler than the 6 Gy panel for the same dose.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from synthetic import PRESCRIPTION_GY

from hbiview.errors import InputError
from hbiview.render.colors import colourwash_rgb, dose_cmap, shared_dose_scale
from hbiview.render.figures import render_compare_3d, scene_plotter
from hbiview.render.scene import SceneOptions, set_camera
from hbiview.render.slices import render_compare_slices, render_slice
from hbiview.render.style import plan_title, window_range

#: comparison picture: 1000 px wide, so that each of two panels (0.41 of the width) starts on a whole pixel
COMPARE_SIZE = (1000, 400)


# ------------------------------------------------------------------------------------------ the scale
def test_equal_prescriptions_give_one_gy_scale():
    scale = shared_dose_scale([6.0, 6.0], [9.0, 7.0], threshold_pct=20.0)
    assert scale.mode == "gy"
    # 20 % of 6 Gy to the highest dose (9 Gy, above 110 % = 6.6 Gy): the colour range of both panels
    assert scale.clims_gy == ((1.2, 9.0), (1.2, 9.0))
    assert scale.bar_range == (1.2, 9.0)
    assert scale.references_gy == (6.0, 6.0)
    assert scale.bar_label == "dose (Gy)"


def test_different_prescriptions_give_percent_in_auto():
    scale = shared_dose_scale([6.0, 8.0], [6.9, 8.4], threshold_pct=20.0)
    assert scale.mode == "percent"
    # each plan's own percent: 6.9/6 = 115 %, 8.4/8 = 105 % (below the 110 % floor of the scale)
    assert scale.range_pct == pytest.approx((20.0, 115.0))
    assert scale.bar_range == pytest.approx((20.0, 115.0))
    # the same percentages in Gy of each plan: 20-115 % of 6 Gy and of 8 Gy
    assert scale.clims_gy[0] == pytest.approx((1.2, 6.9))
    assert scale.clims_gy[1] == pytest.approx((1.6, 9.2))
    assert "%" in scale.bar_label


def test_gy_scale_with_different_prescriptions_refers_to_the_highest():
    scale = shared_dose_scale([6.0, 8.0], [6.9, 8.4], threshold_pct=20.0, scale="gy")
    assert scale.mode == "gy"
    # one reference for both panels (8 Gy): isodose levels and colours are the same doses everywhere
    assert scale.references_gy == (8.0, 8.0)
    # 20 % of 8 Gy to 110 % of 8 Gy (8.8 Gy, above both maxima)
    assert np.allclose(scale.clims_gy, [(1.6, 8.8), (1.6, 8.8)])
    assert scale.range_pct == pytest.approx((20.0, 110.0))


def test_scale_refuses_what_it_cannot_show():
    with pytest.raises(InputError, match="colour scale"):
        shared_dose_scale([6.0, 8.0], [7.0, 9.0], scale="absolute")
    with pytest.raises(InputError, match="percent"):
        shared_dose_scale([6.0, 8.0], [7.0, 9.0], scale="percent", dose_range_gy=(1.0, 9.0))
    with pytest.raises(InputError, match="positive"):
        shared_dose_scale([0.0, 8.0], [7.0, 9.0])


# ------------------------------------------------------------------------------------------ pictures
def _panels(image: np.ndarray, n: int = 2) -> list[np.ndarray]:
    """The inside of each slice panel (axes at x = 0.005 + i * 0.82/n, y 0.17-0.89 of the figure)."""
    height, width = image.shape[:2]
    step = 0.82 / n * width
    top, bottom = round(0.11 * height) + 4, round(0.83 * height) - 4
    left0, panel = round(0.005 * width) + 4, int(step - 0.008 * width) - 8
    starts = [round(left0 + i * step) for i in range(n)]
    return [image[top:bottom, start : start + panel] for start in starts]


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(float) - b.astype(float))))


@pytest.mark.slow
def test_slices_on_a_gy_scale_colour_equal_doses_alike(case):
    """Same dose in Gy, prescriptions 6 and 8 Gy: on the Gy scale both panels are the same picture."""
    ct, structures, dose, plan = case
    eight = replace(plan, prescription_gy=8.0, name="same dose, 8 Gy")
    cases = [(plan, dose), (eight, dose)]
    gy = _panels(render_compare_slices(ct, cases, structures=structures, view="axial", scale="gy",
                                       size=COMPARE_SIZE))  # fmt: skip
    # identical doses, one colour map, isodoses at the same doses: only anti-aliasing may differ (< 1 of 255)
    assert _difference(*gy) < 1.0
    # each in percent of its own prescription they must differ: the 6 Gy plan's 6 Gy is 100 %, the 8 Gy
    # plan's 6 Gy is 75 % (orange against green); more than 5 of 255 on average over the panel
    percent = _panels(render_compare_slices(ct, cases, structures=structures, view="axial", scale="percent",
                                            size=COMPARE_SIZE))  # fmt: skip
    assert _difference(*percent) > 5.0


@pytest.mark.slow
def test_slices_on_a_percent_scale_colour_equal_percentages_alike(case):
    """The 8 Gy plan's dose is the 6 Gy plan's times 8/6: the same picture in percent (auto picks it)."""
    ct, structures, dose, plan = case
    eight = replace(plan, prescription_gy=8.0, name="scaled, 8 Gy")
    cases = [(plan, dose), (eight, dose.with_array(dose.dose_gy * 8.0 / PRESCRIPTION_GY))]
    auto = _panels(render_compare_slices(ct, cases, structures=structures, view="axial", size=COMPARE_SIZE))
    # float32 rounding of the scaled dose moves a few contour pixels at most
    assert _difference(*auto) < 1.0
    gy = _panels(render_compare_slices(ct, cases, structures=structures, view="axial", scale="gy",
                                       size=COMPARE_SIZE))  # fmt: skip
    # on one Gy scale the 8 Gy plan is hotter: 8 Gy (100 % of the 8 Gy reference) against 6 Gy (75 %)
    assert _difference(*gy) > 5.0


@pytest.mark.slow
def test_3d_comparison_on_a_gy_scale_colours_equal_doses_alike(case, anatomy):
    ct, _, dose, plan = case
    eight = replace(plan, prescription_gy=8.0, name="same dose, 8 Gy")
    # without legend, cube, title and bar strip the two panels are the same scene, 450 px each
    options = SceneOptions(show_legend=False, show_orientation=False, show_title=False, show_scalar_bar=False)
    size, half = (900, 300), 450

    def panels(image: np.ndarray) -> list[np.ndarray]:
        return [image[:, i * half : (i + 1) * half] for i in (0, 1)]

    gy = render_compare_3d(ct, [(plan, dose), (eight, dose)], anatomy=anatomy, options=options, size=size,
                           scale="gy")  # fmt: skip
    # the same scene, the same colours: only the rasterisation of two viewports may differ (< 1 of 255)
    assert _difference(*panels(gy)) < 1.0
    percent = render_compare_3d(ct, [(plan, dose), (eight, dose)], anatomy=anatomy, options=options,
                                size=size, scale="percent")  # fmt: skip
    # 6 Gy is 100 % (orange) of one plan and 75 % (green) of the other: the planes' colours differ
    assert _difference(*panels(percent)) > 3.0


@pytest.mark.slow
def test_labels_name_the_panels(case):
    ct, structures, dose, plan = case
    assert plan_title(plan, name="wide field") == "wide field: 6 Gy in 1 fraction"
    cases = [(plan, dose), (replace(plan, name="other"), dose)]
    plain = render_compare_slices(ct, cases, structures=structures, view="axial", size=COMPARE_SIZE)
    named = render_compare_slices(ct, cases, structures=structures, view="axial", size=COMPARE_SIZE,
                                  labels=["a much longer name", "B"])  # fmt: skip
    changed = np.flatnonzero(np.any(plain != named, axis=(1, 2)))
    # only the panel titles change: one line of text (12 pt at this size, under 24 px) below the heading
    assert changed.size > 0
    assert changed.min() >= 0.04 * COMPARE_SIZE[1]
    assert changed.max() - changed.min() < 24
    with pytest.raises(InputError, match="one label per plan"):
        render_compare_slices(ct, cases, labels=["only one"], view="axial", size=COMPARE_SIZE)
    with pytest.raises(InputError, match="one label per plan"):
        render_compare_3d(ct, cases, labels=["a", "b", "c"], size=(400, 200))


@pytest.mark.slow
def test_font_scale_enlarges_the_text(case):
    ct, structures, dose, plan = case
    size = (600, 460)

    def ink(image: np.ndarray) -> int:
        # bright pixels in the heading band (title and subtitle, above the picture at y 0.89)
        band = image[: int(0.10 * size[1])]
        return int(np.count_nonzero(band.max(axis=2) > 128))

    normal = render_slice(ct, dose=dose, plan=plan, structures=structures, view="axial", size=size)
    large = render_slice(ct, dose=dose, plan=plan, structures=structures, view="axial", size=size,
                         font_scale=1.5)  # fmt: skip
    # glyph area grows with the square of the font size (2.25); 1.7-2.8 allows for anti-aliased edges and
    # stroke widths that do not scale exactly
    assert 1.7 < ink(large) / ink(normal) < 2.8
    with pytest.raises(InputError, match="font_scale"):
        render_slice(ct, dose=dose, plan=plan, view="axial", size=size, font_scale=10.0)


# ------------------------------------------------------------------------------------------ details
def test_colourwash_keeps_dose_colours_over_dark_lung():
    """Under the wash the CT is lifted to [0.5, 1]: lung at 100 % is not darker than tissue by half."""
    cmap = dose_cmap(20.0, 120.0)
    lung, tissue = -1000.0, 40.0
    hu = np.array([[lung, tissue]])
    dose = np.array([[6.0, 6.0]])
    rgb = colourwash_rgb(hu, "soft", dose, cmap, (1.2, 7.2), threshold=1.2, alpha=0.45) / 255.0
    colour = np.asarray(cmap((6.0 - 1.2) / 6.0))[:3]
    low, high = window_range("soft")
    grey_tissue = (tissue - low) / (high - low)
    # closed form: (1 - alpha) * (0.5 + 0.5 * grey) + alpha * colour; lung grey is 0; +-1/255 rounding
    assert rgb[0, 0] == pytest.approx(0.55 * 0.5 + 0.45 * colour, abs=1 / 255)
    assert rgb[0, 1] == pytest.approx(0.55 * (0.5 + 0.5 * grey_tissue) + 0.45 * colour, abs=1 / 255)


def test_no_dose_bar_without_planes(case, anatomy):
    """The dose colour map colours only the CT planes: without planes there is no bar to read."""
    ct, _, dose, plan = case
    plotter = scene_plotter(ct, dose=dose, plan=plan, anatomy=anatomy, options=SceneOptions(planes=()),
                            size=(320, 200))  # fmt: skip
    try:
        assert len(plotter.scalar_bars) == 0
    finally:
        plotter.close()
    one_plane = SceneOptions(planes=("coronal",))
    plotter = scene_plotter(ct, dose=dose, plan=plan, anatomy=anatomy, options=one_plane, size=(320, 200))
    try:
        assert len(plotter.scalar_bars) == 1
    finally:
        plotter.close()


def test_camera_fits_a_tall_box_in_a_narrow_view():
    """A 1 m tall box seen from the front fills the height of a portrait window, with a 1/1.12 margin."""
    from hbiview.render._pv import pyvista

    pv = pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(300, 800))
    try:
        bounds = (-100.0, 100.0, -50.0, 50.0, -500.0, 500.0)
        plotter.add_mesh(pv.Box(bounds))
        set_camera(plotter, "anterior", bounds)
        plotter.render()
        renderer = plotter.renderer
        heights = []
        for z in (-500.0, 500.0):
            renderer.SetWorldPoint(0.0, -50.0, z, 1.0)  # front face, nearest the camera: largest
            renderer.WorldToDisplay()
            heights.append(renderer.GetDisplayPoint()[1])
        span = (max(heights) - min(heights)) / 800.0
        # the nearest face's height fills 1/1.12 of the window (set_camera's margin); +-0.01 for pixel
        # rounding. A bounding-sphere fit would fill about 0.55 of it.
        assert span == pytest.approx(1 / 1.12, abs=0.01)
    finally:
        plotter.close()


@pytest.mark.slow
def test_title_scale_fits_long_labels(case, anatomy):
    """Long labels in narrow panels shrink the text instead of running into the next panel."""
    ct, _, dose, plan = case
    image = render_compare_3d(ct, [(plan, dose), (plan, dose)], anatomy=anatomy, size=(600, 300),
                              labels=["a rather long label for a narrow panel", "second"],
                              options=SceneOptions(show_scalar_bar=False))  # fmt: skip
    # the first title ends before the second panel begins: the column just left of the middle is
    # background in the title band (top 30 px)
    band = image[:30, 290:300].astype(int)
    background = image[2, 2].astype(int)
    assert np.abs(band - background).max() < 60
