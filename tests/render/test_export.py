"""Outputs: PNG files (atomic, --force), the standalone HTML page (opened by headless Chromium), orbits."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from imagecheck import load_png

from hbiview.errors import InputError, OutputError
from hbiview.render.export import orbit_backend, write_png
from hbiview.render.figures import HTML_LIMIT_BYTES, export_html, render_orbit
from hbiview.render.slices import render_slice

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_png_is_written_whole_and_never_replaced_without_force(case, tmp_path):
    ct, structures, dose, plan = case
    out = tmp_path / "axial.png"
    image = render_slice(ct, dose=dose, plan=plan, structures=structures, size=(300, 240), out=out)
    assert image.shape == (240, 300, 3)  # (height, width, RGB) as asked
    np.testing.assert_array_equal(load_png(out), image)  # the file holds exactly the returned picture
    with pytest.raises(OutputError, match="already exists"):
        write_png(image, out)
    write_png(image[:, ::-1].copy(), out, force=True)
    np.testing.assert_array_equal(load_png(out), image[:, ::-1])
    assert [p.name for p in tmp_path.iterdir()] == ["axial.png"]  # no temporary file left behind


@pytest.fixture(scope="module")
def html_page(case, anatomy):
    pytest.importorskip("trame_vtk", reason="HTML pages need trame-vtk (pip install trame-vtk)")
    ct, _, dose, plan = case
    folder = Path(tempfile.mkdtemp(prefix="hbiview-html-"))
    path = export_html(ct, folder / "scene.html", dose=dose, plan=plan, anatomy=anatomy)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def test_html_page_is_standalone_and_small(html_page):
    text = html_page.read_text(encoding="utf-8")
    assert html_page.stat().st_size < HTML_LIMIT_BYTES
    assert "OfflineLocalView.load" in text and "test AP-PA: 6 Gy in 1 fraction" in text
    # no server and no network: nothing is fetched from http(s) addresses when the page opens
    assert 'src="http' not in text and 'href="http' not in text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_html_page_renders_a_scene_in_headless_chromium(html_page, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'); cannot open the HTML page")
    shot = tmp_path / "page.png"
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}", "--window-size=800,600", "--virtual-time-budget=8000", html_page.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    picture = load_png(shot)
    colours = np.unique(picture.reshape(-1, 3) // 8, axis=0)
    background = np.array([0.07, 0.08, 0.10]) * 255
    scene = np.abs(picture.astype(float) - background).max(axis=-1) > 40
    # a blank canvas has one or two colours; the scene (surfaces, colourwash, overlay text) has hundreds
    assert len(colours) > 200
    # the body, dose planes and beams cover a good part of the page, the background the rest
    assert 0.05 < scene.mean() < 0.9


def test_orbit_gif_turns_around_the_patient(case, anatomy, tmp_path):
    pytest.importorskip("imageio", reason="GIF orbits need imageio")
    import imageio.v3 as iio

    ct, _, dose, plan = case
    out = render_orbit(
        ct, tmp_path / "orbit.gif", dose=dose, plan=plan, anatomy=anatomy, size=(160, 100), frames=8
    )
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (8, 100, 160)
    # the view changes from frame to frame, and after half a turn we look at the patient's back: the
    # synthetic body is symmetric front to back, so what differs is the skin (cut away in front of the
    # shells, whole at the back) and the field outline; identical frames would give 0
    first, half = frames[0][..., :3].astype(float), frames[4][..., :3].astype(float)
    assert np.abs(first - half).mean() > 2


def test_orbit_needs_a_known_format(tmp_path):
    with pytest.raises(InputError, match=r"\.gif or \.mp4"):
        orbit_backend(tmp_path / "orbit.avi")
    if shutil.which("ffmpeg") is None:
        with pytest.raises(InputError, match="ffmpeg"):
            orbit_backend(tmp_path / "orbit.mp4")


def test_html_without_trame_vtk_says_what_to_install(case, tmp_path, monkeypatch):
    import sys

    ct, _, dose, plan = case
    for name in ("trame_vtk", "trame_vtk.modules.vtk.serializers", "trame_vtk.tools.vtksz2html"):
        monkeypatch.setitem(sys.modules, name, None)  # "import trame_vtk..." now raises ImportError
    with pytest.raises(InputError, match="pip install trame-vtk"):
        export_html(ct, tmp_path / "page.html", dose=dose, plan=plan)
    assert not list(tmp_path.iterdir())
