"""Read DICOM RT Structure Sets: contours to masks on any grid.

Contours are rasterised slice by slice with a vectorised scanline fill: a voxel belongs to a structure when
its centre lies inside an odd number of that plane's polygons (even-odd rule, so holes and islands drawn as
separate contours come out right). A slice of the target grid takes the nearest contour plane within half a
plane spacing, so contour planes need not coincide with slices, and polygons reaching outside the grid are
clipped. The structures returned keep their polygons (:class:`ContourStructure`), so
:func:`hbiview.dosevolume.dvh` can re-rasterise small structures on a finer grid.

pydicom is imported inside the functions that need it; writing RT Structure Sets lives in
:mod:`hbiview.io.rtstruct_write`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hbiview.errors import DicomError, GeometryError, InputError, MissingInputError, warn
from hbiview.geometry import Geometry
from hbiview.volume import Structure, resample_array

__all__ = [
    "ContourStructure",
    "RoiInfo",
    "contour_convention",
    "list_rois",
    "rasterize_contours",
    "read_rtstruct",
]

#: Colour given to an ROI without ROIDisplayColor.
DEFAULT_COLOR = (255, 255, 0)
#: Contour points further than this (mm) from their contour's mean z make the contour non-planar.
PLANARITY_TOLERANCE_MM = 0.05
#: Default in-plane voxel size (mm) of the grid built from the contours when no grid is given.
DEFAULT_SPACING_MM = 1.0


@dataclass(frozen=True)
class RoiInfo:
    """What an RT Structure Set says about one ROI, without rasterising it.

    Attributes
    ----------
    number
        ROINumber.
    name
        ROIName.
    color
        ROIDisplayColor (RGB 0-255), or the default yellow when absent.
    n_contours
        Number of contours with at least three points.
    z_range_mm
        Lowest and highest contour plane (patient z, mm), or ``None`` for an empty ROI.
    interpreted_type
        RTROIInterpretedType (``ORGAN``, ``PTV``, ``EXTERNAL`` ...), empty if absent.
    """

    number: int
    name: str
    color: tuple[int, int, int]
    n_contours: int
    z_range_mm: tuple[float, float] | None
    interpreted_type: str = ""


@dataclass(frozen=True, eq=False)
class ContourStructure(Structure):
    """A :class:`~hbiview.volume.Structure` that remembers the planar polygons it was rasterised from.

    Parameters
    ----------
    contours
        Closed planar polygons, each an ``(n, 3)`` array of LPS positions (mm) in one axial plane.
    plane_spacing_mm
        Distance between contour planes (mm); a slice takes the nearest plane within half of it.
    roi_number
        ROINumber in the source file.
    source
        The file the contours came from.
    """

    contours: tuple[np.ndarray, ...] = ()
    plane_spacing_mm: float = 0.0
    roi_number: int | None = None
    source: str = ""

    def rasterized(self, geometry: Geometry) -> ContourStructure:
        """The same polygons rasterised on another grid (exact shape, not a resampled mask)."""
        mask = rasterize_contours(self.contours, geometry, self.plane_spacing_mm)
        return replace(self, geometry=geometry, array=mask, weights=None)

    def resampled(
        self, target: Geometry, order: int = 0, fill_value: float | None = None
    ) -> ContourStructure:
        """This structure on another grid, rasterised again from its polygons."""
        return self.rasterized(target)


# ---------------------------------------------------------------------------------------------- grids
def _slices_are_axial_planes(geometry: Geometry) -> bool:
    """True when every slice of the grid lies in one plane of constant patient z (rows/columns have no z)."""
    a = geometry.affine
    return bool(abs(a[2, 1]) < 1e-6 * abs(a[2, 0]) + 1e-9 and abs(a[2, 2]) < 1e-6 * abs(a[2, 0]) + 1e-9) and (
        abs(a[2, 0]) > 1e-9
    )


# ---------------------------------------------------------------------------------------------- raster
def _fill_plane(polygons: Sequence[np.ndarray], ny: int, nx: int) -> np.ndarray | None:
    """Even-odd scanline fill of polygons given in (row, column) index coordinates.

    A voxel centre ``(j, i)`` is inside when a ray towards +i from it crosses an odd number of edges; an
    edge crosses row ``j`` when its end points lie on different sides of ``j`` (half-open, so shared
    vertices are counted once).

    Returns
    -------
    numpy.ndarray or None
        ``(ny, nx)`` boolean raster, or ``None`` when nothing falls on the grid.
    """
    ja = np.concatenate([p[:, 0] for p in polygons])
    ia = np.concatenate([p[:, 1] for p in polygons])
    jb = np.concatenate([np.roll(p[:, 0], -1) for p in polygons])
    ib = np.concatenate([np.roll(p[:, 1], -1) for p in polygons])
    lo = np.minimum(ja, jb)
    hi = np.maximum(ja, jb)
    # integer rows r with lo <= r < hi, clipped to the grid
    first = np.maximum(np.ceil(lo), 0).astype(np.int64)
    stop = np.minimum(np.ceil(hi), ny).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    total = int(counts.sum())
    if total == 0:
        return None
    edge = np.repeat(np.arange(ja.size), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = first[edge] + offsets
    t = (rows - ja[edge]) / (jb[edge] - ja[edge])
    cross_i = ia[edge] + t * (ib[edge] - ia[edge])
    cols = np.clip(np.floor(cross_i).astype(np.int64) + 1, 0, nx)
    toggles = np.bincount(rows * (nx + 1) + cols, minlength=ny * (nx + 1)).reshape(ny, nx + 1)
    inside = (np.cumsum(toggles[:, :nx], axis=1) & 1).astype(bool)
    return inside


def _plane_z(contour: np.ndarray) -> float:
    z = contour[:, 2]
    centre = float(z.mean())
    if float(np.abs(z - centre).max()) > PLANARITY_TOLERANCE_MM:
        raise InputError(
            f"a contour is not in an axial plane (z varies by {np.ptp(z):.2f} mm); "
            "only axial contours are supported"
        )
    return centre


def plane_spacing_of(contours: Sequence[np.ndarray], default_mm: float = 0.0) -> float:
    """Smallest distance (mm) between distinct contour planes, or ``default_mm`` for a single plane."""
    return _spacing_of_planes([float(c[:, 2].mean()) for c in contours], default_mm)


def _spacing_of_planes(plane_z: Sequence[float], default_mm: float = 0.0) -> float:
    zs = np.unique(np.round(np.asarray(plane_z, dtype=float), 2)) if len(plane_z) else np.array([])
    if zs.size < 2:
        return float(default_mm)
    diffs = np.diff(zs)
    diffs = diffs[diffs > 0.01]
    return float(diffs.min()) if diffs.size else float(default_mm)


def rasterize_contours(
    contours: Sequence[np.ndarray], geometry: Geometry, plane_spacing_mm: float | None = None
) -> np.ndarray:
    """Rasterise closed planar polygons onto a grid (even-odd rule at voxel centres).

    Parameters
    ----------
    contours
        Polygons, each an ``(n, 3)`` array of LPS positions (mm) in one axial plane (at least 3 points).
    geometry
        Target grid, any spacing, extent and orientation. Grids whose slices are not axial planes are
        handled by rasterising on an axial grid of the same spacing and resampling (nearest neighbour).
    plane_spacing_mm
        Distance between contour planes (mm). A slice takes the nearest contour plane within half this
        distance. Default: the smallest spacing between the planes of ``contours``, or the grid's slice
        spacing when there is only one plane.

    Returns
    -------
    numpy.ndarray
        Boolean mask with ``geometry.shape``.
    """
    mask = np.zeros(geometry.shape, dtype=bool)
    if not contours:
        return mask
    if not _slices_are_axial_planes(geometry):
        lower, upper = geometry.bounds_mm()
        helper = Geometry.box(lower, upper, float(geometry.spacing_mm.min()), geometry.frame_of_reference_uid)
        raster = rasterize_contours(contours, helper, plane_spacing_mm)
        return resample_array(raster.astype(np.uint8), helper, geometry, order=0) > 0
    a = geometry.affine
    step_z = a[2, 0]
    if not plane_spacing_mm:
        plane_spacing_mm = plane_spacing_of(contours, default_mm=abs(step_z))
    half = 0.5 * plane_spacing_mm + 1e-3
    # group polygons by plane (z rounded to 0.01 mm)
    planes: dict[float, list[np.ndarray]] = {}
    for contour in contours:
        planes.setdefault(round(_plane_z(contour), 2), []).append(contour)
    plane_z = np.array(sorted(planes))
    nz, ny, nx = geometry.shape
    slice_z = a[2, 3] + step_z * np.arange(nz)
    # nearest plane of each slice
    pos = np.clip(np.searchsorted(plane_z, slice_z), 1, max(plane_z.size - 1, 1))
    below = plane_z[pos - 1]
    above = plane_z[np.minimum(pos, plane_z.size - 1)]
    nearest = np.where(
        np.abs(slice_z - below) <= np.abs(above - slice_z), pos - 1, np.minimum(pos, plane_z.size - 1)
    )
    distance = np.abs(plane_z[nearest] - slice_z)
    inplane = a[:2, 1:3]
    inv_inplane = np.linalg.inv(inplane)
    cache: dict[int, np.ndarray | None] = {}
    for k in np.nonzero(distance <= half)[0]:
        p = int(nearest[k])
        if p not in cache:
            polys = []
            for contour in planes[float(plane_z[p])]:
                # (x, y) = t + A[:, 0] k + A[:, 1:3] (j, i) in the slice through this plane
                k_plane = (plane_z[p] - a[2, 3]) / step_z
                xy = contour[:, :2] - a[:2, 3] - a[:2, 0] * k_plane
                polys.append(xy @ inv_inplane.T)
            cache[p] = _fill_plane(polys, ny, nx)
        plane_raster = cache[p]
        if plane_raster is not None:
            mask[k] = plane_raster
    return mask


# ---------------------------------------------------------------------------------------------- DICOM
def _open(path: str | os.PathLike[str]) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    file = Path(path)
    if not file.exists():
        raise MissingInputError(f"{file}: no such RTSTRUCT file")
    if file.is_dir():
        candidates = [p for p in sorted(file.iterdir()) if p.is_file()]
        found = []
        for candidate in candidates:
            try:
                ds = pydicom.dcmread(candidate, stop_before_pixels=True, specific_tags=["Modality"])
            except Exception:
                continue
            if str(ds.get("Modality", "")) == "RTSTRUCT":
                found.append(candidate)
        if len(found) != 1:
            raise InputError(
                f"{file}: folder holds {len(found)} RTSTRUCT files; give the file itself"
                if found
                else f"{file}: folder holds no RTSTRUCT file"
            )
        file = found[0]
    try:
        ds = pydicom.dcmread(file)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as exc:
        raise DicomError(
            f"{file}: not a readable DICOM file ({exc}); export the RT Structure Set again"
        ) from exc
    modality = str(ds.get("Modality", ""))
    if modality != "RTSTRUCT":
        raise DicomError(
            f"{file}: modality is {modality or 'missing'}, expected RTSTRUCT; give the structure set"
        )
    for keyword in ("StructureSetROISequence", "ROIContourSequence"):
        if keyword not in ds:
            raise DicomError(f"{file}: RTSTRUCT without {keyword}; the file is incomplete, export it again")
    return file, ds


def contour_convention(path: str | os.PathLike[str]) -> tuple[str, str]:
    """How the system that wrote an RT Structure Set turns its contour planes into volumes.

    Returns
    -------
    end_caps, writer
        ``"full"`` for structure sets hbiview wrote (its contours follow voxel boundaries, one slab per
        plane gives back the voxels its own DVHs used), ``"interpolated"`` for all others (the planning
        system's convention: Varian Eclipse interpolates between planes, and so do most planning systems);
        ``writer`` is the file's Manufacturer, or ``"unknown"``.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Manufacturer"])
        writer = str(ds.get("Manufacturer", "") or "").strip()
    except Exception:  # read_rtstruct reports a bad file with the right words
        writer = ""
    if writer.lower() == "hbiview":
        return "full", writer
    return "interpolated", writer or "unknown"


def _frame_of_reference(ds: Any) -> str | None:
    for item in ds.get("ReferencedFrameOfReferenceSequence", []) or []:
        uid = item.get("FrameOfReferenceUID")
        if uid:
            return str(uid)
    for item in ds.StructureSetROISequence:
        uid = item.get("ReferencedFrameOfReferenceUID")
        if uid:
            return str(uid)
    return None


@dataclass
class _Roi:
    number: int
    name: str
    color: tuple[int, int, int]
    contours: list[np.ndarray]
    interpreted_type: str
    skipped: int
    plane_z: list[float] = field(default_factory=list)


def _contour_points(contour: Any) -> np.ndarray | None:
    """ContourData as ``(n, 3)`` floats; raw DS bytes are parsed by numpy (pydicom's DS parser is slow)."""
    element = contour.get_item(0x30060050)
    if element is None or element.value is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        text = value.strip(b" \x00")
        if not text:
            return None
        return np.array(text.split(b"\\"), dtype=float).reshape(-1, 3)
    return np.asarray(value, dtype=float).reshape(-1, 3)


def _first_z(contour: Any) -> tuple[float, int] | None:
    """Plane z (mm) and point count of a contour, without parsing all of its points.

    The fast path for ROIs that are not rasterised; ``None`` for contours that would be skipped.
    """
    element = contour.get_item(0x30060050)
    if element is None or element.value is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        fields = value.strip(b" \x00").split(b"\\", 3)
        if len(fields) < 3:
            return None
        count = value.count(b"\\") // 3 + 1 if len(fields) > 3 else 1
        z = float(fields[2])
    else:
        if len(value) < 3:
            return None
        count, z = len(value) // 3, float(value[2])
    kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
    if kind != "CLOSED_PLANAR" or count < 3 or not np.isfinite(z):
        return None
    return z, count


def _parse(
    file: Path, ds: Any, wanted: set[str] | None = None, positions_of_others: bool = True
) -> list[_Roi]:
    """ROIs of a structure set.

    Only ROIs named in ``wanted`` (lower case; ``None`` = all) get their points parsed; the others get
    their plane positions (``plane_z``) if ``positions_of_others``, else nothing (their contour sequences
    are not even decoded, which is most of the reading time of a large structure set).
    """
    names = {}
    for item in ds.StructureSetROISequence:
        try:
            names[int(item.ROINumber)] = str(item.get("ROIName", f"ROI {item.ROINumber}")).strip()
        except (AttributeError, TypeError, ValueError) as exc:
            raise DicomError(f"{file}: an ROI without a valid ROINumber ({exc})") from exc
    types = {}
    for item in ds.get("RTROIObservationsSequence", []) or []:
        number = item.get("ReferencedROINumber")
        if number is not None:
            types[int(number)] = str(item.get("RTROIInterpretedType", "") or "")
    rois: dict[int, _Roi] = {
        n: _Roi(n, name, DEFAULT_COLOR, [], types.get(n, ""), 0) for n, name in names.items()
    }
    for item in ds.ROIContourSequence:
        number = item.get("ReferencedROINumber")
        if number is None or int(number) not in rois:
            warn(f"{file}: contours for ROI number {number}, which the structure set does not list; skipped")
            continue
        roi = rois[int(number)]
        color = item.get("ROIDisplayColor")
        if color is not None and len(color) == 3:
            roi.color = tuple(int(np.clip(float(c), 0, 255)) for c in color)  # type: ignore[assignment]
        if wanted is not None and roi.name.lower() not in wanted:
            if not positions_of_others:
                continue
            for contour in item.get("ContourSequence", []) or []:
                found = _first_z(contour)
                if found is not None:
                    roi.plane_z.append(found[0])
            continue
        for contour in item.get("ContourSequence", []) or []:
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
            try:
                points = _contour_points(contour)
            except ValueError as exc:
                raise DicomError(
                    f"{file}: ROI {roi.name!r} has ContourData whose length is not a multiple of 3"
                ) from exc
            if points is None or kind != "CLOSED_PLANAR" or points.shape[0] < 3:
                roi.skipped += 1
                continue
            if not np.all(np.isfinite(points)):
                raise DicomError(f"{file}: ROI {roi.name!r} has non-finite contour coordinates")
            roi.contours.append(points)
            roi.plane_z.append(float(points[:, 2].mean()))
    for roi in rois.values():
        if roi.skipped:
            warn(
                f"{file}: ROI {roi.name!r}: {roi.skipped} contour(s) with fewer than 3 points or not "
                "CLOSED_PLANAR skipped (they enclose no area)"
            )
    return sorted(rois.values(), key=lambda r: r.number)


def list_rois(path: str | os.PathLike[str]) -> list[RoiInfo]:
    """List the ROIs of an RT Structure Set without rasterising them.

    Parameters
    ----------
    path
        The RTSTRUCT file (or a folder holding exactly one).

    Returns
    -------
    list of RoiInfo
        One entry per ROI, by ROI number.

    Raises
    ------
    DicomError
        If the file is not a readable RTSTRUCT.
    """
    file, ds = _open(path)
    out = []
    for roi in _parse(file, ds, wanted=set()):
        zs = roi.plane_z
        z_range = (round(min(zs), 2), round(max(zs), 2)) if zs else None
        out.append(RoiInfo(roi.number, roi.name, roi.color, len(zs), z_range, roi.interpreted_type))
    return out


def _default_geometry(
    contours: Sequence[np.ndarray], plane_spacing_mm: float, spacing_mm: float, uid: str | None
) -> Geometry:
    points = np.concatenate(contours)
    lower = points.min(axis=0)
    upper = points.max(axis=0)
    margin = spacing_mm
    nx = int(np.ceil((upper[0] - lower[0] + 2 * margin) / spacing_mm)) + 1
    ny = int(np.ceil((upper[1] - lower[1] + 2 * margin) / spacing_mm)) + 1
    z_step = plane_spacing_mm or spacing_mm
    nz = round((upper[2] - lower[2]) / z_step) + 1
    origin = (lower[0] - margin, lower[1] - margin, lower[2])
    return Geometry.from_spacing((nz, ny, nx), (z_step, spacing_mm, spacing_mm), origin, None, uid)


def read_rtstruct(
    path: str | os.PathLike[str],
    geometry: Geometry | None = None,
    *,
    names: Sequence[str] | None = None,
    spacing_mm: float = DEFAULT_SPACING_MM,
) -> list[ContourStructure]:
    """Read the ROIs of a DICOM RT Structure Set as masks on a grid.

    Parameters
    ----------
    path
        The RTSTRUCT file (or a folder holding exactly one).
    geometry
        Target grid (e.g. the CT's or the RT Dose's). Default: an axial grid over the contours of the
        selected ROIs with slices on the contour planes and ``spacing_mm`` in-plane voxels.
    names
        ROI names to read (case-insensitive); default all ROIs with contours.
    spacing_mm
        In-plane voxel size (mm) of the default grid; ignored when ``geometry`` is given.

    Returns
    -------
    list of ContourStructure
        One structure per ROI, in ROI-number order, with ROIDisplayColor and the frame of reference of
        the structure set on its geometry.

    Raises
    ------
    DicomError
        Wrong modality, missing sequences, corrupt file (the message names the file).
    GeometryError
        ``geometry`` belongs to another frame of reference.
    InputError
        A requested name is not in the file.
    """
    file, ds = _open(path)
    wanted = {n.strip().lower(): n for n in names} if names is not None else None
    rois = _parse(file, ds, set(wanted) if wanted is not None else None, positions_of_others=False)
    uid = _frame_of_reference(ds)
    # distance between contour planes (all ROIs share the CT slices); when the selected ROIs have fewer
    # than two planes, the planes of the other ROIs give it, so one-plane ROIs get a thickness
    plane_spacing = _spacing_of_planes([z for r in rois for z in r.plane_z])
    if not plane_spacing and wanted is not None:
        others = _parse(file, ds, set(), positions_of_others=True)
        plane_spacing = _spacing_of_planes([z for r in others for z in r.plane_z])
    if wanted is not None:
        by_name = {r.name.lower(): r for r in rois}
        missing = [n for key, n in wanted.items() if key not in by_name]
        if missing:
            available = ", ".join(repr(r.name) for r in rois)
            raise InputError(
                f"{file}: no ROI named {', '.join(map(repr, missing))}; the file holds {available}"
            )
        rois = [r for r in rois if r.name.lower() in wanted]
    else:
        for roi in rois:
            if not roi.contours:
                warn(f"{file}: ROI {roi.name!r} has no contours; skipped")
        rois = [r for r in rois if r.contours]
    if geometry is None:
        selected = [c for r in rois for c in r.contours]
        if not selected:
            raise InputError(f"{file}: the selected ROIs hold no contours")
        geometry = _default_geometry(selected, plane_spacing, spacing_mm, uid)
    else:
        other = geometry.frame_of_reference_uid
        if uid and other and uid != other:
            raise GeometryError(
                f"{file}: structure set frame of reference {uid} differs from the target grid's {other}; "
                "use the CT or RT Dose of the same planning study"
            )
        if uid and not other:
            geometry = Geometry(geometry.shape, geometry.affine, uid)
    structures = []
    for roi in rois:
        mask = rasterize_contours(roi.contours, geometry, plane_spacing)
        if roi.contours and not mask.any():
            warn(f"{file}: ROI {roi.name!r} lies entirely outside the target grid (empty mask)")
        structures.append(
            ContourStructure(
                geometry,
                mask,
                name=roi.name,
                color=roi.color,
                contours=tuple(c.copy() for c in roi.contours),
                plane_spacing_mm=plane_spacing,
                roi_number=roi.number,
                source=str(file),
            )
        )
    return structures
