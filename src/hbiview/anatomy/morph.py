"""Small morphology helpers on boolean ``(z, y, x)`` volumes (scipy.ndimage), sized in millimetres."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "PLANE4",
    "disk",
    "downsample_mean",
    "fill_holes_2d",
    "fill_holes_3d",
    "keep_large_components",
    "upsample_mask",
]

#: 4-connectivity within each axial slice, no connection between slices.
PLANE4 = np.zeros((3, 3, 3), dtype=bool)
PLANE4[1] = ndimage.generate_binary_structure(2, 1)


def disk(radius_mm: float, spacing_yx_mm: tuple[float, float]) -> np.ndarray:
    """In-plane disk structuring element ``(1, ny, nx)`` of ``radius_mm``."""
    ry = max(int(radius_mm / spacing_yx_mm[0]), 0)
    rx = max(int(radius_mm / spacing_yx_mm[1]), 0)
    y, x = np.ogrid[-ry : ry + 1, -rx : rx + 1]
    inside = (y * spacing_yx_mm[0]) ** 2 + (x * spacing_yx_mm[1]) ** 2 <= radius_mm**2 + 1e-9
    return inside[np.newaxis]


def ball(radius_mm: float, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Ellipsoidal structuring element of ``radius_mm`` on an anisotropic grid."""
    r = [max(int(radius_mm / s), 0) for s in spacing_mm]
    z, y, x = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    d2 = (z * spacing_mm[0]) ** 2 + (y * spacing_mm[1]) ** 2 + (x * spacing_mm[2]) ** 2
    return d2 <= radius_mm**2 + 1e-9


def fill_holes_2d(mask: np.ndarray, max_hole_voxels: int | None = None) -> np.ndarray:
    """Fill holes of every axial slice: background not 4-connected (in its slice) to the slice's border.

    Parameters
    ----------
    mask
        Boolean volume.
    max_hole_voxels
        Fill only holes of at most this many voxels (default: every hole).
    """
    background = ~mask
    labels, n = ndimage.label(background, structure=PLANE4)
    if n == 0:
        return mask.copy()
    border = np.zeros(n + 1, dtype=bool)
    for face in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        border[np.unique(face)] = True
    border[0] = True
    if max_hole_voxels is not None:
        border |= np.bincount(labels.ravel(), minlength=n + 1) > max_hole_voxels
    return mask | ~border[labels]


def fill_holes_3d(mask: np.ndarray) -> np.ndarray:
    """Fill 3-D holes: background not 6-connected to the volume's border."""
    labels, n = ndimage.label(~mask)
    if n == 0:
        return mask.copy()
    border = np.zeros(n + 1, dtype=bool)
    for face in (labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]):
        border[np.unique(face)] = True
    border[0] = True
    return mask | ~border[labels]


def keep_large_components(
    mask: np.ndarray, min_voxels: int, structure: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected components with at least ``min_voxels`` voxels.

    Returns
    -------
    kept, labels, sizes
        The cleaned mask, the label volume of ``mask`` and the voxel count of every label (index 0 unused).
    """
    labels, n = ndimage.label(mask, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[labels], labels, sizes


def downsample_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Block mean over ``factor x factor`` pixels of every slice (float32); the edge is cropped."""
    if factor == 1:
        return np.asarray(array, dtype=np.float32)
    nz, ny, nx = array.shape
    my, mx = ny // factor * factor, nx // factor * factor
    out = np.zeros((nz, ny // factor, nx // factor), dtype=np.float32)
    for k in range(nz):  # slice by slice keeps the float32 temporary small
        block = array[k, :my, :mx].astype(np.float32).reshape(ny // factor, factor, nx // factor, factor)
        out[k] = block.mean(axis=(1, 3))
    return out


def upsample_mask(mask: np.ndarray, factor: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest-neighbour in-plane upsampling (any dtype) of a volume made by :func:`downsample_mean`."""
    if factor == 1:
        return mask
    out = np.zeros(shape, dtype=mask.dtype)
    ny, nx = mask.shape[1] * factor, mask.shape[2] * factor
    for k in range(shape[0]):  # slice by slice: no full-size temporary
        up = mask[k].repeat(factor, axis=0).repeat(factor, axis=1)
        out[k, :ny, :nx] = up
        # the cropped edge takes the values of the last block
        if ny < shape[1]:
            out[k, ny:, :nx] = up[-1:, :]
        if nx < shape[2]:
            out[k, :, nx:] = out[k, :, nx - 1 : nx]
    return out
