"""Dose grids (or any volume) as NIfTI (``.nii``/``.nii.gz``) and VTK XML image data (``.vti``) files.

* NIfTI goes through nibabel (the optional extra ``pip install hbiview[masks]``); NIfTI's world space is RAS,
  so the affine is converted from LPS (x and y negated) and both qform and sform are set (code 1, scanner).
* VTI is written here as VTK XML ``ImageData`` (raw appended little-endian float32, x fastest), in LPS
  millimetres with the grid's ``Direction`` matrix; ParaView and VTK 9 read it directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from hbiview.errors import InputError, OutputError
from hbiview.io.atomic import atomic_path
from hbiview.volume import Volume

__all__ = ["write_nifti", "write_volume", "write_vti"]


def _vtk_layout(volume: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin, spacing and 3x3 direction (columns = VTK i, j, k axes) for a ``(z, y, x)`` array."""
    geometry = volume.geometry
    spacing = geometry.spacing_mm[::-1]
    direction = geometry.direction[:, ::-1]  # columns: x (i), y (j), z (k) array axes
    return geometry.origin_mm, spacing, direction


def write_vti(
    volume: Volume, path: str | os.PathLike[str], *, name: str = "dose_gy", force: bool = False
) -> Path:
    """Write a volume as a VTK XML ImageData file (``.vti``).

    Parameters
    ----------
    volume
        The values (e.g. a :class:`~hbiview.volume.DoseGrid`), written as float32 point data.
    path
        Output file.
    name
        Name of the point-data array.
    force
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    origin, spacing, direction = _vtk_layout(volume)
    nz, ny, nx = volume.geometry.shape
    data = np.ascontiguousarray(volume.array, dtype="<f4").ravel(order="C")
    extent = f"0 {nx - 1} 0 {ny - 1} 0 {nz - 1}"
    numbers = " ".join(f"{v:.9g}" for v in direction.ravel(order="C"))
    description = getattr(volume, "description", "")
    header = (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">\n'
        f'  <ImageData WholeExtent="{extent}" Origin="{" ".join(f"{v:.9g}" for v in origin)}" '
        f'Spacing="{" ".join(f"{v:.9g}" for v in spacing)}" Direction="{numbers}">\n'
        f'    <Piece Extent="{extent}">\n'
        f"      <PointData Scalars={quoteattr(name)}>\n"
        f'        <DataArray type="Float32" Name={quoteattr(name)} NumberOfComponents="1" format="appended" '
        'offset="0"/>\n'
        "      </PointData>\n"
        "      <CellData/>\n"
        "    </Piece>\n"
        "  </ImageData>\n"
        '  <AppendedData encoding="raw">\n   _'
    )
    comment = f"hbiview, LPS mm. {description}".replace("--", "-")
    header = header.replace("\n", f"\n<!-- {comment} -->\n", 1)
    with atomic_path(path, force=force) as tmp, open(tmp, "wb") as handle:
        handle.write(header.encode("utf-8"))
        handle.write(np.uint64(data.nbytes).tobytes())
        handle.write(data.tobytes())
        handle.write(b"\n  </AppendedData>\n</VTKFile>\n")
    return Path(path)


def write_nifti(volume: Volume, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write a volume as NIfTI-1 (``.nii`` or ``.nii.gz``) in RAS world coordinates, float32.

    Parameters
    ----------
    volume
        The values (e.g. a :class:`~hbiview.volume.DoseGrid`).
    path
        Output file.
    force
        Replace an existing file.

    Raises
    ------
    OutputError
        If nibabel is not installed (``pip install hbiview[masks]``).
    """
    try:
        import nibabel as nib
    except ImportError:
        raise OutputError(
            f"{path}: writing NIfTI needs nibabel; install it with: pip install hbiview[masks]"
        ) from None
    geometry = volume.geometry
    data = np.asarray(volume.array, dtype=np.float32).transpose(2, 1, 0)  # (x, y, z) = (i, j, k)
    lps = np.eye(4)
    lps[:3, :3] = geometry.affine[:3, [2, 1, 0]]
    lps[:3, 3] = geometry.affine[:3, 3]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    image = nib.Nifti1Image(data, ras)
    image.set_qform(ras, code=1)
    image.set_sform(ras, code=1)
    image.header.set_xyzt_units("mm")
    description = getattr(volume, "description", "")
    if description:
        image.header["descrip"] = description.encode("ascii", "replace")[:79]
    with atomic_path(path, force=force) as tmp:
        nib.save(image, str(tmp))
    return Path(path)


def write_volume(volume: Volume, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``volume`` in the format named by the file extension (``.nii``, ``.nii.gz`` or ``.vti``).

    Raises
    ------
    InputError
        For another extension.
    """
    name = str(path).lower()
    if name.endswith((".nii", ".nii.gz")):
        return write_nifti(volume, path, force=force)
    if name.endswith(".vti"):
        return write_vti(volume, path, force=force)
    raise InputError(f"{path}: unknown volume format; use .nii, .nii.gz or .vti")
