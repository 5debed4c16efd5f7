"""``hbiview phantom``: DICOM series of the test phantoms, read back with hbiview's own reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hbiview.cli import main
from hbiview.density import hu_to_density
from hbiview.io.dicom import read_ct


def test_water_box_written_and_read_back(tmp_path, capsys) -> None:
    out = tmp_path / "water"
    code = main(["phantom", "water", "--size-mm", "100", "80", "60", "--spacing-mm", "5", "--out", str(out)])
    assert code == 0
    assert "slices" in capsys.readouterr().out
    ct = read_ct(out)
    y = ct.geometry.axis_coordinates_mm()[1]
    water = ct.array == 0
    # the box is 100 x 80 x 60 mm = 480 cm3 exactly, its faces on voxel faces
    assert np.count_nonzero(water) * ct.geometry.voxel_volume_cc == pytest.approx(480.0)
    rows = np.nonzero(water.any(axis=(0, 2)))[0]
    # anterior face at y = -40 mm: half a voxel (2.5 mm) before the first water voxel centre
    assert y[rows[0]] - 2.5 == pytest.approx(-40.0, abs=1e-4)
    assert ct.metadata["PatientName"] == "HBIVIEW^WATER"


def test_lung_slab_density_through_dicom(tmp_path) -> None:
    out = tmp_path / "slab"
    args = ["phantom", "lung-slab", "--size-mm", "100", "100", "50", "--spacing-mm", "5"]
    args += [
        "--slab-depth-mm",
        "20",
        "--slab-thickness-mm",
        "30",
        "--slab-density",
        "0.25",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    ct = read_ct(out)
    z, y, x = ct.geometry.axis_coordinates_mm()
    column = ct.array[z.size // 2, :, x.size // 2]
    slab = column[(y > -50 + 20) & (y < -50 + 50)]
    # the slab HU survive DICOM (integer, RescaleIntercept -1024) and map back to 0.25 within 1 %
    assert np.unique(slab).size == 1
    assert float(hu_to_density(slab[0])) == pytest.approx(0.25, rel=0.01)


def test_refuses_existing_folder_without_force(tmp_path, capsys) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert (
        main(["phantom", "water", "--size-mm", "50", "50", "50", "--spacing-mm", "5", "--out", str(out)]) == 2
    )
    assert "not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    args = [
        "phantom",
        "water",
        "--size-mm",
        "50",
        "50",
        "50",
        "--spacing-mm",
        "5",
        "--out",
        str(out),
        "--force",
    ]
    assert main(args) == 0
    assert read_ct(out).array.max() == 0


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["water", "--size-mm", "-100", "100", "100"], "--size-mm"),
        (["water", "--size-mm", "100", "100", "100", "--spacing-mm", "0"], "--spacing-mm"),
        (["water", "--size-mm", "101", "100", "100", "--spacing-mm", "5"], "--size-mm"),
        (["lung-slab", "--slab-density", "0"], "--slab-density"),
        (["lung-slab", "--slab-density", "3.5"], "--slab-density"),
        (["lung-slab", "--slab-thickness-mm", "-1"], "--slab-thickness-mm"),
        (["lung-slab", "--slab-depth-mm", "350", "--slab-thickness-mm", "100"], "--slab-depth-mm"),
        (["patient", "--lateral-scale", "-1"], "--lateral-scale"),
        (["patient", "--z-range-mm", "900", "800"], "--z-range-mm"),
    ],
)
def test_bad_numbers_name_the_option(tmp_path, capsys, extra, option) -> None:
    out = tmp_path / "bad"
    assert main(["phantom", *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert option in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.slow
def test_patient_variant_with_truth(tmp_path) -> None:
    out = tmp_path / "thorax"
    args = ["phantom", "patient", "--out", str(out), "--spacing-mm", "10", "7", "7"]
    args += ["--z-range-mm", "1150", "1500", "--couch", "--truth", "-q"]
    assert main(args) == 0
    ct = read_ct(out)  # truth.json and labels.npz beside the slices are skipped by the reader
    z = ct.geometry.axis_coordinates_mm()[0]
    assert z[0] >= 1150 and z[-1] <= 1500
    truth = json.loads((out / "truth.json").read_text())
    # a thorax-only scan holds the lung apex and base but no pelvis or head landmarks
    assert set(truth["landmarks_mm"]) == {"lung_apex", "lung_base"}
    labels = np.load(out / "labels.npz")
    assert labels["labels"].shape == ct.array.shape
    assert np.allclose(labels["affine"], ct.geometry.affine, atol=1e-4)
