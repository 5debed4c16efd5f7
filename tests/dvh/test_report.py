"""Reports: CSV/JSON metrics, curves CSV, HTML and PDF, and the dvh/report commands."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hbiview.cli import main
from hbiview.errors import OutputError
from hbiview.geometry import Geometry
from hbiview.io.rtdose import write_rtdose
from hbiview.report import evaluate_plans, write_curves_csv, write_report
from hbiview.volume import DoseGrid, Structure

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

FOR = "1.2.826.0.1.3680043.8.498.77"


def hbi_case(scale: float = 1.0):
    """Two lungs at 6.6 Gy (single fraction, uniform) and marrow split 0.7/0.3 between 6.6 and 2 Gy.

    The dose steps at column 15, five voxels beyond the lungs, so that trilinear sampling inside the lungs
    sees only 6.6 Gy; the marrow straddles the step (its tests use supersample=1, voxel-centre doses).
    """
    g = Geometry.from_spacing((10, 10, 20), (5.0, 5.0, 5.0), (0.0, 0.0, 0.0), None, FOR)
    i = np.indices(g.shape)[2]
    dose = DoseGrid(g, scale * np.where(i < 15, 6.6, 2.0) * np.ones(g.shape))
    lung_l = Structure(g, (i < 5), name="Lung_L", color=(128, 128, 255))
    lung_r = Structure(g, (i >= 5) & (i < 10), name="Lung_R", color=(0, 160, 160))
    marrow_mask = np.ones(g.shape, bool)
    weights = np.where(i < 15, 0.7 / 1500, 0.3 / 500).astype(np.float32)
    marrow = Structure(g, marrow_mask, name="active marrow", color=(200, 50, 50), weights=weights)
    return dose, [lung_l, lung_r, marrow]


def test_metrics_csv_json_and_clinical_context(tmp_path: Path) -> None:
    dose, structures = hbi_case()
    summary = {"prescription_gy": 6.0, "heterogeneity_corrected": True, "beams": ["AP", "PA"]}
    results = evaluate_plans([("upper", dose, structures, summary)], supersample=1)
    r = results[0]
    # mean lung dose: both lungs uniform 6.6 Gy (exact); below Van Dyk's onset 7.5 Gy
    assert r.mean_lung_dose_gy == pytest.approx(6.6, rel=1e-6)
    assert r.lung_assessment is not None and r.lung_assessment.category == "below_onset"
    csv_path = write_report(tmp_path / "m.csv", results)
    rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    assert [row["structure"] for row in rows] == ["Lung_L", "Lung_R", "active marrow"]
    marrow = rows[2]
    # weights: 0.7 of the marrow at 6.6 Gy, 0.3 at 2 Gy (exact by construction)
    assert float(marrow["marrow_fraction_ge_5gy"]) == pytest.approx(0.7, rel=1e-5)
    assert float(marrow["weighted_mean_gy"]) == pytest.approx(0.7 * 6.6 + 0.3 * 2.0, rel=1e-5)
    assert rows[0]["kind"] == "lung" and marrow["kind"] == "marrow"
    assert float(rows[0]["alpha_beta_gy"]) == 3.0 and float(marrow["alpha_beta_gy"]) == 10.0
    # per-voxel EQD2 of 6.6 Gy x 1 at alpha/beta 3: 6.6 (6.6 + 3) / 5 (closed form)
    assert float(rows[0]["mean_eqd2_gy"]) == pytest.approx(6.6 * 9.6 / 5, rel=1e-5)
    assert float(rows[0]["v100pct_rx_pct"]) == pytest.approx(100.0)  # 6.6 >= 6 Gy everywhere
    # in the field (>= 3 Gy = 50 % of 6 Gy): the 0.7 of the marrow at 6.6 Gy (exact)
    assert float(marrow["marrow_fraction_in_field"]) == pytest.approx(0.7, rel=1e-5)
    doc = json.loads(write_report(tmp_path / "m.json", results).read_text())
    plan = doc["plans"][0]
    assert plan["lung_assessment"]["category"] == "below_onset"
    assert plan["structures"][0]["mean_gy"] == pytest.approx(6.6, rel=1e-6)
    assert "prescription_gy" in plan["summary"]
    with pytest.raises(OutputError, match="already exists"):
        write_report(tmp_path / "m.json", results)
    with pytest.raises(OutputError, match="unknown report format"):
        write_report(tmp_path / "m.txt", results)


def test_curves_csv(tmp_path: Path) -> None:
    dose, structures = hbi_case()
    r = evaluate_plans([("upper", dose, structures)], supersample=1)[0]
    path = write_curves_csv(tmp_path / "c.csv", r.dvhs, prescription_gy=6.0)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert list(rows[0]) == [
        "structure", "dose_gy", "volume_cc", "volume_pct", "weighted_fraction",
        "dose_pct_rx", "differential_cc", "differential_pct", "differential_cc_per_gy",
    ]  # fmt: skip
    at = {(row["structure"], row["dose_gy"]): row for row in rows}
    # Lung_L: 500 voxels of 0.125 cm3 = 62.5 cm3 all at 6.6 Gy (float32: 6.5999999): full volume at the
    # 6.58 Gy edge, none at 6.61 (exact)
    assert float(at[("Lung_L", "6.5800")]["volume_cc"]) == pytest.approx(62.5)
    assert float(at[("Lung_L", "6.6000")]["volume_cc"]) == 0.0
    # the differential curve: all 62.5 cm3 (100 %) in the 0.01 Gy bin from 6.59 Gy, i.e. 6250 cm3/Gy, at
    # 6.59 / 6 = 109.83 % of the 6 Gy prescription; none in the bin below (exact)
    lung = at[("Lung_L", "6.5900")]
    assert float(lung["differential_cc"]) == pytest.approx(62.5)
    assert float(lung["differential_pct"]) == pytest.approx(100.0)
    assert float(lung["differential_cc_per_gy"]) == pytest.approx(6250.0, rel=1e-6)
    assert float(lung["dose_pct_rx"]) == pytest.approx(100 * 6.59 / 6, abs=1e-4)
    assert float(at[("Lung_L", "6.5800")]["differential_cc"]) == 0.0
    assert at[("Lung_L", "1.0000")]["weighted_fraction"] == ""
    assert float(at[("active marrow", "3.0000")]["weighted_fraction"]) == pytest.approx(0.7, rel=1e-5)


def test_html_and_pdf_reports_with_comparison_and_images(tmp_path: Path) -> None:
    a = hbi_case()
    b = hbi_case(scale=1.25)  # 8.25 Gy to lung: above the 5 % incidence dose 8.2 Gy
    png = tmp_path / "img.png"
    from hbiview.report.figures import dvh_figure, figure_png

    png.write_bytes(figure_png(dvh_figure(evaluate_plans([("x", *a)])[0]), dpi=40))
    plans = [("corrected", *a, {"prescription_gy": 6.0}), ("scaled", *b, {"prescription_gy": 7.5})]
    html_path = write_report(tmp_path / "r.html", plans, images=[("slice view", png)])
    text = html_path.read_text()
    assert "<img" in text and 'src="http' not in text  # self-contained
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4  # 2 plan DVHs, 1 comparison, 1 extra image
    assert base64.b64decode(images[-1]) == png.read_bytes()
    assert "at or above the 5 % incidence dose of 8.2 Gy" in text and "below the pneumonitis onset" in text
    assert "Differences from corrected" in text and "not a clinical treatment planning system" in text
    # difference of mean lung dose: 8.25 - 6.6 = +1.65 Gy (exact)
    assert "+1.65" in text
    pdf_path = write_report(tmp_path / "r.pdf", plans, images=[("slice view", png.read_bytes())])
    assert pdf_path.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
        assert 3 <= pages <= 8, info  # two plan pages, comparison, image, limits: a handful of A4 pages
        assert "(A4)" in info
    if shutil.which("pdftotext"):
        words = subprocess.run(
            ["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "Limits of this report" in words and "Comparison of plans" in words


def _square(cx: float, cy: float, half: float, z: float) -> np.ndarray:
    return np.array(
        [
            (cx - half, cy - half, z),
            (cx + half, cy - half, z),
            (cx + half, cy + half, z),
            (cx - half, cy + half, z),
        ]
    )


def test_dvh_and_report_commands(tmp_path: Path, capsys, make_rtstruct) -> None:
    g = Geometry.from_spacing((12, 20, 20), (2.0, 2.0, 2.0), (-19.0, -19.0, -12.0), None, FOR)
    x = g.index_to_lps(np.stack(np.indices(g.shape), axis=-1))[..., 0]
    dose = DoseGrid(g, (4.0 + 0.1 * x).astype(np.float32), fractions=1)
    rtdose = write_rtdose(dose, tmp_path / "rtdose.dcm")
    # Lung: 20 x 20 mm squares on planes z = -6..6 mm (2 mm apart, on the dose slices), centred at x = 0
    rois = {"Lung": [_square(0, 0, 10, z) for z in range(-6, 7, 2)], "Box": [_square(5, 5, 3, 0.0)]}
    rtss = make_rtstruct(tmp_path / "rtss.dcm", rois, FOR)
    curves = tmp_path / "curves.csv"
    code = main(["dvh", "--rtdose", str(rtdose), "--rtstruct", str(rtss), "--curves", str(curves)])
    out = capsys.readouterr().out
    assert code == 0
    # default for a structure set from another system: interpolated between planes, a tenth of the 2 mm
    # spacing past the end planes, and said so. Closed form: (6 x 2 + 2 x 0.2) mm x 400 mm2 = 4.96 cm3;
    # dose 4 + 0.1 x symmetric about x = 0: mean 4 Gy
    assert "end caps interpolated (default for structure sets written by" in out
    assert re.search(r"Lung\s+4\.96\s+4\.00", out), out
    assert "Dmean" in out and "D98%" in out
    assert curves.read_text().startswith("structure,dose_gy,volume_cc,volume_pct,dose_pct_rx,differential_cc")
    code = main(["dvh", "--rtdose", str(rtdose), "--rtstruct", str(rtss), "--end-caps", "full"])
    out = capsys.readouterr().out
    # one full slab per plane: 7 planes x 2 mm x 400 mm2 = 5.6 cm3
    assert code == 0 and "end caps full (--end-caps)" in out
    assert re.search(r"Lung\s+5\.60\s+4\.00", out), out
    code = main(["dvh", "--rtdose", str(rtdose), "--rtstruct", str(rtss), "--json", "--structures", "box"])
    doc = json.loads(capsys.readouterr().out)
    assert [s["structure"] for s in doc["plans"][0]["structures"]] == ["Box"]
    # Box: 6 x 6 mm at x = 2..8 mm: mean dose 4 + 0.1 x 5 = 4.5 Gy (linear field, symmetric square)
    assert doc["plans"][0]["structures"][0]["mean_gy"] == pytest.approx(4.5, abs=0.01)
    # another frame of reference: exit 2, one line naming the file
    other = make_rtstruct(tmp_path / "other.dcm", rois, "1.2.3.4.5")
    assert main(["dvh", "--rtdose", str(rtdose), "--rtstruct", str(other)]) == 2
    err = capsys.readouterr().err
    assert "other.dcm" in err and "frame of reference" in err
    # same frame, contours far from the dose grid: exit 2
    far = make_rtstruct(tmp_path / "far.dcm", {"Far": [_square(500, 500, 5, 0.0)]}, FOR)
    assert main(["dvh", "--rtdose", str(rtdose), "--rtstruct", str(far)]) == 2
    assert "does not overlap any structure" in capsys.readouterr().err
    # curves file exists: refused without --force, before any work
    assert main(["dvh", "--rtdose", str(rtdose), "--rtstruct", str(rtss), "--curves", str(curves)]) == 2
    assert "already exists" in capsys.readouterr().err
    # report command: PDF and CSV
    pdf = tmp_path / "r.pdf"
    assert main(["report", "--rtdose", str(rtdose), "--rtstruct", str(rtss), "--out", str(pdf),
                 "--prescription", "4", "-q"]) == 0  # fmt: skip
    assert pdf.read_bytes()[:5] == b"%PDF-"
    metrics_csv = tmp_path / "m.csv"
    code = main(["report", "--rtdose", str(rtdose), str(rtdose), "--label", "a", "b", "--rtstruct", str(rtss),
                 "--out", str(metrics_csv), "--alpha-beta", "Box=2", "-q"])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(metrics_csv.read_text().splitlines()))
    assert [(r["plan"], r["structure"]) for r in rows] == [
        ("a", "Lung"),
        ("a", "Box"),
        ("b", "Lung"),
        ("b", "Box"),
    ]
    assert float(rows[1]["alpha_beta_gy"]) == 2.0 and float(rows[0]["alpha_beta_gy"]) == 3.0
    assert (
        main(["report", "--rtdose", str(rtdose), "--rtstruct", str(rtss), "--out", str(tmp_path / "r.txt")])
        == 2
    )


def test_hbiview_plan_as_summary() -> None:
    from hbiview.plans import Beam, Plan

    plan = Plan(
        name="upper HBI",
        beams=(
            Beam("6MV", 0.0, field_mm=(400.0, 400.0), name="AP"),
            Beam("6MV", 180.0, field_mm=(400.0, 400.0), name="PA"),
        ),
        prescription_gy=3.0,
        fractions=2,
        heterogeneity=False,
    )
    dose, structures = hbi_case()
    dose2 = DoseGrid(dose.geometry, dose.array, fractions=2)
    r = evaluate_plans([("upper", dose2, structures, plan)], supersample=1)[0]
    # Plan.prescription_gy is per fraction: 3 Gy x 2 = 6 Gy total
    assert r.prescription_gy == 6.0 and r.summary["heterogeneity_corrected"] is False
    assert r.summary["beams"][1].startswith("PA: 6MV, gantry 180°, field 40 x 40 cm")
    assert r.lung_assessment is not None and r.lung_assessment.category == "not_applicable"  # 2 fractions


def _pdf_words(pdf_path: Path) -> list[tuple[float, list[tuple[float, float, float, float, str]]]]:
    """(page width, words as (xMin, yMin, xMax, yMax, text) in points) of each page, read by pdftotext."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for width, body in re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', out, flags=re.S):
        words = [
            (float(a), float(b), float(c), float(d), w)
            for a, b, c, d, w in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', body
            )
        ]
        pages.append((float(width), words))
    return pages


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler) is not installed")
def test_pdf_long_title_wraps_and_comparison_headings_do_not_overlap(tmp_path: Path) -> None:
    a = hbi_case()
    plans = [
        (label, *hbi_case(scale), {"prescription_gy": 6.0})
        for label, scale in (("upper-hbi", 1.0), ("lower-hbi", 1.2), ("spine-T10", 0.5))
    ] + [("upper-hbi (water)", *a, {"prescription_gy": 6.0})]
    title = "hbiview demo: upper vs lower hemi-body vs spine field, lung correction, and a longer title"
    pdf_path = write_report(tmp_path / "r.pdf", plans, title=title)
    pages = _pdf_words(pdf_path)
    # every word of every page ends inside the right margin of 0.6 in (43.2 pt); 1 pt for the glyph side
    # bearings that pdftotext includes in a word's box (plot axis labels may use the left margin)
    for width, words in pages:
        for x0, _, x1, _, text in words:
            assert 0 <= x0 and x1 <= width - 43.2 + 1, (text, x0, x1, width)
    assert "lung correction, and a longer title" in subprocess.run(
        ["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout.replace("\n", " ")
    # the comparison table's heading row: the band of 0.36 in (26 pt) centred on the word "Metric"
    page = next(words for _, words in pages if any(w[4] == "Metric" for w in words))
    metric = next(w for w in page if w[4] == "Metric")
    centre = (metric[1] + metric[3]) / 2
    header = [w for w in page if w[1] >= centre - 13 and w[3] <= centre + 13]
    assert {"upper-hbi", "lower-hbi", "spine-T10", "(water)", "Δ"} <= {w[4] for w in header}
    # no two heading words on one text line (same top within 1 pt) overlap; boxes may touch (0.5 pt:
    # pdftotext's rounding of glyph boxes). Before the fix "upper-hbilower-hbispine-T10" ran together.
    for i, p in enumerate(header):
        for q in header[i + 1 :]:
            if abs(p[1] - q[1]) < 1:
                assert min(p[2], q[2]) - max(p[0], q[0]) <= 0.5, (p, q)
