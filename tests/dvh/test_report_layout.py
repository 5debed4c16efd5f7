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
