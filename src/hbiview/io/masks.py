"""Mask files: NIfTI (nibabel, the optional extra ``hbiview[masks]``), NRRD, TotalSegmentator folders.

NIfTI affines map voxel indices to RAS millimetres; hbiview works in LPS, so the x and y rows of the
affine change sign, and the NIfTI array ``data[i, j, k]`` (i fastest on disk) becomes hbiview's
``array[k, j, i]``. Any orientation (axis permutations, flips, oblique) is carried by the affine, and
masks are resampled (nearest neighbour) onto the target grid. NRRD headers state their space (RAS or LPS)
and are read by a small reader here (raw or gzip encoding).

A TotalSegmentator output folder holds one NIfTI per structure (``lung_upper_lobe_left.nii.gz``,
``vertebrae_T7.nii.gz``, ``rib_left_3.nii.gz``, ``hip_right.nii.gz``...); :func:`read_totalsegmentator`
maps them to hbiview's roles: ``Lung_L``, ``Lung_R``, ``Lungs``, ``Body`` (when present), ``Skeleton`` and
``Bone_<site>`` per skeletal site of :data:`hbiview.labels.BONE_SITES`, so the marrow weighting uses the
exact sites. Femora and humeri are split at the middle of their length into upper and lower halves.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from hbiview.errors import GeometryError, InputError, MissingInputError, warn
from hbiview.geometry import Geometry
from hbiview.volume import Structure, resample_array

__all__ = [
    "TOTALSEGMENTATOR_SITES",
    "read_mask",
    "read_mask_array",
    "read_totalsegmentator",
    "totalsegmentator_role",
]

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _nibabel() -> ModuleType:
    try:
        import nibabel
    except ModuleNotFoundError as exc:  # pragma: no cover - nibabel is in the test environment
        raise InputError(
            "reading NIfTI masks needs nibabel: install the optional extra with  pip install 'hbiview[masks]'"
        ) from exc
    return nibabel


def _geometry_from_ras(affine_ras: np.ndarray, shape_ijk: tuple[int, int, int], uid: str | None) -> Geometry:
    """Grid (hbiview layout) of a NIfTI-style ``(i, j, k)`` array with a RAS affine, as ``(k, j, i)``."""
    a = np.asarray(affine_ras, dtype=float)
    affine = np.eye(4)
    affine[:3, :3] = _RAS_TO_LPS @ a[:3, [2, 1, 0]]
    affine[:3, 3] = _RAS_TO_LPS @ a[:3, 3]
    return Geometry((shape_ijk[2], shape_ijk[1], shape_ijk[0]), affine, uid)


def _read_nifti(path: Path) -> tuple[np.ndarray, Geometry]:
    nib = _nibabel()
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(f"{path}: not a readable NIfTI file ({exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3-D mask, the file holds a {data.ndim}-D array {data.shape}")
    geometry = _geometry_from_ras(img.affine, data.shape, None)
    return np.ascontiguousarray(data.transpose(2, 1, 0)), geometry


_NRRD_TYPES = {
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1",
    "signed char": "i1", "char": "i1", "int8": "i1", "int8_t": "i1",
    "short": "i2", "short int": "i2", "signed short": "i2", "int16": "i2", "int16_t": "i2",
    "ushort": "u2", "unsigned short": "u2", "uint16": "u2", "uint16_t": "u2",
    "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4",
    "float": "f4", "double": "f8",
}  # fmt: skip


def _vectors(text: str) -> list[list[float] | None]:
    out: list[list[float] | None] = []
    for token in re.findall(r"\([^)]*\)|none", text):
        out.append(None if token == "none" else [float(v) for v in token.strip("()").split(",")])
    return out


def _read_nrrd(path: Path) -> tuple[np.ndarray, Geometry]:
    raw = path.read_bytes()
    if not raw.startswith(b"NRRD"):
        raise InputError(f"{path}: not an NRRD file (no 'NRRD' magic)")
    split = raw.find(b"\n\n")
    header_bytes = raw if split < 0 else raw[:split]
    body = b"" if split < 0 else raw[split + 2 :]
    fields: dict[str, str] = {}
    for line in header_bytes.decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line or ":=" in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    try:
        dimension = int(fields["dimension"])
        sizes = [int(v) for v in fields["sizes"].split()]
        dtype = np.dtype(_NRRD_TYPES[fields["type"].lower()])
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path}: NRRD header lacks a usable dimension/sizes/type ({exc})") from exc
    if dimension != 3:
        raise InputError(f"{path}: expected a 3-D NRRD mask, the header says dimension {dimension}")
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder("<" if fields.get("endian", "little") == "little" else ">")
    if "data file" in fields or "datafile" in fields:
        detached = fields.get("data file") or fields["datafile"]
        body = (path.parent / detached).read_bytes()
    encoding = fields.get("encoding", "raw").lower()
    if encoding in ("gzip", "gz"):
        body = gzip.decompress(body)
    elif encoding != "raw":
        raise InputError(f"{path}: NRRD encoding {encoding!r} is not supported (use raw or gzip)")
    count = int(np.prod(sizes))
    if len(body) < count * dtype.itemsize:
        raise InputError(
            f"{path}: NRRD data holds {len(body)} bytes, the header needs {count * dtype.itemsize}"
        )
    data = np.frombuffer(body[len(body) - count * dtype.itemsize :], dtype=dtype).reshape(sizes[::-1])
    directions = _vectors(fields.get("space directions", ""))
    if len(directions) != 3 or any(d is None for d in directions):
        spacings = [float(v) for v in fields.get("spacings", "1 1 1").split()]
        directions = [[spacings[0], 0, 0], [0, spacings[1], 0], [0, 0, spacings[2]]]
        warn(f"{path}: NRRD without 'space directions'; assumed an axial LPS grid with spacing {spacings}")
    origin_list = _vectors(fields.get("space origin", "(0,0,0)"))
    origin = np.asarray(origin_list[0] if origin_list and origin_list[0] else [0, 0, 0], dtype=float)
    space = fields.get("space", "left-posterior-superior").lower()
    flip = np.eye(3)
    if space in ("right-anterior-superior", "ras", "scanner-xyz"):
        flip = _RAS_TO_LPS
    elif space not in ("left-posterior-superior", "lps"):
        raise InputError(f"{path}: NRRD space {space!r} is not supported (use RAS or LPS)")
    d = np.asarray(directions, dtype=float)  # row a = step of axis a (axis 0 fastest)
    affine = np.eye(4)
    affine[:3, :3] = flip @ d[[2, 1, 0]].T
    affine[:3, 3] = flip @ origin
    return np.ascontiguousarray(data), Geometry(data.shape, affine)  # type: ignore[arg-type]


def read_mask_array(path: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
    """Read a 3-D mask or label file as an array on its own grid.

    Parameters
    ----------
    path
        ``.nii``, ``.nii.gz``, ``.nrrd`` or ``.nhdr``.

    Returns
    -------
    array, geometry
        The ``(z, y, x)`` array (values as stored) and its grid in LPS mm.
    """
    file = Path(path)
    if not file.is_file():
        raise MissingInputError(f"{file}: mask file not found")
    name = file.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return _read_nifti(file)
    if name.endswith((".nrrd", ".nhdr")):
        return _read_nrrd(file)
    raise InputError(f"{file}: unknown mask format; use NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr)")


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii", ".nrrd", ".nhdr"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def read_mask(
    path: str | os.PathLike[str],
    geometry: Geometry | None = None,
    *,
    name: str | None = None,
    label: int | None = None,
    color: tuple[int, int, int] = (255, 255, 0),
) -> Structure:
    """Read a NIfTI or NRRD mask as a :class:`~hbiview.volume.Structure`.

    Parameters
    ----------
    path
        Mask file; voxels with a non-zero value (or equal to ``label``) are inside.
    geometry
        Target grid (e.g. the CT's); the mask is resampled onto it, nearest neighbour. Default: the
        file's own grid.
    name
        Structure name (default: the file name without extension).
    label
        Value selecting one structure of a label map.
    color
        Display colour.

    Returns
    -------
    Structure
        The mask; a warning says so when it is empty on the target grid.
    """
    file = Path(path)
    data, own = read_mask_array(file)
    mask = (data == label) if label is not None else (data != 0)
    if geometry is not None:
        mask = _onto(mask, own, geometry, file)
        own = geometry
    structure = Structure(own, mask, name=name or _stem(file), color=color)
    if not structure.mask.any():
        warn(f"{file}: mask is empty{' on the target grid' if geometry is not None else ''}")
    return structure


def _onto(mask: np.ndarray, source: Geometry, target: Geometry, file: Path) -> np.ndarray:
    if source.isclose(target, atol_mm=1e-3):
        return mask
    lo_s, hi_s = source.bounds_mm()
    lo_t, hi_t = target.bounds_mm()
    if np.any(hi_s < lo_t - 1) or np.any(hi_t < lo_s - 1):
        raise GeometryError(
            f"{file}: the mask's grid does not overlap the CT "
            f"(mask box {np.round(lo_s)}..{np.round(hi_s)} mm, "
            f"CT box {np.round(lo_t)}..{np.round(hi_t)} mm LPS); is it from another patient or space?"
        )
    return resample_array(mask.astype(np.uint8), source, target, order=0) > 0


# ------------------------------------------------------------------------------------------ TotalSegmentator
#: TotalSegmentator file-name patterns -> hbiview skeletal site (femur/humerus are split into halves).
TOTALSEGMENTATOR_SITES: tuple[tuple[str, str], ...] = (
    (r"skull", "cranium"),
    (r"mandible", "mandible"),
    (r"scapula_(left|right)", "scapulae"),
    (r"clavicula_(left|right)", "clavicles"),
    (r"sternum", "sternum"),
    (r"rib_(left|right)_\d+", "ribs"),
    (r"vertebrae_C\d", "cervical_spine"),
    (r"vertebrae_T\d+", "thoracic_spine"),
    (r"vertebrae_L\d", "lumbar_spine"),
    (r"vertebrae_S1|sacrum", "sacrum"),
    (r"hip_(left|right)", "pelvis_os_coxae"),
    (r"femur_(left|right)", "femora"),
    (r"humerus_(left|right)", "humeri"),
    (r"patella_(left|right)?", "patellae"),
    (r"(tibia|fibula)(_(left|right))?", "tibiae_fibulae"),
)


def totalsegmentator_role(stem: str) -> str | None:
    """The hbiview role of a TotalSegmentator structure name (file name without extension).

    Returns ``"Lung_L"``/``"Lung_R"`` for lung lobes, ``"Body"`` for ``body``, ``"Bone_<site>"`` for
    bones (``"Bone_femora"`` and ``"Bone_humeri"`` before the split into halves), else ``None``.
    """
    if re.fullmatch(r"lung_(upper|lower)_lobe_left|lung_left", stem):
        return "Lung_L"
    if re.fullmatch(r"lung_(upper|middle|lower)_lobe_right|lung_right", stem):
        return "Lung_R"
    if stem in ("body", "body_trunc"):
        return "Body"
    for pattern, site in TOTALSEGMENTATOR_SITES:
        if re.fullmatch(pattern, stem):
            return f"Bone_{site}"
    return None


def _split_long_bone(
    mask: np.ndarray, geometry: Geometry, name: str, file: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower halves (by length along patient z) of one long bone (one side's mask)."""
    z_of_slice = geometry.index_to_lps(
        np.column_stack([np.arange(geometry.shape[0]), np.zeros((geometry.shape[0], 2))])
    )[:, 2]
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    if slices.size == 0:
        return mask, np.zeros_like(mask)
    z_hi, z_lo = z_of_slice[slices].max(), z_of_slice[slices].min()
    if slices[0] == 0 or slices[-1] == geometry.shape[0] - 1:
        warn(
            f"{file}: {name} reaches the edge of the scan; its upper half (active marrow) is taken as the "
            "upper half of the visible part"
        )
    mid = (z_hi + z_lo) / 2
    upper_slice = (z_of_slice >= mid)[:, None, None]
    return mask & upper_slice, mask & ~upper_slice


def read_totalsegmentator(
    folder: str | os.PathLike[str],
    geometry: Geometry | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Structure]:
    """Read a TotalSegmentator output folder as hbiview roles.

    Parameters
    ----------
    folder
        The folder of ``<structure>.nii.gz`` files TotalSegmentator writes (``--ml`` label maps are not
        supported: run it without ``--ml``).
    geometry
        Target grid (e.g. the CT's); default the grid of the first file.
    progress
        Called with ``(files done, files total)``.

    Returns
    -------
    dict
        ``"Lung_L"``, ``"Lung_R"``, ``"Lungs"`` (when lobes are present), ``"Body"`` (when ``body`` is),
        ``"Skeleton"`` (every bone) and ``"Bone_<site>"`` per skeletal site found, femora and humeri
        split into ``Bone_femora_upper_half`` / ``Bone_femora_lower_half`` etc.
    """
    from hbiview.anatomy.types import color_of

    root = Path(folder)
    if not root.is_dir():
        raise MissingInputError(f"{root}: TotalSegmentator output folder not found")
    files = sorted(p for p in root.iterdir() if p.name.lower().endswith((".nii", ".nii.gz")))
    if not files:
        raise MissingInputError(
            f"{root}: no NIfTI files (expected TotalSegmentator's one file per structure)"
        )
    masks: dict[str, np.ndarray] = {}
    target = geometry
    used = 0
    for n, file in enumerate(files, start=1):
        stem = _stem(file)
        role = totalsegmentator_role(stem)
        if role is None:
            continue
        data, own = _read_nifti(file)
        if target is None:
            target = own
        mask = _onto(data != 0, own, target, file)
        used += 1
        if role in ("Bone_femora", "Bone_humeri"):
            site = role.removeprefix("Bone_")
            upper, lower = _split_long_bone(mask, target, stem, file)
            for half, part in (("upper_half", upper), ("lower_half", lower)):
                key = f"Bone_{site}_{half}"
                masks[key] = masks[key] | part if key in masks else part
        else:
            masks[role] = masks[role] | mask if role in masks else mask
        if progress is not None:
            progress(n, len(files))
    if target is None or used == 0:
        raise InputError(f"{root}: none of the files has a TotalSegmentator structure name hbiview uses")
    out: dict[str, Structure] = {}
    for role in ("Body", "Lung_L", "Lung_R"):
        if role in masks:
            out[role] = Structure(target, masks.pop(role), name=role, color=color_of(role))
    if "Lung_L" in out or "Lung_R" in out:
        lungs = np.zeros(target.shape, dtype=bool)
        for role in ("Lung_L", "Lung_R"):
            if role in out:
                lungs |= out[role].mask
        out["Lungs"] = Structure(target, lungs, name="Lungs", color=color_of("Lungs"))
    skeleton = np.zeros(target.shape, dtype=bool)
    for role in sorted(masks):
        skeleton |= masks[role]
        out[role] = Structure(target, masks[role], name=role, color=color_of(role))
    if skeleton.any():
        out["Skeleton"] = Structure(target, skeleton, name="Skeleton", color=color_of("Skeleton"))
    return out
