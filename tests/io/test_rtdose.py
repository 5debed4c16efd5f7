"""RT Dose read/write: a planning system's file, round trips through pydicom and SimpleITK, dciodvfy."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from hbiview.errors import DicomError, GeometryError, InputError, OutputError
from hbiview.geometry import Geometry
from hbiview.io.dicom import write_ct
from hbiview.io.rtdose import read_rtdose, write_rtdose
from hbiview.volume import CTVolume, DoseGrid

FRAME = "1.2.826.0.1.3680043.8.498.1234"


def analytic_dose(direction=None) -> DoseGrid:
    """A Gaussian dose blob on a lateral gradient, 30 x 20 x 25 voxels of 3 x 2.5 x 2 mm."""
    geometry = Geometry.from_spacing((30, 20, 25), (3.0, 2.5, 2.0), (-20.0, -30.0, 15.0), direction, FRAME)
    k, j, i = np.indices(geometry.shape)
    dose = 12.0 * np.exp(-((k - 15) ** 2 + (j - 10) ** 2 + (i - 12) ** 2) / 60.0) + 0.02 * i
    return DoseGrid(geometry, dose.astype(np.float32), fractions=5, description="upper HBI")


def ct_for(dose: DoseGrid) -> CTVolume:
    geometry = Geometry.from_spacing((4, 16, 16), (5.0, 3.0, 3.0), (-25.0, -35.0, 10.0), None, FRAME)
    meta = {"PatientName": "TEST^PATIENT", "PatientID": "ID7", "StudyInstanceUID": "1.2.3.4.5"}
    meta["StudyDescription"] = "thorax"
    return CTVolume(geometry, np.zeros(geometry.shape, np.int16), meta)


def test_reads_the_planning_system_file(dicompyler_dir):
    dose = read_rtdose(dicompyler_dir / "rtdose.dcm")
    # figures from shared/data/dicompyler_example/README.md:
    # 194 x 129 x 98 grid, 2.5 x 2.5 x 3 mm, max 14.68 Gy
    assert dose.geometry.shape == (98, 129, 194)
    np.testing.assert_allclose(dose.geometry.spacing_mm, [3.0, 2.5, 2.5], atol=1e-9)
    assert dose.max_gy == pytest.approx(14.68, abs=0.005)  # the README rounds to 0.01 Gy
    # ImagePositionPatient of the file: the first plane, first voxel centre
    np.testing.assert_allclose(dose.geometry.origin_mm, [-228.6541915, -419.2444776, -122.4407])
    assert dose.geometry.frame_of_reference_uid == "2.16.840.1.113662.2.12.0.3057.1241703565.36"
    assert dose.array.dtype == np.float32 and dose.fractions == 1


def test_round_trip_through_pydicom_and_hbiview(tmp_path):
    dose = analytic_dose()
    path = write_rtdose(dose, tmp_path / "RD.dcm", ct=ct_for(dose))
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.2"  # RT Dose Storage
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
    assert (ds.BitsAllocated, ds.PixelRepresentation, ds.pixel_array.dtype) == (16, 0, np.uint16)
    assert str(ds.PatientName) == "TEST^PATIENT" and ds.PatientID == "ID7"
    assert ds.StudyInstanceUID == "1.2.3.4.5" and ds.FrameOfReferenceUID == FRAME
    assert ds.NumberOfFrames == 30 and (ds.Rows, ds.Columns) == (20, 25)
    np.testing.assert_allclose([float(v) for v in ds.GridFrameOffsetVector], 3.0 * np.arange(30))
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], [-20.0, -30.0, 15.0])
    scaling = float(ds.DoseGridScaling)
    # stored values x DoseGridScaling reproduce the dose within half a step (rounding to integers)
    np.testing.assert_allclose(ds.pixel_array * scaling, dose.array, atol=scaling / 2 + 1e-6)
    # 16 bits: the step is the maximum / 65535, so the rounding error is at most 0.00076 % of the maximum
    assert scaling == pytest.approx(dose.max_gy / 65535, rel=1e-9)
    back = read_rtdose(path, fractions=5)
    # float32 holds 12 Gy to 1e-6 Gy; the quantisation step is scaling (~1.8e-4 Gy)
    np.testing.assert_allclose(back.array, dose.array, atol=scaling / 2 + 2e-6)
    # the maximum is stored as 65535 exactly, so it comes back to float32 precision
    assert back.max_gy == pytest.approx(dose.max_gy, rel=1e-6)
    assert back.geometry.isclose(dose.geometry, atol_mm=1e-6)
    assert back.geometry.frame_of_reference_uid == FRAME and back.fractions == 5
    assert back.description == "upper HBI"


def test_simpleitk_reads_the_same_values_and_geometry(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    dose = analytic_dose()
    path = write_rtdose(dose, tmp_path / "RD.dcm")
    image = sitk.ReadImage(str(path))
    scaling = float(pydicom.dcmread(path, stop_before_pixels=True).DoseGridScaling)
    # GDCM gives the stored uint16 values; DoseGridScaling converts them to Gy
    np.testing.assert_allclose(sitk.GetArrayFromImage(image) * scaling, dose.array, atol=scaling / 2 + 1e-6)
    np.testing.assert_allclose(image.GetSpacing(), (2.0, 2.5, 3.0), atol=1e-9)  # (x, y, z) mm
    np.testing.assert_allclose(image.GetOrigin(), (-20.0, -30.0, 15.0), atol=1e-9)


def test_dicompyler_dose_round_trip(tmp_path, dicompyler_dir):
    original = read_rtdose(dicompyler_dir / "rtdose.dcm")
    back = read_rtdose(write_rtdose(original, tmp_path / "RD.dcm"))
    scaling = float(pydicom.dcmread(tmp_path / "RD.dcm", stop_before_pixels=True).DoseGridScaling)
    np.testing.assert_allclose(back.array, original.array, atol=scaling / 2 + 2e-6)  # + float32 of 14.7 Gy
    assert back.geometry.isclose(original.geometry, atol_mm=1e-6)


def test_32_bit_pixels_on_request(tmp_path):
    dose = analytic_dose()
    path = write_rtdose(dose, tmp_path / "RD.dcm", bits=32)
    ds = pydicom.dcmread(path)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.pixel_array.dtype) == (32, 32, 31, np.uint32)
    scaling = float(ds.DoseGridScaling)
    # the step is the maximum / (2**32 - 1) (about 3e-9 Gy): round trip exact to float32 of 12 Gy
    assert scaling == pytest.approx(dose.max_gy / (2**32 - 1), rel=1e-9)
    np.testing.assert_allclose(read_rtdose(path).array, dose.array, atol=scaling / 2 + 2e-6)
    with pytest.raises(InputError, match=r"bits must be 16 or 32"):
        write_rtdose(dose, tmp_path / "RD8.dcm", bits=8)


def test_planes_against_the_normal_are_written_in_increasing_order(tmp_path):
    # slice axis towards the feet (z decreasing with the index): the file holds the planes reversed
    direction = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    dose = analytic_dose(direction)
    ds_path = write_rtdose(dose, tmp_path / "RD.dcm")
    back = read_rtdose(ds_path)
    scaling = float(pydicom.dcmread(ds_path, stop_before_pixels=True).DoseGridScaling)
    np.testing.assert_allclose(back.array, dose.array[::-1], atol=scaling / 2 + 2e-6)
    # the first plane of the file is the last (most inferior) plane of the input: z = 15 - 29 * 3 mm
    np.testing.assert_allclose(back.geometry.origin_mm, [-20.0, -30.0, 15.0 - 87.0], atol=1e-9)
    np.testing.assert_allclose(back.geometry.affine[:3, 0], [0, 0, 3.0], atol=1e-12)


def test_dciodvfy_finds_no_errors(tmp_path):
    # dicom3tools' dciodvfy checks the file against the RT Dose IOD of the DICOM standard. It runs on the file
    # write_rtdose writes (as `hbiview dose CT --out dose.dcm` does, with the CT read back from DICOM), 16-bit
    # pixels by default; dicom3tools 1.00~20220618 aborts on any 32-bit pixel data, the planning system's
    # own file included (checked), so 32-bit files cannot be verified with it.
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    from hbiview.io.dicom import read_ct

    dose = analytic_dose()
    write_ct(ct_for(dose), tmp_path / "ct", uid_seed="dciodvfy")
    ct = read_ct(tmp_path / "ct")
    dose = DoseGrid(
        Geometry(dose.geometry.shape, dose.geometry.affine, ct.geometry.frame_of_reference_uid),
        dose.array,
        fractions=5,
        description="upper HBI",
    )
    path = write_rtdose(dose, tmp_path / "RD.dcm", ct=ct)
    result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
    report = result.stdout + result.stderr
    assert "Assertion" not in report, report  # it read the whole file, pixel data included
    assert "RTDose" in report  # it recognised the IOD
    assert [line for line in report.splitlines() if line.startswith("Error")] == [], report


def test_refusals(tmp_path, dicompyler_dir):
    dose = analytic_dose()
    write_rtdose(dose, tmp_path / "RD.dcm")
    with pytest.raises(OutputError, match=r"already exists"):
        write_rtdose(dose, tmp_path / "RD.dcm")
    other = ct_for(dose)
    other = CTVolume(Geometry(other.geometry.shape, other.geometry.affine, "1.2.3.999"), other.array)
    with pytest.raises(GeometryError, match=r"frame of reference"):
        write_rtdose(dose, tmp_path / "RD2.dcm", ct=other)
    with pytest.raises(DicomError, match=r"ct.0.dcm: is CT .*not an RT Dose"):
        read_rtdose(dicompyler_dir / "ct.0.dcm")
    ds = pydicom.dcmread(tmp_path / "RD.dcm")
    ds.DoseUnits = "RELATIVE"
    ds.save_as(tmp_path / "relative.dcm")
    with pytest.raises(DicomError, match=r"DoseUnits is RELATIVE"):
        read_rtdose(tmp_path / "relative.dcm")


def test_fraction_dose_is_multiplied_to_the_total(tmp_path):
    dose = analytic_dose()
    path = write_rtdose(dose, tmp_path / "RD.dcm")
    ds = pydicom.dcmread(path)
    ds.DoseSummationType = "FRACTION"  # the file holds the dose of one fraction
    ds.save_as(path)
    total = read_rtdose(path, fractions=5)
    scaling = float(ds.DoseGridScaling)
    np.testing.assert_allclose(total.array, 5 * dose.array, atol=5 * (scaling / 2 + 2e-6))
    np.testing.assert_allclose(total.dose_per_fraction_gy, dose.array, atol=scaling / 2 + 2e-6)


def test_dose_overlays_the_ct_it_was_written_with(tmp_path):
    dose = analytic_dose()
    ct = ct_for(dose)
    write_ct(ct, tmp_path / "ct", uid_seed="overlay")
    from hbiview.io.dicom import read_ct

    ct_back = read_ct(tmp_path / "ct")
    dose = DoseGrid(
        Geometry(dose.geometry.shape, dose.geometry.affine, ct_back.geometry.frame_of_reference_uid),
        dose.array,
    )
    back = read_rtdose(write_rtdose(dose, tmp_path / "RD.dcm", ct=ct_back))
    ds_ct = pydicom.dcmread(tmp_path / "ct" / "CT0001.dcm")
    ds_dose = pydicom.dcmread(tmp_path / "RD.dcm")
    assert ds_dose.FrameOfReferenceUID == ds_ct.FrameOfReferenceUID
    assert ds_dose.StudyInstanceUID == ds_ct.StudyInstanceUID and ds_dose.PatientID == ds_ct.PatientID
    assert back.geometry.frame_of_reference_uid == ct_back.geometry.frame_of_reference_uid
