"""Write structures as a DICOM RT Structure Set that references its CT.

Contours come from the masks slice by slice along the pixel edges (:func:`mask_polygons`, our own
vectorised tracer): they enclose exactly the area of the voxels, so rasterising the polygons again with
point-in-polygon at voxel centres and the even-odd rule (what :func:`hbiview.io.rtstruct.read_rtstruct` and
planning systems do) gives back the same voxels, and on another grid the structure keeps its volume.
Collinear vertices are dropped. Holes become separate contours (even-odd rule).

pydicom is imported inside :func:`write_rtstruct`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import GeometryError, InputError
from hbiview.io.atomic import atomic_path, check_writable
from hbiview.io.dicom_modules import ct_identity, derived_uid, new_dataset, set_common_modules
from hbiview.volume import CTVolume, Structure

__all__ = ["mask_edge_polygons", "mask_polygons", "write_rtstruct"]

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"

#: (row, column) steps of the four edge directions: right, down, left, up (image coordinates, rows down).
_STEPS = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])


def mask_polygons(mask2d: np.ndarray) -> list[np.ndarray]:
    """Closed polygons along the pixel edges around the True pixels of a 2-D mask.

    The polygons enclose exactly the area of the True pixels, so a structure keeps its volume when it is
    rasterised again on another grid (a planning system's dose grid): marching squares through the edge
    midpoints cuts every corner, and thin, fragmented structures such as the marrow lose about 2 % of their
    volume that way. Rasterised on the same grid at the pixel centres (even-odd rule), they give back the
    same pixels.

    Parameters
    ----------
    mask2d
        Boolean image ``(rows, columns)``.

    Returns
    -------
    list of numpy.ndarray
        One ``(n, 2)`` float array of fractional ``(row, column)`` pixel indices (pixel corners, at
        half-integers) per closed contour, outer boundaries clockwise and holes counter-clockwise in image
        coordinates, collinear vertices removed. Pixels touching only at a corner get separate contours
        that share that corner.
    """
    m = np.pad(np.asarray(mask2d, dtype=bool), 1)
    if not m.any():
        return []
    width = m.shape[1] + 1  # corners per row of the corner lattice
    inside = m[1:-1, 1:-1]
    rows, cols = np.nonzero(inside)
    rows, cols = rows + 1, cols + 1  # padded pixel indices
    starts, directions = [], []
    # each boundary edge runs clockwise around its inside pixel (the inside on its right); corner (R, C) is
    # the top-left corner of padded pixel (R, C)
    for code, (dr, dc), corner in (
        (0, (-1, 0), (0, 0)),  # outside above: top edge, left to right
        (1, (0, 1), (0, 1)),  # outside on the right: right edge, downwards
        (2, (1, 0), (1, 1)),  # outside below: bottom edge, right to left
        (3, (0, -1), (1, 0)),  # outside on the left: left edge, upwards
    ):
        hit = ~m[rows + dr, cols + dc]
        starts.append((rows[hit] + corner[0]) * width + cols[hit] + corner[1])
        directions.append(np.full(int(hit.sum()), code))
    start = np.concatenate(starts)
    direction = np.concatenate(directions)
    step = _STEPS[direction]
    end = start + step[:, 0] * width + step[:, 1]
    # the edge leaving each corner: one, or two where two pixels touch only at that corner; then the one
    # turning right (clockwise) keeps going round the same pixel
    order = np.lexsort((direction, start))
    sorted_start = start[order]
    first = np.searchsorted(sorted_start, end, side="left")
    last = np.searchsorted(sorted_start, end, side="right")
    following = order[first]
    two = (last - first) == 2
    if two.any():
        right_turn = (direction[two] + 1) % 4
        a, b = order[first[two]], order[first[two] + 1]
        following[two] = np.where(direction[a] == right_turn, a, b)
    visited = np.zeros(len(start), dtype=bool)
    polygons: list[np.ndarray] = []
    following_list = following.tolist()
    for seed in range(len(start)):
        if visited[seed]:
            continue
        loop = []
        i = seed
        while not visited[i]:
            visited[i] = True
            loop.append(i)
            i = following_list[i]
        loop_index = np.asarray(loop)
        turns = direction[loop_index] != direction[np.roll(loop_index, 1)]
        corners = start[loop_index][turns]
        if len(corners) < 4:
            continue  # pragma: no cover - a closed loop of pixel edges has at least 4 turns
        points = np.stack([corners // width, corners % width], axis=1).astype(np.float64)
        polygons.append(points - 1.5)  # padded corner index -> fractional pixel index of the mask
    return polygons


#: The same function under its earlier name (the writer's tracer before it became the only one).
mask_edge_polygons = mask_polygons

_uid = derived_uid


def _as_list(structures: Mapping[str, Structure] | Sequence[Structure]) -> list[Structure]:
    if isinstance(structures, Mapping):
        return [s if s.name == key else _renamed(s, key) for key, s in structures.items()]
    return list(structures)


def _renamed(s: Structure, name: str) -> Structure:
    return Structure(s.geometry, s.mask, name=name, color=s.color, weights=s.weights)


def _interpreted_type(name: str) -> str:
    from hbiview.anatomy.names import role_of

    role = role_of(name)
    if role == "Body":
        return "EXTERNAL"
    if any(word in name.upper() for word in ("PTV", "CTV", "GTV")):
        return name.upper()[:3]
    return "ORGAN"


def write_rtstruct(
    structures: Mapping[str, Structure] | Sequence[Structure],
    ct: CTVolume,
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    label: str = "HBIVIEW",
    sop_uid: str | None = None,
) -> Path:
    """Write structures as a DICOM RT Structure Set referencing ``ct``.

    Parameters
    ----------
    structures
        Structures on the CT grid (others are resampled onto it, nearest neighbour), as a mapping
        name -> structure (the key is the ROI name) or a sequence (each structure's own name).
    ct
        The CT the structures were drawn on. Its frame of reference, study, series and per-slice
        SOP Instance UIDs are referenced when ``ct.metadata`` holds them (``StudyInstanceUID``,
        ``SeriesInstanceUID``, ``SOPInstanceUIDs`` in slice order); missing ones are derived from the
        grid so that writing twice for the same CT references the same (generated) UIDs.
    path
        Output file (``.dcm``).
    force
        Replace an existing file.
    label
        StructureSetLabel (at most 16 characters).
    sop_uid
        SOPInstanceUID of the structure set (default: derived from the CT, the names and the time), for a
        set of files that reference it (:mod:`hbiview.io.rtset`). ROIs are numbered 1, 2, ... in the order
        of ``structures``.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    OutputError
        The file exists (without ``force``) or its folder is not writable.
    GeometryError
        A structure belongs to another frame of reference.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    target = check_writable(path, force)
    items = _as_list(structures)
    if not items:
        raise InputError(f"{target}: no structures to write")
    geometry = ct.geometry
    meta = dict(ct.metadata)
    grid_key = (geometry.shape, np.round(geometry.affine, 4).tolist())
    identity = ct_identity(ct)
    frame_uid, study_uid, ct_series_uid = identity.frame_uid, identity.study_uid, identity.series_uid
    sop_uids = list(identity.sop_uids)
    ct_sop_class = identity.sop_class_uid
    now = _dt.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")

    rtss_uid = sop_uid or _uid("rtstruct", grid_key, [s.name for s in items], now.isoformat())
    ds = new_dataset(RT_STRUCTURE_SET_STORAGE, rtss_uid)
    set_common_modules(
        ds,
        meta,
        modality="RTSTRUCT",
        sop_class_uid=RT_STRUCTURE_SET_STORAGE,
        sop_instance_uid=rtss_uid,
        study_uid=study_uid,
        series_uid=_uid("rtstruct-series", rtss_uid),
        series_number=99,
        series_description="hbiview structures",
        frame_uid=frame_uid,
    )
    ds.InstanceCreationDate = date
    ds.InstanceCreationTime = time
    ds.InstanceNumber = 1
    ds.StructureSetLabel = label[:16]
    ds.StructureSetName = label[:64]
    ds.StructureSetDate = date
    ds.StructureSetTime = time

    contour_images = []
    for uid in sop_uids:
        item = Dataset()
        item.ReferencedSOPClassUID = ct_sop_class
        item.ReferencedSOPInstanceUID = uid
        contour_images.append(item)
    series_ref = Dataset()
    series_ref.SeriesInstanceUID = ct_series_uid
    series_ref.ContourImageSequence = DicomSequence(contour_images)
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = (
        "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired, as TPSs write)
    )
    study_ref.ReferencedSOPInstanceUID = study_uid
    study_ref.RTReferencedSeriesSequence = DicomSequence([series_ref])
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = frame_uid
    frame_ref.RTReferencedStudySequence = DicomSequence([study_ref])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame_ref])

    roi_items, contour_items, observation_items = [], [], []
    for number, structure in enumerate(items, start=1):
        s = structure
        other = s.geometry.frame_of_reference_uid
        if other and geometry.frame_of_reference_uid and other != geometry.frame_of_reference_uid:
            raise GeometryError(
                f"{target}: structure {s.name!r} is in frame of reference {other}, the CT in "
                f"{geometry.frame_of_reference_uid}; export structures of this CT only"
            )
        mask = s.mask if s.geometry.isclose(geometry) else s.resampled(geometry).mask
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = s.name[:64]
        roi.ROIGenerationAlgorithm = "AUTOMATIC" if s.name in _AUTO_NAMES else ""
        roi_items.append(roi)

        contour_seq = []
        for k in np.flatnonzero(mask.any(axis=(1, 2))):
            for poly in mask_polygons(mask[k]):
                index = np.column_stack([np.full(len(poly), float(k)), poly])
                lps = geometry.index_to_lps(index)
                c = Dataset()
                image = Dataset()
                image.ReferencedSOPClassUID = ct_sop_class
                image.ReferencedSOPInstanceUID = sop_uids[k]
                c.ContourImageSequence = DicomSequence([image])
                c.ContourGeometricType = "CLOSED_PLANAR"
                c.NumberOfContourPoints = len(lps)
                c[_CONTOUR_DATA] = _raw_ds(_CONTOUR_DATA, lps.ravel())
                contour_seq.append(c)
        rc = Dataset()
        rc.ROIDisplayColor = [int(v) for v in s.color]
        if contour_seq:
            rc.ContourSequence = DicomSequence(contour_seq)
        rc.ReferencedROINumber = number
        contour_items.append(rc)

        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = _interpreted_type(s.name)
        obs.ROIInterpreter = ""
        observation_items.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(observation_items)
    ds.ApprovalStatus = "UNAPPROVED"
    # contour items keep their coordinates as encoded bytes: telling pydicom they are already in the file's
    # encoding lets it write them as they are instead of parsing every number
    for rc in contour_items:
        for c in rc.get("ContourSequence", []):
            c.set_original_encoding(False, True, c._character_set)

    with atomic_path(target, force=force) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target


_AUTO_NAMES = {"Body", "Lung_L", "Lung_R", "Lungs", "Skeleton", "Marrow", "SpinalCanal"}
_CONTOUR_DATA = 0x30060050


def _raw_ds(tag: int, values: np.ndarray) -> Any:
    """A DS element as its encoded bytes (explicit VR little endian), skipping pydicom's per-number parsing.

    Contours hold millions of coordinates; letting pydicom build one ``DSfloat`` per number takes tens of
    seconds for a whole-body CT. Coordinates are written in mm with 3 decimals (1 um).
    """
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    text = "\\".join(f"{v:.3f}".rstrip("0").rstrip(".") for v in values.tolist())
    data = text.encode("ascii")
    if len(data) % 2:
        data += b" "
    return RawDataElement(Tag(tag), "DS", len(data), data, 0, False, True, True, False)
