"""The PDF report as a reader gets it: real fonts, selectable text, tables over pages, bookmarks, errors.

The checks read the PDF with poppler's tools (pdftotext, pdffonts, pdfinfo, pdftohtml), as a viewer or a
screen reader would, and skip, saying so, where poppler is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import FOR, hbi_case

from hbiview.cli import main
from hbiview.errors import InputError, OutputError
from hbiview.geometry import Geometry
from hbiview.io.rtdose import write_rtdose
from hbiview.report import evaluate_plans, write_report
from hbiview.volume import DoseGrid, Structure

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
    reason="pdftotext/pdffonts (poppler-utils) are not installed",
)


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def two_plans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Report of hbi_case at 6.6 Gy to lung and the same scaled by 1.25 (8.25 Gy), both prescribed 6 Gy."""
    plans = [
        ("corrected", *hbi_case(), {"prescription_gy": 6.0}),
        ("scaled", *hbi_case(scale=1.25), {"prescription_gy": 6.0}),
    ]
    results = evaluate_plans(plans, supersample=1)
    return write_report(tmp_path_factory.mktemp("pdf") / "r.pdf", results, title="Two plans: 6.6 × 1.25")


@needs_poppler
def test_text_is_extractable_with_the_key_numbers(two_plans: Path) -> None:
    text = _run("pdftotext", "-layout", str(two_plans), "-")
    # mean lung dose: both lungs uniform at 6.6 Gy, and 6.6 x 1.25 = 8.25 Gy (exact, see hbi_case)
    assert re.search(r"Mean lung dose\s+6\.60 Gy", text), text
    assert re.search(r"Mean lung dose\s+8\.25 Gy", text), text
    # the difference table's first row: 8.25 - 6.60 = +1.65 Gy, each number in its own cell
    assert re.search(r"mean lung dose \(Gy\)\s+6\.60\s+8\.25\s+\+1\.65", text), text
    # marrow-weighted mean: 0.7 x 6.6 + 0.3 x 2 = 5.22 Gy (weights by construction)
    assert re.search(r"active marrow\s.*5\.22", text), text
    # characters outside Latin-1 come out as themselves (a Type 3 or unembedded font loses them)
    for needle in ("≥ 2 Gy", "(cm³)", "Δ scaled", "6.6 × 1.25", "not a clinical treatment planning system"):
        assert needle in text, needle


@needs_poppler
def test_fonts_are_embedded_truetype_not_type3(two_plans: Path) -> None:
    listing = _run("pdffonts", str(two_plans)).splitlines()[2:]  # two header lines
    fonts = [line.split() for line in listing if line.strip()]
    assert fonts, "no font listed: the text would not be text"
    for row in fonts:
        # columns: name, type (one word for TrueType), encoding, emb, sub, uni, object, generation
        assert row[1] == "TrueType" and row[3:6] == ["yes", "yes", "yes"], row
    assert {re.sub(r"^[A-Z]{6}\+", "", row[0]) for row in fonts} == {"DejaVuSans", "DejaVuSans-Bold"}


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="pdfinfo (poppler-utils) is not installed")
def test_document_properties_and_page_count(two_plans: Path) -> None:
    info = _run("pdfinfo", str(two_plans))
    assert re.search(r"Title:\s+Two plans: 6\.6 × 1\.25\n", info), info
    assert re.search(r"Author:\s+hbiview\n", info), info
    assert re.search(r"Subject:\s+Dose-volume report of 2 plan\(s\): corrected, scaled\n", info), info
    assert "(A4)" in info
    # two plans of three structures, a comparison, the limits: 2 to 5 pages (each plan's summary, plot
    # and two short tables fill most of an A4 page; 3 was the matplotlib layout's count)
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 2 <= pages <= 5, info


@pytest.mark.skipif(
    shutil.which("pdftohtml") is None or shutil.which("pdfinfo") is None,
    reason="pdftohtml/pdfinfo (poppler-utils) are not installed",
)
def test_every_section_is_a_bookmark(two_plans: Path) -> None:
    xml = _run("pdftohtml", "-xml", "-i", "-stdout", "-l", "1", str(two_plans))
    found = re.findall(r'<item page="(\d+)">([^<]*)</item>', xml)
    pages = [int(page) for page, _ in found]
    # in reading order, each on its own page: the first plan on page 1, the limits on the last page
    pages_total = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(two_plans))).group(1))
    assert pages == sorted(pages) and pages[0] == 1 and pages[-1] == pages_total, found
    items = [text for _, text in found]
    assert items == [
        "corrected",
        "Dose-volume metrics",
        "Active marrow",
        "scaled",
        "Dose-volume metrics",
        "Active marrow",
        "Comparison of plans",
        "Differences from corrected",
        "Limits of this report",
    ]


@pytest.mark.slow
@needs_poppler
def test_a_long_table_repeats_its_heading_row_on_every_page(tmp_path: Path) -> None:
    g = Geometry.from_spacing((10, 10, 20), (5.0, 5.0, 5.0), (0.0, 0.0, 0.0), None, FOR)
    z, _, x = np.indices(g.shape)
    structures = [Structure(g, (z == k % 10) & (x == k // 10), name=f"S{k:02d}") for k in range(18)]
    plans = [
        (label, DoseGrid(g, scale * np.where(x < 15, 6.6, 2.0)), structures, {"prescription_gy": 6.0})
        for label, scale in (("a", 1.0), ("b", 1.1))
    ]
    pdf = write_report(tmp_path / "long.pdf", evaluate_plans(plans, supersample=1))
    pages = _run("pdftotext", "-layout", str(pdf), "-").split("\f")
    metric = r"^\s*(S\d\d)\s+(?:Dmean|D2%|D98%|V5Gy)"  # a row of the differences table (no EQD2: no kind)
    with_rows = [page for page in pages if re.search(metric, page, flags=re.M)]
    # 18 structures x 4 metrics = 72 rows of about 13 pt: more than the 766 pt between the margins of
    # one A4 page hold
    assert len(with_rows) >= 2
    for page in with_rows:
        assert re.search(r"Structure\s+Metric\s+a\s+b\s+Δ ?b", page), page[:600]
    rows = [m for page in with_rows for m in re.findall(metric, page, flags=re.M)]
    assert rows == [f"S{k:02d}" for k in range(18) for _ in range(4)]  # every row once, in order


@pytest.mark.skipif(shutil.which("pdfimages") is None, reason="pdfimages (poppler-utils) is not installed")
def test_pictures_are_embedded_as_they_are(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(16)
    pixels = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)  # noise: every byte matters
    picture = tmp_path / "noise.png"
    Image.fromarray(pixels).save(picture)
    pdf = write_report(
        tmp_path / "r.pdf", [("a", *hbi_case(), {"prescription_gy": 6.0})], images=[("noise", picture)]
    )
    # the PNG's compressed pixels are in the PDF byte for byte (not decompressed and compressed again)
    png, idat, pos = picture.read_bytes(), b"", 8
    while pos < len(png):  # PNG chunks: length, type, data, CRC
        length = int.from_bytes(png[pos : pos + 4], "big")
        idat += png[pos + 8 : pos + 8 + length] if png[pos + 4 : pos + 8] == b"IDAT" else b""
        pos += 12 + length
    assert idat in pdf.read_bytes()
    # and a PDF reader decodes them to the very same pixels (the PNG predictor parameters are right)
    subprocess.run(["pdfimages", "-png", str(pdf), str(tmp_path / "x")], check=True, timeout=60)
    found = [np.asarray(Image.open(p)) for p in sorted(tmp_path.glob("x-*.png"))]
    same = [f for f in found if f.shape == pixels.shape]
    assert len(same) == 1 and np.array_equal(same[0], pixels)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdfimages") is None, reason="pdfimages (poppler-utils) is not installed")
def test_pictures_of_other_kinds_keep_their_pixels(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (90, 80, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (90, 80), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(16)
    files = {
        "grey": Image.fromarray(grey),  # embedded as it is, as DeviceGray
        "palette": palette,  # as RGB
        "rgba": Image.fromarray(np.dstack([rgb[::-1], np.full((90, 80), 128, np.uint8)])),  # alpha dropped
        "jpeg": Image.fromarray(rgb),  # not decoded: embedded as JPEG
    }
    images = []
    for name, picture in files.items():
        path = tmp_path / f"{name}.{'jpg' if name == 'jpeg' else 'png'}"
        picture.save(path)
        images.append((name, path))
    pdf = write_report(tmp_path / "r.pdf", [("a", *hbi_case(), {"prescription_gy": 6.0})], images=images)
    listing = _run("pdfimages", "-list", str(pdf)).splitlines()[2:]
    assert [row.split()[8] for row in listing].count("jpeg") == 1  # the JPEG stays a JPEG (DCTDecode)
    subprocess.run(["pdfimages", "-png", str(pdf), str(tmp_path / "x")], check=True, timeout=60)
    found = [np.asarray(Image.open(p)) for p in sorted(tmp_path.glob("x-*.png"))]
    expected = [grey, np.asarray(palette.convert("RGB")), rgb[::-1]]
    for pixels in expected:  # lossless kinds: the very same pixels
        assert sum(f.shape == pixels.shape and np.array_equal(f, pixels) for f in found) == 1


def test_bad_output_path_is_one_error_and_writes_nothing(tmp_path: Path, capsys) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")
    with pytest.raises(OutputError, match=r"plain\.txt"):
        write_report(plain / "r.pdf", [("a", *hbi_case(), {"prescription_gy": 6.0})])
    dose = hbi_case()[0]
    rtdose = write_rtdose(DoseGrid(dose.geometry, dose.array.astype(np.float32)), tmp_path / "d.dcm")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["report", "--rtdose", str(rtdose), "--out", str(plain / "r.pdf"), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hbiview: error: ") and "plain.txt" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_picture_that_is_not_an_image_is_an_input_error(tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    with pytest.raises(InputError, match=r"'slice view' is not an image"):
        write_report(out, [("a", *hbi_case(), {"prescription_gy": 6.0})], images=[("slice view", b"GIF?")])
    assert list(tmp_path.iterdir()) == []  # nothing half-written
