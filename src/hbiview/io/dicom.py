"""DICOM CT series: write one file per slice as a scanner does, read messy clinical exports.

This module (with :mod:`hbiview.io.rtdose`) is where pydicom is used; pydicom is imported inside the
functions so that importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hbiview.errors import InputError, OutputError
from hbiview.volume import CTVolume

__all__ = ["TRANSFER_SYNTAXES", "write_ct"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

#: ``write_ct`` transfer syntax name -> UID (all lossless)
TRANSFER_SYNTAXES: dict[str, str] = {
    "explicit": "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "jpeg2000": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
    "jpegls": "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless Image Compression
}

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


def _stored_values(hu: np.ndarray, intercept: float, signed: bool | None) -> tuple[np.ndarray, bool]:
    """Stored pixel values (slope 1) for ``hu`` and whether they are signed."""
    stored = np.rint(np.asarray(hu, dtype=np.float64 if hu.dtype.kind == "f" else np.int32) - intercept)
    low, high = float(stored.min()), float(stored.max())
    if signed is None:
        signed = low < 0
    limits = (-32768, 32767) if signed else (0, 65535)
    if low < limits[0] or high > limits[1]:
        kind = "signed" if signed else "unsigned"
        raise InputError(
            f"CT values {low + intercept:.0f}..{high + intercept:.0f} HU do not fit {kind} 16-bit pixels "
            f"with rescale intercept {intercept:g}; clip the HU range or change the intercept"
        )
    return stored.astype(np.int16 if signed else np.uint16), signed


def _prepare_folder(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise OutputError(f"{folder}: folder exists and is not empty (use --force to replace it)")
    parent = folder.parent
    if not parent.is_dir():
        raise OutputError(f"{folder}: parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{folder}: parent folder {parent} is not writable")


def _replace_folder(tmp: Path, folder: Path) -> None:
    """Move the finished ``tmp`` folder to ``folder``, replacing what was there."""
    if not folder.exists():
        os.replace(tmp, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    old.rmdir()
    os.replace(folder, old)
    try:
        os.replace(tmp, folder)
    except BaseException:
        os.replace(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


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
        Target folder; created. Written to a temporary folder beside it and renamed when complete, so an
        interrupted write leaves nothing behind.
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
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    if transfer_syntax not in TRANSFER_SYNTAXES:
        raise InputError(
            f"unknown transfer syntax {transfer_syntax!r}: choose one of {', '.join(TRANSFER_SYNTAXES)}"
        )
    target = Path(folder)
    _prepare_folder(target, force)
    syntax_uid = TRANSFER_SYNTAXES[transfer_syntax]
    if transfer_syntax == "jpeg2000" and min(ct.geometry.shape[1:]) < 32:
        # the OpenJPEG encoder uses 6 wavelet resolutions, which need 2**5 pixels along each side
        raise InputError(
            f"JPEG 2000 needs slices of at least 32 x 32 pixels, got {ct.geometry.shape[1:]}; "
            "choose another transfer syntax"
        )
    stored, is_signed = _stored_values(np.asarray(ct.array), rescale_intercept, signed)

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
    window_centres = [_ds(c) for c, _, _ in WINDOW_PRESETS]
    window_widths = [_ds(w) for _, w, _ in WINDOW_PRESETS]
    window_names = [name for _, _, name in WINDOW_PRESETS]
    width = max(4, len(str(nz)))

    def dataset(k: int) -> Dataset:
        sop_uid = _uid(uid_seed, "image", series_number, k)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
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
        ds.PatientPosition = "HFS"
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
        pixels = np.ascontiguousarray(stored[k])
        if transfer_syntax == "explicit":
            ds.PixelData = pixels.astype("<i2" if is_signed else "<u2", copy=False).tobytes()
            ds["PixelData"].VR = "OW"
        else:
            ds.compress(syntax_uid, pixels, generate_instance_uid=False)
        return ds

    target_parent = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.part-", dir=target_parent))
    names = [f"CT{k + 1:0{width}d}.dcm" for k in range(nz)]

    def write_one(k: int) -> None:
        dataset(k).save_as(tmp / names[k], enforce_file_format=True)

    from hbiview.progress import progress

    try:
        n_workers = workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for _ in progress(pool.map(write_one, range(nz)), total=nz, desc="writing CT"):
                pass
        _replace_folder(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return [target / name for name in names]
