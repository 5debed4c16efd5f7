"""The interactive window, built off-screen: sliders, toggles, plan switcher and screenshot key."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
from synthetic import make_case

from hbiview.errors import InputError
from hbiview.render.keys import KEYS, TOGGLES
from hbiview.render.viewer import Viewer

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def viewer(case, tmp_path_factory):
    ct, structures, dose, plan = case
    _, _, dose2, plan2 = make_case(half_x_mm=80.0)
    window = Viewer(
        ct,
        [(plan, dose), (replace(plan2, name="narrow"), dose2)],
        structures,
        size=(400, 300),
        off_screen=True,
        screenshot_dir=tmp_path_factory.mktemp("shots"),
    )
    yield window
    window.close()


def _actor_bounds(viewer, group):
    return np.array([actor.GetBounds() for actor in viewer.groups[group]])


def test_window_starts_with_three_planes_at_the_field_centre(viewer):
    assert viewer.options.planes == ("axial", "coronal", "sagittal")
    # the stand-in plan's fields are centred on (0, 0, 60) mm
    np.testing.assert_allclose(viewer.options.plane_position_mm, (0.0, 0.0, 60.0))
    assert set(TOGGLES) - {"isodoses"} <= set(viewer.groups)


def test_slice_slider_moves_the_axial_plane(viewer):
    viewer.set_slice("axial", -40.0)
    z_bounds = [b for b in _actor_bounds(viewer, "planes") if abs(b[5] - b[4]) < 1e-6]
    # the flat (axial) plane now lies at z = -40 mm
    assert len(z_bounds) == 1 and z_bounds[0][4] == pytest.approx(-40.0, abs=1e-6)


def test_isodose_slider_adds_a_level(viewer):
    viewer.set_isodose(30.0)
    assert "isodose 30%" in viewer.groups


def test_toggles_hide_groups(viewer):
    viewer.toggle("lungs", False)
    assert not any(actor.GetVisibility() for actor in viewer.groups["lungs"])
    viewer.toggle("lungs", True)
    assert all(actor.GetVisibility() for actor in viewer.groups["lungs"])
    with pytest.raises(InputError, match="unknown group"):
        viewer.toggle("heart", False)


def test_plan_switcher_and_screenshot(viewer):
    viewer.set_plan(1)
    assert viewer.plan.name == "narrow"
    first = viewer.screenshot()
    viewer.set_plan(2)  # wraps around to the first plan
    assert viewer.plan.name == "test AP-PA"
    second = viewer.screenshot()
    assert first.name == "hbiview-view-001.png" and second.name == "hbiview-view-002.png"
    assert os.path.getsize(first) > 1000 and os.path.getsize(second) > 1000
    assert set(KEYS) >= {"s", "n", "b", "q"}


def test_window_without_display_says_what_to_do(case, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    ct, structures, dose, plan = case
    with pytest.raises(InputError, match="no display"):
        Viewer(ct, [(plan, dose)], structures, off_screen=False)


_WINDOW_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from synthetic import make_case
from hbiview.render.viewer import Viewer
ct, structures, dose, plan = make_case()
viewer = Viewer(ct, [(plan, dose)], structures, size=(500, 350))
assert type(viewer.plotter.render_window).__name__ != "vtkEGLRenderWindow"  # a real X11 window
viewer.plotter.show(auto_close=False, interactive_update=True)
viewer.set_slice("coronal", 20.0)
viewer.plotter.update()
print(viewer.screenshot({shot!r}))
viewer.close()
"""


def test_viewer_opens_a_real_window_under_xvfb(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian package 'xvfb'); the window is tested off-screen only")
    shot = tmp_path / "window.png"
    script = _WINDOW_SCRIPT.format(tests=str(Path(__file__).parent), shot=str(shot))
    # this process chose EGL (no display) through the environment; the window's process must not inherit it
    env = {k: v for k, v in os.environ.items() if k != "VTK_DEFAULT_OPENGL_WINDOW"}
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from imagecheck import load_png

    picture = load_png(shot)
    assert picture.shape == (350, 500, 3)
    # the slider and checkbox widgets are drawn in a real window: bright widget pixels in the slider area
    top_right = picture[: picture.shape[0] // 3, int(picture.shape[1] * 0.55) : int(picture.shape[1] * 0.8)]
    assert (top_right.min(axis=-1) > 220).mean() > 0.005
