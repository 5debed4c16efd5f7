"""The DICOM modules shared by every object hbiview writes beside a CT, and the CT's identity (UIDs).

Patient, study, series, frame of reference, equipment and SOP common modules have one writer here.

One writer, so that the RT Structure Set, RT Plan and RT Dose files of a set carry the same patient, the
same StudyInstanceUID and the same FrameOfReferenceUID as their CT, and a planning system or viewer opens
them as one plan. pydicom is imported by the callers (``ds`` is a :class:`pydicom.dataset.Dataset`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hbiview.volume import CTVolume

__all__ = [
    "CT_IMAGE_STORAGE",
    "CTIdentity",
    "ct_identity",
    "derived_uid",
    "new_dataset",
    "set_common_modules",
]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: UID root for identifiers hbiview derives itself (pydicom's registered prefix).
_UID_PREFIX = "1.2.826.0.1.3680043.8.498."


def derived_uid(*parts: object) -> str:
    """A DICOM UID derived from ``parts`` (same parts, same UID; at most 64 characters)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return (_UID_PREFIX + str(int(digest[:30], 16)))[:64]


@dataclass(frozen=True)
class CTIdentity:
    """The UIDs of a CT series that RT objects reference.

    Attributes
    ----------
    study_uid, frame_uid, series_uid
        StudyInstanceUID, FrameOfReferenceUID and SeriesInstanceUID of the CT.
    sop_uids
        SOPInstanceUID of each slice, in array order.
    sop_class_uid
        SOP Class of the slices (CT Image Storage).
    from_files
        True when every UID comes from the CT's DICOM files (``ct.metadata``); False when some were derived
        from the grid (a CT read from NIfTI, or a DICOM series resampled across a gap): then the RT objects
        reference images that exist only if the CT is written with these UIDs.
    """

    study_uid: str
    frame_uid: str
    series_uid: str
    sop_uids: tuple[str, ...]
    sop_class_uid: str
    from_files: bool


def _text(meta: Mapping[str, Any], key: str, default: str = "") -> str:
    value = meta.get(key)
    return default if value is None else str(value)


def ct_identity(ct: CTVolume) -> CTIdentity:
    """The study, frame of reference, series and slice UIDs of ``ct``.

    UIDs the CT's metadata does not hold are derived from its grid (shape and affine), so that every
    object written for the same CT references the same ones.
    """
    geometry = ct.geometry
    meta = dict(ct.metadata)
    grid_key = (geometry.shape, np.round(geometry.affine, 4).tolist())
    frame_uid = geometry.frame_of_reference_uid or _text(meta, "FrameOfReferenceUID")
    frame_uid = frame_uid or derived_uid("frame", grid_key)
    study_uid = _text(meta, "StudyInstanceUID")
    series_uid = _text(meta, "SeriesInstanceUID")
    sop_uids = list(meta.get("SOPInstanceUIDs") or [])
    from_files = bool(study_uid and series_uid and len(sop_uids) == geometry.shape[0])
    if len(sop_uids) != geometry.shape[0]:
        sop_uids = [derived_uid("image", grid_key, k) for k in range(geometry.shape[0])]
    return CTIdentity(
        study_uid=study_uid or derived_uid("study", grid_key),
        frame_uid=frame_uid,
        series_uid=series_uid or derived_uid("series", grid_key),
        sop_uids=tuple(sop_uids),
        sop_class_uid=_text(meta, "SOPClassUID", CT_IMAGE_STORAGE),
        from_files=from_files,
    )


def new_dataset(sop_class_uid: str, sop_instance_uid: str) -> Any:
    """An empty dataset with its file meta information: the one file-meta block of every file hbiview writes.

    Explicit VR little endian, pydicom's implementation class UID; the SOP class and instance UIDs given
    here go into the file meta (the caller sets them in the dataset too, see :func:`set_common_modules`).

    Parameters
    ----------
    sop_class_uid, sop_instance_uid
        The object's SOP class (e.g. :data:`CT_IMAGE_STORAGE`) and its instance UID.

    Returns
    -------
    pydicom.dataset.Dataset
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    return ds


def set_common_modules(
    ds: Any,
    metadata: Mapping[str, Any],
    *,
    modality: str,
    sop_class_uid: str,
    sop_instance_uid: str,
    study_uid: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    frame_uid: str,
) -> None:
    """Fill the modules every RT object shares, from the CT's ``metadata``.

    Patient, general study, (RT) series, frame of reference, general equipment and SOP common.

    Parameters
    ----------
    ds
        The pydicom dataset being written.
    metadata
        The CT's metadata (:attr:`hbiview.volume.CTVolume.metadata`); missing attributes are written empty
        (type 2).
    modality
        ``RTSTRUCT``, ``RTPLAN`` or ``RTDOSE``.
    sop_class_uid, sop_instance_uid
        The object's SOP Class and Instance UIDs.
    study_uid, series_uid, frame_uid
        StudyInstanceUID (the CT's), the object's own SeriesInstanceUID, the CT's FrameOfReferenceUID.
    series_number
        SeriesNumber.
    series_description
        SeriesDescription (cut to 64 characters).
    """
    from hbiview import __version__

    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: patient names from any CT
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyDate = _text(metadata, "StudyDate")
    ds.StudyTime = _text(metadata, "StudyTime")
    ds.AccessionNumber = _text(metadata, "AccessionNumber")
    ds.Modality = modality
    ds.Manufacturer = "hbiview"
    ds.ReferringPhysicianName = _text(metadata, "ReferringPhysicianName")
    ds.StudyDescription = _text(metadata, "StudyDescription")[:64]
    ds.SeriesDescription = series_description[:64]
    ds.OperatorsName = ""
    ds.ManufacturerModelName = "hbiview"
    ds.PatientName = _text(metadata, "PatientName")
    ds.PatientID = _text(metadata, "PatientID")
    ds.PatientBirthDate = _text(metadata, "PatientBirthDate")
    ds.PatientSex = _text(metadata, "PatientSex")
    ds.SoftwareVersions = f"hbiview {__version__}"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = _text(metadata, "StudyID")
    ds.SeriesNumber = int(series_number)
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
