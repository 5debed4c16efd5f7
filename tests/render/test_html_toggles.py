"""The standalone HTML page's structure toggles, clicked in a headless Chromium."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from hbiview.render.figures import export_html
from hbiview.render.scene import SceneOptions


@pytest.fixture(scope="module")
def page(case, anatomy):
    pytest.importorskip("trame_vtk", reason="HTML pages need trame-vtk (pip install trame-vtk)")
    ct, _, dose, plan = case
    folder = Path(tempfile.mkdtemp(prefix="hbiview-html-"))
    path = export_html(
        ct,
        folder / "scene.html",
        dose=dose,
        plan=plan,
        anatomy=anatomy,
        options=SceneOptions(planes=("coronal",)),
    )
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def _boxes(html: str) -> dict[str, list[int]]:
    import re

    return {
        label: [int(i) for i in actors.split(",")]
        for actors, label in re.findall(
            r'data-actors="([0-9,]+)" onchange="hbiviewToggle\(this\)">([^<]+)</label>', html
        )
    }


def test_the_page_has_one_checkbox_per_structure_and_shell(page):
    boxes = _boxes(page.read_text(encoding="utf-8"))
    assert list(boxes) == ["skin", "lungs", "bones", "beams", "isodose 50 %", "isodose 95 %", "CT planes"]
    assert len(boxes["lungs"]) == 2  # the synthetic patient's two lungs (tests/render/synthetic.py)
    every = [i for group in boxes.values() for i in group]
    assert len(every) == len(set(every))  # no actor in two groups


@pytest.mark.slow
def test_a_checkbox_hides_exactly_its_actors_in_the_browser(page):
    from hbiview.serve.headless import HeadlessBrowser, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium)")
    boxes = _boxes(page.read_text(encoding="utf-8"))
    actors = "(() => { const w = (window.global || window).renderWindow; if (!w) return null; " \
        "const r = w.getRenderers().reduce((a, b) => b.getActors().length > a.getActors().length ? b : a); " \
        "return r.getActors().map(a => a.getVisibility()); })()"  # fmt: skip
    with HeadlessBrowser(size=(1000, 700)) as browser:
        browser.open(page.as_uri())
        shown = browser.wait_for(f"(() => {{ const v = {actors}; return v && v.length ? v : null; }})()", 60)
        # every actor of the scene reached vtk.js (the page's indices point at real actors), all shown
        assert len(shown) > max(i for group in boxes.values() for i in group) and all(shown)
        browser.evaluate(
            "(() => { const b = [...document.querySelectorAll('#hbiview-toggles input')]"
            f".find(x => x.parentElement.innerText.trim() === {json.dumps('lungs')}); b.click(); }})()"
        )
        after = browser.evaluate(actors)
    hidden = [i for i, visible in enumerate(after) if not visible]
    assert hidden == boxes["lungs"]  # the lungs, and nothing else, disappeared
