"""write_ct: a CT series that peers (pydicom, SimpleITK/GDCM) read back with the same values and geometry."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from hbiview.errors import InputError, OutputError
from hbiview.geometry import Geometry
from hbiview.io.dicom import write_ct
from hbiview.volume import CTVolume


def small_ct(shape=(5, 12, 10), spacing=(2.5, 0.8, 0.9), origin=(-4.0, -5.0, 10.0)) -> CTVolume:
    rng = np.random.default_rng(7)
    hu = rng.integers(-1024, 2500, size=shape).astype(np.int16)
    hu[0, 0, 0] = -1024  # the lowest stored value: 0 with intercept -1024
    return CTVolume(Geometry.from_spacing(shape, spacing, origin), hu)


@pytest.mark.parametrize("syntax", ["explicit", "rle", "jpeg2000", "jpegls"])
def test_pydicom_reads_back_identical_hu_and_geometry(tmp_path, syntax):
    ct = small_ct(shape=(5, 36, 40))  # JPEG 2000 needs >= 32 pixels per side
    files = write_ct(ct, tmp_path / "ct", transfer_syntax=syntax, uid_seed="t")
    assert [f.name for f in files] == [f"CT000{k}.dcm" for k in range(1, 6)]
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
        assert ds.Modality == "CT" and ds.PatientPosition == "HFS"
        assert str(ds.PatientName) == "HBIVIEW^PHANTOM"
        assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
        assert ds.PixelRepresentation == 0  # every stored value >= 0: unsigned
        hu = ds.pixel_array.astype(np.int32) * 1 - 1024
        # lossless transfer syntaxes: exact
        np.testing.assert_array_equal(hu, ct.array[k])
        # position of slice k = origin + k * 2.5 mm along +z (closed form), to DS precision
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], [-4.0, -5.0, 10.0 + 2.5 * k])
        np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], [0.8, 0.9])  # (row, column)
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(ds.SliceThickness) == 2.5 and float(ds.SpacingBetweenSlices) == 2.5
        assert ds.InstanceNumber == k + 1


def test_simpleitk_reads_the_series_with_same_values_and_geometry(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    ct = small_ct()
    write_ct(ct, tmp_path / "ct", transfer_syntax="rle")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    image = reader.Execute()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), ct.array)  # GDCM applies the rescale
    # SimpleITK: spacing (x, y, z), origin LPS; same numbers as our geometry, to float precision
    np.testing.assert_allclose(image.GetSpacing(), (0.9, 0.8, 2.5), atol=1e-6)
    np.testing.assert_allclose(image.GetOrigin(), (-4.0, -5.0, 10.0), atol=1e-6)


def test_uid_seed_makes_identical_files(tmp_path):
    ct = small_ct()
    first = write_ct(ct, tmp_path / "a", uid_seed="sample")
    second = write_ct(ct, tmp_path / "b", uid_seed="sample")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = write_ct(ct, tmp_path / "c", uid_seed="other")
    ds_a, ds_c = pydicom.dcmread(first[0]), pydicom.dcmread(other[0])
    assert ds_a.SeriesInstanceUID != ds_c.SeriesInstanceUID
    uids = {pydicom.dcmread(p).SOPInstanceUID for p in first}
    assert len(uids) == len(first)  # one instance UID per slice


def test_signed_pixels_when_values_below_intercept(tmp_path):
    ct = small_ct()
    hu = np.array(ct.array)
    hu[0, 0, 0] = -2000  # padding-like value below -1024: needs signed storage
    files = write_ct(ct.with_array(hu), tmp_path / "ct", transfer_syntax="explicit")
    ds = pydicom.dcmread(files[0])
    assert ds.PixelRepresentation == 1
    assert int(ds.pixel_array[0, 0]) - 1024 == -2000


def test_refuses_existing_folder_and_leaves_nothing_on_failure(tmp_path):
    ct = small_ct()
    write_ct(ct, tmp_path / "ct")
    with pytest.raises(OutputError, match="not empty"):
        write_ct(ct, tmp_path / "ct")
    write_ct(ct, tmp_path / "ct", force=True, transfer_syntax="explicit")
    assert (
        pydicom.dcmread(tmp_path / "ct" / "CT0001.dcm").file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    )
    with pytest.raises(InputError, match="32 x 32"):
        write_ct(ct, tmp_path / "x", transfer_syntax="jpeg2000")
    with pytest.raises(InputError, match="transfer syntax"):
        write_ct(ct, tmp_path / "x", transfer_syntax="jpeg")
    too_big = ct.with_array(np.full(ct.geometry.shape, 40000, dtype=np.float32))
    with pytest.raises(InputError, match="16-bit"):
        write_ct(too_big, tmp_path / "y", signed=True)
    # the failed writes left no temporary folder beside the target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct"]


def test_dciodvfy_finds_no_errors(tmp_path):
    # dicom3tools' dciodvfy checks every file against the CT Image IOD of the DICOM standard
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    files = write_ct(small_ct(shape=(2, 40, 40)), tmp_path / "ct", transfer_syntax="jpegls")
    result = subprocess.run([dciodvfy, str(files[0])], capture_output=True, text=True, check=False)
    report = result.stdout + result.stderr
    assert "CTImage" in report  # it recognised the IOD
    assert [line for line in report.splitlines() if line.startswith("Error")] == []


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    ct = small_ct(shape=(6, 12, 10))
    write_ct(ct, tmp_path / "old", transfer_syntax="explicit")
    before = sorted(p.name for p in (tmp_path / "old").iterdir())
    calls = {"n": 0}
    original = pydicom.dataset.Dataset.save_as

    def failing_save_as(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", failing_save_as)
    with pytest.raises(OSError, match="disk full"):
        write_ct(ct, tmp_path / "new", workers=1)
    calls["n"] = 0
    with pytest.raises(OSError, match="disk full"):
        write_ct(ct, tmp_path / "old", workers=1, force=True)
    # no new folder, no temporary folder, and the old series untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == before
