"""``hbiview info``: the table, the JSON keys scripts rely on, --series, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from hbiview.cli import main
from hbiview.geometry import Geometry
from hbiview.io.dicom import write_ct
from hbiview.volume import CTVolume


@pytest.fixture
def export(tmp_path):
    """A folder with a 6-slice CT (HU -1000..1500 known), a 3-slice CT and a text file."""
    hu = np.full((6, 34, 36), 40, dtype=np.int16)
    hu[:, :4, :] = -1000
    hu[2, 10, 10] = 1500
    big = CTVolume(Geometry.from_spacing(hu.shape, (2.5, 0.75, 0.8), (-10.0, -12.0, 40.0)), hu)
    small = CTVolume(Geometry.from_spacing((3, 34, 36), (5.0, 1.0, 1.0)), np.zeros((3, 34, 36), np.int16))
    write_ct(big, tmp_path / "export" / "a", series_description="thorax", patient_id="P7", uid_seed="a")
    files = write_ct(
        small, tmp_path / "export" / "b", series_description="scout", uid_seed="b", series_number=2
    )
    (tmp_path / "export" / "notes.txt").write_text("x")
    return tmp_path / "export", pydicom.dcmread(files[0]).SeriesInstanceUID


def test_json_has_the_keys_scripts_rely_on(export, capsys):
    folder, small_uid = export
    assert main(["info", str(folder), "--json"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    # values written by write_ct above (closed form): 6 x 34 x 36 voxels of 2.5 x 0.75 x 0.8 mm
    assert info["shape"] == [6, 34, 36]
    assert info["spacing_mm"] == pytest.approx([2.5, 0.75, 0.8])
    assert info["origin_mm"] == pytest.approx([-10.0, -12.0, 40.0])
    assert info["extent_mm"] == pytest.approx([15.0, 25.5, 28.8])  # shape x spacing
    assert info["hu_range"] == [-1000, 1500]
    assert info["patient_name"] == "HBIVIEW^PHANTOM" and info["patient_id"] == "P7"
    assert info["series_description"] == "thorax" and info["modality"] == "CT"
    assert [(s["n_files"], s["selected"]) for s in info["series"]] == [(6, True), (3, False)]
    assert small_uid in captured.err  # the warning names the other series


def test_series_option_reads_the_chosen_series(export, capsys):
    folder, small_uid = export
    assert main(["info", str(folder), "--json", "--series", small_uid]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [3, 34, 36] and info["spacing_mm"] == pytest.approx([5.0, 1.0, 1.0])
    assert info["series_uid"] == small_uid


def test_table_is_aligned_and_complete(export, capsys):
    folder, _ = export
    assert main(["info", str(folder), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 slices x 34 rows x 36 columns" in out
    assert "2.5 mm between slices, pixels 0.75 x 0.8 mm" in out
    assert "15.0 x 25.5 x 28.8 mm" in out and "-1000 .. 1500 HU" in out
    head = out.split("\n\n")[0].splitlines()
    # every value of the summary starts in the same column
    starts = {len(line) - len(line[line.index("  ") :].lstrip()) for line in head}
    assert len(starts) == 1
    assert "Series found (2):" in out and "thorax" in out and "scout" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{folder}/does-not-exist"], "no such file or folder"),
        (["{folder}/notes.txt"], "notes.txt: not a DICOM file"),
        (["{folder}", "--series", "1.2.3"], "no series with SeriesInstanceUID 1.2.3"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(export, capsys, argv, message):
    folder, _ = export
    assert main(["info", *(arg.format(folder=folder) for arg in argv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hbiview: error:") and message in err[0]


def test_importing_the_command_does_not_load_pydicom():
    code = "import sys, hbiview.cli.info; print('pydicom' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_dicompyler_case(dicompyler_dir, capsys):
    assert main(["info", str(dicompyler_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [1, 512, 512]
    # 3 mm slice and 1.074219 mm pixels: the case's README and the file's SliceThickness/PixelSpacing
    assert info["spacing_mm"] == pytest.approx([3.0, 1.074219, 1.074219])
    assert sorted(s["modality"] for s in info["series"]) == ["CT", "RTDOSE", "RTPLAN", "RTSTRUCT"]
