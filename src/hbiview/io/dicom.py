"""DICOM CT series: write one file per slice as a scanner does, read messy clinical exports.

This module (with :mod:`hbiview.io.rtdose`) is where pydicom is used; pydicom is imported inside the
functions so that importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import DicomError, InputError, MissingInputError, warn
from hbiview.geometry import Geometry
from hbiview.io.atomic import atomic_folder, check_folder_writable
from hbiview.io.dicom_modules import CT_IMAGE_STORAGE, new_dataset
from hbiview.progress import progress
from hbiview.volume import CTVolume

__all__ = ["PATIENT_POSITIONS", "TRANSFER_SYNTAXES", "SeriesInfo", "list_series", "read_ct", "write_ct"]


#: ``write_ct`` transfer syntax name -> UID (all lossless)
TRANSFER_SYNTAXES: dict[str, str] = {
    "explicit": "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "jpeg2000": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
    "jpegls": "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless Image Compression
}

_J2K_ENCODE_LOCK = threading.Lock()

#: PatientPosition codes hbiview reads (head or feet first, supine or prone); decubitus positions (HFDR,
#: HFDL, FFDR, FFDL) are refused: the presets' AP/PA beams assume the patient lies on the back or front.
PATIENT_POSITIONS = ("HFS", "FFS", "HFP", "FFP")

#: window presets written with every slice: (centre HU, width HU, name)
WINDOW_PRESETS: tuple[tuple[float, float, str], ...] = (
    (40.0, 400.0, "SOFT TISSUE"),
    (-600.0, 1500.0, "LUNG"),
    (400.0, 1800.0, "BONE"),
)


# ---------------------------------------------------------------------------------------------- writing
def _uid(seed: str | None, *parts: object) -> str:
    """A DICOM UID; derived from ``seed`` and ``parts`` (same inputs -> same UID) when a seed is given."""
    if seed is None:
        from pydicom.uid import generate_uid

        return str(generate_uid(prefix=None))
    # a name-based (version 5) UUID as a 2.25 UID (DICOM PS3.5 B.2)
    name = "/".join(["hbiview", seed, *map(str, parts)])
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"


def _ds(value: float) -> str:
    """A decimal string (VR DS, at most 16 characters) for ``value``."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.8g}"
    return "0" if text == "-0" else text


def _storage(hu: np.ndarray, intercept: float, signed: bool | None) -> bool:
    """Whether the stored values (HU - intercept, slope 1) need signed pixels; checks that they fit."""
    if not np.all(np.isfinite([hu.min(), hu.max()])):
        raise InputError("the CT holds NaN or infinite values; replace them before writing DICOM")
    low = float(np.rint(np.float64(hu.min()) - intercept))
    high = float(np.rint(np.float64(hu.max()) - intercept))
    if signed is None:
        signed = low < 0
    limits = (-32768, 32767) if signed else (0, 65535)
    if low < limits[0] or high > limits[1]:
        kind = "signed" if signed else "unsigned"
        raise InputError(
            f"CT values {low + intercept:.0f}..{high + intercept:.0f} HU do not fit {kind} 16-bit pixels "
            f"with rescale intercept {intercept:g}; clip the HU range or change the intercept"
        )
    return signed


def _stored_slice(hu_slice: np.ndarray, intercept: float, signed: bool) -> np.ndarray:
    """Stored pixel values of one slice (slope 1), little-endian 16-bit."""
    values = np.rint(hu_slice.astype(np.float64) - intercept)
    return np.ascontiguousarray(values.astype("<i2" if signed else "<u2"))


def write_ct(
    ct: CTVolume,
    folder: str | os.PathLike[str],
    *,
    transfer_syntax: str = "rle",
    patient_name: str = "HBIVIEW^PHANTOM",
    patient_id: str = "HBIVIEW-0001",
    study_description: str = "hbiview",
    series_description: str = "hbiview CT",
    series_number: int = 1,
    study_date: str = "",
    manufacturer: str = "hbiview",
    uid_seed: str | None = None,
    rescale_intercept: float = -1024.0,
    signed: bool | None = None,
    workers: int | None = None,
    force: bool = False,
) -> list[Path]:
    """Write a CT volume as a DICOM CT series, one file per slice, as a scanner writes it.

    Parameters
    ----------
    ct
        The volume; HU are rounded to integers. Any affine is written as it is (ImagePositionPatient of
        each slice from the affine, ImageOrientationPatient from its row and column axes).
    folder
        Target folder; created, with its parents. Written to a temporary folder beside it and renamed
        when complete, so an interrupted write leaves nothing behind.
    transfer_syntax
        ``"explicit"`` (uncompressed explicit VR little endian), ``"rle"``, ``"jpeg2000"`` (lossless) or
        ``"jpegls"`` (lossless).
    patient_name, patient_id, study_description, series_description, series_number, manufacturer
        Written as the DICOM attributes of the same names.
    study_date
        StudyDate/SeriesDate ``YYYYMMDD``; empty by default so that the output is reproducible.
    uid_seed
        When given, the Study, Series, Frame of Reference and SOP Instance UIDs are derived from it, so
        regenerating the series gives byte-identical files. Otherwise the UIDs are new and unique, unless
        ``ct.geometry.frame_of_reference_uid`` is set, which is kept.
    rescale_intercept
        RescaleIntercept (HU); stored value = HU - intercept, RescaleSlope 1.
    signed
        PixelRepresentation: ``True`` signed, ``False`` unsigned 16-bit; default unsigned when every
        stored value is non-negative.
    workers
        Threads used to encode slices (default: number of CPUs).
    force
        Replace an existing non-empty folder.

    Returns
    -------
    list of pathlib.Path
        The written files in slice order (array index ``k`` -> ``InstanceNumber`` ``k + 1``).

    Raises
    ------
    InputError
        Unknown transfer syntax, or HU that do not fit 16-bit pixels.
    OutputError
        The folder exists and is not empty (without ``force``), or cannot be written.
    """
    from pydicom.dataset import Dataset

    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise InputError(
            f"unknown transfer syntax {transfer_syntax!r}: choose one of {', '.join(TRANSFER_SYNTAXES)}"
        )
    target = check_folder_writable(folder, force)
    syntax_uid = TRANSFER_SYNTAXES[transfer_syntax]
    if transfer_syntax == "jpeg2000" and min(ct.geometry.shape[1:]) < 32:
        # the OpenJPEG encoder uses 6 wavelet resolutions, which need 2**5 pixels along each side
        raise InputError(
            f"JPEG 2000 needs slices of at least 32 x 32 pixels, got {ct.geometry.shape[1:]}; "
            "choose another transfer syntax"
        )
    is_signed = _storage(np.asarray(ct.array), rescale_intercept, signed)

    geometry = ct.geometry
    nz, ny, nx = geometry.shape
    steps = geometry.affine[:3, :3]
    spacing = geometry.spacing_mm  # (z, y, x)
    row_dir = steps[:, 2] / spacing[2]  # direction of increasing column index
    col_dir = steps[:, 1] / spacing[1]  # direction of increasing row index
    normal = np.cross(row_dir, col_dir)

    study_uid = _uid(uid_seed, "study")
    series_uid = _uid(uid_seed, "series", series_number)
    if uid_seed is None and geometry.frame_of_reference_uid:
        frame_uid = geometry.frame_of_reference_uid
    else:
        frame_uid = _uid(uid_seed, "frame")
    position_code = str(ct.metadata.get("PatientPosition") or "HFS").strip().upper()
    if position_code not in PATIENT_POSITIONS:
        raise InputError(
            f"PatientPosition {position_code!r} in the CT's metadata is not supported; use one of "
            f"{', '.join(PATIENT_POSITIONS)}"
        )
    window_centres = [_ds(c) for c, _, _ in WINDOW_PRESETS]
    window_widths = [_ds(w) for _, w, _ in WINDOW_PRESETS]
    window_names = [name for _, _, name in WINDOW_PRESETS]
    width = max(4, len(str(nz)))

    def dataset(k: int) -> Dataset:
        sop_uid = _uid(uid_seed, "image", series_number, k)
        ds = new_dataset(CT_IMAGE_STORAGE, sop_uid)
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = study_date
        ds.SeriesDate = study_date
        ds.StudyTime = ""
        ds.AccessionNumber = ""
        ds.Modality = "CT"
        ds.Manufacturer = manufacturer
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = study_description
        ds.SeriesDescription = series_description
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.SliceThickness = _ds(spacing[0])
        ds.KVP = ""
        ds.SpacingBetweenSlices = _ds(spacing[0])
        ds.PatientPosition = position_code
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = ""
        ds.SeriesNumber = series_number
        ds.Laterality = ""  # type 2C in General Series: not a paired body part
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        position = geometry.index_to_lps([k, 0, 0])
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(position @ normal))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[2])]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if is_signed else 0
        ds.WindowCenter = window_centres
        ds.WindowWidth = window_widths
        ds.WindowCenterWidthExplanation = window_names
        ds.RescaleIntercept = _ds(rescale_intercept)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        pixels = _stored_slice(ct.array[k], rescale_intercept, is_signed)
        if transfer_syntax == "explicit":
            ds.PixelData = pixels.tobytes()
            ds["PixelData"].VR = "OW"
        elif transfer_syntax == "jpeg2000":
            with _J2K_ENCODE_LOCK:  # the OpenJPEG encoder crashes when run in two threads at once
                ds.compress(syntax_uid, pixels, generate_instance_uid=False)
        else:
            ds.compress(syntax_uid, pixels, generate_instance_uid=False)
        return ds

    names = [f"CT{k + 1:0{width}d}.dcm" for k in range(nz)]
    with atomic_folder(target, force) as staging:

        def write_one(k: int) -> None:
            dataset(k).save_as(staging / names[k], enforce_file_format=True)

        n_workers = workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for _ in progress(pool.map(write_one, range(nz)), total=nz, desc="writing CT"):
                pass
    return [target / name for name in names]


# ---------------------------------------------------------------------------------------------- reading
_NON_IMAGE_MODALITIES = frozenset(
    {"RTSTRUCT", "RTDOSE", "RTPLAN", "RTRECORD", "RTIMAGE", "SR", "KO", "PR", "REG"}
)
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_ENCAPSULATED = frozenset(
    {
        "1.2.840.10008.1.2.5",  # RLE Lossless
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless, process 14
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless, process 14, SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000
        "1.2.840.10008.1.2.4.50",  # JPEG baseline
        "1.2.840.10008.1.2.4.51",  # JPEG extended
    }
)
_NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}  # UID -> implicit VR
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_AXIS_TOLERANCE = 1e-3  # largest direction cosine off an axis accepted as axial (0.06 degrees)
#: decoder plugin tried first, by transfer syntax: CharLS (pyjpegls) decodes JPEG-LS faster than GDCM and
#: releases the GIL, so slices decode in parallel
_PREFERRED_DECODER = {"1.2.840.10008.1.2.4.80": "pyjpegls", "1.2.840.10008.1.2.4.81": "pyjpegls"}
_DRIFT_TOLERANCE = 0.5  # largest sideways shift of slice origins accepted (gantry tilt), in pixels
_GRID_TOLERANCE = 0.05  # largest slice offset from a uniform grid accepted, as a fraction of the spacing


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a folder (what ``hbiview info`` lists).

    Parameters
    ----------
    series_uid
        SeriesInstanceUID.
    modality
        Modality (``CT``, ``MR``, ``RTSTRUCT``...).
    n_files
        Number of files (slices, for an image series).
    description
        SeriesDescription.
    series_number
        SeriesNumber, if given.
    study_uid, study_description
        StudyInstanceUID and StudyDescription.
    patient_name, patient_id
        PatientName and PatientID.
    rows, columns
        Image size of the first file, for image series.
    folder
        The folder holding the series' first file.
    """

    series_uid: str
    modality: str
    n_files: int
    description: str = ""
    series_number: int | None = None
    study_uid: str = ""
    study_description: str = ""
    patient_name: str = ""
    patient_id: str = ""
    rows: int | None = None
    columns: int | None = None
    folder: str = ""

    @property
    def is_image(self) -> bool:
        """Whether the series holds images (not an RT structure set, plan, dose or report)."""
        return self.modality not in _NON_IMAGE_MODALITIES and self.rows is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary of the fields."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _Header:
    """What the reader needs from one file, read with ``stop_before_pixels``."""

    path: Path
    sop_class: str
    series_uid: str
    modality: str
    attrs: dict[str, Any]
    rows: int | None = None
    columns: int | None = None
    position: np.ndarray | None = None
    orientation: np.ndarray | None = None
    pixel_spacing: tuple[float, float] | None = None
    slope: float = 1.0
    intercept: float = 0.0
    has_rescale: bool = True
    bits_allocated: int = 16
    bits_stored: int = 16
    signed: bool = False
    padding: tuple[int, int] | None = None
    samples: int = 1
    frames: int = 1
    transfer_syntax: str = ""
    data_offset: int | None = None  # file offset of the Pixel Data value (native or encapsulated)
    data_length: int | None = None
    encapsulated: bool = False
    photometric: str = "MONOCHROME2"
    has_pixels: bool = False


def _str(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _dicom_kind(path: Path) -> str | None:
    """``"part10"`` (DICM magic at byte 128), ``"bare"`` (a dataset starting at group 0002/0008) or None."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "part10"
    return "bare" if len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00") else None


def _pixel_element(fp: Any, implicit: bool) -> tuple[int, int] | None:
    """``(offset, length)`` of the Pixel Data value at the reader's position, or None if it is not there."""
    here = fp.tell()
    for start in (here - 4, here):  # pydicom stops either just after or just before the tag
        if start < 0:
            continue
        fp.seek(start)
        head = fp.read(12)
        if head[:4] != _PIXEL_DATA_TAG:
            continue
        if implicit:
            length = int.from_bytes(head[4:8], "little")
            return start + 8, length
        if head[4:6] in (b"OW", b"OB"):
            length = int.from_bytes(head[8:12], "little")
            return start + 12, length
    return None


_ENCODINGS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_TEXT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "StudyDescription",
    "SeriesDescription",
    "StudyInstanceUID",
    "Manufacturer",
    "FrameOfReferenceUID",
    "SeriesNumber",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImageType",
    "SOPInstanceUID",
    "SOPClassUID",
    # carried into objects that reference the CT (RTSTRUCT, RT Dose), so they describe the same study
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientBirthDate",
    "PatientSex",
    "PatientPosition",
)

#: attributes of the first slice that ``read_ct`` passes on in ``CTVolume.metadata``
_METADATA_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDescription",
    "SeriesDescription",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "SOPClassUID",
    "PatientPosition",
)


class _Fields:
    """The few attributes the reader needs, decoded from the raw bytes of little-endian datasets.

    pydicom's general conversion (validation, hooks, value objects) costs more than parsing the file;
    for the simple value representations used here (UI, CS, DS, IS, LO, PN, US/SS) decoding the bytes
    directly is exact. Binary values of big-endian files and text in other character sets go through
    pydicom.
    """

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        encoding = getattr(ds, "original_encoding", (None, True))
        charset = ds.get_item(0x00080005) if 0x00080005 in ds else None
        raw_charset = charset.value if charset is not None else b""
        if isinstance(raw_charset, bytes):
            raw_charset = raw_charset.decode("latin-1")
        self.encoding = _ENCODINGS.get(str(raw_charset or "").strip("\x00 "))
        self.little_endian = encoding[1] is not False

    def _raw(self, keyword: str) -> Any:
        from pydicom.datadict import tag_for_keyword

        tag = tag_for_keyword(keyword)
        if tag is None or tag not in self.ds:
            return None
        element = self.ds.get_item(tag)
        return None if element is None else element.value

    def __contains__(self, keyword: str) -> bool:
        return self._raw(keyword) is not None

    def text(self, keyword: str) -> str:
        value = self._raw(keyword)
        if value is None:
            return ""
        if isinstance(value, bytes):  # text is the same in either byte order
            if self.encoding is None:
                return _str(self.ds, keyword)
            return value.decode(self.encoding, errors="replace").strip("\x00 ")
        return str(value).strip()

    def numbers(self, keyword: str) -> list[float] | None:
        value = self._raw(keyword)
        if value is None or value == b"" or value == "":
            return None
        if isinstance(value, bytes):  # DS and IS: text, the same in either byte order
            parts = value.decode("latin-1").strip("\x00 ").split("\\")
            return [float(part) for part in parts]
        if isinstance(value, str | int | float):
            return [float(value)]
        return [float(v) for v in value]

    def number(self, keyword: str, default: float) -> float:
        values = self.numbers(keyword)
        return default if not values else values[0]

    def ushort(self, keyword: str, default: int, signed: bool = False) -> int:
        value = self._raw(keyword)
        if value is None or value == b"":
            return default
        if isinstance(value, bytes) and self.little_endian:
            return int.from_bytes(value[:2], "little", signed=signed)
        if isinstance(value, bytes):
            return int(getattr(self.ds, keyword))
        return int(value[0] if isinstance(value, list) else value)

    def vector(self, keyword: str, count: int, path: Path) -> np.ndarray | None:
        try:
            values = self.numbers(keyword)
        except ValueError as exc:
            raise DicomError(f"{path}: {keyword} is not a list of numbers ({exc})") from exc
        if values is None:
            return None
        out = np.array(values, dtype=float)
        if out.shape != (count,) or not np.all(np.isfinite(out)):
            raise DicomError(f"{path}: {keyword} must hold {count} finite numbers, got {values}")
        return out


def _read_header(path: Path, explicit: bool) -> _Header | None:
    """Header of one file; None for non-DICOM files and DICOMDIRs (unless ``explicit``, then an error)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    kind = _dicom_kind(path)
    if kind is None:
        if explicit:
            raise DicomError(f"{path}: not a DICOM file")
        return None
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
            meta = getattr(ds, "file_meta", None)
            syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
            at_end = fp.tell() >= file_size
            pixel = None
            if syntax in _NATIVE_LITTLE_ENDIAN:
                pixel = _pixel_element(fp, _NATIVE_LITTLE_ENDIAN[syntax])
            elif syntax in _ENCAPSULATED:
                pixel = _pixel_element(fp, implicit=False)
        fields = _Fields(ds)
        media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
        sop_class = fields.text("SOPClassUID") or media_class
        if media_class == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
            if explicit:
                raise DicomError(f"{path}: is a DICOMDIR index, not an image; give its folder instead")
            return None
        series_uid = fields.text("SeriesInstanceUID")
        media_instance = str(meta.get("MediaStorageSOPInstanceUID", "")).strip() if meta is not None else ""
        if not series_uid:
            if kind == "bare" and "PatientID" not in fields and "SOPClassUID" not in fields:
                if explicit:  # a forced read of something that is not DICOM after all
                    raise DicomError(f"{path}: not a DICOM file")
                return None
            placed = "ImagePositionPatient" in fields and "ImageOrientationPatient" in fields
            if not (placed and (media_instance or media_class or fields.text("Modality"))):
                raise DicomError(f"{path}: corrupt DICOM file, it has no SeriesInstanceUID")
            # an anonymised export that blanked the UIDs: grouped by geometry in _fill_blank_uids
        attrs = {keyword: fields.text(keyword) for keyword in _TEXT_KEYWORDS}
        if not attrs["SOPInstanceUID"] and media_instance:
            attrs["SOPInstanceUID"] = media_instance  # the file meta still holds it
        if not attrs["SOPClassUID"]:
            attrs["SOPClassUID"] = sop_class
        modality = fields.text("Modality").upper()
    except InvalidDicomError as exc:
        if explicit:
            raise DicomError(f"{path}: not a DICOM file ({exc})") from exc
        return None
    except DicomError:
        raise
    except Exception as exc:  # pydicom raises many kinds on damaged files
        raise DicomError(f"{path}: corrupt DICOM file, cannot read its header ({exc})") from exc
    header = _Header(path, sop_class, series_uid, modality, attrs, transfer_syntax=syntax)
    if "Rows" not in fields or "Columns" not in fields:
        return header
    try:
        header.rows = fields.ushort("Rows", 0)
        header.columns = fields.ushort("Columns", 0)
        header.position = fields.vector("ImagePositionPatient", 3, path)
        header.orientation = fields.vector("ImageOrientationPatient", 6, path)
        spacing = fields.vector("PixelSpacing", 2, path)
        header.pixel_spacing = None if spacing is None else (float(spacing[0]), float(spacing[1]))
        header.has_rescale = "RescaleSlope" in fields and "RescaleIntercept" in fields
        header.slope = fields.number("RescaleSlope", 1.0)
        header.intercept = fields.number("RescaleIntercept", 0.0)
        header.bits_allocated = fields.ushort("BitsAllocated", 16)
        header.bits_stored = fields.ushort("BitsStored", header.bits_allocated)
        header.signed = fields.ushort("PixelRepresentation", 0) == 1
        header.samples = fields.ushort("SamplesPerPixel", 1)
        header.frames = int(fields.number("NumberOfFrames", 1.0) or 1)
        if "PixelPaddingValue" in fields:
            low = fields.ushort("PixelPaddingValue", 0, signed=header.signed)
            high = fields.ushort("PixelPaddingRangeLimit", low, signed=header.signed)
            header.padding = (min(low, high), max(low, high))
    except DicomError:
        raise
    except (TypeError, ValueError) as exc:
        raise DicomError(f"{path}: invalid image attribute ({exc})") from exc
    header.photometric = fields.text("PhotometricInterpretation") or "MONOCHROME2"
    if pixel is not None:
        header.data_offset, header.data_length = pixel
        header.has_pixels = True
        header.encapsulated = syntax in _ENCAPSULATED and header.data_length == 0xFFFFFFFF
    else:
        header.has_pixels = not at_end
    return header


def _candidate_files(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[list[Path], bool]:
    """Files to look at and whether the user named them one by one (then non-DICOM files are errors)."""
    if isinstance(path, str | os.PathLike):
        root = Path(path)
        if root.is_dir():
            files = sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
            return files, False
        if root.is_file():
            return [root], True
        raise MissingInputError(f"{root}: no such file or folder")
    files = [Path(p) for p in path]
    if not files:
        raise MissingInputError("no DICOM files given (an empty list)")
    for file in files:
        if not file.is_file():
            raise MissingInputError(f"{file}: no such file")
    return files, True


def _scan(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[_Header]:
    files, explicit = _candidate_files(path)
    headers = []
    with warnings.catch_warnings():
        # pydicom's complaints about odd values in elements hbiview does not use are noise here
        warnings.simplefilter("ignore", UserWarning)
        for file in progress(files, desc="reading DICOM headers"):
            header = _read_header(file, explicit)
            if header is not None:
                headers.append(header)
    if not headers:
        raise MissingInputError(f"{_describe(path)}: no DICOM files found")
    _fill_blank_uids(headers, _describe(path))
    return headers


def _fill_blank_uids(headers: list[_Header], where: str) -> None:
    """Give files whose SeriesInstanceUID (and SOPInstanceUID) an anonymiser blanked consistent UIDs.

    Files without a SeriesInstanceUID are one series when their geometry agrees (modality, frame of
    reference, study, image size, orientation and pixel size); each such group gets a SeriesInstanceUID
    derived from its files' positions and sizes, so reading the same export again gives the same UID, and
    files without any SOP Instance UID get one derived from it and their slice position. A warning names
    the folder and the UID generated.
    """
    blank = [h for h in headers if not h.series_uid]
    if not blank:
        return
    groups: dict[tuple[Any, ...], list[_Header]] = {}
    for header in blank:
        key = (
            header.modality,
            header.attrs["FrameOfReferenceUID"],
            header.attrs["StudyInstanceUID"],
            header.rows,
            header.columns,
            None if header.orientation is None else tuple(np.round(header.orientation, 3)),
            None if header.pixel_spacing is None else tuple(np.round(header.pixel_spacing, 4)),
        )
        groups.setdefault(key, []).append(header)
    for key, group in groups.items():
        positions = sorted(
            tuple(np.round(h.position, 2)) if h.position is not None else (0.0, 0.0, 0.0) for h in group
        )
        seed = f"blank-series/{key}/{positions}"
        series_uid = _uid(seed, "series")
        for header in group:
            header.series_uid = series_uid
            if not header.attrs["SOPInstanceUID"]:
                where_k = (
                    tuple(np.round(header.position, 2)) if header.position is not None else header.path.name
                )
                header.attrs["SOPInstanceUID"] = _uid(seed, "image", where_k)
        warn(
            f"{where}: {len(group)} {group[0].modality or 'image'} file(s) without a SeriesInstanceUID "
            f"(an anonymised export?), e.g. {group[0].path.name}; read as one series because their "
            f"geometry agrees (frame of reference, orientation, pixel size); generated SeriesInstanceUID "
            f"{series_uid}, which the outputs refer to",
            stacklevel=4,
        )


def _describe(path: Any) -> str:
    if isinstance(path, str | os.PathLike):
        return str(path)
    files = list(path)
    return f"{files[0]} (and {len(files) - 1} more files)" if len(files) > 1 else str(files[0])


def _group(headers: list[_Header]) -> dict[str, list[_Header]]:
    groups: dict[str, list[_Header]] = {}
    for header in headers:
        groups.setdefault(header.series_uid, []).append(header)
    return groups


def _series_info(group: list[_Header]) -> SeriesInfo:
    first = group[0]
    number = first.attrs["SeriesNumber"]
    return SeriesInfo(
        series_uid=first.series_uid,
        modality=first.modality,
        n_files=len(group),
        description=first.attrs["SeriesDescription"],
        series_number=int(number) if number.lstrip("-").isdigit() else None,
        study_uid=first.attrs["StudyInstanceUID"],
        study_description=first.attrs["StudyDescription"],
        patient_name=first.attrs["PatientName"],
        patient_id=first.attrs["PatientID"],
        rows=first.rows if first.has_pixels else None,
        columns=first.columns if first.has_pixels else None,
        folder=str(first.path.parent),
    )


def _sorted_infos(groups: dict[str, list[_Header]]) -> list[SeriesInfo]:
    infos = [_series_info(group) for group in groups.values()]
    return sorted(infos, key=lambda s: (not s.is_image, s.modality != "CT", -s.n_files, s.series_uid))


def list_series(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> list[SeriesInfo]:
    """The DICOM series in a folder (searched recursively), a file or a list of files.

    Parameters
    ----------
    path
        Folder, file, or list of files. Non-DICOM files and DICOMDIR indexes are skipped.

    Returns
    -------
    list of SeriesInfo
        Image series first (CT first, most files first), then RT objects and other non-image series.

    Raises
    ------
    MissingInputError
        Nothing DICOM was found.
    DicomError
        A DICOM file is corrupt.
    """
    return _sorted_infos(_group(_scan(path)))


def _choose_series(
    groups: dict[str, list[_Header]], infos: list[SeriesInfo], series_uid: str | None, where: str
) -> list[_Header]:
    def listing(items: list[SeriesInfo]) -> str:
        return "; ".join(
            f"{s.series_uid} ({s.modality}, {s.n_files} files{', ' + s.description if s.description else ''})"
            for s in items
        )

    if series_uid is not None:
        if series_uid not in groups:
            raise DicomError(
                f"{where}: no series with SeriesInstanceUID {series_uid}; found: {listing(infos)}"
            )
        chosen = next(s for s in infos if s.series_uid == series_uid)
        if chosen.modality != "CT" or not chosen.is_image:
            raise DicomError(
                f"{where}: series {series_uid} is {chosen.modality or 'of unknown modality'}, not a CT image "
                "series; choose a CT series"
            )
        return groups[series_uid]
    cts = [s for s in infos if s.is_image and s.modality == "CT"]
    if not cts:
        raise DicomError(f"{where}: no CT image series found (found: {listing(infos)}); give a CT series")
    chosen = cts[0]
    others = [s for s in infos if s.is_image and s.series_uid != chosen.series_uid]
    if others:
        warn(
            f"{where}: read CT series {chosen.series_uid} ({chosen.n_files} slices); also found "
            f"{listing(others)}; choose another with --series UID (series_uid= in Python)",
            stacklevel=4,
        )
    return groups[chosen.series_uid]


# ---------------------------------------------------------------------------------------------- geometry
@dataclass
class _Layout:
    """Sorted slices of one series and the uniform grid they are placed on."""

    slices: list[_Header]
    distances_mm: np.ndarray  # slice positions along the normal, ascending
    affine: np.ndarray
    grid_distances_mm: np.ndarray | None  # positions of the output slices when resampling, else None


def _axis_of(vector: np.ndarray) -> int | None:
    """Index of the patient axis ``vector`` runs along (within tolerance), else None."""
    axis = int(np.argmax(np.abs(vector)))
    off_axis = np.delete(vector, axis)
    return axis if np.all(np.abs(off_axis) <= _AXIS_TOLERANCE) else None


def _snap(vector: np.ndarray) -> np.ndarray:
    out = np.zeros(3)
    axis = int(np.argmax(np.abs(vector)))
    out[axis] = np.sign(vector[axis])
    return out


def _check_images(group: list[_Header], where: str) -> None:
    for header in group:
        name = header.path
        if not header.has_pixels:
            raise DicomError(f"{name}: has no pixel data (truncated file?)")
        if header.samples != 1:
            raise DicomError(f"{name}: {header.samples} samples per pixel (a colour image), not a CT slice")
        if header.frames != 1:
            raise DicomError(
                f"{name}: a multi-frame image ({header.frames} frames); export the CT as one file per slice"
            )
        for keyword, value in (
            ("ImagePositionPatient", header.position),
            ("ImageOrientationPatient", header.orientation),
            ("PixelSpacing", header.pixel_spacing),
        ):
            if value is None:
                raise DicomError(f"{name}: no {keyword}, so the slice cannot be placed in the patient")
        if header.pixel_spacing is not None and min(header.pixel_spacing) <= 0:
            raise DicomError(f"{name}: PixelSpacing {header.pixel_spacing} must be positive")
    sizes = Counter((h.rows, h.columns) for h in group)
    common = sizes.most_common(1)[0][0]
    for header in group:
        if (header.rows, header.columns) != common:
            raise DicomError(
                f"{header.path}: {header.rows} x {header.columns} pixels but the other slices of series "
                f"{header.series_uid} are {common[0]} x {common[1]}: mixed image sizes in one series"
            )
    first = group[0]
    for header in group[1:]:
        if not np.allclose(header.orientation, first.orientation, atol=1e-4):  # type: ignore[arg-type]
            raise DicomError(
                f"{header.path}: ImageOrientationPatient {list(header.orientation)} differs from "  # type: ignore[arg-type]
                f"{list(first.orientation)} in {first.path.name}: mixed orientations in one series"  # type: ignore[arg-type]
            )
        if not np.allclose(header.pixel_spacing, first.pixel_spacing, rtol=1e-4, atol=1e-5):  # type: ignore[arg-type]
            raise DicomError(
                f"{header.path}: PixelSpacing {header.pixel_spacing} differs from {first.pixel_spacing} "
                f"in {first.path.name}: mixed pixel sizes in one series"
            )


def _directions(first: _Header) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    orientation = first.orientation
    assert orientation is not None
    row = orientation[:3] / np.linalg.norm(orientation[:3])
    col = orientation[3:] / np.linalg.norm(orientation[3:])
    normal = np.cross(row, col)
    if abs(float(row @ col)) > 1e-3:
        raise DicomError(
            f"{first.path}: ImageOrientationPatient {list(orientation)} has non-perpendicular axes"
        )
    row_axis, col_axis, normal_axis = _axis_of(row), _axis_of(col), _axis_of(normal)
    if row_axis is None or col_axis is None or normal_axis is None:
        tilt = np.degrees(np.arccos(min(1.0, abs(float(normal[2])))))
        spin = np.degrees(np.arctan2(abs(row[1]), abs(row[0])))
        spin = min(spin, 90 - spin)
        raise DicomError(
            f"{first.path}: oblique orientation (ImageOrientationPatient "
            f"{[round(float(v), 4) for v in orientation]}, {max(tilt, spin):.1f} degrees from the patient "
            "axes); hbiview reads axial series only: reformat the CT to axial slices first"
        )
    if normal_axis != 2 or row_axis != 0:
        plane = {0: "sagittal", 1: "coronal"}.get(normal_axis, "transposed axial")
        raise DicomError(
            f"{first.path}: {plane} slices (ImageOrientationPatient {[float(v) for v in orientation]}); "
            "hbiview reads axial series only: reformat the CT to axial slices first"
        )
    row, col = _snap(row), _snap(col)
    return row, col, np.cross(row, col)


def _single_slice_spacing(header: _Header) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(header.attrs[keyword])
        except ValueError:
            continue
        if value > 0:
            return value
    assert header.pixel_spacing is not None
    value = float(np.mean(header.pixel_spacing))
    warn(f"{header.path}: a single slice without SliceThickness; its thickness is taken as {value:g} mm")
    return value


def _describe_gaps(distances: np.ndarray, nominal: float) -> str:
    steps = np.diff(distances)
    gaps = [
        f"{round(step / nominal) - 1} missing between {distances[i]:.2f} and {distances[i + 1]:.2f} mm"
        for i, step in enumerate(steps)
        if step > 1.5 * nominal
    ]
    if gaps:
        shown = "; ".join(gaps[:3]) + (f"; and {len(gaps) - 3} more gaps" if len(gaps) > 3 else "")
        return f"slices missing ({shown}, nominal spacing {nominal:.3g} mm)"
    return f"non-uniform slice spacing ({steps.min():.3g} to {steps.max():.3g} mm)"


def _without_localizers(group: list[_Header], where: str) -> list[_Header]:
    """Drop scout (LOCALIZER) images some scanners put in the same series as the axial slices."""
    axial = [h for h in group if "LOCALIZER" not in h.attrs["ImageType"].upper()]
    if axial and len(axial) < len(group):
        warn(
            f"{where}: skipped {len(group) - len(axial)} localizer (scout) image(s) in series "
            f"{group[0].series_uid}",
            stacklevel=5,
        )
        return axial
    return group


def _without_copies(group: list[_Header], where: str) -> list[_Header]:
    """Keep one file per SOPInstanceUID: the same image exported twice is one slice, not a duplicate."""
    seen: dict[str, _Header] = {}
    for header in group:
        seen.setdefault(header.attrs["SOPInstanceUID"] or str(header.path), header)
    if len(seen) < len(group):
        copies = [h for h in group if seen.get(h.attrs["SOPInstanceUID"] or str(h.path)) is not h]
        warn(
            f"{where}: {len(copies)} file(s) repeat an image already read (same SOPInstanceUID), e.g. "
            f"{copies[0].path}; each image is used once",
            stacklevel=5,
        )
        return list(seen.values())
    return group


def _layout(group: list[_Header], where: str, on_gap: str) -> _Layout:
    group = _without_copies(_without_localizers(group, where), where)
    _check_images(group, where)
    row, col, normal = _directions(group[0])
    positions = np.array([h.position for h in group], dtype=float)
    distances = positions @ normal
    order = np.argsort(distances, kind="stable")
    slices = [group[i] for i in order]
    positions = positions[order]
    distances = distances[order]
    ps = slices[0].pixel_spacing
    assert ps is not None
    steps = np.diff(distances)
    for i in np.flatnonzero(steps < 0.01):
        raise DicomError(
            f"{slices[i].path} and {slices[i + 1].path}: two slices at the same position "
            f"({distances[i]:.2f} mm along the slice normal): duplicate slices in series "
            f"{slices[i].series_uid}; remove one of them"
        )
    grid = None
    n = len(slices)
    if n == 1:
        spacing_z = _single_slice_spacing(slices[0])
    else:
        in_plane = positions - np.outer(distances, normal)
        drift = float(np.max(np.linalg.norm(in_plane - in_plane[0], axis=1)))
        if drift > _DRIFT_TOLERANCE * min(ps):
            length = float(distances[-1] - distances[0])
            angle = np.degrees(np.arctan2(drift, length))
            raise DicomError(
                f"{where}: slice origins shift {drift:.1f} mm sideways over {length:.0f} mm of series "
                f"{slices[0].series_uid} (gantry tilt of about {angle:.1f} degrees); hbiview needs untilted "
                "axial slices: correct the tilt (resample the series) first"
            )
        spacing_z = float(distances[-1] - distances[0]) / (n - 1)
        residual = distances - (distances[0] + spacing_z * np.arange(n))
        if np.max(np.abs(residual)) > _GRID_TOLERANCE * spacing_z:
            nominal = float(np.median(steps))
            problem = _describe_gaps(distances, nominal)
            if on_gap == "error":
                raise DicomError(
                    f"{where}: {problem} in series {slices[0].series_uid}; read it with on_gap='resample' to "
                    "interpolate a uniform grid, or complete the export"
                )
            n_grid = round(float(distances[-1] - distances[0]) / nominal) + 1
            spacing_z = float(distances[-1] - distances[0]) / (n_grid - 1)
            grid = distances[0] + spacing_z * np.arange(n_grid)
            warn(
                f"{where}: {problem}; resampled to a uniform grid of {n_grid} slices every "
                f"{spacing_z:.3g} mm by linear interpolation between neighbouring slices",
                stacklevel=4,
            )
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing_z
    affine[:3, 1] = col * ps[0]
    affine[:3, 2] = row * ps[1]
    affine[:3, 3] = positions[0]
    return _Layout(slices, distances, affine, grid)


# ---------------------------------------------------------------------------------------------- pixels
class _Int16Overflow(Exception):
    """HU of a slice do not fit int16: read the series again as float32."""


def _raw_pixels(header: _Header) -> np.ndarray:
    """Stored pixel values of one slice, ``(rows, columns)``, before the rescale."""
    rows, columns = header.rows, header.columns
    assert rows is not None and columns is not None
    if header.data_offset is not None and header.bits_allocated == 16 and not header.encapsulated:
        expected = rows * columns * 2
        if (
            header.data_length is not None
            and header.data_length != 0xFFFFFFFF
            and header.data_length < expected
        ):
            raise DicomError(
                f"{header.path}: pixel data holds {header.data_length} bytes, {rows} x {columns} "
                f"16-bit pixels need {expected}"
            )
        with open(header.path, "rb") as fp:
            fp.seek(header.data_offset)
            buffer = fp.read(expected)
        if len(buffer) < expected:
            raise DicomError(
                f"{header.path}: truncated file, {len(buffer)} of {expected} pixel data bytes present"
            )
        pixels = np.frombuffer(buffer, dtype="<i2" if header.signed else "<u2").reshape(rows, columns)
        if header.bits_stored < 16:
            shift = 16 - header.bits_stored
            if header.signed:
                pixels = (pixels << shift) >> shift  # arithmetic shift restores the sign bit
            else:
                pixels = pixels & np.uint16((1 << header.bits_stored) - 1)
        return pixels
    try:
        pixels = _decode_encapsulated(header) if header.encapsulated else _decode_with_pydicom(header)
    except Exception as exc:  # decoders raise many kinds on damaged data
        raise DicomError(
            f"{header.path}: cannot decode the pixel data (transfer syntax {header.transfer_syntax}): "
            f"{_one_line(exc)}"
        ) from exc
    if pixels.shape != (rows, columns):
        raise DicomError(
            f"{header.path}: decoded pixel data has shape {pixels.shape}, expected {(rows, columns)}"
        )
    return pixels


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (pydicom lists one line per decoder plugin that failed)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    return f"{lines[0].rstrip(':')} ({'; '.join(lines[1:])})"


@contextlib.contextmanager
def _quiet_native_decoders() -> Iterator[None]:
    """Keep C decoders (OpenJPEG, CharLS, GDCM) and pydicom's decoder log off the terminal.

    They print their own diagnostics on damaged data; the reader reports the problem itself, as one line
    that names the file. Python's ``sys.stderr`` (progress bar) keeps writing to the real terminal.
    """
    logger = logging.getLogger("pydicom")
    old_level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        saved = -1
    python_stderr = sys.stderr
    swapped = False
    if saved >= 0:
        try:
            uses_fd2 = python_stderr.fileno() == 2
        except (OSError, ValueError, AttributeError):
            uses_fd2 = False
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        if uses_fd2:
            sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, errors="backslashreplace")
            swapped = True
    try:
        yield
    finally:
        logger.setLevel(old_level)
        if swapped:
            sys.stderr.close()
            sys.stderr = python_stderr
        if saved >= 0:
            os.dup2(saved, 2)
            os.close(saved)


def _decode_with_pydicom(header: _Header) -> np.ndarray:
    """Any transfer syntax pydicom can decode: read the whole file again."""
    from pydicom.pixels import pixel_array

    plugin = _PREFERRED_DECODER.get(header.transfer_syntax, "")
    try:
        return pixel_array(os.fspath(header.path), decoding_plugin=plugin)
    except Exception:
        if not plugin:
            raise
        return pixel_array(os.fspath(header.path))  # any other installed decoder


def _decode_encapsulated(header: _Header) -> np.ndarray:
    """Compressed pixel data, decoded from its offset in the file without parsing the header again."""
    from pydicom.pixels import get_decoder

    decoder = get_decoder(header.transfer_syntax)
    options: dict[str, Any] = {
        "rows": header.rows,
        "columns": header.columns,
        "samples_per_pixel": header.samples,
        "bits_allocated": header.bits_allocated,
        "bits_stored": header.bits_stored,
        "pixel_representation": int(header.signed),
        "photometric_interpretation": header.photometric,
        "number_of_frames": 1,
        "pixel_keyword": "PixelData",
    }
    plugin = _PREFERRED_DECODER.get(header.transfer_syntax, "")
    with open(header.path, "rb") as fp:
        fp.seek(header.data_offset or 0)
        try:
            pixels, _ = decoder.as_array(fp, decoding_plugin=plugin, **options)
        except Exception:
            if not plugin:
                raise
            fp.seek(header.data_offset or 0)
            pixels, _ = decoder.as_array(fp, **options)  # any other installed decoder
    return pixels


def _to_hu(header: _Header, out: np.ndarray) -> None:
    """Decode one slice into ``out`` (int16 or float32 HU), padding -> air (-1000 HU)."""
    pixels = _raw_pixels(header)
    padded = None
    if header.padding is not None:
        low, high = header.padding
        padded = (pixels >= low) & (pixels <= high)
    if out.dtype == np.int16:
        slope, intercept = int(header.slope), int(header.intercept)
        values = pixels if padded is None else pixels[~padded]
        if values.size:
            ends = (int(values.min()) * slope + intercept, int(values.max()) * slope + intercept)
            if min(ends) < -32768 or max(ends) > 32767:
                raise _Int16Overflow
        if slope == 1:
            np.add(pixels, np.int32(intercept), out=out, casting="unsafe")
        else:
            np.copyto(out, pixels.astype(np.int32) * slope + intercept, casting="unsafe")
    else:
        np.multiply(pixels, np.float32(header.slope), out=out, casting="unsafe")
        out += np.float32(header.intercept)
    if padded is not None:
        out[padded] = -1000


def _decode(slices: list[_Header], dtype: np.dtype, workers: int | None) -> np.ndarray:
    first = slices[0]
    assert first.rows is not None and first.columns is not None  # image slices always carry Rows, Columns
    out = np.empty((len(slices), first.rows, first.columns), dtype=dtype)
    n_workers = max(1, workers or min(8, os.cpu_count() or 1))
    if any(h.encapsulated or h.transfer_syntax not in _NATIVE_LITTLE_ENDIAN for h in slices):
        with _quiet_native_decoders():
            return _decode_slices(slices, out, n_workers)
    return _decode_slices(slices, out, n_workers)


def _decode_slices(slices: list[_Header], out: np.ndarray, n_workers: int) -> np.ndarray:
    if n_workers == 1:
        for k in progress(range(len(slices)), desc="reading CT"):
            _to_hu(slices[k], out[k])
        return out
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        futures = [pool.submit(_to_hu, header, out[k]) for k, header in enumerate(slices)]
        try:
            for future in progress(as_completed(futures), total=len(futures), desc="reading CT"):
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return out


def _interpolate(values: np.ndarray, distances: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of slices at ``distances`` onto slices at ``grid`` (both ascending, mm)."""
    out = np.empty((len(grid), *values.shape[1:]), dtype=values.dtype)
    upper = np.clip(np.searchsorted(distances, grid, side="right"), 1, len(distances) - 1)
    for j, (t, i) in enumerate(zip(grid, upper)):
        d0, d1 = distances[i - 1], distances[i]
        w = float(np.clip((t - d0) / (d1 - d0), 0.0, 1.0))
        mixed = values[i - 1].astype(np.float32) * np.float32(1 - w) + values[i].astype(
            np.float32
        ) * np.float32(w)
        out[j] = np.rint(mixed) if values.dtype == np.int16 else mixed
    return out


# ---------------------------------------------------------------------------------------------- read_ct
def _patient_position(slices: list[_Header]) -> str:
    """The series' PatientPosition (HFS when no file gives one); refuses mixed and unsupported ones."""
    codes = {h.attrs["PatientPosition"].strip().upper() for h in slices} - {""}
    if len(codes) > 1:
        raise DicomError(
            f"{slices[0].path}: PatientPosition differs between the slices of one series "
            f"({', '.join(sorted(codes))}); export the series again"
        )
    code = codes.pop() if codes else "HFS"
    if code not in PATIENT_POSITIONS:
        named = next(h.path for h in slices if h.attrs["PatientPosition"].strip().upper() == code)
        raise DicomError(
            f"{named}: PatientPosition {code} is not supported (hbiview reads "
            f"{', '.join(PATIENT_POSITIONS)}: head or feet first, supine or prone); decubitus set-ups "
            "need their beams placed by hand in a planning system"
        )
    return code


def read_ct(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    series_uid: str | None = None,
    *,
    on_gap: str = "resample",
    workers: int | None = None,
) -> CTVolume:
    """Read a DICOM CT series as it comes out of a clinical export.

    Parameters
    ----------
    path
        A folder (searched recursively; RT objects, DICOMDIR and non-DICOM files are skipped), a single
        file (a one-slice volume) or a list of files.
    series_uid
        SeriesInstanceUID of the series to read. Default: the CT series with the most slices; the other
        image series found are named in a warning.
    on_gap
        What to do with missing slices or non-uniform spacing: ``"resample"`` interpolates linearly onto a
        uniform grid at the most common spacing and warns; ``"error"`` raises :class:`DicomError`.
    workers
        Threads decoding pixel data (default: number of CPUs, at most 8).

    Returns
    -------
    CTVolume
        HU as int16 when every RescaleSlope/RescaleIntercept is an integer and the values fit, else float32;
        padding pixels (PixelPaddingValue) are set to air, -1000 HU. Slices are ordered by position along
        the slice normal (inferior to superior for head-first axial series) and the slice spacing comes from
        the positions. ``metadata`` holds the patient, study and series attributes, ``source_path`` and
        ``series_found`` (one dictionary per series in ``path``).

    Raises
    ------
    MissingInputError
        The path does not exist or holds no DICOM file.
    DicomError
        No CT series; a corrupt or truncated file; duplicate positions; mixed image sizes or orientations;
        oblique or tilted slices; gaps with ``on_gap="error"``. The message names the file and the problem.
    """
    if on_gap not in ("resample", "error"):
        raise InputError(f"on_gap must be 'resample' or 'error', got {on_gap!r}")
    where = _describe(path)
    headers = _scan(path)
    groups = _group(headers)
    infos = _sorted_infos(groups)
    layout = _layout(_choose_series(groups, infos, series_uid, where), where, on_gap)
    slices = layout.slices
    missing_rescale = [h for h in slices if not h.has_rescale]
    if missing_rescale:
        warn(
            f"{missing_rescale[0].path}: no RescaleSlope/RescaleIntercept in {len(missing_rescale)} slices; "
            "stored values are taken as HU",
            stacklevel=3,
        )
    integral = all(float(h.slope).is_integer() and float(h.intercept).is_integer() for h in slices)
    dtype = np.dtype(np.int16 if integral else np.float32)
    try:
        values = _decode(slices, dtype, workers)
    except _Int16Overflow:
        values = _decode(slices, np.dtype(np.float32), workers)
    if layout.grid_distances_mm is not None:
        values = _interpolate(values, layout.distances_mm, layout.grid_distances_mm)
    first = slices[0]
    position_code = _patient_position(slices)
    frame_uid = first.attrs["FrameOfReferenceUID"] or None
    geometry = Geometry(values.shape, layout.affine, frame_uid)
    metadata: dict[str, Any] = {key: first.attrs[key] for key in _METADATA_KEYWORDS}
    metadata.update(
        # in slice order; after resampling a gap the slices no longer match files, so none are referenced
        SOPInstanceUIDs=[]
        if layout.grid_distances_mm is not None
        else [h.attrs["SOPInstanceUID"] for h in slices],
        SeriesInstanceUID=first.series_uid,
        Modality=first.modality,
        Manufacturer=first.attrs["Manufacturer"],
        FrameOfReferenceUID=frame_uid or "",
        PatientPosition=position_code,
        source_path=where,
        series_found=[info.to_dict() for info in infos],
    )
    return CTVolume(geometry, values, metadata)
