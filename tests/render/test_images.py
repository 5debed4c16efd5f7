"""Image regression: one small off-screen render per kind of view against its stored reference picture.

Regenerate the references with ``HBIVIEW_UPDATE_BASELINES=1 pytest tests/render`` and look at every one
before committing it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from imagecheck import (
    BASELINE_DIR,
    MEAN_ERROR_LIMIT,
    STRONG_FRACTION_LIMIT,
    image_error,
    load_png,
    strong_fraction,
    verify_image,
)
from synthetic import make_case, make_posterior_case

from hbiview.render.figures import render_3d, render_compare_3d, render_difference_3d
from hbiview.render.scene import SceneOptions, prepare_anatomy
from hbiview.render.slices import SliceStyle, render_compare_slices, render_difference_slice, render_slice

SIZE_3D = (480, 300)
SIZE_SLICE = (480, 360)


@pytest.fixture(scope="module")
def narrow_case():
    """The same patient with a narrower field (second plan of the comparisons)."""
    return make_case(half_x_mm=80.0)


def test_3d_scene(case, anatomy):
    ct, _, dose, plan = case
    verify_image(render_3d(ct, dose=dose, plan=plan, anatomy=anatomy, size=SIZE_3D), "scene_3d")


@pytest.mark.slow
def test_3d_scene_with_a_coronal_plane(case, anatomy):
    """One CT plane through the prescription point, everything in front of it cut away."""
    ct, _, dose, plan = case
    options = SceneOptions(planes=("coronal",), isodose_pct=(50, 80, 95, 105))
    verify_image(render_3d(ct, dose=dose, plan=plan, anatomy=anatomy, options=options, size=SIZE_3D),
                 "scene_3d_plane")  # fmt: skip


@pytest.mark.slow
def test_3d_scene_marrow_weight(case):
    ct, structures, dose, plan = case
    options = SceneOptions(bone="marrow-weight", planes=("sagittal",), camera="right")
    image = render_3d(ct, dose=dose, plan=plan, structures=structures, options=options, size=SIZE_3D)
    verify_image(image, "scene_3d_marrow")


@pytest.mark.slow
@pytest.mark.parametrize("view", ["axial", "coronal", "sagittal"])
def test_slice(case, view):
    ct, structures, dose, plan = case
    image = render_slice(ct, dose=dose, plan=plan, structures=structures, view=view, size=SIZE_SLICE)
    verify_image(image, f"slice_{view}")


def test_slice_lung_window(case):
    ct, structures, dose, plan = case
    style = SliceStyle(window="lung", isodose_pct=(30, 70, 95))
    image = render_slice(ct, dose=dose, plan=plan, structures=structures, view="axial", position_mm=100.0,
                         style=style, size=SIZE_SLICE)  # fmt: skip
    verify_image(image, "slice_axial_lung")


@pytest.mark.slow
def test_compare_3d(case, narrow_case, anatomy):
    """Three plans, the PA field seen from behind (its own camera), one frame, shells in every panel."""
    ct, _, dose, plan = case
    _, _, dose2, plan2 = narrow_case
    plan2 = replace(plan2, name="narrow")
    pa_plan, pa_dose = make_posterior_case()
    image = render_compare_3d(ct, [(plan, dose), (plan2, dose2), (pa_plan, pa_dose)], anatomy=anatomy,
                              size=(800, 360))  # fmt: skip
    verify_image(image, "compare_3d")


@pytest.mark.slow
def test_compare_coronal_each_through_its_prescription_point(case):
    ct, structures, dose, plan = case
    pa_plan, pa_dose = make_posterior_case()
    image = render_compare_slices(ct, [(plan, dose), (pa_plan, pa_dose)], structures=structures,
                                  view="coronal", size=(640, 360))  # fmt: skip
    verify_image(image, "compare_coronal")


@pytest.mark.slow
def test_compare_slices(case, narrow_case):
    ct, structures, dose, plan = case
    _, _, dose2, plan2 = narrow_case
    plan2 = replace(plan2, name="narrow")
    image = render_compare_slices(
        ct, [(plan, dose), (plan2, dose2)], structures=structures, view="axial", size=(640, 360)
    )
    verify_image(image, "compare_axial")


def test_difference(case, narrow_case):
    ct, structures, dose, plan = case
    dose2 = narrow_case[2]
    image = render_difference_slice(
        ct, dose, dose2, label_a="wide", label_b="narrow", structures=structures, view="axial", plan=plan,
        size=SIZE_SLICE,
    )  # fmt: skip
    verify_image(image, "difference_axial")


def test_difference_3d(case, narrow_case, anatomy):
    ct, _, dose, plan = case
    image = render_difference_3d(
        ct, dose, narrow_case[2], label_a="wide", label_b="narrow", plan=plan, anatomy=anatomy, size=SIZE_3D
    )
    verify_image(image, "difference_3d")


def test_verify_image_catches_a_missing_organ(case):
    """The tolerance is tight enough to fail when the lungs are missing from the scene."""
    ct, structures, dose, plan = case
    without_lungs = prepare_anatomy([s for s in structures if not s.name.startswith("Lung")])
    image = render_3d(ct, dose=dose, plan=plan, anatomy=without_lungs, size=SIZE_3D)
    reference = load_png(BASELINE_DIR / "scene_3d.png")
    # the pale lungs, seen through the isodose shells in this small picture, change 0.95 % of its pixels
    # strongly: the mean moves little, a region a lot; the check fails it with a margin of half again
    assert strong_fraction(image, reference) > 1.5 * STRONG_FRACTION_LIMIT


def test_verify_image_catches_a_mirrored_slice(case):
    ct, structures, dose, plan = case
    image = render_slice(ct, dose=dose, plan=plan, structures=structures, view="axial", size=SIZE_SLICE)
    reference = load_png(BASELINE_DIR / "slice_axial.png")
    # the same picture mirrored left-right (patient right shown on the right) must not pass
    assert image_error(image[:, ::-1], reference) > 2 * MEAN_ERROR_LIMIT
    assert image_error(image, reference) <= MEAN_ERROR_LIMIT
    assert np.asarray(image).dtype == np.uint8
