"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("HBIVIEW_NO_PROGRESS", "1")


def _shared_candidates() -> list[Path]:
    env = os.environ.get("HBIVIEW_SHARED")
    found = [Path(env)] if env else []
    return [*found, REPO.parent / "shared"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's ``shared/`` folder (reference data, example DICOM-RT case), beside the repository.

    Skips the test when it is not there: those files are never copied into the repository.
    """
    for candidate in _shared_candidates():
        if (candidate / "reference").is_dir():
            return candidate
    pytest.skip("../shared/ (reference data beside the repository) is not on this machine")


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    """``shared/reference/``: measured beam data, tables and clinical figures with their sources."""
    return shared_dir / "reference"


@pytest.fixture(scope="session")
def dicompyler_dir(shared_dir: Path) -> Path:
    """``shared/data/dicompyler_example/``: a real anonymised DICOM-RT case."""
    path = shared_dir / "data" / "dicompyler_example"
    if not path.is_dir():
        pytest.skip("shared/data/dicompyler_example is not on this machine")
    return path


@pytest.fixture(scope="session")
def sample_ct_dir() -> Path:
    """The bundled sample patient, ``sample_ct/`` at the repository root."""
    path = REPO / "sample_ct"
    if not any(path.glob("*.dcm")):
        pytest.fail("sample_ct/ holds no DICOM files: regenerate it with 'python -m hbiview.sample'")
    return path


def _write_rtstruct(
    path: Path,
    rois: Mapping[str, list[np.ndarray]] | list[tuple[str, list[np.ndarray], tuple[int, int, int] | None]],
    frame: str,
    modality: str = "RTSTRUCT",
) -> Path:
    """A minimal RT Structure Set (tests only); ``rois``: {name: contours} or [(name, contours, RGB)]."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if isinstance(rois, Mapping):
        rois = [(name, contours, (255, 0, 0)) for name, contours in rois.items()]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ref = Dataset()
    ref.FrameOfReferenceUID = frame
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref])
    ssroi, roic, obs = [], [], []
    for number, (name, contours, color) in enumerate(rois, start=1):
        item = Dataset()
        item.ROINumber = number
        item.ROIName = name
        item.ReferencedFrameOfReferenceUID = frame
        ssroi.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = number
        if color is not None:
            rc.ROIDisplayColor = list(color)
        seq = []
        for pts in contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.4f}" for v in np.asarray(pts, float).ravel()]
            seq.append(c)
        rc.ContourSequence = DicomSequence(seq)
        roic.append(rc)
        o = Dataset()
        o.ObservationNumber = number
        o.ReferencedROINumber = number
        o.RTROIInterpretedType = "ORGAN"
        obs.append(o)
    ds.StructureSetROISequence = DicomSequence(ssroi)
    ds.ROIContourSequence = DicomSequence(roic)
    ds.RTROIObservationsSequence = DicomSequence(obs)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.fixture
def make_rtstruct() -> Callable[..., Path]:
    """``make_rtstruct(path, rois, frame, modality="RTSTRUCT") -> path``: write a small RT Structure Set.

    ``rois`` is ``{name: [contour (n, 3) LPS mm, ...]}`` or a list of ``(name, contours, RGB or None)``.
    """
    return _write_rtstruct
