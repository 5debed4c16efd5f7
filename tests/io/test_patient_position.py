"""PatientPosition: the same patient scanned head or feet first, supine or prone, gives the same anatomy
and the same beams in the patient.

The synthetic patient is re-written as a scanner lying it in each position would store it: the image rows
and columns (ImageOrientationPatient) and the slice order change with the position, the patient's LPS
anatomy does not. Everything hbiview derives in LPS must then agree with the head-first supine series.
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest

from hbiview.anatomy import find_landmarks
from hbiview.errors import DicomError
from hbiview.geometry import Geometry
from hbiview.io.dicom import read_ct, write_ct
from hbiview.plans import Beam, beam_basis, preset
from hbiview.sample import make_phantom
from hbiview.volume import CTVolume

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

#: What a scanner's image axes are for each position (DICOM PS3.3 C.7.6.2.1.1 examples): row direction,
#: column direction; the slice normal is their cross product.
AXES = {
    "HFS": ((1, 0, 0), (0, 1, 0)),
    "FFS": ((-1, 0, 0), (0, 1, 0)),
    "HFP": ((-1, 0, 0), (0, -1, 0)),
    "FFP": ((1, 0, 0), (0, -1, 0)),
}


@pytest.fixture(scope="module")
def hfs() -> CTVolume:
    return make_phantom(spacing_mm=(10.0, 7.0, 7.0), noise_hu=0.0).ct


def _repositioned(ct: CTVolume, position: str) -> CTVolume:
    """The same LPS anatomy stored with the image axes of ``position``."""
    row, col = (np.array(v, dtype=float) for v in AXES[position])
    normal = np.cross(row, col)
    a = ct.geometry.affine
    # the HFS array has x along columns, y along rows, z along slices, all increasing
    flips = (normal[2] < 0, col[1] < 0, row[0] < 0)
    array = np.asarray(ct.array)[
        tuple(slice(None, None, -1) if f else slice(None) for f in flips)  # type: ignore[misc]
    ]
    nz, ny, nx = ct.geometry.shape
    corner = ct.geometry.index_to_lps(
        [nz - 1 if flips[0] else 0, ny - 1 if flips[1] else 0, nx - 1 if flips[2] else 0]
    )
    affine = np.eye(4)
    affine[:3, 0] = normal * abs(a[2, 0])
    affine[:3, 1] = col * abs(a[1, 1])
    affine[:3, 2] = row * abs(a[0, 2])
    affine[:3, 3] = corner
    meta = {**ct.metadata, "PatientPosition": position}
    return CTVolume(Geometry(array.shape, affine, ct.geometry.frame_of_reference_uid), array.copy(), meta)


@pytest.mark.parametrize("position", ["FFS", "HFP", "FFP"])
def test_every_position_gives_the_same_anatomy_and_beams(tmp_path, hfs, position):
    folder = tmp_path / position
    write_ct(_repositioned(hfs, position), folder)
    assert pydicom.dcmread(next(folder.iterdir())).PatientPosition == position
    ct = read_ct(folder)
    assert ct.metadata["PatientPosition"] == position
    assert np.array_equal(ct.geometry.bounds_mm(), hfs.geometry.bounds_mm())  # same patient, same LPS box
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, marks = find_landmarks(hfs), find_landmarks(ct)
    for name in ref:
        # the same voxels seen in another order: the same landmarks to rounding of the slice walk (mm)
        assert (ref.z(name) is None) == (marks.z(name) is None), name
        if ref.z(name) is not None:
            assert marks.z(name) == pytest.approx(ref.z(name), abs=0.5), name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan_ref = preset("upper-hbi", hfs, landmarks=ref)
        plan = preset("upper-hbi", ct, landmarks=marks)
    for beam_ref, beam in zip(plan_ref.beams, plan.beams):
        assert beam.name == beam_ref.name and beam.patient_position == position
        src_ref, d_ref, _, _ = beam_ref.frame()
        src, d, _, _ = beam.frame()
        # the AP beam enters the patient's front whatever the position: same direction and source in LPS
        assert np.allclose(d, d_ref) and np.allclose(src, src_ref, atol=0.5)
    ap = next(b for b in plan.beams if b.name == "AP")
    # prone: the front faces the floor, the AP beam comes from below (IEC 61217 gantry 180)
    assert ap.gantry_deg == (180.0 if position.endswith("P") else 0.0)


def test_beam_basis_follows_the_position():
    # gantry 0 comes from the ceiling: into the front (+y, posterior-going) supine, into the back prone
    assert np.allclose(beam_basis(0.0, 0.0, "HFS")[0], [0, 1, 0])
    assert np.allclose(beam_basis(0.0, 0.0, "HFP")[0], [0, -1, 0])
    # gantry 90 comes from the right of an observer facing the gantry: the patient's left when head
    # first supine, the patient's right when feet first supine
    assert np.allclose(beam_basis(90.0, 0.0, "HFS")[0], [-1, 0, 0])
    assert np.allclose(beam_basis(90.0, 0.0, "FFS")[0], [1, 0, 0])
    # the field's y axis points towards the gantry: superior head first, inferior feet first
    assert np.allclose(beam_basis(0.0, 0.0, "HFS")[2], [0, 0, 1])
    assert np.allclose(beam_basis(0.0, 0.0, "FFP")[2], [0, 0, -1])
    for position in ("HFS", "FFS", "HFP", "FFP"):
        d, u, v = beam_basis(37.0, 20.0, position)
        # a right-handed orthonormal frame in every position (IEC beam limiting device system)
        assert np.allclose(np.cross(u, v), -d) and np.isclose(np.linalg.norm(d), 1.0)


def test_decubitus_and_mixed_positions_are_refused_naming_the_file(tmp_path, hfs):
    files = write_ct(hfs, tmp_path / "ct", transfer_syntax="explicit")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PatientPosition = "HFDL"
        ds.save_as(path)
    with pytest.raises(DicomError, match=r"CT0001.dcm: PatientPosition HFDL is not supported"):
        read_ct(tmp_path / "ct")
    ds = pydicom.dcmread(files[0])
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PatientPosition = "HFS" if path != files[3] else "HFP"
        ds.save_as(path)
    with pytest.raises(DicomError, match=r"PatientPosition differs between the slices"):
        read_ct(tmp_path / "ct")


def test_a_plan_for_another_set_up_is_refused(hfs):
    from hbiview.errors import PlanError
    from hbiview.plans import Plan, resolve_plan

    beam = Beam("6MV", 0.0, 0.0, (100.0, 100.0), patient_position="HFP")
    with pytest.raises(PlanError, match=r"patient_position = 'HFP' but the CT was taken HFS"):
        resolve_plan(Plan("p", (beam,), 2.0), hfs)
