"""DICOM RT Dose: read a planning system's dose grid, write hbiview's dose so planning systems open it.

pydicom is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hbiview.errors import DicomError, GeometryError, InputError, MissingInputError, warn
from hbiview.geometry import Geometry
from hbiview.io.atomic import atomic_path, check_writable
from hbiview.io.dicom import _ds, _interpolate, _uid
from hbiview.volume import CTVolume, DoseGrid

__all__ = ["RT_DOSE_STORAGE", "read_rtdose", "write_rtdose"]

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
_STORED_MAX = {16: 2**16 - 1, 32: 2**32 - 1}  # largest unsigned stored value per BitsAllocated
_GRID_TOLERANCE = 0.01  # largest frame offset from a uniform grid accepted, as a fraction of the spacing


def _numbers(ds: object, keyword: str, path: Path, count: int | None = None) -> np.ndarray:
    value = getattr(ds, keyword, None)
    if value is None or value == "":
        raise DicomError(f"{path}: RT Dose without {keyword}; the dose grid cannot be placed")
    try:
        numbers = np.array(
            [float(v) for v in (value if not isinstance(value, str | float | int) else [value])]
        )
    except (TypeError, ValueError) as exc:
        raise DicomError(f"{path}: {keyword} {value!r} is not a list of numbers") from exc
    if (count is not None and numbers.shape != (count,)) or not np.all(np.isfinite(numbers)):
        raise DicomError(f"{path}: {keyword} must hold {count or 'some'} finite numbers, got {value!r}")
    return numbers


def read_rtdose(path: str | os.PathLike[str], fractions: int = 1) -> DoseGrid:
    """Read a DICOM RT Dose file as a dose grid in Gy.

    Parameters
    ----------
    path
        The RT Dose file.
    fractions
        Number of fractions of the course (the file does not say). When the file's DoseSummationType is
        ``FRACTION`` (dose of one fraction), the grid is multiplied by it so that the result is the total
        dose.

    Returns
    -------
    DoseGrid
        Total dose (Gy, float32) = stored values x DoseGridScaling; its geometry comes from
        ImagePositionPatient, ImageOrientationPatient, PixelSpacing and GridFrameOffsetVector and carries
        the FrameOfReferenceUID. ``description`` is the SeriesDescription (and DoseComment).

    Raises
    ------
    MissingInputError
        The file does not exist.
    DicomError
        Not an RT Dose, relative dose units, a damaged file, or a geometry that cannot be placed.
    """
    import pydicom

    source = Path(path)
    if not source.is_file():
        raise MissingInputError(f"{source}: no such file")
    if fractions < 1:
        raise InputError(f"fractions must be at least 1, got {fractions}")
    try:
        ds = pydicom.dcmread(source)
    except Exception as exc:  # pydicom raises many kinds on damaged files
        raise DicomError(f"{source}: not a readable DICOM file ({exc})") from exc
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != RT_DOSE_STORAGE and str(ds.get("Modality", "")).upper() != "RTDOSE":
        raise DicomError(f"{source}: is {ds.get('Modality', 'not')} {sop_class}, not an RT Dose file")
    units = str(ds.get("DoseUnits", "")).upper()
    if units != "GY":
        raise DicomError(f"{source}: DoseUnits is {units or 'missing'}, hbiview needs absolute dose in GY")
    if "PixelData" not in ds:
        raise DicomError(f"{source}: RT Dose without pixel data (a DVH-only file?)")
    scaling = float(_numbers(ds, "DoseGridScaling", source, 1)[0])
    try:
        stored = ds.pixel_array
    except Exception as exc:
        raise DicomError(f"{source}: cannot decode the dose pixel data ({exc})") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    stored = stored.reshape(frames, int(ds.Rows), int(ds.Columns))
    dose = (stored.astype(np.float64) * scaling).astype(np.float32)

    position = _numbers(ds, "ImagePositionPatient", source, 3)
    orientation = _numbers(ds, "ImageOrientationPatient", source, 6)
    pixel_spacing = _numbers(ds, "PixelSpacing", source, 2)
    row = orientation[:3] / np.linalg.norm(orientation[:3])
    col = orientation[3:] / np.linalg.norm(orientation[3:])
    normal = np.cross(row, col)
    if frames > 1:
        offsets = _numbers(ds, "GridFrameOffsetVector", source, frames)
        # type a (first offset 0): relative to ImagePositionPatient; type b: absolute, first at the IPP
        offsets = offsets - offsets[0]
        order = np.argsort(offsets, kind="stable")
        offsets, dose = offsets[order], dose[order]
        position = position + offsets[0] * normal
        offsets = offsets - offsets[0]
        steps = np.diff(offsets)
        if np.any(steps <= 1e-6):
            raise DicomError(f"{source}: GridFrameOffsetVector repeats an offset; two dose planes coincide")
        spacing_z = float(offsets[-1]) / (frames - 1)
        residual = offsets - spacing_z * np.arange(frames)
        if np.max(np.abs(residual)) > _GRID_TOLERANCE * spacing_z:
            nominal = float(np.min(steps))
            n_grid = round(float(offsets[-1]) / nominal) + 1
            spacing_z = float(offsets[-1]) / (n_grid - 1)
            dose = _interpolate(dose, offsets, spacing_z * np.arange(n_grid))
            warn(
                f"{source}: dose planes are not evenly spaced ({steps.min():.3g} to {steps.max():.3g} mm); "
                f"resampled to {n_grid} planes every {spacing_z:.3g} mm by linear interpolation"
            )
    else:
        thickness = ds.get("SliceThickness")
        spacing_z = float(thickness) if thickness not in (None, "") and float(thickness) > 0 else 1.0
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing_z
    affine[:3, 1] = col * pixel_spacing[0]
    affine[:3, 2] = row * pixel_spacing[1]
    affine[:3, 3] = position
    frame_uid = str(ds.get("FrameOfReferenceUID", "")) or None
    geometry = Geometry(dose.shape, affine, frame_uid)  # type: ignore[arg-type]
    summation = str(ds.get("DoseSummationType", "")).upper()
    if summation == "FRACTION":
        dose = dose * np.float32(fractions)
    description = str(ds.get("SeriesDescription", "") or "")
    comment = str(ds.get("DoseComment", "") or "")
    if comment and comment != description:
        description = f"{description}: {comment}" if description else comment
    return DoseGrid(geometry, dose, fractions=fractions, description=description)


def _scaling_for(max_gy: float, stored_max: int) -> float:
    """A DoseGridScaling (Gy per stored unit) mapping ``max_gy`` to at most ``stored_max`` (as DS)."""
    if max_gy <= 0:
        return 1.0
    scaling = max_gy / stored_max
    for _ in range(10):
        written = float(_ds(scaling))
        if round(max_gy / written) <= stored_max:
            return written
        scaling *= 1.000001
    raise InputError(f"cannot find a dose grid scaling for a maximum of {max_gy} Gy")  # pragma: no cover


def write_rtdose(
    dose: DoseGrid,
    path: str | os.PathLike[str],
    *,
    ct: CTVolume | None = None,
    description: str = "",
    plan_uid: str | None = None,
    uid_seed: str | None = None,
    force: bool = False,
    bits: int = 16,
) -> Path:
    """Write a dose grid as a DICOM RT Dose file (one multi-frame file, unsigned 16- or 32-bit pixels).

    Parameters
    ----------
    dose
        Total dose (Gy). Its grid may have any orientation, but its slice axis must be perpendicular to its
        planes (no shear); planes are written in increasing order along their normal.
    path
        The output file; written to a temporary name and renamed.
    ct
        The CT the dose was computed on: its patient, study and FrameOfReferenceUID are copied, so that
        planning systems and viewers overlay the two. Its frame of reference must match the dose's.
    description
        SeriesDescription and DoseComment; default ``dose.description``.
    plan_uid
        SOP Instance UID of the RT Plan the dose belongs to (DoseSummationType PLAN requires the reference).
        Default: a UID derived from the dose's own; hbiview writes no RT Plan file, so it does not resolve.
    uid_seed
        When given, the SOP Instance and Series UIDs are derived from it (reproducible files).
    force
        Replace an existing file.
    bits
        BitsAllocated of the pixels, 16 (default) or 32 (both allowed by the RT Dose IOD). 16 bits store the
        dose in steps of max/65535: the rounding error is at most max/131070 (0.00076 % of the maximum,
        0.06 mGy for 8 Gy), far below the accuracy of any dose model, and every DICOM tool reads them
        (dicom3tools' dciodvfy 1.00~20220618 aborts on 32-bit pixel data). 32 bits make the round trip
        exact to max/(2**33 - 2).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    DoseUnits GY, DoseType PHYSICAL, DoseSummationType PLAN; DoseGridScaling is the maximum dose divided by
    the largest stored value (65535 or 2**32 - 1, as written in DS: at most the largest value is used), so
    the maximum comes back exactly and every value within half a step. Negative dose values (from
    interpolation) are written as 0.

    Raises
    ------
    GeometryError
        A sheared dose grid, or a CT in another frame of reference.
    InputError
        ``bits`` other than 16 or 32.
    OutputError
        The file exists (without ``force``) or cannot be written.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if bits not in _STORED_MAX:
        raise InputError(f"RT Dose bits must be 16 or 32, not {bits!r}")
    target = check_writable(path, force)
    geometry = dose.geometry
    if ct is not None:
        ct_frame = ct.geometry.frame_of_reference_uid
        if ct_frame and geometry.frame_of_reference_uid and ct_frame != geometry.frame_of_reference_uid:
            raise GeometryError(
                f"{target}: the dose is in frame of reference {geometry.frame_of_reference_uid} but the CT "
                f"in {ct_frame}; compute the dose on this CT"
            )
    frame_uid = geometry.frame_of_reference_uid or (ct.geometry.frame_of_reference_uid if ct else None)
    if not frame_uid:
        frame_uid = _uid(uid_seed, "frame") if uid_seed else str(generate_uid())

    spacing = geometry.spacing_mm
    direction = geometry.direction
    row, col, slice_axis = direction[:, 2], direction[:, 1], direction[:, 0]
    normal = np.cross(row, col)
    cosine = float(slice_axis @ normal)
    if abs(abs(cosine) - 1) > 1e-6:
        raise GeometryError(
            f"{target}: the dose grid is sheared (slice axis not perpendicular to its planes)"
        )
    values = np.asarray(dose.array, dtype=np.float64)
    position = geometry.origin_mm
    if cosine < 0:  # planes run against the normal: write them from the last one
        values = values[::-1]
        position = geometry.index_to_lps([geometry.shape[0] - 1, 0, 0])
    if values.min() < -1e-3:
        warn(f"{target}: negative dose down to {values.min():.3g} Gy written as 0")
    max_gy = float(max(values.max(), 0.0))
    scaling = _scaling_for(max_gy, _STORED_MAX[bits])
    stored = np.clip(np.rint(np.clip(values, 0.0, None) / scaling), 0, _STORED_MAX[bits])
    stored = stored.astype("<u2" if bits == 16 else "<u4")

    meta = FileMetaDataset()
    sop_uid = _uid(uid_seed, "rtdose") if uid_seed else str(generate_uid())
    meta.MediaStorageSOPClassUID = RT_DOSE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    metadata = dict(ct.metadata) if ct is not None else {}
    text = description or dose.description
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = RT_DOSE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = str(metadata.get("StudyDate", ""))
    ds.StudyTime = str(metadata.get("StudyTime", ""))
    ds.AccessionNumber = str(metadata.get("AccessionNumber", ""))
    ds.Modality = "RTDOSE"
    ds.Manufacturer = "hbiview"
    ds.ReferringPhysicianName = str(metadata.get("ReferringPhysicianName", ""))
    ds.SeriesDescription = text[:64]
    ds.StudyDescription = str(metadata.get("StudyDescription", ""))[:64]
    ds.PatientName = str(metadata.get("PatientName", ""))
    ds.PatientID = str(metadata.get("PatientID", ""))
    ds.PatientBirthDate = str(metadata.get("PatientBirthDate", ""))
    ds.PatientSex = str(metadata.get("PatientSex", ""))
    ds.SliceThickness = ""
    ds.StudyInstanceUID = str(metadata.get("StudyInstanceUID", "")) or (
        _uid(uid_seed, "study") if uid_seed else str(generate_uid())
    )
    ds.SeriesInstanceUID = _uid(uid_seed, "rtdose-series") if uid_seed else str(generate_uid())
    ds.StudyID = str(metadata.get("StudyID", ""))
    ds.SeriesNumber = 100
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in (*row, *col)]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = int(values.shape[0])
    ds.FrameIncrementPointer = 0x3004000C  # GridFrameOffsetVector
    ds.Rows = int(values.shape[1])
    ds.Columns = int(values.shape[2])
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[2])]
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    if text:
        ds.DoseComment = text[:64]
    ds.GridFrameOffsetVector = [_ds(k * spacing[0]) for k in range(values.shape[0])]
    ds.DoseGridScaling = _ds(scaling)
    plan = Dataset()
    plan.ReferencedSOPClassUID = RT_PLAN_STORAGE
    plan.ReferencedSOPInstanceUID = plan_uid or _uid(sop_uid, "plan")
    ds.ReferencedRTPlanSequence = [plan]
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OW"
    with atomic_path(target, force=force) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target
