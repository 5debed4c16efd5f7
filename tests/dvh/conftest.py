"""Fixtures of the DVH/report tests: a small RT Structure Set writer (pydicom, tests only)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def _write(path: Path, rois: dict[str, list[np.ndarray]], frame: str) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ref = Dataset()
    ref.FrameOfReferenceUID = frame
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref])
    ssroi, roic = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        item = Dataset()
        item.ROINumber = number
        item.ROIName = name
        item.ReferencedFrameOfReferenceUID = frame
        ssroi.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ROIDisplayColor = [255, 0, 0]
        seq = []
        for pts in contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.4f}" for v in np.asarray(pts, float).ravel()]
            seq.append(c)
        rc.ContourSequence = DicomSequence(seq)
        roic.append(rc)
    ds.StructureSetROISequence = DicomSequence(ssroi)
    ds.ROIContourSequence = DicomSequence(roic)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.fixture
def make_rtstruct() -> Callable[..., Path]:
    """``make_rtstruct(path, {name: [contour (n, 3) LPS mm, ...]}, frame) -> path``."""
    return _write
