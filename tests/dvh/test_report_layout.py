"""Report layout: DVH labels never cover each other; wide pictures print large enough to read."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import hbi_case

from hbiview.report import evaluate_plans, write_report
from hbiview.report import figures as report_figures
from hbiview.report.figures import dvh_figure, text_overlaps


@pytest.mark.parametrize("prescription_gy", [6.0, 6.5, 6.6, 7.0, 8.0])
def test_dvh_labels_do_not_overlap(prescription_gy: float) -> None:
    """The mean lung dose (6.6 Gy) beside prescriptions from 6 to 8 Gy: every label stays readable."""
    result = evaluate_plans([("x", *hbi_case(), {"prescription_gy": prescription_gy})])[0]
    assert text_overlaps(dvh_figure(result)) == []


def test_dvh_label_overlap_is_detected(monkeypatch) -> None:
    """Without moving the MLD label, "Rx 6.5 Gy" and "MLD 6.60 Gy" run into each other."""
    monkeypatch.setattr(report_figures, "_separate_labels", lambda ax: None)
    result = evaluate_plans([("x", *hbi_case(), {"prescription_gy": 6.5})])[0]
    assert text_overlaps(dvh_figure(result)) == [("Rx 6.5 Gy", "MLD 6.60 Gy")]


@pytest.mark.parametrize("extra", [30, 90])
def test_a_planning_systems_structure_set_keeps_the_plot_and_the_legend_on_the_figure(extra: int) -> None:
    """Dozens of structures (an RTSTRUCT from a planning system): the legend goes into columns and counts
    what does not fit, the plot keeps most of its width, every legend entry is inside the figure."""
    from dataclasses import replace

    dose, structures = hbi_case()
    many = [*structures, *(replace(structures[0], name=f"PTV ring {k}") for k in range(extra))]
    result = evaluate_plans([("x", dose, many, {"prescription_gy": 6.0})], supersample=1)[0]
    fig = dvh_figure(result)
    fig.canvas.draw()  # a collapsed layout warns, which the test settings turn into an error
    ax = fig.axes[0]
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    curves = len(ax.get_legend_handles_labels()[1])  # one per structure, plus the active-marrow curve
    assert curves == len(many) + 1
    room = report_figures.LEGEND_ROWS * report_figures.LEGEND_COLUMNS
    assert len(texts) == min(curves, room)
    if curves > room:  # the last entry counts the curves left out
        assert texts[-1] == f"... {curves - room + 1} more (see the tables)"
    renderer = fig.canvas.get_renderer()
    figure_box = fig.bbox
    for text in legend.get_texts():
        box = text.get_window_extent(renderer)
        assert box.x1 <= figure_box.x1 + 1 and box.y0 >= figure_box.y0 - 1, text.get_text()
    # the plot keeps at least 35 % of the figure's width beside three legend columns
    assert ax.get_position().width >= 0.35


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdfimages") is None, reason="pdfimages (poppler) is not installed")
def test_wide_pictures_print_on_a_landscape_page_at_their_own_pixels(tmp_path: Path) -> None:
    from PIL import Image

    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((1080, 1920, 3), 90, np.uint8)).save(wide)
    plans = [("a", *hbi_case(), {"prescription_gy": 6.0}), ("b", *hbi_case(1.2), {"prescription_gy": 6.0})]
    pdf = write_report(tmp_path / "r.pdf", plans, images=[("a 1920 x 1080 comparison", wide)])
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True)
    rows = [line.split() for line in listing.stdout.splitlines()[2:]]
    picture = next(r for r in rows if r[3:5] == ["1920", "1080"])  # embedded whole, not resampled
    ppi = float(picture[12])
    # across a landscape A4 page (10.5 in between the margins) 1920 px print at 183 px per inch: an 18 px
    # label is 7 pt. A portrait page gave 272 px per inch (5 pt), the former 1800 px picture 3 pt.
    assert ppi == pytest.approx(1920 / (11.69 - 2 * 0.6), rel=0.02)
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", str(pdf)], capture_output=True, text=True)
    sizes = re.findall(r"Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+)", info.stdout)
    landscape = [int(n) for n, w, h in sizes if float(w) > float(h)]
    assert len(landscape) == 1  # the picture's page only; text pages stay portrait


def test_a_comparison_of_dozens_of_structures_stays_a_readable_page() -> None:
    """Two plans on a planning system's 33 structures: one panel each, four to a row, under 20 inches."""
    from dataclasses import replace

    from hbiview.report.figures import comparison_figure, shared_structures

    dose, structures = hbi_case()
    many = [*structures, *(replace(structures[0], name=f"PTV ring {k}") for k in range(30))]
    results = evaluate_plans(
        [("a", dose, many, {"prescription_gy": 6.0}), ("b", dose, many, {"prescription_gy": 7.0})],
        supersample=1,
    )
    names = shared_structures(results)
    assert len(names) == len(many)
    fig = comparison_figure(results, names)
    fig.canvas.draw()  # a collapsed layout warns, which the test settings turn into an error
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left") for ax in panels] == names
    # four columns of 2-inch panels: 9 rows, 18.5 inches (was one 50-inch column pair)
    assert len({round(ax.get_position().x0, 3) for ax in panels}) == 4
    assert fig.get_size_inches()[1] <= 20.0
