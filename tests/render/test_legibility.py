"""Pictures a teacher can project: every panel shows dose, no label covers another, colours read apart.

Checked at a lecture hall's 1920 x 1080 and a laptop's 1366 x 768. Labels are compared by the bounding
boxes of matplotlib's text artists (the PDF test does the same for headings with pdftotext -bbox).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from synthetic import BODY_MM, make_posterior_case

from hbiview.render import slices
from hbiview.render.beams import prescription_point
from hbiview.render.colors import colourwash_rgb, dose_cmap
from hbiview.render.figures import render_compare_3d
from hbiview.render.scene import SceneOptions, add_axes_glyph, camera_for
from hbiview.render.style import LUNG_COLOR, isodose_color

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

SCREENS = [(1920, 1080), (1366, 768)]


@pytest.fixture(scope="module")
def posterior():
    """A PA spine field: its dose lies behind the spine, hidden from an anterior camera."""
    return make_posterior_case()


# ------------------------------------------------------------------------------------------ colours
def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in 0-1 (the closed-form sRGB -> XYZ -> Lab conversion)."""
    c = np.asarray(rgb, dtype=float)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def test_lung_outline_is_not_the_50_percent_blue():
    difference = float(np.linalg.norm(_lab(LUNG_COLOR) - _lab(isodose_color(50))))
    # CIELAB distance: about 2 is just noticeable, above 40 two colours are never confused. The
    # structures' own lung blue (70, 130, 220) was 31 from it, and as thin lines they looked alike.
    assert difference > 60


def test_hot_doses_read_apart_on_the_colourwash():
    """110, 120, 130, 140, 150 % of the prescription over soft tissue, as a slice shows them."""
    cmap = dose_cmap(20.0, 150.0)
    pct = np.array([110.0, 120.0, 130.0, 140.0, 150.0])
    rgb = colourwash_rgb(np.full(pct.size, 40.0), "soft", pct / 100 * 6.0, cmap, (1.2, 9.0), 1.2, 0.45)
    steps = np.linalg.norm(np.diff(_lab(rgb / 255.0), axis=0), axis=1)
    # every 10 % step at least 15 CIELAB units apart under the slices' 45 % wash (the former
    # magenta-to-pale-pink ramp gave 11 between 110 and 120 %)
    assert steps.min() > 15, steps


# ------------------------------------------------------------------------------------------ 3D panels
def test_every_panel_of_a_3d_comparison_shows_dose(case, anatomy, posterior):
    """Each panel changes where its dose is drawn: the PA field's dose is seen from behind."""
    ct, _, dose, plan = case
    pa_plan, pa_dose = posterior
    cases = [(plan, dose), (replace(plan, name="narrow", half_x_mm=80.0), dose), (pa_plan, pa_dose)]
    assert camera_for("auto", pa_plan) == "posterior-oblique"
    options = SceneOptions(show_legend=False, show_orientation=False, show_scalar_bar=False)
    size = (960, 400)
    image = render_compare_3d(ct, cases, anatomy=anatomy, options=options, size=size)
    empty = [(p, d.with_array(np.zeros_like(d.dose_gy))) for p, d in cases]
    plain = render_compare_3d(ct, empty, anatomy=anatomy, options=options, size=size)
    width = size[0] // 3
    for index in range(3):
        a = image[:, index * width : (index + 1) * width].astype(int)
        b = plain[:, index * width : (index + 1) * width].astype(int)
        changed = float(np.mean(np.abs(a - b).max(axis=-1) > 30))
        # the isodose shells cover at least 1 % of every panel (the PA field's 8 x 8 cm field is the
        # smallest: about 2 %); an anterior camera showed none of it
        assert changed > 0.01, (index, changed)


def test_axes_glyph_points_left_posterior_head():
    from hbiview.render._pv import pyvista

    pv = pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(200, 200))
    try:
        actors = add_axes_glyph(plotter, (-100, 100, -50, 50, 0, 500), length_mm=100.0)
        # three arrows and three letters
        assert len(actors) == 6
        arrows = [a.GetMapper().GetInput() for a in actors[0::2]]
        letters = [a.GetMapper().GetInput() for a in actors[1::2]]
        for axis, (arrow, letter) in enumerate(zip(arrows, letters, strict=True)):
            extent = np.ptp(np.asarray(arrow.points), axis=0)
            # each arrow runs 100 mm along its own axis (x: left, y: posterior, z: head) and is thin across
            assert extent[axis] == pytest.approx(100.0, abs=1.0)
            assert np.delete(extent, axis).max() < 20.0
            start = np.asarray(arrow.points).min(axis=0)[axis]
            centre = np.asarray(letter.center)[axis]
            # the letter sits beyond the arrow's tip (1.25 lengths from its start)
            assert centre == pytest.approx(start + 125.0, abs=5.0)
    finally:
        plotter.close()


# ------------------------------------------------------------------------------------------ slices
def test_coronal_slice_through_each_plans_prescription_point(case, posterior):
    ct, structures, _, plan = case
    pa_plan, _ = posterior
    body = next(s for s in structures if s.name == "Body")
    point = prescription_point(pa_plan, body.mask, body.geometry)
    # 50 mm below the skin of the back on the central axis (x = 0, z = 60): the ellipsoid's back is at
    # y = 110 * sqrt(1 - (60 / 230)^2) = 106.2 mm there; the 8 mm voxels move the skin by up to 4 mm and
    # the ray's 2 mm steps by 2 more
    skin_y = BODY_MM[1] * np.sqrt(1 - (60.0 / BODY_MM[2]) ** 2)
    assert point[1] == pytest.approx(skin_y - 50.0, abs=6.0)
    # an AP/PA pair without a stated point: midplane, the body's centre (y = 0) within a voxel
    assert prescription_point(plan, body.mask, body.geometry)[1] == pytest.approx(0.0, abs=6.0)
    assert slices._default_position("coronal", pa_plan, None, ct, structures) == pytest.approx(point[1])


def _figure_of(monkeypatch, draw):
    """Run ``draw`` and return the matplotlib figure it saved (the text boxes are read from it)."""
    figures = []
    original = slices._save

    def keep(fig, out, force):
        figures.append(fig)
        return original(fig, out, force)

    monkeypatch.setattr(slices, "_save", keep)
    draw()
    return figures[-1]


def _overlaps(fig) -> list[tuple[str, str]]:
    boxes = [(text.get_text(), box) for text, box in slices._text_boxes(fig)]
    # boxes that share an edge do not overlap; a pixel's touch is rounding
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.shrunk(0.98, 0.98).overlaps(box_b.shrunk(0.98, 0.98))
    ]


@pytest.mark.parametrize("size", SCREENS, ids=["1920x1080", "1366x768"])
def test_no_two_labels_overlap(case, posterior, monkeypatch, size):
    ct, structures, dose, plan = case
    pa_plan, pa_dose = posterior
    cases = [(plan, dose), (replace(plan, name="narrow", half_x_mm=80.0), dose), (pa_plan, pa_dose)]
    pictures = {
        "coronal comparison": lambda: slices.render_compare_slices(
            ct, cases, structures=structures, view="coronal", size=size, font_scale=1.2
        ),
        "axial": lambda: slices.render_slice(ct, dose=dose, plan=plan, structures=structures, size=size),
        "coronal": lambda: slices.render_slice(
            ct, dose=dose, plan=plan, structures=structures, view="coronal", size=size
        ),
        "difference": lambda: slices.render_difference_slice(
            ct, dose, pa_dose, label_a="AP-PA", label_b="PA", structures=structures, plan=plan, size=size
        ),
    }
    for name, draw in pictures.items():
        fig = _figure_of(monkeypatch, draw)
        assert _overlaps(fig) == [], name
        # at this size every text is at least 11 px high: readable on the screen it fills
        smallest = min(text.get_fontsize() for text, _ in slices._text_boxes(fig)) * fig.dpi / 72
        assert smallest >= 11, (name, smallest)


def test_isodose_labels_that_would_cover_a_marker_are_dropped(case, monkeypatch):
    """Without the check the 50 % label lands on the "P" at the bottom of this axial slice."""
    ct, structures, dose, plan = case

    def draw():
        return slices.render_slice(ct, dose=dose, plan=plan, structures=structures, size=(1920, 1080))

    monkeypatch.setattr(slices, "_declutter", lambda fig: None)
    crowded = _figure_of(monkeypatch, draw)
    monkeypatch.undo()
    assert {frozenset(pair) for pair in _overlaps(crowded)} == {frozenset(("50%", "P"))}
    clean = _figure_of(monkeypatch, draw)
    assert _overlaps(clean) == []
    # only what covered other text went: the other isodose labels stay
    kept = [t for t, _ in slices._text_boxes(clean) if t.get_gid() == slices._ISODOSE_LABEL]
    assert len(kept) >= 2


def test_page_colour_bar_marks_the_prescription():
    from hbiview.render.export import _colour_bar_html

    bar = _colour_bar_html(dose_cmap(20.0, 152.0), (1.2, 9.1), "dose (Gy)", mark=(6.0, "Rx 6 Gy"))
    # the tick stands at (6 - 1.2) / (9.1 - 1.2) of the 220 px bar: 133.7 px, and is named
    assert 'class="rx" style="left: 133.7px;"' in bar and ">Rx 6 Gy<" in bar
    # a mark outside the bar's range is left out rather than drawn beyond its end
    assert 'class="rx"' not in _colour_bar_html(dose_cmap(20.0, 152.0), (1.2, 9.1), "dose", mark=(12.0, "x"))


def test_beam_edges_stay_near_their_panel(case, anatomy):
    """Sources 1 m away are not drawn; the divergent edges end 120 mm outside the framed body."""
    from hbiview.render._pv import pyvista
    from hbiview.render.scene import _frame_bounds, add_scene

    ct, _, dose, plan = case
    pv = pyvista()
    plotter = pv.Plotter(off_screen=True, window_size=(300, 200))
    try:
        groups = add_scene(plotter, ct, anatomy, dose, plan, SceneOptions())
        frame = _frame_bounds(anatomy, plan, ct)
        meshes = [actor.GetMapper().GetInput() for actor in groups["beams"]]
        assert len(meshes) >= 2
        for mesh in meshes:
            bounds = np.asarray(mesh.bounds)
            # every beam line or outline lies inside the frame grown by 120 mm (+1 mm for rounding)
            assert np.all(bounds[0::2] >= np.asarray(frame[0::2]) - 121.0), bounds
            assert np.all(bounds[1::2] <= np.asarray(frame[1::2]) + 121.0), bounds
    finally:
        plotter.close()
