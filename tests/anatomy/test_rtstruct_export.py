"""RTSTRUCT export: round trip through the reader, references to the CT, DICOM validity, the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from hbiview.errors import OutputError
from hbiview.io.rtstruct_write import mask_polygons, write_rtstruct
from hbiview.volume import CTVolume

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chest():
    """A thorax-and-abdomen phantom (z 1100-1450 mm), segmented, with per-slice UIDs in its metadata."""
    from hbiview.anatomy import segment
    from hbiview.sample import make_phantom

    phantom = make_phantom(z_range_mm=(1100.0, 1450.0))
    uids = [f"1.2.826.0.1.3680043.8.498.77.{k + 1}" for k in range(phantom.geometry.shape[0])]
    meta = {
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.77.1000",
        "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.77.2000",
        "SOPInstanceUIDs": uids,
        "PatientName": "HBIVIEW^PHANTOM",
        "PatientID": "HBIVIEW-0001",
    }
    ct = CTVolume(phantom.ct.geometry, phantom.ct.array, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct, segment(ct)


@pytest.fixture(scope="module")
def written(chest, tmp_path_factory):
    ct, result = chest
    return write_rtstruct(result.structures, ct, tmp_path_factory.mktemp("rtss") / "rtss.dcm")


def test_polygons_rasterise_back_exactly():
    from hbiview.io.rtstruct import _fill_plane

    rng = np.random.default_rng(1)
    for _ in range(5):
        mask = rng.random((30, 40)) > 0.5
        mask[10:20, 10:20] = True
        mask[14, 14] = False  # a hole: written as its own contour, even-odd rule
        back = _fill_plane(mask_polygons(mask), *mask.shape)
        # vertices lie half-way between inside and outside voxel centres: point-in-polygon is exact
        assert np.array_equal(back, mask)


def test_round_trip_through_read_rtstruct(written, chest):
    from hbiview.io.rtstruct import read_rtstruct

    ct, result = chest
    back = {s.name: s for s in read_rtstruct(written, ct.geometry)}
    assert set(back) == set(result.structures)
    for name, s in result.structures.items():
        # exact by construction; 0.1 % allows contour coordinates rounded to 1 um
        assert back[name].volume_cc == pytest.approx(s.volume_cc, rel=1e-3), name
        assert back[name].color == s.color


def test_references_the_ct(tmp_path, chest):
    import pydicom

    ct, result = chest
    path = write_rtstruct({"Lungs": result.structures["Lungs"]}, ct, tmp_path / "lungs.dcm")
    ds = pydicom.dcmread(path)
    assert ds.Modality == "RTSTRUCT" and ds.StudyInstanceUID == ct.metadata["StudyInstanceUID"]
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == ct.metadata["SeriesInstanceUID"]
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == ct.metadata["SOPInstanceUIDs"]
    contour = ds.ROIContourSequence[0].ContourSequence[0]
    z = float(contour.ContourData[2])
    k = int(np.argmin(np.abs(ct.geometry.axis_coordinates_mm()[0] - z)))
    assert contour.ContourImageSequence[0].ReferencedSOPInstanceUID == ct.metadata["SOPInstanceUIDs"][k]
    assert ds.StructureSetROISequence[0].ROIName == "Lungs"
    with pytest.raises(OutputError, match="already exists"):
        write_rtstruct({"Lungs": result.structures["Lungs"]}, ct, path)


@pytest.mark.skipif(
    shutil.which("dciodvfy") is None, reason="dciodvfy (Debian package dicom3tools) not installed"
)
def test_dciodvfy_reports_no_errors(written):
    out = subprocess.run(["dciodvfy", str(written)], capture_output=True, text=True, check=False)
    errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
    assert errors == []


def test_cli_structures(tmp_path, capsys):
    from hbiview.cli import main
    from hbiview.io.dicom import write_ct
    from hbiview.sample import make_phantom

    phantom = make_phantom(z_range_mm=(1150.0, 1400.0))
    write_ct(phantom.ct, tmp_path / "ct")
    out = tmp_path / "rtss.dcm"
    code = main(["structures", str(tmp_path / "ct"), "--out", str(out), "--json"])
    assert code == 0 and out.is_file()
    info = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in info["structures"]}
    # a thorax section: lungs present, head and legs missing and named with their share of marrow
    assert rows["Lung_L"]["volume_cc"] > 100 and rows["Lung_R"]["volume_cc"] > 100
    assert "cranium" in info["missing_marrow_sites"] and "femora_upper_half" in info["missing_marrow_sites"]
    assert info["marrow_fraction_in_scan"] == pytest.approx(1 - info["missing_marrow_fraction"], abs=1e-3)
    assert info["rtstruct"] == str(out)
    # an existing output without --force: one error line, exit code 2
    assert main(["structures", str(tmp_path / "ct"), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_imports_a_clinical_rtstruct_with_a_names_map(tmp_path, capsys):
    from hbiview.cli import main
    from hbiview.io.dicom import read_ct, write_ct
    from hbiview.sample import make_phantom
    from hbiview.volume import Structure

    phantom = make_phantom(z_range_mm=(1200.0, 1400.0))
    write_ct(phantom.ct, tmp_path / "ct")
    ct = read_ct(tmp_path / "ct")
    g = ct.geometry
    clinical = [
        Structure(g, phantom.labels == 4, name="LLUNG"),  # a name no rule knows: mapped by the user's file
        Structure(g, phantom.labels == 5, name="Rt Lung"),
        Structure(g, phantom.labels == 7, name="Heart"),
    ]
    write_rtstruct(clinical, ct, tmp_path / "clinic.dcm")
    names = tmp_path / "names.toml"
    names.write_text('"LLUNG" = "Lung_L"\n')
    argv = ["structures", str(tmp_path / "ct"), "--rtstruct", str(tmp_path / "clinic.dcm")]
    assert main([*argv, "--names-map", str(names), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["structures"]}
    voxel_cc = g.voxel_volume_cc
    # the imported contours win: their volumes are the truth's voxel counts (exact round trip)
    assert rows["Lung_L"]["volume_cc"] == pytest.approx(np.count_nonzero(phantom.labels == 4) * voxel_cc)
    assert rows["Lung_R"]["volume_cc"] == pytest.approx(np.count_nonzero(phantom.labels == 5) * voxel_cc)
    assert rows["Heart"]["volume_cc"] == pytest.approx(np.count_nonzero(phantom.labels == 7) * voxel_cc)
