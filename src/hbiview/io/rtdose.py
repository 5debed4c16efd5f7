"""DICOM RT Dose: read a planning system's dose grid, write hbiview's dose so planning systems open it.

pydicom is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hbiview.errors import DicomError, GeometryError, InputError, MissingInputError, warn
from hbiview.geometry import Geometry
from hbiview.io.atomic import atomic_path, check_writable
from hbiview.io.dicom import _ds, _interpolate, _uid
from hbiview.io.dicom_modules import ct_identity, new_dataset, set_common_modules
from hbiview.volume import CTVolume, DoseGrid

if TYPE_CHECKING:
    from hbiview.dosevolume import DVH

__all__ = ["RT_DOSE_STORAGE", "PlanningDVH", "read_rtdose", "read_rtdose_dvhs", "write_rtdose"]

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
    # stored x scaling in double precision, rounded once to float32, with no double-precision copy
    dose = np.empty(stored.shape, dtype=np.float32)
    np.multiply(stored, scaling, out=dose, casting="unsafe")

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
    geometry = Geometry(dose.shape, affine, frame_uid)
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
    plan_uid: str | Sequence[str] | None = None,
    uid_seed: str | None = None,
    force: bool = False,
    bits: int = 16,
    dvhs: Mapping[int, DVH] | None = None,
    structure_set_uid: str | None = None,
    sop_uid: str | None = None,
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
        SOP Instance UID of the RT Plan the dose belongs to (DoseSummationType PLAN requires the reference),
        or several UIDs for the sum of several plans (DoseSummationType MULTI_PLAN). Default: a UID derived
        from the dose's own, which resolves only if an RT Plan is written with it
        (:func:`hbiview.io.rtplan.write_rtplan`, :func:`hbiview.io.rtset.write_rt_set`).
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
    dvhs
        ROI number (in the structure set ``structure_set_uid``) -> cumulative DVH, written in the RT DVH
        module (DVHSequence: Gy, cm3, volume ``i`` receiving at least ``i`` bin widths, so the first is the
        whole structure; :func:`read_rtdose_dvhs` reads them back).
    structure_set_uid
        SOPInstanceUID of the RT Structure Set the DVHs' ROI numbers refer to (required with ``dvhs``).
    sop_uid
        SOPInstanceUID of the file (default: new, or derived from ``uid_seed``).

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
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    if bits not in _STORED_MAX:
        raise InputError(f"RT Dose bits must be 16 or 32, not {bits!r}")
    target = check_writable(path, force)
    if dvhs and not structure_set_uid:
        raise InputError(f"{target}: DVHs need the structure set they refer to (structure_set_uid)")
    geometry = dose.geometry
    if ct is not None:
        ct_frame = ct.geometry.frame_of_reference_uid
        if ct_frame and geometry.frame_of_reference_uid and ct_frame != geometry.frame_of_reference_uid:
            raise GeometryError(
                f"{target}: the dose is in frame of reference {geometry.frame_of_reference_uid} but the CT "
                f"in {ct_frame}; compute the dose on this CT"
            )
    identity = ct_identity(ct) if ct is not None else None
    frame_uid = geometry.frame_of_reference_uid or (identity.frame_uid if identity else None)
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

    sop_uid = sop_uid or (_uid(uid_seed, "rtdose") if uid_seed else str(generate_uid()))
    ds = new_dataset(RT_DOSE_STORAGE, sop_uid)
    metadata = dict(ct.metadata) if ct is not None else {}
    text = description or dose.description
    study_uid = _uid(uid_seed, "study") if uid_seed else str(generate_uid())
    if identity is not None:
        study_uid = identity.study_uid
    set_common_modules(
        ds,
        metadata,
        modality="RTDOSE",
        sop_class_uid=RT_DOSE_STORAGE,
        sop_instance_uid=sop_uid,
        study_uid=study_uid,
        series_uid=_uid(uid_seed, "rtdose-series") if uid_seed else str(generate_uid()),
        series_number=100,
        series_description=text,
        frame_uid=frame_uid,
    )
    ds.SliceThickness = ""
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
    plan_uids = [plan_uid] if isinstance(plan_uid, str) else list(plan_uid or [])
    if not plan_uids:
        plan_uids = [_uid(sop_uid, "plan")]
    if len(plan_uids) > 1:
        ds.DoseSummationType = "MULTI_PLAN"
    references = []
    for uid in plan_uids:
        plan = Dataset()
        plan.ReferencedSOPClassUID = RT_PLAN_STORAGE
        plan.ReferencedSOPInstanceUID = uid
        references.append(plan)
    ds.ReferencedRTPlanSequence = references
    if dvhs:
        _add_dvhs(ds, dvhs, structure_set_uid)  # type: ignore[arg-type]
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OW"
    with atomic_path(target, force=force) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target


RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: Varian Medical Systems' UID root (ISO registration 1.2.246.352).
_VARIAN_UID_ROOT = "1.2.246.352."


def _add_dvhs(ds: object, dvhs: Mapping[int, DVH], structure_set_uid: str) -> None:
    """The RT DVH module: one cumulative DVH per ROI.

    Volume ``i`` is the volume receiving at least ``i`` bin widths (DICOM's plain reading, which
    dicompyler-core follows; the first volume is the whole structure).
    """
    from pydicom.dataset import Dataset

    ds.ReferencedStructureSetSequence = [  # type: ignore[attr-defined]
        _dataset(ReferencedSOPClassUID=RT_STRUCTURE_SET_STORAGE, ReferencedSOPInstanceUID=structure_set_uid)
    ]
    items = []
    for number, h in dvhs.items():
        if h.is_empty or h.dose_gy.size < 2:
            continue
        width = h.bin_width_gy
        volumes = np.asarray(h.volume_cc[:-1], dtype=float)
        data = np.column_stack([np.full(volumes.size, width), volumes]).ravel()
        item = Dataset()
        item.DVHReferencedROISequence = [
            _dataset(ReferencedROINumber=int(number), DVHROIContributionType="INCLUDED")
        ]
        item.DVHType = "CUMULATIVE"
        item.DoseUnits = "GY"
        item.DoseType = "PHYSICAL"
        item.DVHDoseScaling = "1"
        item.DVHVolumeUnits = "CM3"
        item.DVHNumberOfBins = int(volumes.size)
        item.DVHData = [_ds(float(v)) for v in data]
        item.DVHMinimumDose = _ds(h.min_gy)
        item.DVHMaximumDose = _ds(h.max_gy)
        item.DVHMeanDose = _ds(h.mean_gy)
        items.append(item)
    ds.DVHSequence = items  # type: ignore[attr-defined]


def _dataset(**values: object) -> object:
    from pydicom.dataset import Dataset

    item = Dataset()
    for key, value in values.items():
        setattr(item, key, value)
    return item


@dataclass(frozen=True)
class PlanningDVH:
    """A cumulative DVH stored in an RT Dose file (DVHSequence), as the planning system computed it.

    Attributes
    ----------
    roi_number
        ReferencedROINumber (in the RT Structure Set of ``structure_set_uid``).
    dose_gy
        Dose of each listed volume (Gy): the lower edge of its bin (DICOM's plain reading, hbiview's and
        dicompyler-core's), or its centre for files of Varian Eclipse (Manufacturer "Varian ..." or UIDs
        under Varian's root 1.2.246.352), whose volumes were measured to be those at the bin centres on
        the dicompyler example case (see tests/dvh/test_dvh_dicompyler.py).
    volume_cc
        Volume receiving at least ``dose_gy`` (cm3), or % of the structure when ``volume_unit`` is
        ``"PERCENT"``.
    volume_unit
        ``"CM3"`` or ``"PERCENT"``.
    total_volume
        The structure's volume (first value of the curve), in ``volume_unit``.
    mean_gy
        Mean dose (Gy): for files hbiview wrote, their DVHMeanDose (the exact mean of the samples); for
        others, from the curve (the area under it over the total volume): Eclipse writes DVHMeanDose in
        % of the prescription.
    structure_set_uid
        The RT Structure Set the ROI number refers to (empty if not referenced).
    convention
        ``"edge"`` or ``"centre"``: which dose of its bin each volume belongs to.
    """

    roi_number: int
    dose_gy: np.ndarray
    volume_cc: np.ndarray
    volume_unit: str
    total_volume: float
    mean_gy: float
    structure_set_uid: str
    convention: str = "edge"

    def volume_at(self, dose_gy: np.ndarray | float) -> np.ndarray:
        """Volume receiving at least ``dose_gy`` (linear between listed doses; the total below the first)."""
        return np.interp(dose_gy, self.dose_gy, self.volume_cc, left=self.total_volume, right=0.0)


def read_rtdose_dvhs(path: str | os.PathLike[str]) -> dict[int, PlanningDVH]:
    """The DVHs an RT Dose file carries (DVHSequence), keyed by ROI number; empty when it has none.

    Cumulative and differential DVHs in GY are read (differential ones are accumulated); DVHs in relative
    dose units are skipped with a warning.

    Raises
    ------
    MissingInputError
        The file does not exist.
    DicomError
        A damaged file or a DVH whose data does not match its number of bins.
    """
    import pydicom

    source = Path(path)
    if not source.is_file():
        raise MissingInputError(f"{source}: no such file")
    try:
        ds = pydicom.dcmread(source, stop_before_pixels=True)
    except Exception as exc:
        raise DicomError(f"{source}: not a readable DICOM file ({exc})") from exc
    # Varian (Eclipse) files, named by their Manufacturer or by Varian's UID root even when anonymised
    hbiview = str(ds.get("Manufacturer", "")) == "hbiview"
    centre = "VARIAN" in str(ds.get("Manufacturer", "")).upper() or str(
        ds.get("SOPInstanceUID", "")
    ).startswith(_VARIAN_UID_ROOT)
    structure_set = ""
    if ds.get("ReferencedStructureSetSequence"):
        structure_set = str(ds.ReferencedStructureSetSequence[0].get("ReferencedSOPInstanceUID", ""))
    out: dict[int, PlanningDVH] = {}
    for item in ds.get("DVHSequence", []):
        rois = item.get("DVHReferencedROISequence") or []
        if len(rois) != 1:
            continue  # a DVH of several ROIs together has no single structure to compare with
        number = int(rois[0].ReferencedROINumber)
        units = str(item.get("DoseUnits", "")).upper()
        if units != "GY":
            warn(f"{source}: the DVH of ROI {number} is in {units or 'no'} dose units, not GY: not compared")
            continue
        try:
            data = np.asarray([float(v) for v in item.DVHData], dtype=float).reshape(-1, 2)
            scaling = float(item.get("DVHDoseScaling", 1) or 1)
        except (AttributeError, TypeError, ValueError) as exc:
            raise DicomError(f"{source}: the DVH of ROI {number} has damaged DVHData ({exc})") from exc
        widths = data[:, 0] * scaling
        volume = data[:, 1]
        if str(item.get("DVHType", "")).upper() == "DIFFERENTIAL":
            volume = np.cumsum(volume[::-1])[::-1]
        if volume.size == 0:
            continue
        edges = np.concatenate([[0.0], np.cumsum(widths)])
        total = float(volume[0])
        if centre:  # volume i at the centre of bin i: midpoint rule
            doses = 0.5 * (edges[:-1] + edges[1:])
            integral = float(np.sum(volume * widths))
        else:  # volume i at the lower edge of bin i, none beyond the last bin: trapezoids
            doses = edges[:-1]
            following = np.append(volume[1:], 0.0)
            integral = float(np.sum(0.5 * (volume + following) * widths))
        mean = integral / total if total > 0 else float("nan")
        if hbiview and item.get("DVHMeanDose") not in (None, ""):
            mean = float(item.DVHMeanDose)  # hbiview writes the exact mean of its samples, in Gy
        out[number] = PlanningDVH(
            number,
            doses,
            volume,
            str(item.get("DVHVolumeUnits", "CM3")).upper(),
            total,
            mean,
            structure_set,
            "centre" if centre else "edge",
        )
    return out
